package kernel

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/kconfig"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestIntegrationBuildVirtKernelArm64 really cross-builds the project's
// arm64 virt kernel (recipes/kernel/arm64/virt.config on tinyconfig) with
// Debian's aarch64-linux-gnu-gcc, into the shared cache with the spec the
// builder uses for `arch: arm64` (package builder, KernelCC), so that
// qemu-tests' arm64 boots find it there. It checks the Image is an arm64
// Image with the EFI stub (the PE "MZ" header UEFI and systemd-boot load)
// and that Kconfig kept every option of the fragment.
func TestIntegrationBuildVirtKernelArm64(t *testing.T) {
	testenv.SkipIfShort(t, "real arm64 kernel build")
	source := testenv.MustHaveKernelSource(t)
	cc := testenv.MustHaveTool(t, "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
	data, err := os.ReadFile("../../../recipes/kernel/arm64/virt.config")
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Source: source, Base: "tinyconfig", Arch: "arm64", CC: filepath.Base(cc),
		Fragments: []Fragment{{Name: "recipes/kernel/arm64/virt.config", Data: data}},
		CacheDir:  kernelTestCache(t),
	}
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < 15*time.Minute {
		if _, cached, err := lookup(ctx, spec); err == nil && !cached {
			testenv.Missing(t, "real arm64 kernel build: only %v left before the test timeout and the cache holds no build; run with -timeout 60m", time.Until(deadline).Round(time.Second))
		}
	}
	start := time.Now()
	steps := 0
	spec.Progress = func(p Progress) {
		if p.Stage == "compile" {
			steps = p.Done
		}
	}
	res, err := Build(ctx, spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("arm64 Build took %v, cached=%v, %d compile steps, key %s", time.Since(start).Round(time.Second), res.Cached, steps, res.Key[:12])
	img, err := os.ReadFile(res.Image)
	if err != nil {
		t.Fatal(err)
	}
	// Documentation/arm64/booting.rst: magic "ARM\x64" at 0x38; the EFI
	// stub makes the Image a PE file too (Documentation/admin-guide/efi-stub.rst).
	if len(img) < 0x40 || string(img[0x38:0x3c]) != "ARM\x64" || !bytes.HasPrefix(img, []byte("MZ")) {
		t.Errorf("%s is not an arm64 Image with the EFI stub", res.Image)
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
		t.Errorf("config does not honour the fragment: %v", probs)
	}
}
