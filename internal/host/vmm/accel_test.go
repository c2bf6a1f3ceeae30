//go:build linux

package vmm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// fakeQEMU writes an executable shell script standing in for QEMU.
func fakeQEMU(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeKVM is a file that opens read-write, standing in for /dev/kvm.
func fakeKVM(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noChildrenEventually fails if children of this test process named like
// comm still exist after wait. Right after a SIGKILL each may still be dying
// (in the kernel, D state, or a zombie) but must have SIGKILL pending or be
// past running.
func noChildrenEventually(t *testing.T, comm string, wait time.Duration) {
	t.Helper()
	for _, c := range children(t, os.Getpid()) {
		if !strings.HasPrefix(c.comm, comm) {
			continue
		}
		const sigkill = 1 << (9 - 1)
		if c.state != 'Z' && c.state != 'X' && c.state != 'D' && c.sigs&sigkill == 0 {
			t.Errorf("child %+v is alive and was not sent SIGKILL", c)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		var left []procInfo
		for _, c := range children(t, os.Getpid()) {
			if strings.HasPrefix(c.comm, comm) {
				left = append(left, c)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("children still present %v after return: %+v", wait, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProbeKVMLogic(t *testing.T) {
	dev := fakeKVM(t)
	tests := []struct {
		name   string
		script string
		ok     bool
		reason string
	}{
		{"firmware reaches boot", "echo 'SeaBIOS (version 1.16.2)'\necho 'Booting from Hard Disk...'\nexec sleep 60", true, `reached "Booting from Hard Disk..."`},
		{"no bootable device also counts", "printf 'No bootable device.\\r\\n'\nexec sleep 60", true, "No bootable device."},
		{"hang ignoring SIGTERM", "trap '' TERM\necho 'SeaBIOS (version 1.16.2)'\nsleep 60", false, "did not reach its boot stage within 500ms"},
		{"qemu fails", "echo 'qemu-system-x86_64: failed to initialize kvm: Permission denied' >&2\nexit 1", false, "exited with code 1: qemu-system-x86_64: failed to initialize kvm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			ok, reason := probeKVM(context.Background(), fakeQEMU(t, tc.script), 500*time.Millisecond, dev, nil)
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("probe took %v, want <= timeout+1s", d)
			}
			if ok != tc.ok || !strings.Contains(reason, tc.reason) {
				t.Errorf("probe = %v, %q; want %v and a reason containing %q", ok, reason, tc.ok, tc.reason)
			}
			noChildrenEventually(t, "fake-qemu", 5*time.Second)
			noChildrenEventually(t, "sleep", 5*time.Second)
		})
	}
	t.Run("kvm device not openable", func(t *testing.T) {
		ok, reason := probeKVM(context.Background(), fakeQEMU(t, "exit 0"), time.Second, "/nonexistent/kvm", nil)
		if ok || !strings.Contains(reason, "cannot open /nonexistent/kvm") {
			t.Errorf("probe = %v, %q", ok, reason)
		}
	})
	t.Run("binary missing", func(t *testing.T) {
		ok, reason := probeKVM(context.Background(), "/nonexistent/qemu", time.Second, dev, nil)
		if ok || !strings.Contains(reason, "qemu-system-x86") {
			t.Errorf("probe = %v, %q: want a hint naming the package", ok, reason)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		ok, reason := probeKVM(ctx, fakeQEMU(t, "exec sleep 60"), 10*time.Second, dev, nil)
		if ok || !strings.Contains(reason, "cancelled") || time.Since(start) > 2*time.Second {
			t.Errorf("probe = %v, %q after %v", ok, reason, time.Since(start))
		}
		noChildrenEventually(t, "sleep", 5*time.Second)
	})
}

// TestProbeKVMReal runs the real probe. On the development machine nested
// KVM hangs, so it reports false; wherever it runs it must return within
// timeout+1s and leave no QEMU behind (a QEMU hung in KVM can take ~15 s to
// die after SIGKILL, so the final check waits for that).
func TestProbeKVMReal(t *testing.T) {
	qemu := testenv.MustHaveQEMU(t)
	if _, err := os.Stat(kvmDevice); err != nil {
		t.Logf("%s missing: the probe must say so", kvmDevice)
	}
	for _, timeout := range []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			start := time.Now()
			ok, reason := ProbeKVM(context.Background(), qemu, timeout)
			elapsed := time.Since(start)
			t.Logf("ProbeKVM(%v) = %v, %q in %v", timeout, ok, reason, elapsed)
			if elapsed > timeout+time.Second {
				t.Errorf("ProbeKVM took %v, want <= %v", elapsed, timeout+time.Second)
			}
			if reason == "" {
				t.Error("empty reason")
			}
			noChildrenEventually(t, "qemu-system", 30*time.Second)
		})
	}
}

// TestProbeKVMRealDefaultCPU runs the probe's SeaBIOS boot under KVM with
// QEMU's default CPU model, which on the development machine (nested KVM)
// hangs instead of aborting: this exercises the timeout path against a
// process that may sit in the kernel (D state) for seconds after SIGKILL.
func TestProbeKVMRealDefaultCPU(t *testing.T) {
	qemu := testenv.MustHaveQEMU(t)
	if _, err := os.Stat(kvmDevice); err != nil {
		testenv.SkipUnsupported(t, "%s missing: this test needs a KVM device (working or not)", kvmDevice)
	}
	args := slices.DeleteFunc(kvmProbeArgs(), func(s string) bool { return s == "-cpu" || s == "host" })
	timeout := 500 * time.Millisecond
	start := time.Now()
	ok, reason := probeKVM(context.Background(), qemu, timeout, kvmDevice, args)
	elapsed := time.Since(start)
	t.Logf("probe with the default CPU = %v, %q in %v", ok, reason, elapsed)
	if elapsed > timeout+time.Second {
		t.Errorf("probe took %v, want <= %v", elapsed, timeout+time.Second)
	}
	noChildrenEventually(t, "qemu-system", 30*time.Second)
}

func TestChooseAccelOverride(t *testing.T) {
	tests := []struct {
		env  string
		want Accel
	}{{"kvm", AccelKVM}, {"tcg", AccelTCG}}
	for _, tc := range tests {
		// A missing binary proves no probe runs for an override.
		a, why := ChooseAccel(context.Background(), "/nonexistent/qemu", tc.env)
		if a != tc.want || !strings.Contains(why, "TURBO_ACCEL="+tc.env) {
			t.Errorf("ChooseAccel(%q) = %q, %q", tc.env, a, why)
		}
	}
	a, why := ChooseAccel(context.Background(), "/nonexistent/qemu", "")
	if a != AccelTCG || !strings.Contains(why, "not found") || !strings.Contains(why, "using TCG") {
		t.Errorf("ChooseAccel without QEMU = %q, %q; want tcg with the probe's reason", a, why)
	}
	a, why = ChooseAccel(context.Background(), "/nonexistent/qemu", "fast")
	if a != AccelTCG || !strings.Contains(why, `ignoring TURBO_ACCEL="fast"`) {
		t.Errorf("ChooseAccel(fast) = %q, %q", a, why)
	}
}

func TestKVMProbeArgs(t *testing.T) {
	want := argv(`-accel kvm -machine pc -cpu host -m 32 -nodefaults -no-user-config -display none
		-chardev stdio,id=dbg -device isa-debugcon,iobase=0x402,chardev=dbg -no-reboot`)
	if got := kvmProbeArgs(); !slices.Equal(got, want) {
		t.Errorf("kvmProbeArgs = %q, want %q", got, want)
	}
}
