// Package supervise is the decision core of turbo-init (PID 1): which
// service to start, restart or give up, when the appliance is ready, when
// a slot on trial is blessed or marked bad, and in which order everything
// stops. It does no I/O and starts no goroutines: the init feeds it events
// (a service exited, a health check changed, a timer fired) with the
// current uptime, and carries out the actions it returns (start a process,
// send a signal, arm a timer, print a console line, rename a boot entry,
// power off). Like update.PlanFlash, the rules are therefore table-tested
// on any OS; the QEMU tests are the end-to-end proof.
//
// The rules:
//   - Restart: exponential backoff from 1 s (Decide), giving up after
//     Burst deaths within Interval. A start failure counts as a death.
//   - Healthy: a service with a health check once its check passed; one
//     without once it has kept running for StableAfter (or ended under its
//     policy). A failed service is never healthy.
//   - Ready: TURBO_READY exactly once, when every service is healthy.
//   - Trial (systemd's Automatic Boot Assessment,
//     https://systemd.io/AUTOMATIC_BOOT_ASSESSMENT/): the slot is blessed
//     once every service has been healthy for the whole settle period; any
//     unhealthy service restarts the period. A trial not blessed by its
//     deadline, or in which a service gives up (it can never be healthy
//     again), marks itself bad and reboots.
//   - Shutdown: services get SIGTERM in the reverse of their start order,
//     SIGKILL after the grace period, then the machine powers off or
//     reboots.
package supervise

import (
	"fmt"
	"time"
)

// Service is what the core knows of one service.
type Service struct {
	Name string
	// Restart is one of initconfig.RestartPolicies() (always, on-failure,
	// never).
	Restart string
	// The service is given up after Burst deaths within Interval.
	Burst    int
	Interval time.Duration
	// Health reports whether the service has a health check.
	Health bool
}

// Config is the appliance as the core sees it.
type Config struct {
	// Name, Version and Slot (empty for an initramfs boot) go into the
	// console records.
	Name, Version, Slot string
	// Services in start order.
	Services []Service
	// Settle is how long every service must stay healthy before a trial
	// is blessed; TrialDeadline is when an unblessed trial marks itself bad.
	Settle, TrialDeadline time.Duration
	// ShutdownGrace is how long services get between SIGTERM and SIGKILL;
	// zero means DefaultGrace.
	ShutdownGrace time.Duration
	// Debug adds timing lines (turbo.debug on the kernel command line).
	Debug bool
}

// DefaultGrace is the shutdown grace period when the config sets none.
const DefaultGrace = 5 * time.Second

// KillWait is how long the init waits for services after SIGKILL.
const KillWait = 2 * time.Second

// BlessRetry is how long the init waits before it retries a blessing that
// failed (the ESP could not be written).
const BlessRetry = time.Second

// State is the state of one service.
type State int

