package vmm

import (
	"context"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/console"
)

func TestTrialWatch(t *testing.T) {
	rec := func(l string) console.Record {
		r, ok := console.Parse(l)
		if !ok {
			t.Fatalf("not a console record: %q", l)
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  Outcome
	}{
		{"ready on the trial slot is not yet an outcome", []string{"TURBO_TRIAL slot=b version=2 left=2 done=1", "TURBO_READY name=x version=2 slot=b uptime_ms=1"}, Running},
		{"blessed", []string{"TURBO_READY name=x version=2 slot=b uptime_ms=1", "TURBO_BLESSED slot=b version=2"}, Blessed},
		{"unhealthy boot goes on", []string{"TURBO_UNHEALTHY service=web reason=down", "TURBO_REBOOT reason=trial failed"}, Running},
		{"fatal goes on", []string{"TURBO_FATAL reason=no data"}, Running},
		{"ready on the old slot is a rollback", []string{"TURBO_ROLLBACK from=b version=2", "TURBO_READY name=x version=1 slot=a uptime_ms=1"}, RolledBack},
		{"blessing of another slot is no outcome", []string{"TURBO_BLESSED slot=a version=1"}, Running},
		{"ready without a slot (initramfs) is no outcome", []string{"TURBO_READY name=x version=2 uptime_ms=1"}, Running},
	} {
		w := &TrialWatch{Slot: "b"}
		got := Running
		for _, l := range tc.lines {
			if o := w.Observe(rec(l)); o != Running {
				got = o
				break
			}
		}
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSessionFollowsTrial runs a session over fake "VMs" (/bin/sh printing
// console lines and exiting, as QEMU does on a guest reboot with
// -no-reboot): an unhealthy trial boot does not end it; the old slot's
// READY does, as a rollback, on the second boot.
func TestSessionFollowsTrial(t *testing.T) {
	boots := []string{
		"echo 'TURBO_TRIAL slot=b version=2 left=2 done=1'; echo 'TURBO_UNHEALTHY service=web reason=down'; exit 0",
		"echo 'TURBO_ROLLBACK from=b version=2'; echo 'TURBO_READY name=x version=1 slot=a uptime_ms=5'; sleep 30",
		"echo 'should not boot a third time'; exit 0",
	}
	n := 0
	var logs []string
	s := &Session{
		Next: func() (string, []string, error) {
			n++
			return "/bin/sh", []string{"-c", boots[n-1]}, nil
		},
		Log:         func(m string) { logs = append(logs, m) },
		ExitOnReady: true,
		MaxBoots:    3,
		Trial:       &TrialWatch{Slot: "b"},
	}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != RolledBack || res.Boots != 2 {
		t.Fatalf("result %+v, want rolled back after 2 boots (log %q)", res, logs)
	}

	// Without a trial, the same first boot ends the session with an error.
	n = 0
	s.Trial = nil
	if _, err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "UNHEALTHY") {
		t.Fatalf("unhealthy boot without a trial: %v", err)
	}
	if n != 1 {
		t.Errorf("%d boots without a trial, want 1", n)
	}
}
