package supervise

import (
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// Backoff bounds: the first restart waits MinBackoff, each further death
// inside the window doubles it, up to MaxBackoff.
const (
	MinBackoff = time.Second
	MaxBackoff = 30 * time.Second
)

// StableAfter is how long a service without a health check must keep
// running before it counts as healthy.
const StableAfter = 300 * time.Millisecond

// Verdict is what the supervisor does after a service exits.
type Verdict int

const (
	// Restart the service after Decision.Delay.
	Restart Verdict = iota
	// GiveUp marks the service failed: it died Burst times within Interval.
	GiveUp
	// Done leaves the service stopped, as its policy asks (a clean exit
	// under on-failure, any exit under never).
	Done
)

func (v Verdict) String() string {
	switch v {
	case Restart:
		return "restart"
	case GiveUp:
		return "give up"
	case Done:
		return "done"
	}
	return "?"
}

// Decision is the outcome of Decide.
type Decision struct {
	Verdict Verdict
	Delay   time.Duration
	// Deaths is the history to keep: deaths inside the window, this one
	// included.
	Deaths []time.Duration
}

// Decide applies the restart policy to a death at now. Times are uptimes
// (time since boot). deaths is the history of earlier deaths (oldest
// first); clean reports exit status 0. It is pure: the caller keeps the
// returned history.
func Decide(policy string, clean bool, deaths []time.Duration, now time.Duration, burst int, window time.Duration) Decision {
	var kept []time.Duration
	for _, d := range deaths {
		if now-d < window {
			kept = append(kept, d)
		}
	}
	kept = append(kept, now)
	switch {
	case policy == initconfig.RestartNever, policy == initconfig.RestartOnFailure && clean:
		return Decision{Verdict: Done, Deaths: kept}
	case len(kept) >= burst:
		return Decision{Verdict: GiveUp, Deaths: kept}
	}
	delay := MinBackoff
	for i := 1; i < len(kept) && delay < MaxBackoff; i++ {
		delay *= 2
	}
	if delay > MaxBackoff {
		delay = MaxBackoff
	}
	return Decision{Verdict: Restart, Delay: delay, Deaths: kept}
}
