package qemutests

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// arm64 acceptance tests: arm64 images built on this amd64 host (kernel
// cross-compiled with gcc-aarch64-linux-gnu, Go with GOARCH=arm64) and
// booted under qemu-system-aarch64 -M virt with TCG. Each reuses the x86
// test's body with the arch as a parameter, and the set is small: hello
// by direct boot, the disk under AAVMF and by turbo direct boot, one A/B
// flash that is blessed and one unhealthy trial that rolls back. Measured
// on the shared 2-core machine they were written on: 12-36 s, 19-32 s,
// 34-126 s and 32-74 s, builds included, so all four run in `make test`
// (`make test-arm64` runs only them).

// setupArm64 is setup plus the tools of arm64 images.
func setupArm64(t *testing.T) {
	t.Helper()
	setup(t)
	testenv.MustHaveTool(t, "qemu-system-aarch64", "qemu-system-arm")
	testenv.MustHaveTool(t, "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
	testenv.MustHaveFile(t, "/usr/lib/systemd/boot/efi/systemd-bootaa64.efi", "systemd-boot-efi:arm64")
}

// bootTimeoutFor is how long a test waits for one boot's console line.
func bootTimeoutFor(arch string) time.Duration {
	if arch == "arm64" {
		return 300 * time.Second
	}
	return bootTimeout
}

// arm64Hello is recipes/hello copied with arch: arm64, written once per
// test binary so that buildOnce can share its build.
var arm64Hello struct {
	once sync.Once
	path string
	err  error
}

func arm64HelloRecipe(t *testing.T) string {
	t.Helper()
	arm64Hello.once.Do(func() {
		dir, err := os.MkdirTemp("", "qemu-tests-arm64-hello-")
		if err != nil {
			arm64Hello.err = err
			return
		}
		if out, err := exec("cp", "-r", "../recipes/hello/.", dir); err != nil {
			arm64Hello.err = err
			t.Logf("cp: %s", out)
			return
		}
		p := filepath.Join(dir, "recipe.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			arm64Hello.err = err
			return
		}
		b = bytes.Replace(b, []byte("\nkernel:"), []byte("\narch: arm64\nkernel:"), 1)
		arm64Hello.err = os.WriteFile(p, b, 0o644)
		arm64Hello.path = p
	})
	if arm64Hello.err != nil {
		t.Fatal(arm64Hello.err)
	}
	return arm64Hello.path
}

// TestArm64HelloDirectBoot builds the hello example for arm64 and boots
// its kernel and initramfs directly on -M virt to TURBO_READY: the cross
// kernel, the PL011 console, the arm64 init and service, virtio-net for
// the static address.
func TestArm64HelloDirectBoot(t *testing.T) {
	setupArm64(t)
	out := buildOnce(t, arm64HelloRecipe(t))
	start := time.Now()
	r := turbo(t, context.Background(), "run", out, "--exit-on-ready", "--timeout", "300s")
	if r.code != 0 {
		t.Fatalf("run --exit-on-ready: %s", r)
	}
	if !regexp.MustCompile(`TURBO_READY name=hello version=1\.0\.0 `).MatchString(r.stdout) {
		t.Fatalf("no ready line:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "ready: hello 1.0.0, guest uptime") {
		t.Errorf("no boot time report: %s", r.stderr)
	}
	t.Logf("arm64 direct boot to ready: %v host wall time (TCG; not asserted)", time.Since(start).Round(time.Millisecond))
}

// TestArm64DiskBootsUnderUEFIAndDirect is TestDiskBootsUnderUEFIAndDirect
// for arm64: AAVMF + systemd-bootaa64.efi from EFI/BOOT/BOOTAA64.EFI, and
// turbo direct boot of the same disk. (It caught AAVMF hiding the device
// tree when QEMU offered ACPI tables; see vmm's acpi=off.)
func TestArm64DiskBootsUnderUEFIAndDirect(t *testing.T) {
	setupArm64(t)
	testenv.MustHaveFile(t, "/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64")
	diskBootsUnderUEFIAndDirect(t, buildOnce(t, arm64HelloRecipe(t)))
}

// TestArm64UpgradeIsBlessedAndStays is TestUpgradeIsBlessedAndStays for
// arm64: flash b, trial, blessing, and b again on the next boot.
func TestArm64UpgradeIsBlessedAndStays(t *testing.T) {
	setupArm64(t)
	upgradeIsBlessedAndStays(t, "arm64")
}

// TestArm64UnhealthyTrialRollsBack is TestUnhealthyTrialRollsBack for
// arm64: the trial fails, PSCI resets the guest, a comes back.
func TestArm64UnhealthyTrialRollsBack(t *testing.T) {
	setupArm64(t)
	unhealthyTrialRollsBack(t, "arm64")
}
