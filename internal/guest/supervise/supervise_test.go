package supervise

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// sim carries out a Supervisor's actions the way the init does, with a
// fake clock: Start and Bless answer at once, signals end the process
// (unless it ignores SIGTERM), and After arms a timer that fires when the
// script advances the clock past it. Every action is written to the trace
// as "[uptime] what".
type sim struct {
	cfg    Config
	sup    *Supervisor
	now    time.Duration
	timers []timer
	seq    int
	queue  []Event
	trace  []string
	// failStart: services whose start fails; ignoreTerm: services that
	// only die of SIGKILL; blessFails: how many blessings fail first.
	failStart, ignoreTerm map[int]bool
	blessFails            int
}

type timer struct {
	due time.Duration
	seq int
	ev  Event
}

func (s *sim) name(i int) string { return s.cfg.Services[i].Name }

func (s *sim) log(format string, a ...any) {
	s.trace = append(s.trace, fmt.Sprintf("[%v] ", s.now)+fmt.Sprintf(format, a...))
}

// send handles ev and everything it causes at the current time.
func (s *sim) send(ev Event) {
	s.queue = append(s.queue, ev)
	for len(s.queue) > 0 {
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.run(s.sup.Handle(ev, s.now))
	}
}

func (s *sim) run(acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case Start:
			s.log("start %s", s.name(a.Service))
			if s.failStart[a.Service] {
				s.run(s.sup.Handle(StartFailed{a.Service, "no such file"}, s.now))
			} else {
				s.run(s.sup.Handle(Started{a.Service}, s.now))
			}
		case WatchHealth:
			s.log("watch %s", s.name(a.Service))
		case StopHealth:
			s.log("unwatch %s", s.name(a.Service))
		case Signal:
			if a.Kill {
				s.log("kill %s", s.name(a.Service))
				s.queue = append(s.queue, Exited{Service: a.Service, How: "killed by signal killed"})
			} else {
				s.log("term %s", s.name(a.Service))
				if !s.ignoreTerm[a.Service] {
					s.queue = append(s.queue, Exited{Service: a.Service, Clean: true, How: "exited with status 0"})
				}
			}
		case After:
			s.log("after %v %s", a.Delay, s.eventName(a.Event))
			s.seq++
			s.timers = append(s.timers, timer{s.now + a.Delay, s.seq, a.Event})
		case Log:
			s.log("log %s", a.Text)
		case Record:
			s.log("%s", a.Line)
		case Bless:
			s.log("bless")
			if s.blessFails > 0 {
				s.blessFails--
				s.run(s.sup.Handle(BlessFailed{"ESP is read-only"}, s.now))
			} else {
				s.run(s.sup.Handle(Blessed{}, s.now))
			}
		case MarkBad:
			s.log("mark bad")
		case Finish:
			if a.Reboot {
				s.log("reboot")
			} else {
				s.log("poweroff")
			}
		default:
			panic(fmt.Sprintf("unknown action %T", a))
		}
	}
}

func (s *sim) eventName(ev Event) string {
	switch e := ev.(type) {
	case RestartDue:
		return "restart " + s.name(e.Service)
	case StableDue:
		return "stable " + s.name(e.Service)
	case SettleDue:
		return "settle"
	case TrialDeadline:
		return "deadline"
	case GraceOver:
		return "grace"
	case KillOver:
		return "kill wait"
	}
	return fmt.Sprintf("%T", ev)
}

// advance fires every timer due up to t, in order.
func (s *sim) advance(t time.Duration) {
	for {
		sort.Slice(s.timers, func(i, j int) bool {
			if s.timers[i].due != s.timers[j].due {
				return s.timers[i].due < s.timers[j].due
			}
			return s.timers[i].seq < s.timers[j].seq
		})
		if len(s.timers) == 0 || s.timers[0].due > t {
			break
		}
		tm := s.timers[0]
		s.timers = s.timers[1:]
		s.now = tm.due
		s.send(tm.ev)
	}
	s.now = t
}

// step is one line of a script: advance the clock to at, then send ev
// (nil: only advance).
type step struct {
	at time.Duration
	ev Event
}

func ms(n int) time.Duration  { return time.Duration(n) * time.Millisecond }
func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func crash(i int) Exited { return Exited{Service: i, How: "exited with status 1"} }

func healthy(i int) Health { return Health{Service: i, Healthy: true} }

func unhealthy(i int) Health {
	return Health{Service: i, Reason: "3 consecutive failures: connection refused"}
}

