package supervise

import (
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

func TestDecide(t *testing.T) {
	t0 := 1000 * time.Second // uptime of the first death
	at := func(s ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range s {
			out = append(out, t0+time.Duration(x*float64(time.Second)))
		}
		return out
	}
	cases := []struct {
		name    string
		policy  string
		clean   bool
		deaths  []time.Duration
		now     float64
		burst   int
		window  time.Duration
		verdict Verdict
		delay   time.Duration
		kept    int
	}{
		{"first crash waits 1s", initconfig.RestartAlways, false, nil, 0, 5, time.Minute, Restart, time.Second, 1},
		{"second crash waits 2s", initconfig.RestartAlways, false, at(0), 1, 5, time.Minute, Restart, 2 * time.Second, 2},
		{"third crash waits 4s", initconfig.RestartAlways, false, at(0, 1), 3, 5, time.Minute, Restart, 4 * time.Second, 3},
		{"burst reached gives up", initconfig.RestartAlways, false, at(0, 1, 3), 7, 4, time.Minute, GiveUp, 0, 4},
		{"old deaths leave the window", initconfig.RestartAlways, false, at(0, 1, 3), 100, 4, time.Minute, Restart, time.Second, 1},
		{"clean exit restarts under always", initconfig.RestartAlways, true, nil, 0, 5, time.Minute, Restart, time.Second, 1},
		{"clean exit is done under on-failure", initconfig.RestartOnFailure, true, nil, 0, 5, time.Minute, Done, 0, 1},
		{"crash restarts under on-failure", initconfig.RestartOnFailure, false, nil, 0, 5, time.Minute, Restart, time.Second, 1},
		{"never means done", initconfig.RestartNever, false, nil, 0, 5, time.Minute, Done, 0, 1},
		{"backoff is capped", initconfig.RestartAlways, false, at(0, 1, 2, 3, 4, 5, 6, 7, 8), 9, 100, time.Minute, Restart, MaxBackoff, 10},
		{"burst 1 gives up at once", initconfig.RestartAlways, false, nil, 0, 1, time.Minute, GiveUp, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.policy, c.clean, c.deaths, t0+time.Duration(c.now*float64(time.Second)), c.burst, c.window)
			if d.Verdict != c.verdict || d.Delay != c.delay || len(d.Deaths) != c.kept {
				t.Fatalf("got %v delay %v kept %d; want %v delay %v kept %d", d.Verdict, d.Delay, len(d.Deaths), c.verdict, c.delay, c.kept)
			}
		})
	}
}