// Service states.
const (
	// Idle: not started yet.
	Idle State = iota
	// Starting: the init was asked to start it and has not answered.
	Starting
	// Running: its process runs.
	Running
	// Backoff: it died and waits for its restart.
	Backoff
	// Failed: it died Burst times within Interval; it stays down.
	Failed
	// Ended: it exited and its policy says not to restart it.
	Ended
	// Stopping: it was sent SIGTERM at shutdown.
	Stopping
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Backoff:
		return "backoff"
	case Failed:
		return "failed"
	case Ended:
		return "ended"
	case Stopping:
		return "stopping"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Event is something that happened; the init passes it to Handle.
type Event interface{ event() }

// Events. Service is an index into Config.Services.
type (
	// Boot: start every service, in order.
	Boot struct{}
	// Started: the init started the service's process.
	Started struct{ Service int }
	// StartFailed: the init could not start the process.
	StartFailed struct {
		Service int
		Err     string
	}
	// Exited: the service's process ended; How describes it for the log.
	Exited struct {
		Service int
		Clean   bool
		How     string
	}
	// Health: the service's health check changed.
	Health struct {
		Service int
		Healthy bool
		Reason  string
	}
	// TrialBegan: boot assessment found this slot on trial.
	TrialBegan struct{}
	// Blessed: the init dropped the trial entry's counter (after Bless).
	Blessed struct{}
	// BlessFailed: the init could not bless (after Bless).
	BlessFailed struct{ Err string }
	// Shutdown: stop everything, then power off (or reboot).
	Shutdown struct {
		Reason string
		Reboot bool
	}

	// Timers the core arms with After.

	// RestartDue: a backoff ran out.
	RestartDue struct{ Service int }
	// StableDue: a service without a health check may have run for
	// StableAfter; Run tells which start armed it.
	StableDue struct{ Service, Run int }
	// SettleDue: a settle period armed as number Gen ran out.
	SettleDue struct{ Gen int }
	// TrialDeadline: the trial's deadline passed.
	TrialDeadline struct{}
	// GraceOver: the shutdown grace period passed.
	GraceOver struct{}
	// KillOver: the wait after SIGKILL passed.
	KillOver struct{}
)

func (Boot) event()          {}
func (Started) event()       {}
func (StartFailed) event()   {}
func (Exited) event()        {}
func (Health) event()        {}
func (TrialBegan) event()    {}
func (Blessed) event()       {}
func (BlessFailed) event()   {}
func (Shutdown) event()      {}
func (RestartDue) event()    {}
func (StableDue) event()     {}
func (SettleDue) event()     {}
func (TrialDeadline) event() {}
func (GraceOver) event()     {}
func (KillOver) event()      {}

// Action is something the init must do, in the order returned.
type Action interface{ action() }

// Actions.
type (
	// Start the service's process; answer with Started or StartFailed.
	Start struct{ Service int }
	// WatchHealth starts the service's health checks (reported as Health).
	WatchHealth struct{ Service int }
	// StopHealth stops them.
	StopHealth struct{ Service int }
	// Signal sends SIGTERM (or SIGKILL) to the service's process group.
	Signal struct {
		Service int
		Kill    bool
	}
	// After delivers Event to Handle once Delay has passed.
	After struct {
		Delay time.Duration
		Event Event
	}
	// Log prints a diagnostic line ("turbo-init: " + Text).
	Log struct{ Text string }
	// Record prints a console protocol record as is.
	Record struct{ Line string }
	// Bless drops the trial entry's boot counter; answer with Blessed or
	// BlessFailed.
	Bless struct{}
	// MarkBad renames the trial entry to bad, so the boot loader falls
	// back at once instead of spending the remaining tries.
	MarkBad struct{}
	// Finish ends the shutdown: kill what is left, sync, unmount, and
	// power off or reboot. Nothing is handled after it.
	Finish struct{ Reboot bool }
)

func (Start) action()       {}
func (WatchHealth) action() {}
func (StopHealth) action()  {}
func (Signal) action()      {}
func (After) action()       {}
func (Log) action()         {}
func (Record) action()      {}
func (Bless) action()       {}
func (MarkBad) action()     {}
func (Finish) action()      {}

type service struct {
	cfg     Service
	state   State
	deaths  []time.Duration
	healthy bool // last health check result (services with a check)
	// stable: a service without a health check ran for StableAfter.
	stable   bool
	run      int // starts so far; tells stale StableDue timers apart
	watching bool
}

// Supervisor holds the state of PID 1's decisions. It is not safe for
// concurrent use: the init calls Handle from its event loop only.
type Supervisor struct {
	cfg   Config
	build string // build=… on TURBO_READY, "" when unknown
	svcs  []*service
	ready bool
	// trial: this slot is on trial and not blessed yet.
	trial bool
	// settleArmed: a settle period runs (or ran out and blessing is under
	// way); settleGen numbers the periods so a stale SettleDue is ignored.
	settleArmed bool
	settleGen   int
	shutting    bool
	reboot      bool
	finished    bool
	acts        []Action
}

// New returns a supervisor for cfg; nothing runs until Boot.
func New(cfg Config) *Supervisor {
	s := &Supervisor{cfg: cfg}
	for _, c := range cfg.Services {
		s.svcs = append(s.svcs, &service{cfg: c})
	}
	return s
}

// State returns the state of service i.
func (s *Supervisor) State(i int) State { return s.svcs[i].state }

// SetBuild sets the build digest TURBO_READY reports (build=sha256:…,
// manifest.BuildDigest); the init reads it from the ESP before the
// services start.
func (s *Supervisor) SetBuild(digest string) { s.build = digest }

// Ready reports whether TURBO_READY was printed.
func (s *Supervisor) Ready() bool { return s.ready }

// OnTrial reports whether the slot is on trial and not blessed.
func (s *Supervisor) OnTrial() bool { return s.trial }

// Handle applies one event at now (the uptime, time since boot) and
// returns what the init must do, in order.
func (s *Supervisor) Handle(ev Event, now time.Duration) []Action {
	s.acts = nil
	if s.finished {
		return nil
	}
	switch e := ev.(type) {
	case Boot:
		for i, v := range s.svcs {
			if v.state == Idle {
				v.state = Starting
				s.do(Start{i})
			}
		}
		s.checkReady(now)
	case Started:
		s.started(e.Service, now)
	case StartFailed:
		v := s.svcs[e.Service]
		if s.shutting {
			v.state = Ended
			s.maybeFinish()
			break
		}
		s.logf("service %s: cannot start: %s", v.cfg.Name, e.Err)
		// A start failure counts as a death, so a missing binary gives up
		// after the burst like a crashing one.
		s.died(e.Service, false, "cannot start: "+e.Err, now)
	case Exited:
		v := s.svcs[e.Service]
		v.stable = false
		if s.shutting || v.state == Stopping {
			v.state = Ended
			s.maybeFinish()
			break
		}
		s.died(e.Service, e.Clean, e.How, now)
	case RestartDue:
		v := s.svcs[e.Service]
		if v.state == Backoff && !s.shutting {
			v.state = Starting
			s.do(Start{e.Service})
		}
	case StableDue:
		v := s.svcs[e.Service]
		if v.run == e.Run && v.state == Running {
			v.stable = true
			s.checkReady(now)
		}
	case Health:
		s.health(e, now)
	case TrialBegan:
		s.trial = true
		s.do(After{s.cfg.TrialDeadline, TrialDeadline{}})
	case SettleDue:
		if s.trial && s.settleArmed && e.Gen == s.settleGen && s.allHealthy() && !s.shutting {
			s.do(Bless{})
		}
	case Blessed:
		s.trial = false
		s.do(Record{blessedLine(s.cfg.Slot, s.cfg.Version)})
	case BlessFailed:
		// Try again shortly: an unblessed trial would be marked bad at its
		// deadline. The retry belongs to this settle period, so a service
		// turning unhealthy meanwhile cancels it.
		s.logf("blessing slot %s failed: %s; trying again in %v", s.cfg.Slot, e.Err, BlessRetry)
		s.do(After{BlessRetry, SettleDue{s.settleGen}})
	case TrialDeadline:
		if s.trial && !s.shutting {
			s.failTrial(fmt.Sprintf("not healthy for %v within %v", s.cfg.Settle, s.cfg.TrialDeadline))
		}
	case Shutdown:
		s.shutdown(e.Reason, e.Reboot)
	case GraceOver:
		if s.shutting {
			grace := s.grace()
			killed := false
			for i, v := range s.svcs {
				if v.state == Running || v.state == Stopping {
					s.logf("service %s did not stop within %v; killing it", v.cfg.Name, grace)
					s.do(Signal{Service: i, Kill: true})
					killed = true
				}
			}
			if killed {
				s.do(After{KillWait, KillOver{}})
			} else {
				s.finish()
			}
		}
	case KillOver:
		if s.shutting {
			s.finish()
		}
	}
	return s.acts
}

func (s *Supervisor) do(a Action) { s.acts = append(s.acts, a) }

func (s *Supervisor) logf(format string, a ...any) {
	s.do(Log{fmt.Sprintf(format, a...)})
}

func (s *Supervisor) started(i int, now time.Duration) {
	v := s.svcs[i]
	if s.shutting {
		// Started while the stop was being decided: stop it too.
		v.state = Stopping
		s.do(Signal{Service: i})
		return
	}
	v.state, v.stable = Running, false
	v.run++
	if v.cfg.Health {
		if !v.watching {
			v.watching = true
			s.do(WatchHealth{i})
		}
	} else {
		s.do(After{StableAfter, StableDue{i, v.run}})
	}
	s.checkReady(now)
}

// died applies the restart policy to a death of service i.
func (s *Supervisor) died(i int, clean bool, how string, now time.Duration) {
	v := s.svcs[i]
	v.stable = false
	d := Decide(v.cfg.Restart, clean, v.deaths, now, v.cfg.Burst, v.cfg.Interval)
	v.deaths = d.Deaths
	switch d.Verdict {
	case Restart:
		s.logf("service %s %s; restarting in %v", v.cfg.Name, how, d.Delay)
		v.state = Backoff
		// A death breaks the trial's continuous health: the settle period
		// starts again once every service is healthy again.
		s.settleArmed = false
		s.do(After{d.Delay, RestartDue{i}})
	case GiveUp:
		v.state = Failed
		if v.watching {
			v.watching = false
			s.do(StopHealth{i})
		}
		reason := fmt.Sprintf("gave up after %d deaths in %v (last: %s)", len(d.Deaths), v.cfg.Interval, how)
		s.logf("service %s %s; %s", v.cfg.Name, how, reason)
		s.do(Record{unhealthyLine(v.cfg.Name, reason)})
		v.healthy = false
		s.settleArmed = false
		if s.trial && !s.shutting {
			// A failed service stays failed: the trial cannot succeed.
			s.failTrial("service " + v.cfg.Name + " " + reason)
		}
	case Done:
		s.logf("service %s %s; not restarting (restart: %s)", v.cfg.Name, how, v.cfg.Restart)
		v.state = Ended
		s.checkReady(now)
	}
}

func (s *Supervisor) health(e Health, now time.Duration) {
	v := s.svcs[e.Service]
	if s.shutting || v.state == Failed {
		return
	}
	if e.Healthy {
		if s.cfg.Debug {
			s.logf("service %s healthy at uptime %d ms", v.cfg.Name, now.Milliseconds())
		}
		if !v.healthy && s.ready {
			s.logf("service %s is healthy again", v.cfg.Name)
		}
		v.healthy = true
		s.checkReady(now)
		return
	}
	v.healthy = false
	s.do(Record{unhealthyLine(v.cfg.Name, e.Reason)})
	// A trial must be healthy for the whole settle period.
	s.settleArmed = false
}

// allHealthy reports whether every service is healthy: a service with a
// health check once its check passed, one without once it has kept
// running for StableAfter (or ended under its policy), so a service that
// crashes at start is never reported ready.
func (s *Supervisor) allHealthy() bool {
	for _, v := range s.svcs {
		switch {
		case v.state == Failed:
			return false
		case v.cfg.Health:
			if !v.healthy {
				return false
			}
		case v.state == Running && !v.stable, v.state != Running && v.state != Ended:
			return false
		}
	}
	return true
}

// checkReady prints TURBO_READY once, when every service is healthy, and
// starts the settle period of a trial.
func (s *Supervisor) checkReady(now time.Duration) {
	if s.shutting || !s.allHealthy() {
		return
	}
	if s.trial && !s.settleArmed {
		s.settleArmed = true
		s.settleGen++
		s.do(After{s.cfg.Settle, SettleDue{s.settleGen}})
	}
	if s.ready {
		return
	}
	s.ready = true
	s.do(Record{readyLine(s.cfg.Name, s.cfg.Version, s.cfg.Slot, s.build, now.Milliseconds())})
}

// failTrial marks the trial bad and reboots, so the boot loader falls back
// to the other slot at once instead of spending the remaining tries.
func (s *Supervisor) failTrial(reason string) {
	s.logf("trial of slot %s failed: %s", s.cfg.Slot, reason)
	s.do(MarkBad{})
	s.trial = false
	s.shutdown("trial failed: "+reason, true)
}

func (s *Supervisor) grace() time.Duration {
	if s.cfg.ShutdownGrace > 0 {
		return s.cfg.ShutdownGrace
	}
	return DefaultGrace
}

// shutdown stops the health checks, sends SIGTERM to the running services
// in reverse start order and waits for them (GraceOver, then KillOver).
func (s *Supervisor) shutdown(reason string, reboot bool) {
	if s.shutting {
		return
	}
	s.shutting, s.reboot = true, reboot
	s.logf("shutting down: %s", reason)
	for i, v := range s.svcs {
		if v.watching {
			v.watching = false
			s.do(StopHealth{i})
		}
	}
	for i := len(s.svcs) - 1; i >= 0; i-- {
		v := s.svcs[i]
		if v.state == Running {
			s.logf("stopping service %s", v.cfg.Name)
			v.state = Stopping
			s.do(Signal{Service: i})
		}
	}
	if !s.maybeFinish() {
		s.do(After{s.grace(), GraceOver{}})
	}
}

// maybeFinish finishes the shutdown once no service process is left.
func (s *Supervisor) maybeFinish() bool {
	if !s.shutting {
		return false
	}
	for _, v := range s.svcs {
		if v.state == Running || v.state == Stopping || v.state == Starting {
			return false
		}
	}
	s.finish()
	return true
}

func (s *Supervisor) finish() {
	if !s.finished {
		s.finished = true
		s.do(Finish{s.reboot})
	}
}
