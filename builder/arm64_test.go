package builder

import (
	"bytes"
	"context"
	"debug/elf"
	"debug/pe"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// fakeArm64Kernel writes 4 KiB carrying the arm64 Image header's magic
// ("ARM\x64" at 0x38, Documentation/arm64/booting.rst) and the EFI stub's
// "MZ": not a kernel, but what the builder checks.
func fakeArm64Kernel(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "Image")
	b := make([]byte, 4096)
	copy(b, "MZ")
	copy(b[0x38:], "ARM\x64")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// arm64Recipe copies the hello recipe into a fresh folder as an arm64
// recipe with a disk and a UKI, and returns the recipe file.
func arm64Recipe(t *testing.T, mtime time.Time) string {
	src := filepath.Join(t.TempDir(), "hello")
	copyTree(t, "../recipes/hello", src, mtime)
	rp := filepath.Join(src, "recipe.yaml")
	b, err := os.ReadFile(rp)
	if err != nil {
		t.Fatal(err)
	}
	const old = "outputs: [initramfs, disk]\n"
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s: no %q line", rp, old)
	}
	b = bytes.Replace(b, []byte(old), []byte("arch: arm64\noutputs: [initramfs, disk, uki]\n"), 1)
	if err := os.WriteFile(rp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return rp
}

// TestArm64Build builds the hello recipe for arm64 on this (amd64) host
// twice, from two copies with different mtimes: every artifact must be
// byte-identical, the init and the service arm64 executables, the disk's
// removable-media boot loader Debian's systemd-bootaa64.efi at
// EFI/BOOT/BOOTAA64.EFI (and no x86 loader), the UKI an arm64 PE built on
// linuxaa64.efi.stub, and the console the PL011 (ttyAMA0).
func TestArm64Build(t *testing.T) {
	testenv.MustHaveFile(t, DefaultSystemdBootAA64, "systemd-boot-efi:arm64")
	testenv.MustHaveFile(t, DefaultSystemdStubAA64, "systemd-boot-efi:arm64")
	kernel := fakeArm64Kernel(t)
	var outs []string
	for i, mt := range []time.Time{time.Unix(1e9, 0), time.Now()} {
		out := filepath.Join(t.TempDir(), "out", "build")
		if _, err := Build(context.Background(), Options{Recipe: arm64Recipe(t, mt), Out: out, Kernel: kernel, CacheDir: testCache}); err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		outs = append(outs, out)
	}
	for _, name := range []string{"initramfs.cpio.zst", "manifest.json", "kernel", "disk.img", "root.squashfs", "slot-initramfs.cpio.zst", "uki.efi"} {
		if a, b := sha(t, filepath.Join(outs[0], name)), sha(t, filepath.Join(outs[1], name)); a != b {
			t.Errorf("%s differs between builds: %s vs %s", name, a, b)
		}
	}
	out := outs[0]
	m, _, err := manifest.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != "arm64" {
		t.Errorf("manifest arch %q", m.Arch)
	}
	if !strings.HasPrefix(m.Cmdline, "console=ttyAMA0 panic=1 ") || strings.Contains(m.Cmdline, "ttyS0") || strings.Contains(m.Cmdline, "reboot=t") {
		t.Errorf("cmdline %q: want the PL011 console and no x86 words", m.Cmdline)
	}

	// The init and the service are arm64 executables.
	f, err := os.Open(filepath.Join(out, "initramfs.cpio.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := initramfs.Decompress(f)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := initramfs.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{}
	for _, rec := range recs {
		if rec.Name == "init" || rec.Name == "bin/hello" {
			ef, err := elf.NewFile(bytes.NewReader(rec.Data))
			if err != nil {
				t.Fatalf("%s: %v", rec.Name, err)
			}
			machines[rec.Name] = ef.Machine
		}
	}
	if machines["init"] != elf.EM_AARCH64 || machines["bin/hello"] != elf.EM_AARCH64 {
		t.Errorf("initramfs executables: %v, want EM_AARCH64 for init and bin/hello", machines)
	}

	// The disk boots with the arm64 systemd-boot from the removable path.
	d, err := diskimage.Open(filepath.Join(out, DiskFile), false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	esp, err := d.ESP()
	if err != nil {
		t.Fatal(err)
	}
	loader, err := esp.ReadFile("EFI/BOOT/BOOTAA64.EFI")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(DefaultSystemdBootAA64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loader, want) {
		t.Errorf("EFI/BOOT/BOOTAA64.EFI is not %s", DefaultSystemdBootAA64)
	}
	if _, err := esp.Stat("EFI/BOOT/BOOTX64.EFI"); err == nil {
		t.Error("the arm64 disk carries an x86 boot loader")
	}

	// The UKI is an arm64 EFI application.
	pf, err := pe.Open(filepath.Join(out, UKIFile))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if pf.Machine != pe.IMAGE_FILE_MACHINE_ARM64 {
		t.Errorf("uki.efi machine %#x, want arm64 (%#x)", pf.Machine, pe.IMAGE_FILE_MACHINE_ARM64)
	}
}

// TestArm64RefusesX86Kernel: an x86 bzImage given to an arm64 build is
// refused before any work, naming both.
func TestArm64RefusesX86Kernel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b")
	_, err := Build(context.Background(), Options{Recipe: arm64Recipe(t, time.Unix(1e9, 0)), Out: out, Kernel: fakeKernel(t), CacheDir: testCache})
	if err == nil || !strings.Contains(err.Error(), "is an x86 bzImage, but the image is arm64") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused build left %s behind (%v)", out, err)
	}
}

func TestKernelCC(t *testing.T) {
	for _, c := range []struct{ arch, host, want string }{
		{"amd64", "amd64", "gcc"},
		{"arm64", "arm64", "gcc"},
		{"arm64", "amd64", "aarch64-linux-gnu-gcc"},
		{"amd64", "arm64", "x86_64-linux-gnu-gcc"},
	} {
		if got := KernelCC(c.arch, c.host); got != c.want {
			t.Errorf("KernelCC(%s on %s) = %q, want %q", c.arch, c.host, got, c.want)
		}
	}
}
