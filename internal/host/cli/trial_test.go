package cli

import (
	"errors"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/vmm"
)

func TestTrialOfEntry(t *testing.T) {
	if tr := trialOfEntry(true, 2, "b", "1.0.1"); tr == nil || tr.slot != "b" || tr.left != 2 {
		t.Errorf("counted entry with tries left: %+v", tr)
	}
	for _, c := range []struct {
		counted bool
		left    int
		slot    string
	}{{false, 0, "a"}, {true, 0, "b"}, {true, 3, ""}} {
		if tr := trialOfEntry(c.counted, c.left, c.slot, "1"); tr != nil {
			t.Errorf("%+v is not a trial: %+v", c, tr)
		}
	}
}

func TestTrialBoots(t *testing.T) {
	for _, c := range [][3]int{{1, 2, 3}, {1, 3, 4}, {10, 2, 10}} {
		if got := trialBoots(c[0], c[1]); got != c[2] {
			t.Errorf("trialBoots(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

func TestTrialExit(t *testing.T) {
	tr := &diskTrial{slot: "b", version: "1.0.1", left: 2}
	code := func(err error) int {
		if err == nil {
			return 0
		}
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	for _, c := range []struct {
		name string
		res  vmm.Result
		err  error
		want int
		line string
	}{
		{"blessed", vmm.Result{Boots: 1, Outcome: vmm.Blessed}, nil, 0, "trial of slot b (version 1.0.1): blessed"},
		{"rolled back", vmm.Result{Boots: 2, Outcome: vmm.RolledBack}, nil, exitRolledBack, "trial of slot b (version 1.0.1): rolled back"},
		{"session error", vmm.Result{Boots: 3}, errors.New("timed out"), exitTrialFailed, "trial of slot b (version 1.0.1): failed"},
		{"no outcome", vmm.Result{Boots: 1}, nil, exitTrialFailed, "trial of slot b (version 1.0.1): failed"},
		{"error beats an outcome", vmm.Result{Boots: 2, Outcome: vmm.Blessed}, errors.New("qemu died"), exitTrialFailed, "trial of slot b (version 1.0.1): failed"},
	} {
		line, err := trialExit(tr, c.res, c.err)
		if code(err) != c.want || line != c.line {
			t.Errorf("%s: %q, exit %d (%v); want %q, exit %d", c.name, line, code(err), err, c.line, c.want)
		}
	}
	if exitRolledBack == exitTrialFailed || exitRolledBack <= 2 || exitTrialFailed <= 2 {
		t.Error("the trial exit codes must be distinct from each other and from 0, 1 and 2")
	}
}
