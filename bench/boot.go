package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/console"
)

// Probe timing.
const (
	// pollEvery is how often a new GET is started.
	pollEvery = 10 * time.Millisecond
	// pollTimeout bounds one GET. Before the guest listens, user-mode
	// networking accepts the connection on the host and then retries its
	// SYN to the guest with backoff, so old requests are slow to succeed;
	// the fresh ones started every pollEvery are what see the guest first.
	pollTimeout = time.Second
	// pollInFlight bounds concurrent GETs.
	pollInFlight = 128
	// markerGrace is how long to wait for the console line after the HTTP
	// 200 (or the other way round): the two travel different paths.
	markerGrace = 5 * time.Second
	// consoleTail is how many console lines a failure report shows.
	consoleTail = 25
)

// bootPlan is one boot of one row.
type bootPlan struct {
	bin  string
	args []string
	// port is the host port forwarded to the app's 8080; 0 for the floor,
	// which is ready when it prints its console line.
	port int
	// turboReady waits for turbo-init's TURBO_READY as well.
	turboReady bool
	// path is what the probe GETs ("/" when empty).
	path string
	// noMarker: the app prints no BENCH_READY (a third-party app): the
	// boot is ready at the first HTTP 200 (and TURBO_READY when
	// turboReady), and the guest uptime at ready is TURBO_READY's.
	noMarker bool
	timeout  time.Duration
	// stopGrace is the SIGTERM-to-SIGKILL time of Process.Stop.
	stopGrace time.Duration
	// consoleLog receives the console (may be nil).
	consoleLog io.Writer
	// jailClock: the app's BENCH_READY uptime is the host's (a jail has
	// no kernel of its own); the guest column takes TURBO_READY's
	// uptime_ms, counted by the init from the jail's start.
	jailClock bool
}

// bootSample is what one boot measured.
type bootSample struct {
	guestMS      int64
	wallMS       float64
	turboReadyMS int64 // -1 when not seen
	startMS      int64 // the app's BENCH_START; -1 when not seen
	// initMS is when the init started: turbo.debug's "started at uptime"
	// or the floor shim's BENCH_EXEC; -1 when not seen.
	initMS int64
	// appStartMS is the app's own start: turbo.debug's service started to
	// service healthy; -1 when not seen.
	appStartMS int64
	// exit describes how the process ended, debugExit whether the guest
	// ended QEMU through isa-debug-exit (exit status (v<<1)|1).
	exit      string
	debugExit bool
}

// consoleEvent is a console line the benchmark cares about.
type consoleEvent struct {
	mark string // markReady, markStart, markFloor, markExec, "TURBO_READY", "TURBO_FATAL", "PANIC" or a debug kind
	ms   int64
	at   time.Time
	text string
}

