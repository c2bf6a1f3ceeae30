package cli

import (
	"fmt"

	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// Exit codes of `run` beyond 0 (success), 1 (error) and 2 (usage); the
// README lists them.
const (
	// exitRolledBack: run --exit-on-ready followed a trial and the
	// appliance rolled back (it is healthy on the old slot).
	exitRolledBack = 3
	// exitTrialFailed: run --exit-on-ready followed a trial and neither
	// the new slot was blessed nor the old one became ready (timeout,
	// boots used up, QEMU failed, the guest powered off).
	exitTrialFailed = 4
	// exitInterrupted: ctrl-C or SIGTERM (128 + SIGINT, as shells report).
	exitInterrupted = 130
)

// diskTrial is a disk whose default entry is on trial.
type diskTrial struct {
	slot, version string
	left          int // tries left before systemd-boot gives up on it
}

// trialOf reports the trial a disk is in, nil when its default entry is
// not on trial (blessed, uncounted, or out of tries).
func trialOf(disk string) (*diskTrial, error) {
	if disk == "" {
		return nil, nil
	}
	d, _, plan, err := bootPlan(disk, false)
	if err != nil {
		return nil, err
	}
	d.Close()
	return trialOfEntry(plan.Entry.Counter.Set, plan.Entry.Counter.Left, slots.SlotOf(plan.Entry), plan.Entry.Version), nil
}

// trialOfEntry is the pure part of trialOf: an entry with a boot counter
// and tries left is on trial.
func trialOfEntry(counted bool, left int, slot, version string) *diskTrial {
	if !counted || left <= 0 || slot == "" {
		return nil
	}
	return &diskTrial{slot: slot, version: version, left: left}
}

// trialBoots is how many boots following a trial may take: every try of
// the new slot (a panic or watchdog reset costs one without the init
// marking it bad) and one boot of the old slot; more if the user asked.
func trialBoots(maxBoots, left int) int {
	return max(maxBoots, left+1)
}

// trialExit maps the end of a followed trial to the outcome line and the
// command's result: nil when blessed, exitRolledBack when the old slot took
// over, exitTrialFailed for anything else.
func trialExit(t *diskTrial, res vmm.Result, err error) (string, error) {
	what := fmt.Sprintf("trial of slot %s (version %s)", t.slot, t.version)
	switch {
	case err != nil:
		return what + ": failed", exitError{exitTrialFailed, fmt.Errorf("%s: no outcome after %d boots: %w", what, res.Boots, err)}
	case res.Outcome == vmm.Blessed:
		return what + ": blessed", nil
	case res.Outcome == vmm.RolledBack:
		return what + ": rolled back", exitError{exitRolledBack, fmt.Errorf("%s rolled back after %d boots; the appliance is healthy on the old slot", what, res.Boots)}
	}
	return what + ": failed", exitError{exitTrialFailed, fmt.Errorf("%s: the session ended without an outcome after %d boots", what, res.Boots)}
}
