package turboinit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// ExecFunc runs argv and returns nil if it exited with status 0. The init
// supplies one that starts the process through its own reaper.
type ExecFunc func(ctx context.Context, argv []string) error

// Probe runs one health check with the check's timeout.
func Probe(ctx context.Context, h *initconfig.Health, run ExecFunc) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout.D())
	defer cancel()
	switch {
	case h.HTTP != "":
		return probeHTTP(ctx, h.HTTP)
	case h.TCP != "":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", h.TCP)
		if err != nil {
			return err
		}
		return c.Close()
	case len(h.Exec) > 0:
		if run == nil {
			return errors.New("exec checks are not available")
		}
		return run(ctx, h.Exec)
	}
	return errors.New("empty health check")
}

// probeHTTP does a minimal HTTP/1.0 GET and accepts any 2xx or 3xx status.
// It avoids net/http to keep the init small and its start-up fast.
func probeHTTP(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("health URL %q: only http is supported", raw)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	path := u.RequestURI()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: turbo-init\r\n\r\n", path, u.Host); err != nil {
		return err
	}
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading status: %w", err)
	}
	f := strings.Fields(status)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return fmt.Errorf("bad status line %q", strings.TrimSpace(status))
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 200 || code >= 400 {
		return fmt.Errorf("status %s", strings.TrimSpace(strings.Join(f[1:], " ")))
	}
	return nil
}

// HealthState tracks one service's checks: the first success within the
// start period, then consecutive failures against the retry budget. It is
// pure; Watch drives it with real probes.
type HealthState struct {
	h           *initconfig.Health
	started     time.Time
	passedOnce  bool
	failures    int
	unhealthy   bool
	lastFailure string
}

// Transition is what an observation changed.
type Transition int

const (
	// NoChange: nothing to report.
	NoChange Transition = iota
	// BecameHealthy: the check passed (first time, or after being unhealthy).
	BecameHealthy
	// BecameUnhealthy: the start period ran out, or Retries consecutive
	// failures happened after a success.
	BecameUnhealthy
)

// NewHealthState starts tracking at start.
func NewHealthState(h *initconfig.Health, start time.Time) *HealthState {
	return &HealthState{h: h, started: start}
}

// Observe records one probe result at now.
func (s *HealthState) Observe(now time.Time, err error) Transition {
	if err == nil {
		s.failures = 0
		if !s.passedOnce || s.unhealthy {
			s.passedOnce, s.unhealthy = true, false
			return BecameHealthy
		}
		return NoChange
	}
	s.lastFailure = err.Error()
	if s.unhealthy {
		return NoChange
	}
	if !s.passedOnce {
		if now.Sub(s.started) >= s.h.StartPeriod.D() {
			s.unhealthy = true
			s.lastFailure = fmt.Sprintf("not healthy within %v: %v", s.h.StartPeriod.D(), err)
			return BecameUnhealthy
		}
		return NoChange
	}
	s.failures++
	if s.failures >= s.h.Retries {
		s.unhealthy = true
		s.lastFailure = fmt.Sprintf("%d consecutive failures: %v", s.failures, err)
		return BecameUnhealthy
	}
	return NoChange
}

// Reason describes the last failure.
func (s *HealthState) Reason() string { return s.lastFailure }

// NextDelay is how long to wait after a probe at now before the next one:
// the interval once a check has passed; until then fast polling, so that
// readiness is seen soon, backing off with the time waited (a tenth of it,
// from firstPoll up to maxFirstPoll). A service that starts in 300 ms is
// seen within about 30 ms of it, and one that takes seconds is not probed
// 200 times a second while it starts: each refused probe runs the init
// and switches processes twice, which under TCG costs the starting service
// far more than the probe's own instructions.
func (s *HealthState) NextDelay(now time.Time) time.Duration {
	if s.passedOnce {
		return s.h.Interval.D()
	}
	return min(max(now.Sub(s.started)/10, firstPoll), maxFirstPoll)
}

// The bounds of the polling before a service's first passing check.
const (
	firstPoll    = 5 * time.Millisecond
	maxFirstPoll = 50 * time.Millisecond
)
