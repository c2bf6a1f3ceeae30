package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/kconfig"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// Integration test: really builds the project's virt.config kernel. It
// takes a few minutes on 2 cores when the cache is cold. The cache is the
// builder's (testenv.KernelCache: TURBO_KERNEL_CACHE, else
// $TURBO_CACHE/kernel, else ~/.cache/turbo-image/kernel), so the kernel
// built here is the one the builder, the vmm boot tests and qemu-tests
// use, and a warm cache makes this a lookup.

func kernelTestCache(t *testing.T) string {
	dir := testenv.KernelCache(t)
	t.Logf("using the shared kernel cache %s (TURBO_KERNEL_CACHE)", dir)
	return dir
}

func virtFragment(t *testing.T) Fragment {
	t.Helper()
	data, err := os.ReadFile("../../../recipes/kernel/virt.config")
	if err != nil {
		t.Fatal(err)
	}
	return Fragment{Name: "recipes/kernel/virt.config", Data: data}
}

// progressLog records Progress reports; used from the building goroutine only.
type progressLog struct {
	stages []string
	last   map[string]Progress
	count  map[string]int
}

func newProgressLog() *progressLog {
	return &progressLog{last: map[string]Progress{}, count: map[string]int{}}
}

func (p *progressLog) add(pr Progress) {
	if len(p.stages) == 0 || p.stages[len(p.stages)-1] != pr.Stage {
		p.stages = append(p.stages, pr.Stage)
	}
	p.last[pr.Stage] = pr
	p.count[pr.Stage]++
}

