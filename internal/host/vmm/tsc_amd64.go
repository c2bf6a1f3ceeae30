package vmm

import (
	"fmt"
	"runtime"
	"time"
)

// rdtsc reads the time-stamp counter (tsc_amd64.s).
func rdtsc() uint64

// TSC measurement parameters.
const (
	tscSamples  = 32                    // back-to-back tries per end point
	tscInterval = 40 * time.Millisecond // each of the two measured intervals
	tscAgree    = 0.0005                // the two intervals must agree to 0.05%
	tscAttempts = 4
)

// tscPoint pairs a TSC value with the monotonic clock.
type tscPoint struct {
	tsc   uint64
	ns    int64  // monotonic nanoseconds since the measurement began
	width uint64 // TSC ticks spent bracketing the clock read
}

// HostTSCkHz measures the host's TSC frequency in kHz against the monotonic
// clock. Under TCG the guest's TSC runs at the host TSC rate, so this is the
// value for the guest kernel's tsc_early_khz= parameter.
//
// Each end point takes the tightest of several RDTSC/clock/RDTSC brackets,
// which makes preemption and interrupts harmless; the ~80 ms measurement is
// split in two halves that must agree to 0.05% (else it is retried), and the
// result is accurate to well under 0.1%.
func HostTSCkHz() (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base := time.Now()
	var last error
	for attempt := 0; attempt < tscAttempts; attempt++ {
		a := tscSample(base)
		time.Sleep(tscInterval)
		b := tscSample(base)
		time.Sleep(tscInterval)
		c := tscSample(base)
		r1, r2, all := tscRate(a, b), tscRate(b, c), tscRate(a, c)
		if r1 <= 0 || r2 <= 0 {
			last = fmt.Errorf("the TSC did not advance (%d, %d, %d)", a.tsc, b.tsc, c.tsc)
			continue
		}
		if d := (r1 - r2) / all; d > tscAgree || d < -tscAgree {
			last = fmt.Errorf("two intervals disagree: %.0f vs %.0f kHz", r1, r2)
			continue
		}
		khz := int(all + 0.5)
		if khz < 100_000 || khz > 20_000_000 {
			return 0, fmt.Errorf("measure TSC frequency: implausible %d kHz", khz)
		}
		return khz, nil
	}
	return 0, fmt.Errorf("measure TSC frequency: %w (host too busy, or no constant-rate TSC)", last)
}

// tscSample returns the tightest of tscSamples (tsc, clock) brackets; its
// tsc is the midpoint of the bracket.
func tscSample(base time.Time) tscPoint {
	best := tscPoint{width: ^uint64(0)}
	for i := 0; i < tscSamples; i++ {
		t0 := rdtsc()
		ns := int64(time.Since(base))
		t1 := rdtsc()
		if t1 < t0 {
			continue
		}
		if w := t1 - t0; w < best.width {
			best = tscPoint{tsc: t0 + w/2, ns: ns, width: w}
		}
	}
	return best
}

// tscRate is the TSC rate between two points in kHz (ticks per ms).
func tscRate(a, b tscPoint) float64 {
	if b.ns <= a.ns || b.tsc <= a.tsc {
		return 0
	}
	return float64(b.tsc-a.tsc) * 1e6 / float64(b.ns-a.ns)
}
