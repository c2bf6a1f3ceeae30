package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

func runBuild(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "build", commands()["build"].usage)
	out := fs.String("o", "", "output build directory (required)")
	version := fs.String("version", "", "override the recipe's version (e.g. from a CI tag)")
	kernel := fs.String("kernel", "", "use this prebuilt kernel image instead of the recipe's kernel section")
	sdboot := fs.String("systemd-boot", "", "systemd-boot EFI binary for disk images (default: recipe's disk.systemd_boot, else Debian's)")
	cache := fs.String("cache", "", "cache directory (default $TURBO_CACHE, else $XDG_CACHE_HOME/turbo-image, else ~/.cache/turbo-image)")
	quiet := fs.Bool("q", false, "no progress output")
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
	progress, finish := buildProgress(e.Stderr, *quiet)
	res, err := builder.Build(ctx, builder.Options{
		Recipe: pos[0], Out: *out, Version: *version, Kernel: *kernel, CacheDir: *cache, SystemdBoot: *sdboot,
		SourceDateEpoch: epoch, Progress: progress,
	})
	finish()
	if err != nil {
		return err
	}
	m := res.Manifest
	var total int64
	for _, a := range m.Artifacts {
		total += a.Size
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

// buildProgress renders builder progress events on a status line.
func buildProgress(w io.Writer, quiet bool) (update func(builder.Progress), finish func()) {
	if quiet {
		return func(builder.Progress) {}, func() {}
	}
	st := newStatusLine(w)
	return func(ev builder.Progress) {
		text := fmt.Sprintf("[%s] %s", ev.Step, firstLine(ev.Detail))
		if ev.Total > 0 && st.tty {
			text = fmt.Sprintf("[%s %d%%] %s", ev.Step, 100*ev.Done/ev.Total, firstLine(ev.Detail))
		}
		st.show(ev.Step, text)
	}, st.finish
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
