package main

import (
	"strings"
	"testing"
)

func TestParseBenchLine(t *testing.T) {
	tests := []struct {
		line string
		mark string
		ms   int64
		ok   bool
	}{
		{"BENCH_READY uptime_ms=412", markReady, 412, true},
		{"hello: BENCH_READY uptime_ms=1047\r", markReady, 1047, true},
		{"[    3.1] x BENCH_FLOOR uptime_ms=288 extra", markFloor, 288, true},
		{"BENCH_READY  uptime_ms=5", markReady, 5, true},
		{"hello: BENCH_START uptime_ms=380", markStart, 380, true},
		{"BENCH_READY uptime_ms=", "", 0, false},
		{"BENCH_READY uptime_ms=12x", "", 0, false},
		{"BENCH_READY uptime_ms=-3", "", 0, false},
		{"BENCH_READY uptime=3", "", 0, false},
		{"BENCH_READYuptime_ms=3", "", 0, false},
		{"BENCH_READY uptime_ms=9999999999999999", "", 0, false},
		{"TURBO_READY name=hello version=1 uptime_ms=5", "", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		mark, ms, ok := ParseBenchLine(tt.line)
		if mark != tt.mark || ms != tt.ms || ok != tt.ok {
			t.Errorf("ParseBenchLine(%q) = %q, %d, %v; want %q, %d, %v", tt.line, mark, ms, ok, tt.mark, tt.ms, tt.ok)
		}
	}
}

func FuzzParseBenchLine(f *testing.F) {
	f.Add("hello: BENCH_READY uptime_ms=412")
	f.Add("BENCH_FLOOR uptime_ms=288\r")
	f.Add("BENCH_READY uptime_ms=1e3")
	f.Fuzz(func(t *testing.T, line string) {
		mark, ms, ok := ParseBenchLine(line)
		if !ok {
			return
		}
		if ms < 0 || (mark != markReady && mark != markStart && mark != markFloor) || !strings.Contains(line, mark) {
			t.Fatalf("ParseBenchLine(%q) = %q, %d", line, mark, ms)
		}
	})
}