func svc(name string, burst int, interval time.Duration) Service {
	return Service{Name: name, Restart: initconfig.RestartAlways, Burst: burst, Interval: interval}
}

func checked(s Service) Service { s.Health = true; return s }

func TestSupervisor(t *testing.T) {
	trial := func(svcs ...Service) Config {
		return Config{Name: "app", Version: "2", Slot: "b", Services: svcs, Settle: sec(5), TrialDeadline: sec(60)}
	}
	plain := func(svcs ...Service) Config {
		return Config{Name: "app", Version: "1", Services: svcs}
	}
	cases := []struct {
		name   string
		cfg    Config
		setup  func(*sim)
		script []step
		// want: entries of the trace, in this order (each a substring of
		// one entry); never: substrings no entry may hold; once:
		// substrings exactly one entry holds.
		want, never, once []string
	}{
		{
			name: "K deaths within T give up",
			cfg:  plain(svc("crash", 3, sec(60))),
			script: []step{
				{0, Boot{}}, {ms(100), crash(0)},
				{ms(1100), nil}, {ms(1200), crash(0)},
				{ms(3200), nil}, {ms(3300), crash(0)},
				{sec(100), nil},
			},
			want: []string{
				"[100ms] log service crash exited with status 1; restarting in 1s",
				"[1.1s] start crash",
				"[1.2s] log service crash exited with status 1; restarting in 2s",
				"[3.2s] start crash",
				"[3.3s] log service crash exited with status 1; gave up after 3 deaths in 1m0s (last: exited with status 1)",
				"[3.3s] TURBO_UNHEALTHY service=crash reason=gave up after 3 deaths in 1m0s (last: exited with status 1)",
			},
			never: []string{"[3.3s] log service crash exited with status 1; restarting", "TURBO_READY", "[7.3s] start"},
		},
		{
			name: "K deaths spread wider than T do not give up",
			cfg:  plain(svc("crash", 2, sec(2))),
			script: []step{
				{0, Boot{}}, {ms(100), crash(0)},
				{ms(3000), crash(0)},
				{ms(6000), crash(0)},
				{sec(10), nil},
			},
			want: []string{
				"[100ms] log service crash exited with status 1; restarting in 1s",
				"[3s] log service crash exited with status 1; restarting in 1s",
				"[4s] start crash",
				"[6s] log service crash exited with status 1; restarting in 1s",
				"[7s] start crash",
			},
			never: []string{"gave up", "TURBO_UNHEALTHY"},
		},
		{
			name: "a start failure counts as a death",
			cfg:  plain(svc("missing", 2, sec(60))),
			setup: func(s *sim) {
				s.failStart = map[int]bool{0: true}
			},
			script: []step{{0, Boot{}}, {sec(10), nil}},
			want: []string{
				"[0s] log service missing: cannot start: no such file",
				"[0s] log service missing cannot start: no such file; restarting in 1s",
				"[1s] start missing",
				"[1s] TURBO_UNHEALTHY service=missing reason=gave up after 2 deaths in 1m0s (last: cannot start: no such file)",
			},
			never: []string{"TURBO_READY", "[3s] start"},
		},
		{
			name: "backoff doubles from 1 s",
			cfg:  plain(svc("crash", 10, sec(60))),
			script: []step{
				{0, Boot{}}, {0, crash(0)},
				{sec(1), crash(0)},
				{sec(3), crash(0)},
				{sec(7), crash(0)},
				{sec(15), nil},
			},
			want: []string{
				"[0s] log service crash exited with status 1; restarting in 1s",
				"[0s] after 1s restart crash",
				"[1s] start crash",
				"[1s] log service crash exited with status 1; restarting in 2s",
				"[3s] start crash",
				"[3s] log service crash exited with status 1; restarting in 4s",
				"[7s] start crash",
				"[7s] log service crash exited with status 1; restarting in 8s",
				"[15s] start crash",
			},
		},
		{
			name:   "without a health check a service is healthy after 300 ms of uptime",
			cfg:    plain(svc("app", 3, sec(60))),
			script: []step{{0, Boot{}}, {ms(299), nil}, {sec(2), nil}},
			want: []string{
				"[0s] start app",
				"[0s] after 300ms stable app",
				"[300ms] TURBO_READY name=app version=1 uptime_ms=300",
			},
			never: []string{"[0s] TURBO_READY"},
		},
		{
			name: "a service that dies before 300 ms is not healthy until it ran 300 ms",
			cfg:  plain(svc("app", 3, sec(60))),
			script: []step{
				{0, Boot{}}, {ms(200), crash(0)}, {sec(5), nil},
			},
			want: []string{
				"[200ms] log service app exited with status 1; restarting in 1s",
				"[1.2s] start app",
				"[1.5s] TURBO_READY name=app version=1 uptime_ms=1500",
			},
			never: []string{"[300ms] TURBO_READY"},
		},
		{
			name: "READY is printed exactly once",
			cfg:  plain(checked(svc("web", 5, sec(60))), svc("worker", 5, sec(60))),
			script: []step{
				{0, Boot{}}, {sec(1), healthy(0)},
				{sec(2), unhealthy(0)}, {sec(3), healthy(0)},
				{sec(4), crash(1)}, {sec(6), nil},
				{sec(7), unhealthy(0)}, {sec(8), healthy(0)},
			},
			want: []string{
				"[0s] watch web",
				"[1s] TURBO_READY name=app version=1 uptime_ms=1000",
				"[2s] TURBO_UNHEALTHY service=web reason=3 consecutive failures: connection refused",
				"[3s] log service web is healthy again",
				"[5s] start worker",
				"[8s] log service web is healthy again",
			},
			once: []string{"TURBO_READY"},
		},
		{
			name:   "no services: ready at once",
			cfg:    plain(),
			script: []step{{ms(40), Boot{}}},
			want:   []string{"[40ms] TURBO_READY name=app version=1 uptime_ms=40"},
			once:   []string{"TURBO_READY"},
		},
		{
			name: "a service ended by its policy counts as healthy",
			cfg: plain(Service{Name: "once", Restart: initconfig.RestartOnFailure, Burst: 3, Interval: sec(60)},
				checked(svc("web", 3, sec(60)))),
			script: []step{{0, Boot{}}, {ms(50), Exited{Service: 0, Clean: true, How: "exited with status 0"}}, {ms(600), healthy(1)}},
			want: []string{
				"[50ms] log service once exited with status 0; not restarting (restart: on-failure)",
				"[600ms] TURBO_READY",
			},
		},
		{
			name: "a failed service keeps the appliance from being ready",
			cfg:  plain(svc("crash", 1, sec(60)), checked(svc("web", 3, sec(60)))),
			script: []step{
				{0, Boot{}}, {ms(10), crash(0)}, {ms(500), healthy(1)}, {sec(10), nil},
			},
			want:  []string{"[10ms] TURBO_UNHEALTHY service=crash"},
			never: []string{"TURBO_READY"},
		},
		{
			name: "a trial blesses only after settle of continuous health",
			cfg:  trial(checked(svc("web", 3, sec(60))), svc("worker", 3, sec(60))),
			script: []step{
				{0, TrialBegan{}}, {0, Boot{}},
				{sec(1), healthy(0)},
				{sec(3), unhealthy(0)}, {sec(4), healthy(0)},
				{sec(6), nil}, // the first period (1s + 5s) ran out: no blessing
				{sec(20), nil},
			},
			want: []string{
				"[0s] after 1m0s deadline",
				"[1s] after 5s settle",
				"[1s] TURBO_READY name=app version=2 slot=b uptime_ms=1000",
				"[4s] after 5s settle",
				"[9s] bless",
				"[9s] TURBO_BLESSED slot=b version=2",
			},
			never: []string{"[6s] bless", "mark bad"},
			once:  []string{"bless", "TURBO_BLESSED"},
		},
		{
			name: "a death during the settle period starts it again",
			cfg:  trial(svc("worker", 3, sec(60))),
			script: []step{
				{0, TrialBegan{}}, {0, Boot{}}, {sec(2), crash(0)}, {sec(20), nil},
			},
			want: []string{
				"[300ms] after 5s settle",
				"[300ms] TURBO_READY",
				"[2s] log service worker exited with status 1; restarting in 1s",
				"[3s] start worker",
				"[3.3s] after 5s settle",
				"[8.3s] bless",
				"[8.3s] TURBO_BLESSED",
			},
			never: []string{"[5.3s] bless", "mark bad"},
			once:  []string{"TURBO_BLESSED"},
		},
		{
			name: "a trial unhealthy at its deadline marks itself bad and reboots",
			cfg: Config{Name: "app", Version: "2", Slot: "b", Settle: sec(1), TrialDeadline: sec(4),
				Services: []Service{checked(svc("web", 3, sec(60)))}},
			script: []step{
				{0, TrialBegan{}}, {0, Boot{}},
				{sec(1), unhealthy(0)},
				{sec(10), nil},
			},
			want: []string{
				"[4s] log trial of slot b failed: not healthy for 1s within 4s",
				"[4s] mark bad",
				"[4s] log shutting down: trial failed: not healthy for 1s within 4s",
				"[4s] unwatch web",
				"[4s] term web",
				"[4s] reboot",
			},
			never: []string{"bless", "poweroff", "TURBO_READY"},
		},
		{
			name: "a trial still settling at its deadline marks itself bad",
			cfg: Config{Name: "app", Version: "2", Slot: "b", Settle: sec(5), TrialDeadline: sec(4),
				Services: []Service{checked(svc("web", 3, sec(60)))}},
			script: []step{{0, TrialBegan{}}, {0, Boot{}}, {sec(2), healthy(0)}, {sec(10), nil}},
			want:   []string{"[2s] TURBO_READY", "[4s] mark bad", "[4s] reboot"},
			never:  []string{"bless"},
		},
		{
			name: "a failed blessing is retried within the same settle period",
			cfg:  trial(checked(svc("web", 3, sec(60)))),
			setup: func(s *sim) {
				s.blessFails = 1
			},
			script: []step{{0, TrialBegan{}}, {0, Boot{}}, {sec(1), healthy(0)}, {sec(70), nil}},
			want: []string{
				"[6s] bless",
				"[6s] log blessing slot b failed: ESP is read-only; trying again in 1s",
				"[7s] bless",
				"[7s] TURBO_BLESSED slot=b version=2",
			},
			never: []string{"mark bad", "reboot"},
		},
		{
			name: "a blessing retry is void once a service turned unhealthy",
			cfg:  trial(checked(svc("web", 3, sec(60)))),
			setup: func(s *sim) {
				s.blessFails = 1
			},
			script: []step{{0, TrialBegan{}}, {0, Boot{}}, {sec(1), healthy(0)},
				{ms(6500), unhealthy(0)}, {ms(6800), healthy(0)}, {sec(20), nil}},
			want:  []string{"[6s] bless", "[6.8s] after 5s settle", "[11.8s] bless", "[11.8s] TURBO_BLESSED"},
			never: []string{"[7s] bless"},
		},
		{
			name: "a service that gives up during a trial ends the trial at once",
			cfg:  trial(svc("crash", 2, sec(60)), checked(svc("web", 3, sec(60)))),
			script: []step{
				{0, TrialBegan{}}, {0, Boot{}}, {ms(100), crash(0)},
				{ms(500), healthy(1)}, {ms(1200), crash(0)}, {sec(100), nil},
			},
			want: []string{
				"[1.2s] TURBO_UNHEALTHY service=crash reason=gave up after 2 deaths in 1m0s",
				"[1.2s] log trial of slot b failed: service crash gave up after 2 deaths in 1m0s",
				"[1.2s] mark bad",
				"[1.2s] log shutting down: trial failed: service crash gave up",
				"[1.2s] term web",
				"[1.2s] reboot",
			},
			never: []string{"[1m0s] mark bad", "bless", "TURBO_READY"},
			once:  []string{"mark bad", "reboot"},
		},
		{
			name: "a blessed trial ignores its deadline and later deaths",
			cfg:  trial(svc("crash", 2, sec(100))),
			script: []step{
				{0, TrialBegan{}}, {0, Boot{}}, {sec(10), crash(0)}, {sec(12), crash(0)}, {sec(100), nil},
			},
			want:  []string{"[5.3s] TURBO_BLESSED", "[12s] TURBO_UNHEALTHY service=crash"},
			never: []string{"mark bad", "reboot", "shutting down"},
		},
		{
			name: "shutdown stops services in the reverse of their start order",
			cfg:  plain(svc("first", 3, sec(60)), svc("second", 3, sec(60)), svc("third", 3, sec(60))),
			script: []step{
				{0, Boot{}}, {sec(1), Shutdown{Reason: "power button"}}, {sec(20), nil},
			},
			want: []string{
				"[0s] start first", "[0s] start second", "[0s] start third",
				"[1s] log shutting down: power button",
				"[1s] log stopping service third", "[1s] term third",
				"[1s] log stopping service second", "[1s] term second",
				"[1s] log stopping service first", "[1s] term first",
				"[1s] poweroff",
			},
			never: []string{"kill", "did not stop"},
			once:  []string{"poweroff"},
		},
		{
			name: "a service that ignores SIGTERM is killed after the grace period",
			cfg: Config{Name: "app", Version: "1", ShutdownGrace: sec(3),
				Services: []Service{svc("first", 3, sec(60)), svc("stubborn", 3, sec(60)), svc("crash", 3, sec(60))}},
			setup: func(s *sim) {
				s.ignoreTerm = map[int]bool{1: true}
			},
			script: []step{
				{0, Boot{}}, {ms(100), crash(2)}, {sec(1), Shutdown{Reason: "signal terminated"}},
				{ms(1500), Shutdown{Reason: "power button"}}, {sec(20), nil},
			},
			want: []string{
				"[1s] log shutting down: signal terminated",
				"[1s] term stubborn", "[1s] term first",
				"[1s] after 3s grace",
				"[4s] log service stubborn did not stop within 3s; killing it",
				"[4s] kill stubborn",
				"[4s] poweroff",
			},
			// crash waits in backoff: nothing to stop, and no restart.
			never: []string{"term crash", "[1.1s] start crash", "power button", "kill first"},
			once:  []string{"poweroff", "shutting down"},
		},
		{
			name: "a requested reboot reboots",
			cfg:  plain(svc("app", 3, sec(60))),
			script: []step{
				{0, Boot{}}, {sec(1), Shutdown{Reason: "update to 2 in slot b", Reboot: true}},
			},
			want:  []string{"[1s] log shutting down: update to 2 in slot b", "[1s] term app", "[1s] reboot"},
			never: []string{"poweroff"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &sim{cfg: c.cfg, sup: New(c.cfg)}
			if c.setup != nil {
				c.setup(s)
			}
			for _, st := range c.script {
				if st.at < s.now {
					t.Fatalf("script goes back in time to %v (now %v)", st.at, s.now)
				}
				s.advance(st.at)
				if st.ev != nil {
					s.send(st.ev)
				}
			}
			trace := strings.Join(s.trace, "\n")
			i := 0
			for _, w := range c.want {
				for i < len(s.trace) && !strings.Contains(s.trace[i], w) {
					i++
				}
				if i == len(s.trace) {
					t.Fatalf("trace lacks %q (in this order)\ntrace:\n%s", w, trace)
				}
				i++
			}
			for _, n := range c.never {
				for _, e := range s.trace {
					if strings.Contains(e, n) {
						t.Errorf("trace holds %q: %s\ntrace:\n%s", n, e, trace)
					}
				}
			}
			for _, o := range c.once {
				n := 0
				for _, e := range s.trace {
					if strings.Contains(e, o) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%q in %d entries, want exactly 1\ntrace:\n%s", o, n, trace)
				}
			}
		})
	}
}

