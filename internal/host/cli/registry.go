package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/registry"
)

// registryFlags are the connection flags of push and pull. There is no
// credential flag: credentials come from the Docker and Podman auth files
// (registry.AuthFiles), so no password lands in shell history.
type registryFlags struct {
	plainHTTP *bool
	ca        *string
}

func addRegistryFlags(fs *flag.FlagSet) registryFlags {
	return registryFlags{
		plainHTTP: fs.Bool("plain-http", false, "use plain HTTP to a registry that is not on a loopback address (loopback registries that speak HTTP are found out without it)"),
		ca:        fs.String("ca", "", "PEM file of CA certificates to trust besides the system roots"),
	}
}

func (f registryFlags) options(e *Env) registry.Options {
	return registry.Options{PlainHTTP: *f.plainHTTP, CAFile: *f.ca, Getenv: e.Getenv}
}

func runPush(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "push", commands()["push"].usage)
	rf := addRegistryFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want a build directory and a reference (registry/name:tag)")
	}
	start := time.Now()
	r, err := registry.Push(ctx, pos[0], pos[1], rf.options(e))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "turbo-image: pushed %d layers (%s uploaded, %d already there, %s in all) in %s\n",
		r.Layers, mib(r.Uploaded), r.Skipped, mib(r.Bytes), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.Stdout, "%s@%s\n", r.Ref, r.Digest)
	return nil
}

func runPull(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "pull", commands()["pull"].usage)
	out := fs.String("o", "", "build folder to write (same rules as build -o; required)")
	rf := addRegistryFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return usagef("want one reference and -o DIR")
	}
	start := time.Now()
	r, err := registry.Pull(ctx, pos[0], *out, rf.options(e))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "pulled %s %s (%s) into %s: %d layers, %s, every digest verified, in %s\n",
		r.Manifest.Name, r.Manifest.Version, r.Digest, *out, r.Layers, mib(r.Bytes), time.Since(start).Round(time.Millisecond))
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
