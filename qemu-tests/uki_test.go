package qemutests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/uki"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestUKIAndISOBootUnderUEFI builds hello with outputs disk, uki and iso
// and boots each under OVMF to TURBO_READY: disk.img through systemd-boot
// (the baseline), uki.efi started by the firmware itself from the
// removable-media path of a hybrid image attached as a disk (no boot
// loader), and live.iso from a CD-ROM through its El Torito catalog. The
// UKI and the ISO run the appliance from its initramfs: no slot.
func TestUKIAndISOBootUnderUEFI(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	testenv.MustHaveFile(t, "/usr/lib/systemd/boot/efi/linuxx64.efi.stub", "systemd-boot-efi")
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
	y = []byte(strings.Replace(string(y), old, "outputs: [disk, uki, iso]\n", 1))
	if err := os.WriteFile(rp, y, 0o644); err != nil {
		t.Fatal(err)
	}
	out := build(t, rp)
	m, _, err := manifest.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	// The UKI carries the build's command line and os-release.
	b, err := os.ReadFile(filepath.Join(out, "uki.efi"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := uki.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := u.Section(uki.SectionCmdline); !ok || string(s.Data) != m.Cmdline {
		t.Errorf(".cmdline %q, want the manifest's %q", s.Data, m.Cmdline)
	}
	if s, ok := u.Section(uki.SectionOSRel); !ok || !strings.Contains(string(s.Data), `VERSION="1.0.0"`) {
		t.Errorf(".osrel %q", s.Data)
	}
	wall := regexp.MustCompile(`guest uptime \d+ ms, host wall \d+ ms`)
	for _, c := range []struct{ file, ready string }{
		{"disk.img", `TURBO_READY name=hello version=1\.0\.0 slot=a build=sha256:[0-9a-f]{64} uptime_ms=\d+`},
		{"uki.efi", `TURBO_READY name=hello version=1\.0\.0 uptime_ms=\d+`},
		{"live.iso", `TURBO_READY name=hello version=1\.0\.0 uptime_ms=\d+`},
	} {
		t.Run(c.file, func(t *testing.T) {
			a, ok := m.Artifact(c.file)
			if !ok {
				t.Fatalf("manifest does not list %s", c.file)
			}
			t.Logf("%s: %d bytes", c.file, a.Size)
			p := filepath.Join(out, c.file)
			args := []string{"run", p, "--exit-on-ready", "--timeout", "300s"}
			if c.file == "disk.img" {
				// Booted from a copy (a boot changes the disk), under UEFI.
				p = filepath.Join(t.TempDir(), c.file)
				if o, err := exec("cp", "--sparse=always", filepath.Join(out, c.file), p); err != nil {
					t.Fatalf("cp: %v %s", err, o)
				}
				args = []string{"run", p, "--exit-on-ready", "--timeout", "300s", "--boot", "uefi"}
			}
			r := turbo(t, context.Background(), args...)
			if r.code != 0 {
				t.Fatalf("run %s: %s", c.file, r)
			}
			if !regexp.MustCompile(c.ready).MatchString(r.stdout) {
				t.Fatalf("no ready line %s:\n%s", c.ready, r.stdout)
			}
			t.Logf("%s under UEFI (TCG): %s", c.file, wall.FindString(r.stderr))
		})
	}
}
