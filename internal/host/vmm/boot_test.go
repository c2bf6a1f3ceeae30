//go:build linux

package vmm

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// Optional real-kernel boots. They need a small Linux kernel with the
// turbo-image fragment and an initramfs whose /init prints
// "TINIT uptime=..." and powers off (or reboots when its first argument is
// "reboot"). They exist on the development machine only; CI skips them and
// the lead's acceptance tests boot real images. Override the paths with
// VMM_TEST_KERNEL (bzImage), VMM_TEST_VMLINUX (PVH ELF) and VMM_TEST_INITRD.

func testFile(t *testing.T, env, def string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = def
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIP: optional boot test: %s not present (set %s to a test image): %v", p, env, err)
	}
	return p
}

// tscForTest measures the host TSC, or returns 0 where there is none.
func tscForTest(t *testing.T) int {
	t.Helper()
	khz, err := HostTSCkHz()
	if err != nil {
		t.Logf("no TSC value (%v): booting without tsc_early_khz", err)
		return 0
	}
	return khz
}

// freePort returns a currently unused TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// boot runs spec to completion and returns its console lines and status.
func boot(t *testing.T, spec Spec, timeout time.Duration) ([]string, ExitStatus) {
	t.Helper()
	bin, args, err := QEMUCommand(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s", bin, strings.Join(args, " "))
	w := newLineWaiter()
	start := time.Now()
	p, err := StartWith(context.Background(), bin, args, RunOptions{OnLine: w.onLine})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, p, timeout)
	t.Logf("QEMU ran %v: %s", time.Since(start).Round(time.Millisecond), st)
	if !gone(p.Pid()) {
		t.Errorf("QEMU pid %d still exists after it ended", p.Pid())
	}
	return w.all(), st
}

func findLine(lines []string, sub string) (int, string) {
	for i, l := range lines {
		if strings.Contains(l, sub) {
			return i, l
		}
	}
	return -1, ""
}

func TestBootMicrovmTCG(t *testing.T) {
	testenv.MustHaveQEMU(t)
	kernel := testFile(t, "VMM_TEST_KERNEL", "/tmp/kx/linux-source-6.1/arch/x86/boot/bzImage")
	initrd := testFile(t, "VMM_TEST_INITRD", "/tmp/tinit/plain.cpio")
	khz := tscForTest(t)
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Accel: AccelTCG, Kernel: kernel, Initrd: initrd,
		Cmdline: "console=ttyS0 panic=-1", TSCkHz: khz,
		Disks:    []Disk{{Path: disk, ReadOnly: true}},
		Net:      &Net{Publish: []PortMap{{HostPort: freePort(t), GuestPort: 80}}},
		NoReboot: true, DebugExit: true,
	}
	lines, st := boot(t, spec, 120*time.Second)
	if st.Stopped || st.Code != 0 || st.Signal != "" {
		t.Errorf("QEMU %s: want exit code 0 after the guest's ACPI power-off", st)
	}
	if _, l := findLine(lines, "TINIT uptime="); l == "" {
		t.Fatalf("guest init never ran; last lines %q", tail(lines, 8))
	} else {
		t.Logf("guest: %s", l)
	}
	if _, l := findLine(lines, "reboot: Power down"); l == "" {
		t.Errorf("no ACPI power-off line")
	}
	if khz > 0 {
		_, cmd := findLine(lines, "Kernel command line:")
		if !strings.Contains(cmd, fmt.Sprintf(" tsc_early_khz=%d", khz)) {
			t.Errorf("kernel command line %q lacks tsc_early_khz=%d", cmd, khz)
		}
		// The kernel prints the TSC rate it uses: as "processor" when its
		// own quick PIT calibration failed or agreed, else as "TSC".
		want := fmt.Sprintf("tsc: Detected %d.%03d MHz ", khz/1000, khz%1000)
		if _, l := findLine(lines, want); l == "" {
			t.Errorf("no %q line: the kernel did not take tsc_early_khz", want)
		}
		if _, l := findLine(lines, "Unable to calibrate"); l != "" {
			t.Errorf("kernel still calibrated the TSC: %q", l)
		}
	}
	if _, l := findLine(lines, "[vda]"); l == "" {
		t.Errorf("no virtio-blk disk vda in the kernel log")
	}
	rng, _ := findLine(lines, "crng init done")
	run, _ := findLine(lines, "Run /init")
	if rng < 0 || rng > run {
		t.Errorf("entropy pool not ready before /init (line %d vs %d): virtio-rng missing?", rng, run)
	}
}

