package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// fakeArm64Build writes a build folder of an arm64 image with a kernel,
// an initramfs and a disk (none of them real: run --dry-run reads only the
// manifest and the names).
func fakeArm64Build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"kernel": "k", "initramfs.cpio.zst": "i", "disk.img": "d"}
	var arts []manifest.File
	for _, name := range []string{"disk.img", "initramfs.cpio.zst", "kernel"} {
		os.WriteFile(filepath.Join(dir, name), []byte(files[name]), 0o644)
		arts = append(arts, manifest.Digest(name, []byte(files[name])))
	}
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "arm64",
		Cmdline: "console=ttyAMA0 panic=1 quiet", Artifacts: arts}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
	return dir
}

func dryRun(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb strings.Builder
	code := MainEnv(context.Background(), append([]string{"run"}, args...),
		&Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return strings.TrimSpace(out.String()), errb.String(), code
}

// TestRunDryRunArm64 plans the arm64 boots: qemu-system-aarch64 -M virt
// under TCG (KVM cannot run an arm64 guest on an amd64 host, even when
// TURBO_ACCEL asks for it), the PL011 console, no x86 TSC hint; the UEFI
// boot with a per-run copy of AAVMF's variable store.
func TestRunDryRunArm64(t *testing.T) {
	if runtime.GOARCH == "arm64" {
		t.Skip("on an arm64 host the arm64 image is native; this test is about a foreign guest")
	}
	dir := fakeArm64Build(t)
	got, errs, code := dryRun(t, map[string]string{"TURBO_ACCEL": "kvm"}, dir, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"qemu-system-aarch64 ", "-machine virt,acpi=off ", "-accel tcg", "-cpu cortex-a57",
		"-kernel " + filepath.Join(dir, "kernel"), "-append 'console=ttyAMA0 panic=1 quiet'", "virtio-net-pci"} {
		if !strings.Contains(got, want) {
			t.Errorf("initramfs dry run lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "tsc_early_khz") || strings.Contains(got, "microvm") {
		t.Errorf("x86 words in an arm64 plan:\n%s", got)
	}

	testenv.MustHaveFile(t, "/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64")
	got, errs, code = dryRun(t, nil, dir, "--dry-run", "--boot", "uefi")
	if code != 0 {
		t.Fatalf("uefi: exit %d: %s", code, errs)
	}
	for _, want := range []string{"qemu-system-aarch64 ", "-machine virt,acpi=off ", "file=/usr/share/AAVMF/AAVMF_CODE.fd",
		"-device virtio-blk-pci,drive=disk0,bootindex=0", "-device i6300esb"} {
		if !strings.Contains(got, want) {
			t.Errorf("uefi dry run lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "file=/usr/share/AAVMF/AAVMF_VARS.fd") || !strings.Contains(got, "/AAVMF_VARS.fd") {
		t.Errorf("uefi dry run must use a per-run copy of AAVMF_VARS.fd:\n%s", got)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--accel", "kvm"}, "KVM cannot run this arm64 image"},
		{[]string{"--boot", "iso"}, "no AHCI CD-ROM"},
		{[]string{"--vmm", "bhyve"}, "amd64 guests only"},
		{[]string{"--vmm", "jail"}, "needs a host of that arch"},
	} {
		_, errs, code := dryRun(t, nil, append([]string{dir, "--dry-run"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error with %q", c.args, code, errs, c.want)
		}
	}
}
