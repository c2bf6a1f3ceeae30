package main

import (
	"strconv"
	"strings"
)

// Console markers the benchmark's programs print.
const (
	// markReady is printed by bench/app on its first HTTP request.
	markReady = "BENCH_READY"
	// markFloor is printed by the floor init.
	markFloor = "BENCH_FLOOR"
	// markStart is printed by bench/app once it listens.
	markStart = "BENCH_START"
)

// ParseBenchLine finds "BENCH_READY uptime_ms=N", "BENCH_START
// uptime_ms=N" or "BENCH_FLOOR uptime_ms=N" in a console line (anywhere:
// turbo-init prefixes service output with "hello: ") and returns the
// marker and N.
func ParseBenchLine(line string) (mark string, uptimeMS int64, ok bool) {
	for _, m := range []string{markReady, markStart, markFloor} {
		i := strings.Index(line, m+" ")
		if i < 0 {
			continue
		}
		rest := line[i+len(m)+1:]
		v, found := strings.CutPrefix(strings.TrimLeft(rest, " "), "uptime_ms=")
		if !found {
			return "", 0, false
		}
		end := 0
		for end < len(v) && v[end] >= '0' && v[end] <= '9' {
			end++
		}
		if end == 0 || end > 15 || end < len(v) && v[end] != ' ' && v[end] != '\r' {
			return "", 0, false
		}
		n, err := strconv.ParseInt(v[:end], 10, 64)
		if err != nil {
			return "", 0, false
		}
		return m, n, true
	}
	return "", 0, false
}
