package cli

import (
	"errors"
	"sync"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/console"
)

// readyWatch collects the guest's ready reports for `run --json`: it sees
// every console line (Session.OnLine, called from the console reader) and
// each boot's start (Session.OnStart).
type readyWatch struct {
	mu        sync.Mutex
	now       func() time.Time
	boot      int
	bootStart time.Time
	ready     *RunReadyJSON
}

func (w *readyWatch) start(boot int, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.boot, w.bootStart = boot, at
}

func (w *readyWatch) line(l string) {
	rec, ok := console.Parse(l)
	if !ok || rec.Kind != console.Ready {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready = &RunReadyJSON{Name: rec.Get("name"), Version: rec.Get("version"), Slot: rec.Get("slot"),
		Boot: w.boot, UptimeMS: rec.Int("uptime_ms"), HostWallMS: w.now().Sub(w.bootStart).Milliseconds()}
}

func (w *readyWatch) last() *RunReadyJSON {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ready
}

// runOutcome names how a `run --exit-on-ready` session ended, for RunJSON:
// err is what the command returns (after trialExit when a trial was
// followed).
func runOutcome(trial *diskTrial, res vmm.Result, err error) string {
	switch {
	case errors.Is(err, vmm.ErrInterrupted):
		return "interrupted"
	case trial != nil && err == nil && res.Outcome == vmm.Blessed:
		return "blessed"
	case trial != nil && res.Outcome == vmm.RolledBack:
		return "rolled_back"
	case trial == nil && err == nil:
		return "ready"
	}
	return "failed"
}

// exitCode is the exit code Main gives for a command's error.
func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}
