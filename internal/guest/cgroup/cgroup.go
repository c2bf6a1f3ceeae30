// Package cgroup is the pure half of the init's resource limits: from a
// service's initconfig.Limits it plans the cgroup v2 files to write, the
// controllers to enable and the rlimits to set, and it reads back what
// the kernel reports (cgroup.controllers, memory.events). It does no I/O,
// so the rules are table-tested on any OS; package turboinit carries the
// plan out (built with the turbo_limits tag).
//
// The layout follows the kernel's cgroup v2 rules
// (Documentation/admin-guide/cgroup-v2.rst): cgroup2 is mounted at Mount;
// a controller is enabled for children by "+name" in the parent's
// cgroup.subtree_control, from the root down; processes live only in
// leaves ("no internal process" rule; the root is exempt, which is where
// the init stays). Each service with limits gets the leaf
// Mount/services/NAME, and is started in it by clone3(CLONE_INTO_CGROUP)
// (Go's SysProcAttr.UseCgroupFD), so not one instruction of it runs
// outside its limits.
package cgroup

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// Mount is where the init mounts cgroup2 (the place systemd, runc and Go's
// runtime look for it).
const Mount = "/sys/fs/cgroup"

// Parent is the cgroup holding one leaf per service with limits.
const Parent = "services"

// Dir is the cgroup directory of service name.
func Dir(name string) string { return path.Join(Mount, Parent, name) }

// Controllers of cgroup v2 the limits use.
const (
	Memory = "memory"
	CPU    = "cpu"
	Pids   = "pids"
)

// Needed returns the controllers l uses, sorted.
func Needed(l initconfig.Limits) []string {
	var out []string
	if l.CPUWeight != 0 {
		out = append(out, CPU)
	}
	if l.Memory != 0 {
		out = append(out, Memory)
	}
	if l.Processes != 0 {
		out = append(out, Pids)
	}
	return out
}

// kernelOption names the kernel option behind each controller, for
// messages.
var kernelOption = map[string]string{
	Memory: "CONFIG_MEMCG",
	CPU:    "CONFIG_CGROUP_SCHED and CONFIG_FAIR_GROUP_SCHED",
	Pids:   "CONFIG_CGROUP_PIDS",
}

