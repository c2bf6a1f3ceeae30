//go:build linux

package vmm

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	turboimage "github.com/turbo-image/turbo-image"
	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/kernel"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// Real-kernel boots of the project's virt kernel (tinyconfig plus
// recipes/kernel/virt.config, as builtin:virt in a recipe) from the shared
// kernel cache (testenv.KernelCache), so they boot the kernel the builder
// and qemu-tests use and build it only when no test has yet. The initramfs
// holds testdata/tinit as /init: it prints "TINIT uptime=..." and powers
// off, or restarts when an init argument is "reboot".

// bootAssets returns the virt kernel's bzImage and vmlinux, and an
// initramfs with tinit as /init.
func bootAssets(t *testing.T) (bzImage, vmlinux, initrd string) {
	t.Helper()
	testenv.SkipIfShort(t, "boots the real virt kernel (built on a cold cache)")
	source := testenv.MustHaveKernelSource(t)
	frag, err := turboimage.KernelFragments.ReadFile(turboimage.KernelFragmentDir + "/virt.config")
	if err != nil {
		t.Fatal(err)
	}
	res, err := kernel.Build(context.Background(), kernel.Spec{
		Source: source, Base: "tinyconfig", Arch: "amd64",
		Fragments: []kernel.Fragment{{Name: "builtin:virt", Data: frag}},
		CacheDir:  testenv.KernelCache(t),
	})
	if err != nil {
		t.Fatalf("virt kernel: %v", err)
	}
	t.Logf("kernel %s (cached %v)", res.Image, res.Cached)

	dir := t.TempDir()
	bin := filepath.Join(dir, "tinit")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/tinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building tinit: %v\n%s", err, out)
	}
	initBin, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var cpio bytes.Buffer
	err = initramfs.WriteArchive(&cpio, []initramfs.Record{
		initramfs.Dir("dev", 0o755),
		initramfs.CharDev("dev/console", 0o600, 5, 1),
		initramfs.Dir("proc", 0o755),
		initramfs.File("init", 0o755, initBin),
	}, initramfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	initrd = filepath.Join(dir, "tinit.cpio")
	if err := os.WriteFile(initrd, cpio.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return res.Image, res.Vmlinux, initrd
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
	kernel, _, initrd := bootAssets(t)
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
	_, vmlinux, initrd := bootAssets(t)
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
		testenv.Missing(t, "%v", err)
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
