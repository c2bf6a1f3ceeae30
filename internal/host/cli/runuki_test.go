package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/fat32"
	"github.com/turbo-image/turbo-image/internal/format/isoimage"
	"github.com/turbo-image/turbo-image/internal/format/uki"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestRunUKIAndISO: a bare uki.efi boots by default under UEFI from a
// hybrid image run writes, a bare live.iso from a CD-ROM; bhyve takes the
// ISO on ahci-cd and refuses the bare UKI.
func TestRunUKIAndISO(t *testing.T) {
	const stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	testenv.MustHaveFile(t, stub, "systemd-boot-efi")
	s, err := os.ReadFile(stub)
	if err != nil {
		t.Fatal(err)
	}
	u, err := uki.Build(uki.Image{Stub: s, Linux: []byte("kernel"), Initrd: []byte("initrd"), Cmdline: "console=ttyS0",
		OSRelease: []byte("NAME=\"hello\"\nVERSION=\"1.0\"\n"), Uname: "6.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ukiPath, isoPath := filepath.Join(dir, "uki.efi"), filepath.Join(dir, "live.iso")
	if err := os.WriteFile(ukiPath, u, 0o644); err != nil {
		t.Fatal(err)
	}
	im := isoimage.Image{VolumeID: "T", ESP: []fat32.File{{Path: "EFI/BOOT/BOOTX64.EFI", Data: u}}}
	n, _ := isoimage.Size(im)
	f, err := os.Create(isoPath)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(n)
	if err := isoimage.Write(f, im); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A PE file that is not a UKI is refused with what it is.
	if _, err := loadTarget(context.Background(), stub); err == nil || !strings.Contains(err.Error(), "not a Unified Kernel Image") {
		t.Errorf("the bare stub: %v", err)
	}
	env := func(out, errb *strings.Builder) *Env {
		return &Env{Stdout: out, Stderr: errb, Getenv: func(k string) string {
			if k == "TURBO_ACCEL" {
				return "tcg"
			}
			return ""
		}}
	}
	// inspect shows the UKI's sections and text, and sends an ISO to xorriso.
	var out, errb strings.Builder
	if code := MainEnv(context.Background(), []string{"inspect", ukiPath}, env(&out, &errb)); code != 0 {
		t.Fatalf("inspect uki.efi: %d %s", code, errb.String())
	}
	for _, want := range []string{"Unified Kernel Image (x86-64)", `os-release: "hello 1.0"`, "uname: 6.1.0", "cmdline: console=ttyS0", ".initrd", ".linux", ".sbat"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("inspect uki.efi lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := MainEnv(context.Background(), []string{"inspect", "--json", ukiPath}, env(&out, &errb)); code != 0 ||
		!strings.Contains(out.String(), `"kind": "uki"`) || !strings.Contains(out.String(), `"cmdline": "console=ttyS0"`) {
		t.Errorf("inspect --json uki.efi: %d %s", code, out.String())
	}
	errb.Reset()
	if code := MainEnv(context.Background(), []string{"inspect", isoPath}, env(&out, &errb)); code == 0 || !strings.Contains(errb.String(), "xorriso") {
		t.Errorf("inspect live.iso: %d %s", code, errb.String())
	}
	for _, c := range []struct {
		path, boot, qemu, bhyve, bhyveErr string
	}{
		{ukiPath, bootUKI, "uki-disk.img,format=raw,if=none,id=disk0,readonly=on -device virtio-blk-pci", "", "cannot start a bare UKI"},
		{isoPath, bootISO, "live.iso,format=raw,if=none,id=disk0,media=cdrom,readonly=on -device ide-cd,bus=ide.0", "-s 2,ahci-cd," + isoPath, ""},
	} {
		target, err := loadTarget(context.Background(), c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := target.defaultBoot(); got != c.boot {
			t.Errorf("%s: default boot %s, want %s", c.path, got, c.boot)
		}
		var out, errb strings.Builder
		if code := MainEnv(context.Background(), []string{"run", c.path, "--dry-run"}, env(&out, &errb)); code != 0 {
			t.Fatalf("run --dry-run %s: %d %s", c.path, code, errb.String())
		}
		if !strings.Contains(out.String(), c.qemu) || !strings.Contains(out.String(), "-machine q35") || !strings.Contains(out.String(), "pflash") {
			t.Errorf("QEMU command for %s lacks %q:\n%s", c.path, c.qemu, out.String())
		}
		out.Reset()
		errb.Reset()
		if code := MainEnv(context.Background(), []string{"run", c.path, "--cmdline", "x", "--dry-run"}, env(&out, &errb)); code == 0 {
			t.Errorf("--cmdline accepted for %s", c.path)
		}
		out.Reset()
		errb.Reset()
		code := MainEnv(context.Background(), []string{"run", c.path, "--vmm", "bhyve", "--dry-run"}, env(&out, &errb))
		if c.bhyveErr != "" {
			if code == 0 || !strings.Contains(errb.String(), c.bhyveErr) {
				t.Errorf("bhyve of %s: %d %s", c.path, code, errb.String())
			}
			continue
		}
		if code != 0 || !strings.Contains(out.String(), c.bhyve) {
			t.Errorf("bhyve of %s: %d %s %s", c.path, code, out.String(), errb.String())
		}
	}
}
