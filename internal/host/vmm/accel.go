package vmm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// DefaultProbeTimeout is how long ProbeKVM gives SeaBIOS to reach its boot
// stage under KVM. Working KVM gets there in a few tens of milliseconds;
// TCG needs ~90 ms here.
const DefaultProbeTimeout = 1500 * time.Millisecond

// probeReapGrace is how long ProbeKVM waits for the killed probe to be
// reaped before returning anyway (a hung KVM guest can sit in the kernel for
// seconds after SIGKILL; the reaper goroutine collects it later).
const probeReapGrace = 300 * time.Millisecond

// kvmDevice is the KVM character device.
const kvmDevice = "/dev/kvm"

// kvmProbeArgs is the QEMU argv of the KVM probe: a bare PC whose SeaBIOS
// prints its progress on the debug console (I/O port 0x402) to stdout. It
// uses -cpu host like QEMUCommand does under KVM: on the development machine
// (nested KVM) that combination makes QEMU abort at once (kvm_buf_set_msrs
// assertion), while the default CPU model hangs in SeaBIOS instead; both are
// "KVM unusable".
func kvmProbeArgs() []string {
	return []string{
		"-accel", "kvm", "-machine", "pc", "-cpu", "host", "-m", "32",
		"-nodefaults", "-no-user-config", "-display", "none",
		"-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
		"-no-reboot",
	}
}

// seabiosReachedBoot reports whether a SeaBIOS debug console line shows that
// the firmware ran to its boot stage.
func seabiosReachedBoot(line string) bool {
	return strings.Contains(line, "Booting from") || strings.Contains(line, "No bootable device")
}

// ProbeKVM reports whether KVM really works with binary (default
// DefaultBinary). A readable /dev/kvm is not enough: under nested
// virtualization KVM can hang forever. So after checking that /dev/kvm opens
// read-write it boots SeaBIOS under -accel kvm and succeeds only if the
// firmware reaches its boot stage within timeout (<= 0 means
// DefaultProbeTimeout). The probe process is always killed; ProbeKVM returns
// within timeout plus ~0.3 s even if the process is stuck in the kernel (it
// is then reaped in the background). reason explains the verdict.
func ProbeKVM(ctx context.Context, binary string, timeout time.Duration) (ok bool, reason string) {
	return probeKVM(ctx, binary, timeout, kvmDevice, kvmProbeArgs())
}

// probeKVM is ProbeKVM with the KVM device and QEMU arguments as parameters
// (for tests).
func probeKVM(ctx context.Context, binary string, timeout time.Duration, device string, args []string) (ok bool, reason string) {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	if binary == "" {
		binary = DefaultBinary
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return false, fmt.Sprintf("%s not found (Debian: install qemu-system-x86): %v", binary, err)
	}
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("cannot open %s read-write: %v", device, err)
	}
	_ = f.Close()

	reached := make(chan string, 1)
	onLine := func(line string) {
		if seabiosReachedBoot(line) {
			select {
			case reached <- strings.TrimSpace(line):
			default:
			}
		}
	}
	start := time.Now()
	// The probe handles ctx itself: cancellation must kill at once, not
	// wait for a SIGTERM grace period.
	p, err := StartWith(context.WithoutCancel(ctx), path, args, RunOptions{OnLine: onLine})
	if err != nil {
		return false, fmt.Sprintf("KVM probe: %v", err)
	}
	defer func() {
		p.Kill()
		t := time.NewTimer(probeReapGrace)
		defer t.Stop()
		select {
		case <-p.Done():
		case <-t.C:
		}
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case line := <-reached:
		return true, fmt.Sprintf("KVM works: SeaBIOS reached %q after %v", line, time.Since(start).Round(time.Millisecond))
	case <-p.Done():
		select {
		case line := <-reached:
			return true, fmt.Sprintf("KVM works: SeaBIOS reached %q after %v", line, time.Since(start).Round(time.Millisecond))
		default:
		}
		st, _ := p.Wait()
		return false, fmt.Sprintf("QEMU with -accel kvm %s", st)
	case <-deadline.C:
		return false, fmt.Sprintf("KVM hangs: SeaBIOS under -accel kvm did not reach its boot stage within %v (nested virtualization?)", timeout)
	case <-ctx.Done():
		return false, fmt.Sprintf("KVM probe cancelled: %v", ctx.Err())
	}
}

// ChooseAccel picks the accelerator for binary. env is the value of
// TURBO_ACCEL: "kvm" or "tcg" decide without probing; "" probes KVM with
// ProbeKVM and falls back to TCG. Any other value is reported in why and
// treated like "" (validate it first with ParseAccel to make it an error).
func ChooseAccel(ctx context.Context, binary string, env string) (Accel, string) {
	prefix := ""
	switch env {
	case "kvm":
		return AccelKVM, "TURBO_ACCEL=kvm"
	case "tcg":
		return AccelTCG, "TURBO_ACCEL=tcg"
	case "":
	default:
		prefix = fmt.Sprintf("ignoring TURBO_ACCEL=%q (want kvm or tcg); ", env)
	}
	ok, why := ProbeKVM(ctx, binary, DefaultProbeTimeout)
	if ok {
		return AccelKVM, prefix + why
	}
	return AccelTCG, prefix + why + "; using TCG"
}
