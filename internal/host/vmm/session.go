package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/console"
)

// Session runs a VM through its boots until it is ready (with
// ExitOnReady), powers off, fails, or runs out of boots. A guest reboot
// ends QEMU (-no-reboot); the session starts it again with the command
// Next returns, up to MaxBoots boots. It never prints: the console goes to
// Console, the session's own progress to Log.
type Session struct {
	// Next returns the command of each boot (a disk boot re-reads the boot
	// entries before every boot).
	Next func() (bin string, args []string, err error)
	// Console receives the serial console; Stdin feeds it (may be nil).
	Console io.Writer
	Stdin   io.Reader
	// Log receives the session's progress, one message per call, without
	// a line end (may be nil).
	Log func(msg string)
	// QMP is the QMP socket, for an orderly power-down ("" for none).
	QMP string
	// GracefulExit powers the guest down in order after ExitOnReady (a
	// disk with data must not lose power mid-write); otherwise it is
	// stopped at once.
	GracefulExit bool
	// ExitOnReady ends the session once the appliance is ready; with
	// Trial set, once the trial has an outcome.
	ExitOnReady bool
	// MaxBoots bounds the boots (at least 1).
	MaxBoots int
	// Timeout ends the session with an error after this long (0: none).
	Timeout time.Duration
	// Trial, when set with ExitOnReady, is the slot on trial when the
	// session starts: the session then follows the boot assessment through
	// reboots (an unhealthy boot is not the end) until the trial is
	// blessed or the appliance is ready on another slot.
	Trial *TrialWatch
	// TailLines is how many console lines an error report carries
	// (default 40).
	TailLines int
	// OnLine, when set, sees every complete console line (after the
	// session's own handling); it must not block for long.
	OnLine func(line string)
	// OnStart, when set, is called right after QEMU of each boot started.
	OnStart func(boot int, at time.Time)
	// Stop, when closed, ends the session: the VM is stopped (powered
	// down first with GracefulExit) and Run returns without an error. It
	// lets a caller with its own readiness rule (the bench) end a session.
	Stop <-chan struct{}
	// StopGrace is the SIGTERM-to-SIGKILL time when the session stops QEMU
	// (default DefaultStopGrace).
	StopGrace time.Duration
}

// ErrInterrupted is returned when the caller's context ended the session
// (the guest was asked to power down first).
var ErrInterrupted = errors.New("interrupted")

// errTimeout is the cause of the session's own deadline.
var errTimeout = errors.New("timeout")

// Result is how a session ended without an error.
type Result struct {
	// Boots is how many times QEMU was started.
	Boots int
	// Outcome is the trial outcome when Trial was followed (Blessed or
	// RolledBack), else Running.
	Outcome Outcome
	// Exit is how the last QEMU ended (also when Run returns an error).
	Exit ExitStatus
}

// sessionRun is the state of one Run.
type sessionRun struct {
	*Session
	tail     *Tail
	events   chan console.Record
	ready    bool
	poweroff bool
	outcome  Outcome
}

// Run boots until done.
func (s *Session) Run(ctx context.Context) (Result, error) {
	r := &sessionRun{Session: s, tail: &Tail{MaxLines: s.TailLines}, events: make(chan console.Record, 64)}
	if r.tail.MaxLines <= 0 {
		r.tail.MaxLines = 40
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.Timeout, errTimeout)
		defer cancel()
	}
	for boot := 1; ; boot++ {
		bin, args, err := s.Next()
		if err != nil {
			return Result{Boots: boot - 1}, err
		}
		start := time.Now()
		p, err := StartWith(context.WithoutCancel(ctx), bin, args, RunOptions{
			Console: s.Console, Stdin: s.Stdin, OnLine: r.line, StopGrace: r.grace(),
		})
		if err != nil {
			return Result{Boots: boot - 1}, err
		}
		if s.OnStart != nil {
			s.OnStart(boot, start)
		}
		rebooted, err := r.watch(ctx, p, start)
		st, _ := p.Wait()
		if err != nil || !rebooted {
			return Result{Boots: boot, Outcome: r.outcome, Exit: st}, err
		}
		if boot >= s.MaxBoots {
			return Result{Boots: boot, Exit: st}, r.fail(fmt.Errorf("the guest rebooted and the limit of %d boots is used up", s.MaxBoots))
		}
		r.log("guest rebooted; boot %d", boot+1)
	}
}

func (r *sessionRun) log(format string, a ...any) {
	if r.Log != nil {
		r.Log(fmt.Sprintf(format, a...))
	}
}

func (r *sessionRun) line(l string) {
	r.tail.Line(l)
	if rec, ok := console.Parse(l); ok {
		select {
		case r.events <- rec:
		default: // 64 records nobody read: the watcher is gone
		}
	}
	if r.OnLine != nil {
		r.OnLine(l)
	}
}

func (r *sessionRun) grace() time.Duration {
	if r.StopGrace > 0 {
		return r.StopGrace
	}
	return DefaultStopGrace
}

func (r *sessionRun) following() bool { return r.Trial != nil && r.ExitOnReady }

