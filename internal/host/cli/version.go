package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildVersion is what `turbo-image version` reports, read from the build
// information the Go toolchain embeds in every binary (runtime/debug,
// "go version -m" shows the same): the main module's version (a tag for
// `go install ...@v1.2.3`, a pseudo-version Go 1.24+ stamps from the VCS
// for a source build, else "(devel)"), and for a build from a checkout the
// vcs.revision, vcs.time and vcs.modified settings.
type buildVersion struct {
	Module   string // module path
	Version  string // module version, "(devel)" when the toolchain knew none
	Revision string // VCS revision, "" when not built from a checkout
	Time     string // commit time (RFC 3339), ""
	Modified bool   // the checkout had uncommitted changes
	Go       string // toolchain, e.g. go1.26.8
}

func versionFromBuildInfo(bi *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Module: "github.com/turbo-image/turbo-image", Version: "(devel)", Go: runtime.Version()}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// Version is the module version turbo-image was built from: a release tag,
// a pseudo-version for a source build, or "(devel)".
func Version() string { return versionFromBuildInfo(debug.ReadBuildInfo()).Version }

// write prints the version as "turbo-image VERSION" and then one
// "key: value" line per known fact, so scripts can read either line.
func (v buildVersion) write(w io.Writer) {
	fmt.Fprintf(w, "turbo-image %s\n", v.Version)
	fmt.Fprintf(w, "module: %s\n", v.Module)
	if v.Revision != "" {
		fmt.Fprintf(w, "revision: %s\n", v.Revision)
		if v.Time != "" {
			fmt.Fprintf(w, "time: %s\n", v.Time)
		}
		fmt.Fprintf(w, "modified: %t\n", v.Modified)
	}
	fmt.Fprintf(w, "go: %s %s/%s\n", v.Go, runtime.GOOS, runtime.GOARCH)
}

func runVersion(_ context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "version", commands()["version"].usage)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("version takes no arguments")
	}
	versionFromBuildInfo(debug.ReadBuildInfo()).write(e.Stdout)
	return nil
}
