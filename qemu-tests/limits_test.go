package qemutests

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMemoryLimitOOMKillRestart: a service over its memory limit is ended
// by the kernel's OOM killer, the init says so and restarts it, and a
// service beside it keeps running (same pid). Both report the limits the
// init set in their cgroups and rlimits, and no Go runtime complains
// about cgroups.
func TestMemoryLimitOOMKillRestart(t *testing.T) {
	setup(t)
	recipe := writeRecipe(t, `
name: limits
version: "1"
kernel: {fragments: [builtin:virt]}
cmdline: [quiet]
services:
  - name: hog
    binary: testapp
    args: [hog]
    restart_limit: {burst: 10, interval: 60s}
    limits: {memory: 24MiB, cpu_weight: 50, open_files: 100, processes: 64}
  - name: steady
    binary: testapp
    args: [steady]
    limits: {memory: 64MiB, processes: 32}
`, map[string]string{"testapp": "@testapp"})
	out := build(t, recipe)
	v := startVM(t, out, "--timeout", "300s")
	// memory.swap.max is 0, or missing without CONFIG_SWAP; cpu.weight is
	// missing where the cpu controller is not enabled.
	steady := v.waitFor(`steady: steady start pid=(\d+) (.*)`, bootTimeout)
	if !regexp.MustCompile(`^cgroup=/services/steady memory.max=67108864 memory.swap.max=(0|none) memory.oom.group=1 cpu.weight=(none|100) pids.max=32 nofile=\d+/\d+ nproc=`).MatchString(steady[2]) {
		t.Errorf("steady's limits: %s", steady[2])
	}
	// What automaxprocs reads to set GOMAXPROCS is there: the cgroup2
	// mount, the cgroup and its cpu.max.
	if !strings.HasSuffix(steady[2], " cpu.max=max/100000") {
		t.Errorf("steady cannot read its CPU quota: %s", steady[2])
	}
	hog := v.waitFor(`hog: hog start pid=(\d+) (.*)`, 30*time.Second)
	if !regexp.MustCompile(`^cgroup=/services/hog memory.max=25165824 memory.swap.max=(0|none) memory.oom.group=1 cpu.weight=50 pids.max=64 nofile=100/100 nproc=`).MatchString(hog[2]) {
		t.Errorf("hog's limits: %s", hog[2])
	}
	// The kernel counts a memory.oom.group kill twice in oom_kill (the
	// victim, then the group's member): 2 per death here.
	v.waitFor(`turbo-init: service hog killed by signal killed: out of memory, the kernel's OOM killer ended it at its limit of 24\.0 MiB \(memory\.events oom_kill \d+\); restarting in 1s`, 60*time.Second)
	v.waitFor(`hog: hog start pid=(\d+)`, 30*time.Second)
	v.waitFor(`turbo-init: service hog killed by signal killed: out of memory, .*\(memory\.events oom_kill \d+\); restarting in 2s`, 60*time.Second)
	// steady is still the process it was before both kills.
	v.waitFor(`steady: steady alive pid=`+steady[1]+`$`, 10*time.Second)
	console := v.console()
	for _, bad := range []string{"service steady", "GOMAXPROCS", "limits of service", "cgroup2"} {
		for _, l := range strings.Split(console, "\n") {
			if strings.Contains(l, bad) {
				t.Errorf("console line %q (mentions %q)", l, bad)
			}
		}
	}
	t.Logf("hog and steady limits:\n%s\n%s", hog[0], steady[0])
}
