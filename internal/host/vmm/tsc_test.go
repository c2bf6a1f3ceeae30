package vmm

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func TestHostTSCkHz(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		if _, err := HostTSCkHz(); err == nil {
			t.Errorf("HostTSCkHz on %s: want an error", runtime.GOARCH)
		}
		testenv.SkipUnsupported(t, "the TSC measurement is amd64-only; this is %s", runtime.GOARCH)
	}
	a, err := HostTSCkHz()
	if err != nil {
		t.Fatalf("HostTSCkHz: %v", err)
	}
	b, err := HostTSCkHz()
	if err != nil {
		t.Fatalf("HostTSCkHz (second): %v", err)
	}
	t.Logf("TSC: %d kHz, %d kHz", a, b)
	if d := math.Abs(float64(a-b)) / float64(a); d > 0.005 {
		t.Errorf("two measurements differ by %.3f%%: %d vs %d kHz", d*100, a, b)
	}

	t.Run("cpuinfo", func(t *testing.T) {
		mhz, known := cpuinfoMHz(t)
		if mhz == 0 {
			testenv.SkipUnsupported(t, "/proc/cpuinfo has no \"cpu MHz\" line")
		}
		if !known {
			// Without tsc_known_freq, "cpu MHz" may be a scaled core clock.
			testenv.SkipUnsupported(t, "cpu MHz %.3f is not necessarily the TSC rate here (no tsc_known_freq flag)", mhz)
		}
		if d := math.Abs(float64(a)/1000-mhz) / mhz; d > 0.02 {
			t.Errorf("measured %d kHz, /proc/cpuinfo says %.3f MHz (%.2f%% apart)", a, mhz, d*100)
		}
	})
}

// cpuinfoMHz returns the first "cpu MHz" of /proc/cpuinfo and whether the
// kernel flags the TSC frequency as known.
func cpuinfoMHz(t *testing.T) (float64, bool) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0, false
	}
	var mhz float64
	known := false
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "cpu MHz":
			if mhz == 0 {
				mhz, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
			}
		case "flags":
			for _, f := range strings.Fields(v) {
				if f == "tsc_known_freq" {
					known = true
				}
			}
		}
	}
	return mhz, known
}