func TestBootMicrovmPVHWatchdogReboot(t *testing.T) {
	testenv.MustHaveQEMU(t)
	vmlinux := testFile(t, "VMM_TEST_VMLINUX", "/tmp/kx/linux-source-6.1/vmlinux")
	initrd := testFile(t, "VMM_TEST_INITRD", "/tmp/tinit/plain.cpio")
	khz := tscForTest(t)
	spec := Spec{
		Accel: AccelTCG, Kernel: vmlinux, Initrd: initrd,
		Cmdline: "console=ttyS0 panic=-1 -- reboot", TSCkHz: khz,
		Watchdog: true, NoReboot: true,
	}
	lines, st := boot(t, spec, 120*time.Second)
	if st.Stopped || st.Code != 0 {
		t.Errorf("QEMU %s: want it to exit by itself on the guest reset (-no-reboot)", st)
	}
	if _, l := findLine(lines, "TINIT uptime="); l == "" {
		t.Fatalf("PVH boot never reached init; last lines %q", tail(lines, 8))
	}
	if _, l := findLine(lines, "reboot: Restarting system"); l == "" {
		t.Errorf("no reboot line; last lines %q", tail(lines, 5))
	}
	if _, l := findLine(lines, ": initialized. heartbeat="); !strings.Contains(l, "i6300ESB timer") {
		t.Errorf("i6300esb watchdog not initialized on microvm's PCIe bus (got %q)", l)
	}
	if khz > 0 {
		_, cmd := findLine(lines, "Kernel command line:")
		if !strings.Contains(cmd, fmt.Sprintf("tsc_early_khz=%d -- reboot", khz)) {
			t.Errorf("kernel command line %q: tsc_early_khz must come before the init arguments", cmd)
		}
	}
}

func TestQ35UEFIStarts(t *testing.T) {
	qemu := testenv.MustHaveQEMU(t)
	fw, err := FindOVMF()
	if err != nil {
		t.Skipf("SKIP: %v", err)
	}
	dir := t.TempDir()
	vars, err := CopyVars(fw.Vars, dir)
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Binary: qemu, Accel: AccelTCG,
		Firmware: &UEFI{Code: fw.Code, Vars: vars},
		Disks:    []Disk{{Path: disk}},
		Net:      &Net{Publish: []PortMap{{HostPort: freePort(t), GuestPort: 8080}}},
		Watchdog: true, NoReboot: true, DebugExit: true,
	}
	bin, args, err := QEMUCommand(spec)
	if err != nil {
		t.Fatal(err)
	}
	w := newLineWaiter()
	p, err := StartWith(context.Background(), bin, args, RunOptions{OnLine: w.onLine})
	if err != nil {
		t.Fatal(err)
	}
	// OVMF reports its boot manager's progress on the serial console.
	select {
	case <-p.Done():
		st, _ := p.Wait()
		t.Fatalf("QEMU ended early: %s", st)
	case <-time.After(0):
	}
	w.wait(t, "BdsDxe", 120*time.Second)
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Wait(); !st.Stopped {
		t.Errorf("status %s: want stopped", st)
	}
	if strings.Contains(p.Stderr(), "warning") {
		t.Logf("QEMU warnings: %s", p.Stderr())
	}
}