// bootOnce starts the VM (or `turbo-image run`), measures readiness and
// stops it.
func bootOnce(ctx context.Context, p bootPlan) (bootSample, error) {
	s := bootSample{guestMS: -1, turboReadyMS: -1, startMS: -1, initMS: -1, appStartMS: -1}
	events := make(chan consoleEvent, 64)
	tail := &vmm.Tail{MaxLines: consoleTail}
	onLine := func(line string) {
		tail.Line(line)
		now := time.Now()
		ev := consoleEvent{at: now, text: line}
		if mark, ms, ok := ParseBenchLine(line); ok {
			ev.mark, ev.ms = mark, ms
		} else if r, ok := console.Parse(line); ok && (r.Kind == console.Ready || r.Kind == console.Panic || r.Kind == console.Fatal) {
			ev.mark, ev.ms = string(r.Kind), r.Int("uptime_ms")
		} else if kind, _, ms, ok := ParseDebugLine(line); ok {
			ev.mark, ev.ms = "debug:"+kind, ms
		} else {
			return
		}
		select {
		case events <- ev:
		default:
		}
	}
	grace := p.stopGrace
	if grace <= 0 {
		grace = vmm.DefaultStopGrace
	}
	pollCtx, cancelPoll := context.WithCancel(ctx)
	defer cancelPoll()
	// One boot through the same session code as `turbo-image run`; the
	// bench's own readiness rule (console marker, HTTP 200) ends it.
	type ended struct {
		res vmm.Result
		err error
	}
	endC := make(chan ended, 1)
	started := make(chan time.Time, 1)
	stopC := make(chan struct{})
	sess := &vmm.Session{
		Next:      func() (string, []string, error) { return p.bin, p.args, nil },
		Console:   p.consoleLog,
		OnLine:    onLine,
		OnStart:   func(_ int, at time.Time) { started <- at },
		MaxBoots:  1,
		StopGrace: grace,
		Stop:      stopC,
	}
	go func() {
		res, err := sess.Run(context.WithoutCancel(ctx))
		endC <- ended{res, err}
	}()
	var start time.Time
	select {
	case start = <-started:
	case e := <-endC:
		return s, e.err
	}
	var end *ended
	stopOnce := sync.OnceFunc(func() { close(stopC) })
	stop := func() vmm.ExitStatus {
		stopOnce()
		if end == nil {
			e := <-endC
			end = &e
		}
		return end.res.Exit
	}
	defer stop()
	fail := func(format string, a ...any) (bootSample, error) {
		cancelPoll()
		st := stop()
		return s, fmt.Errorf("%s (qemu %s)\n--- last console lines ---\n%s", fmt.Sprintf(format, a...), st, tail.String())
	}

	var got200 <-chan time.Time
	if p.port > 0 {
		path := p.path
		if path == "" {
			path = "/"
		}
		got200 = pollHTTP(pollCtx, "http://127.0.0.1:"+strconv.Itoa(p.port)+path)
	}
	deadline := time.NewTimer(p.timeout)
	defer deadline.Stop()
	var (
		haveMark, haveHTTP, haveTurbo bool
		firstAt                       time.Time
	)
	var svcStarted int64 = -1
	done := func() bool {
		if p.port == 0 {
			return haveMark
		}
		return (haveMark || p.noMarker) && haveHTTP && (haveTurbo || !p.turboReady)
	}
	for !done() {
		var graceC <-chan time.Time
		if !firstAt.IsZero() {
			graceC = time.After(time.Until(firstAt.Add(markerGrace)))
		}
		select {
		case ev := <-events:
			switch ev.mark {
			case markReady, markFloor:
				if !haveMark {
					haveMark, s.guestMS = true, ev.ms
					if p.port == 0 {
						s.wallMS = float64(ev.at.Sub(start).Microseconds()) / 1000
					}
				}
			case markStart:
				s.startMS = ev.ms
			case markExec, "debug:" + debugInit:
				if s.initMS < 0 {
					s.initMS = ev.ms
				}
			case "debug:" + debugStarted:
				if svcStarted < 0 {
					svcStarted = ev.ms
				}
			case "debug:" + debugHealthy:
				if s.appStartMS < 0 && svcStarted >= 0 {
					s.appStartMS = ev.ms - svcStarted
				}
			case string(console.Ready):
				haveTurbo, s.turboReadyMS = true, ev.ms
				if p.noMarker && !haveMark {
					haveMark, s.guestMS = true, ev.ms
				}
			case string(console.Panic), string(console.Fatal):
				return fail("guest failed: %s", ev.text)
			}
		case t := <-got200:
			haveHTTP = true
			s.wallMS = float64(t.Sub(start).Microseconds()) / 1000
			cancelPoll()
		case e := <-endC:
			end = &e
			// Drain what the console delivered before the end.
			for drained := false; !drained; {
				select {
				case ev := <-events:
					if (ev.mark == markReady || ev.mark == markFloor) && !haveMark {
						haveMark, s.guestMS = true, ev.ms
						if p.port == 0 {
							s.wallMS = float64(ev.at.Sub(start).Microseconds()) / 1000
						}
					}
				default:
					drained = true
				}
			}
			if !done() {
				return fail("the VM ended before it was ready: %s", e.res.Exit)
			}
		case <-graceC:
			return fail("ready on one channel but not the other within %v (console marker %v, HTTP 200 %v, TURBO_READY %v)", markerGrace, haveMark, haveHTTP, haveTurbo || !p.turboReady)
		case <-deadline.C:
			return fail("not ready within %v", p.timeout)
		case <-ctx.Done():
			return fail("interrupted: %v", ctx.Err())
		}
		if firstAt.IsZero() && (haveMark && !p.noMarker || haveHTTP) {
			firstAt = time.Now()
		}
	}
	cancelPoll()
	if p.jailClock {
		s.guestMS = s.turboReadyMS
		s.startMS = -1 // the app's BENCH_START is on the host's clock too
	}
	if p.port == 0 && end == nil {
		// The floor ends QEMU itself (isa-debug-exit or power-off).
		select {
		case e := <-endC:
			end = &e
		case <-time.After(3 * time.Second):
		}
	}
	st := stop()
	s.exit = st.String()
	if !st.Stopped {
		if v, ok := vmm.DebugExitValue(st.Code); ok {
			s.debugExit = true
			s.exit = fmt.Sprintf("isa-debug-exit: the guest wrote %#x, QEMU exited with status %d", v, st.Code)
		}
	}
	return s, nil
}

// pollHTTP starts a GET of url every pollEvery (at most pollInFlight at a
// time) until one answers 200 or ctx ends, and delivers the moment the
// first 200 arrived. Once the app has answered anything (it listens but
// is not ready, such as etcd's /health answering 503 until the member
// is leader), the GETs go one at a time: the concurrent ones are there
// for user-mode networking's SYN backoff before the guest listens, and
// against a listening app that answers slowly they only pile up (an
// etcd boot stretched from 4 s to 187 s under 14,042 cancelled health
// reads, issue 10).
func pollHTTP(ctx context.Context, url string) <-chan time.Time {
	out := make(chan time.Time, 1)
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil, MaxIdleConns: -1}
	client := &http.Client{Transport: tr, Timeout: pollTimeout}
	go func() {
		defer tr.CloseIdleConnections()
		sem := make(chan struct{}, pollInFlight)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		var once sync.Once
		var answered atomic.Bool
		get := func() {
			defer func() { <-sem }()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			at := time.Now()
			answered.Store(true)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				once.Do(func() { out <- at })
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case sem <- struct{}{}:
			}
			if answered.Load() {
				get()
			} else {
				go get()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// openConsoleLog creates the file a boot's console is saved to.
func openConsoleLog(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("console log: %w", err)
	}
	return f, nil
}
