package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

func runBuild(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "build", commands()["build"].usage)
	out := fs.String("o", "", "output build `DIR` (required)")
	version := fs.String("version", "", "override the recipe's `VERSION` (e.g. from a CI tag)")
	kernel := fs.String("kernel", "", "use this prebuilt kernel image `FILE` instead of the recipe's kernel section")
	sdboot := fs.String("systemd-boot", "", "systemd-boot EFI binary `FILE` for disk images (default: recipe's disk.systemd_boot, else Debian's)")
	sdstub := fs.String("systemd-stub", "", "systemd's EFI stub `FILE` for the uki and iso outputs (default: Debian's linuxx64.efi.stub)")
	sbKey := fs.String("sb-key", "", "Secure Boot: sign the kernel, systemd-boot and the UKI with this db private key `FILE` (PEM; sbsign, with --sb-cert)")
	sbCert := fs.String("sb-cert", "", "Secure Boot: the db certificate `FILE` (PEM) of --sb-key")
	cache := fs.String("cache", "", "cache `DIR` (default $TURBO_CACHE, else $XDG_CACHE_HOME/turbo-image, else ~/.cache/turbo-image)")
	quiet := quietFlags(fs)
	asJSON := fs.Bool("json", false, "print the build's summary as JSON (schema "+SchemaBuild+", see docs/json.md) on stdout")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one recipe file, got %d arguments", len(pos))
	}
	if *out == "" {
		return usagef("-o DIR is required")
	}
	var epoch int64
	if s := e.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		epoch, err = strconv.ParseInt(s, 10, 64)
		if err != nil || epoch < 0 {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a non-negative integer", s)
		}
	}
	if *cache == "" {
		if *cache, err = builder.DefaultCacheDir(e.Getenv); err != nil {
			return err
		}
	}
	var sb *builder.SecureBoot
	if *sbKey != "" || *sbCert != "" {
		if *sbKey == "" || *sbCert == "" {
			return usagef("--sb-key and --sb-cert go together")
		}
		sb = &builder.SecureBoot{Key: *sbKey, Cert: *sbCert}
	}
	pm := newMeter(e.Stderr, *quiet).run()
	timer := &stepTimer{now: time.Now}
	res, err := builder.Build(ctx, builder.Options{
		Recipe: pos[0], Out: *out, Version: *version, Kernel: *kernel, CacheDir: *cache, SystemdBoot: *sdboot, SystemdStub: *sdstub, SecureBoot: sb,
		SourceDateEpoch: epoch, BuilderVersion: Version(), Progress: func(ev builder.Progress) { timer.event(ev.Step); pm.report(buildReport(ev)) },
	})
	pm.finish()
	if err != nil {
		return err
	}
	m := res.Manifest
	var total int64
	for _, a := range m.Artifacts {
		total += a.Size
	}
	if *asJSON {
		doc := BuildJSON{Schema: SchemaBuild, Dir: res.Dir, Name: m.Name, Version: m.Version, Arch: m.Arch, BuildID: m.BuildID,
			Artifacts: []ArtifactJSON{}, TotalBytes: total, KernelCached: res.KernelCached,
			DurationMS: res.Duration.Milliseconds(), Steps: timer.steps()}
		for _, a := range m.Artifacts {
			doc.Artifacts = append(doc.Artifacts, ArtifactJSON{Name: a.Name, Size: a.Size, SHA256: a.SHA256})
		}
		return writeJSON(e.Stdout, doc)
	}
	fmt.Fprintf(e.Stdout, "built %s %s in %s (%s): %s of artifacts in %s\n", m.Name, m.Version,
		res.Duration.Round(10*time.Millisecond), kernelNote(res.KernelCached), bytesize.Format(total), res.Dir)
	return nil
}

func kernelNote(cached bool) string {
	if cached {
		return "kernel cached"
	}
	return "kernel built"
}

// buildReport turns a builder progress event into a progress report: the
// kernel's stages are phases of their own ("kernel compile").
func buildReport(ev builder.Progress) progress {
	p := progress{Phase: ev.Step, Done: int64(ev.Done), Total: int64(ev.Total), Unit: ev.Unit, Detail: ev.Detail}
	if ev.Stage != "" {
		p.Phase += " " + ev.Stage
		p.Detail = strings.TrimPrefix(ev.Detail, ev.Stage+": ")
	}
	return p
}

// quietFlags defines -q and --quiet, which silence progress output.
func quietFlags(fs *flag.FlagSet) *bool {
	q := fs.Bool("quiet", false, "no progress output on stderr")
	fs.BoolVar(q, "q", false, "same as --quiet")
	return q
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// stepTimer times the build's steps from its progress events: a step runs
// from its first event to the first event of the next step (or the end).
type stepTimer struct {
	now   func() time.Time
	names []string
	start []time.Time
	end   time.Time
}

func (t *stepTimer) event(step string) {
	now := t.now()
	t.end = now
	if step == "done" {
		return
	}
	if n := len(t.names); n > 0 && t.names[n-1] == step {
		return
	}
	t.names = append(t.names, step)
	t.start = append(t.start, now)
}

// steps returns each step's wall time, in order. A step seen again after
// another (not expected of the builder) is listed again.
func (t *stepTimer) steps() []StepTimeJSON {
	out := []StepTimeJSON{}
	for i, n := range t.names {
		end := t.end
		if i+1 < len(t.start) {
			end = t.start[i+1]
		}
		out = append(out, StepTimeJSON{Step: n, DurationMS: end.Sub(t.start[i]).Milliseconds()})
	}
	return out
}
