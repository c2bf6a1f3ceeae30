package qemutests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestVirtualDisksBootUnderUEFI builds hello with outputs qcow2, vmdk and
// vhd, checks each against disk.img with qemu-img, and boots each under
// OVMF to TURBO_READY with `run FILE` alone: run picks UEFI and QEMU's
// driver from the file.
func TestVirtualDisksBootUnderUEFI(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	qimg := testenv.MustHaveTool(t, "qemu-img", "qemu-utils")
	src := filepath.Join(t.TempDir(), "hello")
	if out, err := exec("cp", "-r", "../recipes/hello", src); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	rp := filepath.Join(src, "recipe.yaml")
	y, err := os.ReadFile(rp)
	if err != nil {
		t.Fatal(err)
	}
	const old = "outputs: [initramfs, disk]\n"
	if !strings.Contains(string(y), old) {
		t.Fatalf("hello recipe has no %q", old)
	}
	y = []byte(strings.Replace(string(y), old, "outputs: [disk, qcow2, vmdk, vhd]\n", 1))
	if err := os.WriteFile(rp, y, 0o644); err != nil {
		t.Fatal(err)
	}
	out := build(t, rp)
	m, _, err := manifest.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(out, "disk.img")
	wall := regexp.MustCompile(`guest uptime \d+ ms, host wall \d+ ms`)
	// disk.img first: the baseline the others' boot times are read against.
	for _, c := range []struct{ file, format string }{{"disk.img", "raw"}, {"disk.qcow2", "qcow2"}, {"disk.vmdk", "vmdk"}, {"disk.vhd", "vpc"}} {
		t.Run(c.format, func(t *testing.T) {
			a, ok := m.Artifact(c.file)
			if !ok {
				t.Fatalf("manifest does not list %s", c.file)
			}
			p := filepath.Join(out, c.file)
			st, err := os.Stat(p)
			if err != nil || st.Size() != a.Size {
				t.Fatalf("%s: %v, size %v, manifest %d", c.file, err, st, a.Size)
			}
			t.Logf("%s: %d bytes", c.file, a.Size)
			if c.format == "vmdk" || c.format == "qcow2" { // qemu-img has no check for VHD or raw
				if o, err := exec(qimg, "check", "-f", c.format, p); err != nil {
					t.Errorf("qemu-img check: %v\n%s", err, o)
				}
			}
			if c.format != "raw" {
				if o, err := exec(qimg, "compare", "-f", "raw", "-F", c.format, raw, p); err != nil {
					t.Errorf("qemu-img compare with disk.img: %v\n%s", err, o)
				}
			}
			// Booted from a copy: a boot changes the disk.
			disk := filepath.Join(t.TempDir(), c.file)
			if o, err := exec("cp", "--sparse=always", p, disk); err != nil {
				t.Fatalf("cp: %v %s", err, o)
			}
			args := []string{"run", disk, "--exit-on-ready", "--timeout", "300s"}
			if c.format == "raw" {
				args = append(args, "--boot", "uefi") // a bare raw disk defaults to direct boot
			}
			r := turbo(t, context.Background(), args...)
			if r.code != 0 {
				t.Fatalf("run %s: %s", c.file, r)
			}
			if !strings.Contains(r.stderr, "(uefi boot)") {
				t.Errorf("a bare %s should default to a UEFI boot: %s", c.file, r.stderr)
			}
			if !regexp.MustCompile(`TURBO_READY name=hello version=1\.0\.0 slot=a build=sha256:[0-9a-f]{64} uptime_ms=\d+`).MatchString(r.stdout) {
				t.Fatalf("no ready line for slot a:\n%s", r.stdout)
			}
			t.Logf("%s under UEFI (TCG): %s", c.file, wall.FindString(r.stderr))
		})
	}
}
