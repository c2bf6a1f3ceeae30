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

func TestParseDebugLine(t *testing.T) {
	tests := []struct {
		line          string
		kind, service string
		ms            int64
		ok            bool
	}{
		{"turbo-init: started at uptime 312 ms", debugInit, "", 312, true},
		{"turbo-init: started at uptime 312 ms\r", debugInit, "", 312, true},
		{"turbo-init: service caddy started (pid 57) at uptime 340 ms", debugStarted, "caddy", 340, true},
		{"turbo-init: service caddy healthy at uptime 3540 ms", debugHealthy, "caddy", 3540, true},
		{"[  1.2] turbo-init: service am healthy at uptime 0 ms", debugHealthy, "am", 0, true},
		{"turbo-init: service caddy started (pid x) at uptime 340 ms", "", "", 0, false},
		{"turbo-init: service caddy started (pid 5 at uptime 340 ms", "", "", 0, false},
		{"turbo-init: service  healthy at uptime 1 ms", "", "", 0, false},
		{"turbo-init: service a b healthy at uptime 1 ms", "", "", 0, false},
		{"turbo-init: service caddy healthy again", "", "", 0, false},
		{"turbo-init: started at uptime -3 ms", "", "", 0, false},
		{"turbo-init: started at uptime 1e3 ms", "", "", 0, false},
		{"turbo-init: started at uptime  ms", "", "", 0, false},
		{"turbo-init: started at uptime 9999999999999999 ms", "", "", 0, false},
		{"turbo-init: step \"mount data\" took 44ms (err=<nil>)", "", "", 0, false},
		{"caddy: started at uptime 5 ms", "", "", 0, false},
		{"", "", "", 0, false},
	}
	for _, tt := range tests {
		kind, svc, ms, ok := ParseDebugLine(tt.line)
		if kind != tt.kind || svc != tt.service || ms != tt.ms || ok != tt.ok {
			t.Errorf("ParseDebugLine(%q) = %q, %q, %d, %v; want %q, %q, %d, %v", tt.line, kind, svc, ms, ok, tt.kind, tt.service, tt.ms, tt.ok)
		}
	}
}

func FuzzParseDebugLine(f *testing.F) {
	f.Add("turbo-init: service caddy started (pid 57) at uptime 340 ms")
	f.Add("turbo-init: started at uptime 312 ms")
	f.Add("turbo-init: service x healthy at uptime 99999999999999999999 ms")
	f.Fuzz(func(t *testing.T, line string) {
		kind, svc, ms, ok := ParseDebugLine(line)
		if !ok {
			return
		}
		if ms < 0 || !strings.Contains(line, "turbo-init: ") || (kind == debugInit) != (svc == "") || strings.Contains(svc, " ") {
			t.Fatalf("ParseDebugLine(%q) = %q, %q, %d", line, kind, svc, ms)
		}
	})
}