// TestNothingAfterFinish: once the core said Finish, no event makes it act.
func TestNothingAfterFinish(t *testing.T) {
	sup := New(Config{Services: []Service{svc("app", 3, sec(60))}})
	sup.Handle(Boot{}, 0)
	sup.Handle(Started{0}, 0)
	sup.Handle(Shutdown{Reason: "x"}, sec(1))
	acts := sup.Handle(Exited{Service: 0}, sec(1))
	if len(acts) != 1 || acts[0] != (Finish{}) {
		t.Fatalf("want Finish, got %v", acts)
	}
	for _, ev := range []Event{Boot{}, RestartDue{0}, GraceOver{}, KillOver{}, Shutdown{Reboot: true}, TrialDeadline{}} {
		if acts := sup.Handle(ev, sec(2)); len(acts) != 0 {
			t.Errorf("%T after Finish: %v", ev, acts)
		}
	}
	if sup.State(0) != Ended {
		t.Errorf("state %v, want ended", sup.State(0))
	}
}

// TestStaleStableTimer: the 300 ms timer of an earlier run does not make a
// restarted service healthy. (The backoff, at least 1 s, normally outlasts
// it; the run number is what the rule rests on.)
func TestStaleStableTimer(t *testing.T) {
	sup := New(Config{Name: "app", Version: "1", Services: []Service{svc("app", 3, sec(60))}})
	sup.Handle(Boot{}, 0)
	sup.Handle(Started{0}, 0)
	sup.Handle(crash(0), ms(100))
	sup.Handle(RestartDue{0}, ms(1100))
	sup.Handle(Started{0}, ms(1100))
	if acts := sup.Handle(StableDue{Service: 0, Run: 1}, ms(1200)); len(acts) != 0 || sup.Ready() {
		t.Fatalf("stale timer made the service healthy: %v", acts)
	}
	acts := sup.Handle(StableDue{Service: 0, Run: 2}, ms(1400))
	if len(acts) != 1 || acts[0] != (Record{"TURBO_READY name=app version=1 uptime_ms=1400"}) {
		t.Fatalf("current timer: %v", acts)
	}
}