func TestIntegrationBuildVirtKernel(t *testing.T) {
	testenv.SkipIfShort(t, "real kernel build")
	source := testenv.MustHaveKernelSource(t)
	cache := kernelTestCache(t)
	ctx := context.Background()
	spec := Spec{
		Source:    source,
		Base:      "tinyconfig",
		Fragments: []Fragment{virtFragment(t)},
		Arch:      "amd64",
		CacheDir:  cache,
	}

	// A cold build takes 4 minutes on 2 idle cores and over 20 under load:
	// rather than die in the middle of make, skip when the time left is
	// short and the cache is cold.
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < 8*time.Minute {
		if _, cached, err := lookup(ctx, spec); err == nil && !cached {
			testenv.Missing(t, "real kernel build: only %v left before the test timeout and %s holds no build; run with -timeout 60m or set TURBO_KERNEL_CACHE to a warm cache", time.Until(deadline).Round(time.Second), cache)
		}
	}

	var first Result
	t.Run("build", func(t *testing.T) {
		plog := newProgressLog()
		spec := spec
		spec.Progress = func(p Progress) {
			if n := len(plog.stages); n == 0 || plog.stages[n-1] != p.Stage {
				t.Logf("%s stage: %s", p.Stage, p.Line)
			}
			plog.add(p)
		}
		start := time.Now()
		res, err := Build(ctx, spec)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		t.Logf("Build took %v, cached=%v, stages %v, compile steps %d (estimate %d)",
			time.Since(start), res.Cached, plog.stages, plog.last["compile"].Done, plog.last["compile"].Total)
		first = res
		if !res.Cached {
			for _, st := range []string{"config", "compile", "done"} {
				if plog.count[st] == 0 {
					t.Errorf("no %q progress reported; stages %v", st, plog.stages)
				}
			}
			if c := plog.last["compile"]; c.Done < 100 || c.Total < c.Done {
				t.Errorf("compile progress %d/%d: want many steps and Total >= Done", c.Done, c.Total)
			}
		}
		if !strings.HasPrefix(res.Release, "6.1.") {
			t.Errorf("Release = %q, want 6.1.x", res.Release)
		}
		if want := filepath.Join(cache, "kernels", res.Key, "bzImage"); res.Image != want {
			t.Errorf("Image = %s, want %s", res.Image, want)
		}
		img, err := os.ReadFile(res.Image)
		if err != nil {
			t.Fatal(err)
		}
		// The x86 boot protocol header magic "HdrS" at 0x202
		// (Documentation/x86/boot.rst).
		if len(img) < 0x206 || string(img[0x202:0x206]) != "HdrS" {
			t.Errorf("%s is not a bzImage (no HdrS magic)", res.Image)
		}
		vm, err := os.ReadFile(res.Vmlinux)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(vm, []byte("\x7fELF")) {
			t.Errorf("%s is not an ELF file", res.Vmlinux)
		}
		cfgData, err := os.ReadFile(res.Config)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := kconfig.ParseConfig(res.Config, cfgData)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := mergeFragments(spec.Fragments)
		if probs := kconfig.Mismatches(want, cfg); len(probs) > 0 {
			t.Errorf("cached config does not honour the fragment: %v", probs)
		}
		if fi, err := os.Stat(res.Image); err == nil && fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("cached image is writable: %v", fi.Mode())
		}
		if _, err := os.Stat(filepath.Join(cache, "tmp", "build-"+res.Key)); !os.IsNotExist(err) {
			t.Errorf("build directory was not removed: %v", err)
		}
	})
	if first.Key == "" {
		t.Fatal("first build failed")
	}

	t.Run("cached", func(t *testing.T) {
		plog := newProgressLog()
		spec := spec
		spec.Progress = plog.add
		start := time.Now()
		res, err := Build(ctx, spec)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cached Build took %v", elapsed)
		if !res.Cached {
			t.Error("second Build was not cached")
		}
		if res.Key != first.Key || res.Image != first.Image || res.Release != first.Release {
			t.Errorf("cached result %+v differs from built %+v", res, first)
		}
		if plog.count["compile"]+plog.count["config"]+plog.count["unpack"] != 0 {
			t.Errorf("cached Build reported work: %v", plog.stages)
		}
		got, ok, err := lookup(ctx, spec)
		if err != nil || !ok || got != res {
			t.Errorf("Lookup = %+v, %v, %v; want %+v", got, ok, err, res)
		}
	})

	t.Run("unmet dependency fails before compiling", func(t *testing.T) {
		t.Parallel() // configures its own build directory; runs beside the other
		plog := newProgressLog()
		spec := spec
		spec.Progress = plog.add
		spec.Fragments = append(spec.Fragments[:1:1], Fragment{
			Name: "test:no-misc-fs",
			Data: []byte("# Turn off the menu that squashfs lives in.\n# CONFIG_MISC_FILESYSTEMS is not set\n"),
		})
		_, err := Build(ctx, spec)
		if err == nil {
			t.Fatal("Build succeeded, want a config check error")
		}
		t.Logf("error: %v", err)
		var ce *kconfig.CheckError
		if !errors.As(err, &ce) {
			t.Fatalf("error is not a *kconfig.CheckError: %v", err)
		}
		line := 0
		opts, _ := kconfig.ParseFragment(spec.Fragments[0].Name, spec.Fragments[0].Data)
		for _, o := range opts {
			if o.Name == "CONFIG_SQUASHFS" {
				line = o.Line
			}
		}
		want := fmt.Sprintf("CONFIG_SQUASHFS=y (recipes/kernel/virt.config:%d) was dropped by Kconfig: depends on MISC_FILESYSTEMS && BLOCK; MISC_FILESYSTEMS is not set [fs/squashfs/Kconfig:2]", line)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
		if plog.count["compile"] != 0 {
			t.Errorf("compile stage was reached (%d reports); the check must come first", plog.count["compile"])
		}
		key, err := cacheKey(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(cache, "kernels", key)); !os.IsNotExist(err) {
			t.Errorf("failed build left a cache entry: %v", err)
		}
	})

	t.Run("cancel kills make", func(t *testing.T) {
		t.Parallel() // configures its own build directory; runs beside the other
		spec := spec
		spec.SourceDateEpoch = 1 // another key: not cached
		key, err := cacheKey(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		objDir := filepath.Join(cache, "tmp", "build-"+key)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		steps := 0
		spec.Progress = func(p Progress) {
			if p.Stage == "compile" && p.Done > 0 {
				steps = p.Done
				if p.Done >= 20 {
					cancel()
				}
			}
		}
		_, err = Build(cctx, spec)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Build after cancel = %v, want context.Canceled", err)
		}
		if steps < 20 {
			t.Fatalf("cancelled after %d compile steps, want 20", steps)
		}
		if pids := processesMentioning(objDir); len(pids) > 0 {
			t.Errorf("processes still running in the cancelled build: %v", pids)
		}
		if _, err := os.Stat(objDir); !os.IsNotExist(err) {
			t.Errorf("cancelled build left %s: %v", objDir, err)
		}
		if _, ok, err := readCached(layout{cache}, key); ok || err != nil {
			t.Errorf("cancelled build left a cache entry (err %v)", err)
		}
	})
}

// processesMentioning lists the pids whose command line contains dir or
// whose working directory is inside it.
func processesMentioning(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if (err == nil && bytes.Contains(cmdline, []byte(dir))) || strings.HasPrefix(cwd, dir) {
			pids = append(pids, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return pids
}
