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
	// markExec is printed by the app-as-init floor's shim just before it
	// executes the app (bench/bigapp.go).
	markExec = "BENCH_EXEC"
)

// ParseBenchLine finds "BENCH_READY uptime_ms=N", "BENCH_START
// uptime_ms=N", "BENCH_FLOOR uptime_ms=N" or "BENCH_EXEC uptime_ms=N" in a
// console line (anywhere:
// turbo-init prefixes service output with "hello: ") and returns the
// marker and N.
func ParseBenchLine(line string) (mark string, uptimeMS int64, ok bool) {
	for _, m := range []string{markReady, markStart, markFloor, markExec} {
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

// Kinds of turbo-init's turbo.debug timing lines (ParseDebugLine).
const (
	// debugInit: "turbo-init: started at uptime N ms", the init's first
	// moment (time to init).
	debugInit = "init"
	// debugStarted: "turbo-init: service NAME started (pid P) at uptime N ms".
	debugStarted = "started"
	// debugHealthy: "turbo-init: service NAME healthy at uptime N ms", the
	// service's first passing health check.
	debugHealthy = "healthy"
)

// ParseDebugLine reads one of turbo-init's turbo.debug timing lines
// (internal/guest/turboinit and internal/guest/supervise print them) and
// returns its kind, the service it names ("" for debugInit) and the
// uptime in ms. Other lines, and lines whose number is not a plain
// non-negative integer, give ok false.
func ParseDebugLine(line string) (kind, service string, uptimeMS int64, ok bool) {
	const prefix = "turbo-init: "
	i := strings.Index(line, prefix)
	if i < 0 {
		return "", "", 0, false
	}
	rest := strings.TrimRight(line[i+len(prefix):], "\r")
	num, found := strings.CutSuffix(rest, " ms")
	if !found {
		return "", "", 0, false
	}
	head, n, found := strings.Cut(num, " at uptime ")
	if !found || n == "" || len(n) > 15 || strings.Trim(n, "0123456789") != "" {
		return "", "", 0, false
	}
	ms, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return "", "", 0, false
	}
	if head == "started" {
		return debugInit, "", ms, true
	}
	svc, found := strings.CutPrefix(head, "service ")
	if !found {
		return "", "", 0, false
	}
	if name, found := strings.CutSuffix(svc, " healthy"); found && name != "" && !strings.Contains(name, " ") {
		return debugHealthy, name, ms, true
	}
	name, pid, found := strings.Cut(svc, " started (pid ")
	if found && name != "" && !strings.Contains(name, " ") && strings.HasSuffix(pid, ")") && len(pid) > 1 && strings.Trim(pid[:len(pid)-1], "0123456789") == "" {
		return debugStarted, name, ms, true
	}
	return "", "", 0, false
}
