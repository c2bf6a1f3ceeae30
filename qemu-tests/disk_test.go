package qemutests

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// copyDisk copies a build's disk image (sparse) for a test to boot and
// change.
func copyDisk(t *testing.T, buildDir string) string {
	t.Helper()
	src := filepath.Join(buildDir, "disk.img")
	dst := filepath.Join(t.TempDir(), "disk.img")
	if out, err := exec("cp", "--sparse=always", src, dst); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

// TestDiskBootsUnderUEFIAndDirect boots the hello disk image both ways:
// OVMF + systemd-boot, and turbo direct boot; both reach slot a.
func TestDiskBootsUnderUEFIAndDirect(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	out := buildOnce(t, "../recipes/hello/recipe.yaml")
	for _, mode := range []string{"uefi", "disk"} {
		t.Run(mode, func(t *testing.T) {
			disk := copyDisk(t, out)
			r := turbo(t, context.Background(), "run", disk, "--boot", mode, "--exit-on-ready", "--timeout", "300s")
			if r.code != 0 {
				t.Fatalf("run --boot %s: %s", mode, r)
			}
			if !regexp.MustCompile(`TURBO_READY name=hello version=1\.0\.0 slot=a uptime_ms=\d+`).MatchString(r.stdout) {
				t.Fatalf("no ready line for slot a:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, "guest powered off") {
				t.Errorf("a disk boot should be powered down in order after ready: %s", r.stderr)
			}
		})
	}
}

// TestDataSurvivesReboot: the app counts its boots in /data; the count
// goes on across boots (and the first boot creates the file system).
func TestDataSurvivesReboot(t *testing.T) {
	setup(t)
	out := buildOnce(t, "../recipes/hello/recipe.yaml")
	disk := copyDisk(t, out)
	for i, want := range []string{"boot 1 recorded", "boot 2 recorded", "boot 3 recorded"} {
		r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s")
		if r.code != 0 {
			t.Fatalf("boot %d: %s", i+1, r)
		}
		if !strings.Contains(r.stdout, "hello: "+want+" in /data/hello/boots") {
			t.Fatalf("boot %d: want %q:\n%s", i+1, want, r.stdout)
		}
		formats := strings.Contains(r.stdout, "creating an ext4 file system")
		if formats != (i == 0) {
			t.Errorf("boot %d: creating the data file system: %v", i+1, formats)
		}
	}
}

var _ = time.Second