// Missing returns an error naming each controller l needs that is not in
// available (the root's cgroup.controllers) and cannot be replaced: the
// pids controller falls back to RLIMIT_NPROC (see Rlimits), the others
// have no stand-in, and a limit the kernel cannot enforce is refused
// rather than ignored.
func Missing(l initconfig.Limits, available []string) error {
	var missing []string
	for _, c := range Needed(l) {
		if c == Pids || slices.Contains(available, c) {
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (%s)", c, kernelOption[c]))
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the kernel has no cgroup v2 %s controller; the recipe's limits need it", strings.Join(missing, " or "))
}

// ParseControllers reads a cgroup.controllers (or cgroup.subtree_control)
// file: controller names separated by spaces, one line.
func ParseControllers(data []byte) []string {
	return strings.Fields(string(data))
}

// Enable returns the line to write to cgroup.subtree_control of the root
// and of Parent so that the leaves get the controllers the services need
// and the kernel has: "+cpu +memory +pids". It is "" when none is needed.
func Enable(services []initconfig.Service, available []string) string {
	want := map[string]bool{}
	for _, s := range services {
		if s.Limits != nil {
			for _, c := range Needed(*s.Limits) {
				want[c] = true
			}
		}
	}
	var out []string
	for _, c := range []string{CPU, Memory, Pids} {
		if want[c] && slices.Contains(available, c) {
			out = append(out, "+"+c)
		}
	}
	return strings.Join(out, " ")
}

// Write is one write to a file in a service's cgroup.
type Write struct {
	File, Value string
	// Optional: the file may be missing (memory.swap.max without
	// CONFIG_SWAP); the write is then skipped.
	Optional bool
}

// Plan returns the writes that set l on a service's cgroup, in order.
// available is the root's cgroup.controllers: without the pids
// controller, processes is left to Rlimits.
//
//   - memory: memory.max, and memory.swap.max 0 so the limit is not
//     stretched into swap; memory.oom.group 1 so the OOM killer ends
//     the whole service, not one of its processes, and the supervisor
//     sees it die and restarts it whole.
//   - cpu_weight: cpu.weight.
//   - processes: pids.max (processes and threads).
func Plan(l initconfig.Limits, available []string) []Write {
	var w []Write
	if l.Memory != 0 {
		w = append(w,
			Write{File: "memory.max", Value: strconv.FormatInt(l.Memory, 10)},
			Write{File: "memory.swap.max", Value: "0", Optional: true},
			Write{File: "memory.oom.group", Value: "1"})
	}
	if l.CPUWeight != 0 {
		w = append(w, Write{File: "cpu.weight", Value: strconv.Itoa(l.CPUWeight)})
	}
	if l.Processes != 0 && slices.Contains(available, Pids) {
		w = append(w, Write{File: "pids.max", Value: strconv.Itoa(l.Processes)})
	}
	return w
}

// Rlimit is one resource limit, set as both soft and hard limit.
type Rlimit struct {
	// Resource is "nofile" (RLIMIT_NOFILE) or "nproc" (RLIMIT_NPROC).
	Resource string
	Value    uint64
}

// Rlimits returns the rlimits l needs: RLIMIT_NOFILE for open_files, and
// RLIMIT_NPROC for processes only when the kernel has no pids controller
// (available lacks it). RLIMIT_NPROC is a weaker stand-in: it counts every
// process of the service's real user id, and the kernel does not apply it
// to root (setrlimit(2), "RLIMIT_NPROC").
func Rlimits(l initconfig.Limits, available []string) []Rlimit {
	var out []Rlimit
	if l.OpenFiles != 0 {
		out = append(out, Rlimit{"nofile", uint64(l.OpenFiles)})
	}
	if l.Processes != 0 && !slices.Contains(available, Pids) {
		out = append(out, Rlimit{"nproc", uint64(l.Processes)})
	}
	return out
}

// OOMKills reads the oom_kill count of a memory.events file ("low 0\nhigh
// 0\nmax 12\noom 1\noom_kill 1\n..."): how many processes of the cgroup
// the OOM killer ended.
func OOMKills(memoryEvents []byte) (int64, error) {
	for _, line := range bytes.Split(memoryEvents, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(" "))
		if !ok || string(k) != "oom_kill" {
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("memory.events: bad oom_kill %q", v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("memory.events has no oom_kill line")
}

// ShimName is argv[0] of the init binary started as the rlimit shim: a
// service with rlimits is started as the init's own program
// (/proc/self/exe) with ShimArgv, which sets the rlimits on itself and
// then executes the service in its place (same pid, same cgroup). Go's
// os.StartProcess has no hook between fork and exec, and setting the
// limits on the init itself would limit PID 1 and race its other
// goroutines.
const ShimName = "turbo-init-rlimits"

// ShimArgv returns the shim's argv for rlimits and the service's argv:
// ShimName, one "resource=value" per rlimit, "--", then argv.
func ShimArgv(rl []Rlimit, argv []string) []string {
	out := []string{ShimName}
	for _, r := range rl {
		out = append(out, r.Resource+"="+strconv.FormatUint(r.Value, 10))
	}
	return append(append(out, "--"), argv...)
}

// ParseShim reads the arguments after ShimName back into the rlimits and
// the service's argv.
func ParseShim(args []string) ([]Rlimit, []string, error) {
	var rl []Rlimit
	for i, a := range args {
		if a == "--" {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("%s: no program after --", ShimName)
			}
			return rl, args[i+1:], nil
		}
		k, v, ok := strings.Cut(a, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil || (k != "nofile" && k != "nproc") {
			return nil, nil, fmt.Errorf("%s: bad argument %q", ShimName, a)
		}
		rl = append(rl, Rlimit{k, n})
	}
	return nil, nil, fmt.Errorf("%s: no -- before the program", ShimName)
}