// watch follows one QEMU run. It reports whether the guest rebooted.
func (r *sessionRun) watch(ctx context.Context, p *Process, start time.Time) (rebooted bool, err error) {
	for {
		select {
		case rec := <-r.events:
			if end, err := r.record(p, rec, start); end {
				return false, err
			}
		case <-p.Done():
			// Every line is queued before Done closes, but select picks
			// at random: records still queued are handled as if they had
			// come first (a TURBO_UNHEALTHY printed just before QEMU
			// exited is a failure, not a reboot).
			for queued := true; queued; {
				select {
				case rec := <-r.events:
					if end, err := r.record(p, rec, start); end {
						return false, err
					}
				default:
					queued = false
				}
			}
			if r.ready && r.ExitOnReady && !r.following() {
				return false, nil
			}
			st, _ := p.Wait()
			switch {
			case r.poweroff:
				if r.ExitOnReady {
					if r.following() {
						return false, r.fail(fmt.Errorf("the guest powered off before the trial of slot %s had an outcome", r.Trial.Slot))
					}
					if !r.ready {
						return false, r.fail(errors.New("the guest powered off before it was ready"))
					}
				}
				return false, nil
			case st.Code != 0 || st.Signal != "":
				return false, r.fail(fmt.Errorf("qemu %s", st))
			}
			return true, nil
		case <-r.Stop:
			r.stop(p)
			return false, nil
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errTimeout) {
				p.Stop(r.grace())
				return false, r.fail(fmt.Errorf("timed out after %v", r.Timeout))
			}
			r.powerDown(p)
			return false, ErrInterrupted
		}
	}
}

// record handles one console record of a run; end reports that the run is
// over (the VM was stopped) with err as its result.
func (r *sessionRun) record(p *Process, rec console.Record, start time.Time) (end bool, err error) {
	switch rec.Kind {
	case console.Ready:
		r.ready = true
		r.log("ready: %s %s, guest uptime %d ms, host wall %d ms",
			rec.Get("name"), rec.Get("version"), rec.Int("uptime_ms"), time.Since(start).Milliseconds())
	case console.Poweroff:
		r.poweroff = true
	}
	if r.following() {
		if o := r.Trial.Observe(rec); o != Running {
			r.outcome = o
			r.log("trial of slot %s: %s", r.Trial.Slot, o)
			r.stop(p)
			return true, nil
		}
		return false, nil
	}
	switch rec.Kind {
	case console.Ready:
		if r.ExitOnReady {
			r.stop(p)
			return true, nil
		}
	case console.Unhealthy, console.Fatal:
		if r.ExitOnReady {
			p.Stop(r.grace())
			return true, r.fail(fmt.Errorf("%s", strings.TrimPrefix(string(rec.Kind), "TURBO_")+": "+fieldsString(rec)))
		}
	case console.Panic:
		if r.ExitOnReady && r.MaxBoots <= 1 {
			p.Stop(r.grace())
			return true, r.fail(fmt.Errorf("kernel panic%s", rec.Get("reason")))
		}
	}
	return false, nil
}

// stop ends the VM after the session reached its goal.
func (r *sessionRun) stop(p *Process) {
	if r.GracefulExit {
		r.powerDown(p)
	} else {
		p.Stop(r.grace())
	}
}

// shutdownWait is how long the session waits for the guest to power off
// after pressing its power button.
const shutdownWait = 20 * time.Second

// powerDown presses the guest's power button and waits for it to power
// off; if it does not, QEMU is stopped.
func (r *sessionRun) powerDown(p *Process) {
	if r.QMP != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := QMPPowerdown(ctx, r.QMP)
		cancel()
		if err == nil {
			r.log("asked the guest to power down")
			select {
			case <-p.Done():
				r.drain()
				if r.poweroff {
					r.log("guest powered off")
				}
				return
			case <-time.After(shutdownWait):
				r.log("guest did not power off within %v; stopping it", shutdownWait)
			}
		}
	}
	p.Stop(r.grace())
}

// drain handles records still queued after QEMU ended.
func (r *sessionRun) drain() {
	for {
		select {
		case rec := <-r.events:
			switch rec.Kind {
			case console.Poweroff:
				r.poweroff = true
			case console.Ready:
				r.ready = true
			}
		default:
			return
		}
	}
}

func (r *sessionRun) fail(err error) error {
	return fmt.Errorf("%w\n--- last console lines ---\n%s", err, r.tail.String())
}

func fieldsString(r console.Record) string {
	var parts []string
	for _, k := range []string{"service", "reason"} {
		if v := r.Get(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// Outcome is where a followed trial stands.
type Outcome int

const (
	// Running: no outcome yet.
	Running Outcome = iota
	// Blessed: the slot on trial was healthy for its settle period and
	// blessed itself (TURBO_BLESSED).
	Blessed
	// RolledBack: the appliance became ready on another slot; the trial
	// failed and the old slot took over.
	RolledBack
)

func (o Outcome) String() string {
	switch o {
	case Blessed:
		return "blessed"
	case RolledBack:
		return "rolled back"
	}
	return "running"
}

// TrialWatch is the pure decision of following a trial through reboots:
// it reads console records and says when the trial has an outcome. An
// unhealthy, fatal or panicking boot is not an outcome: the init (or
// systemd-boot's counter) ends the trial and the next boot tells.
type TrialWatch struct {
	// Slot is the slot on trial ("a" or "b").
	Slot string
}

// Observe returns the outcome after rec.
func (w *TrialWatch) Observe(rec console.Record) Outcome {
	switch rec.Kind {
	case console.Blessed:
		if rec.Get("slot") == w.Slot {
			return Blessed
		}
	case console.Ready:
		if s := rec.Get("slot"); s != "" && s != w.Slot {
			return RolledBack
		}
	}
	return Running
}
