package cgroup

import (
	"reflect"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

var all = []string{"cpuset", "cpu", "io", "memory", "pids"}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		l         initconfig.Limits
		available []string
		writes    []Write
		rlimits   []Rlimit
		needed    []string
	}{
		{"memory", initconfig.Limits{Memory: 64 << 20}, all,
			[]Write{{"memory.max", "67108864", false}, {"memory.swap.max", "0", true}, {"memory.oom.group", "1", false}},
			nil, []string{"memory"}},
		{"cpu", initconfig.Limits{CPUWeight: 50}, all, []Write{{"cpu.weight", "50", false}}, nil, []string{"cpu"}},
		{"processes with pids", initconfig.Limits{Processes: 64}, all, []Write{{"pids.max", "64", false}}, nil, []string{"pids"}},
		{"processes without pids: RLIMIT_NPROC", initconfig.Limits{Processes: 64}, []string{"cpu", "memory"},
			nil, []Rlimit{{"nproc", 64}}, []string{"pids"}},
		{"open files only: no cgroup file", initconfig.Limits{OpenFiles: 1024}, all, nil, []Rlimit{{"nofile", 1024}}, nil},
		{"everything", initconfig.Limits{Memory: 1 << 20, CPUWeight: 10000, OpenFiles: 8, Processes: 1}, all,
			[]Write{{"memory.max", "1048576", false}, {"memory.swap.max", "0", true}, {"memory.oom.group", "1", false},
				{"cpu.weight", "10000", false}, {"pids.max", "1", false}},
			[]Rlimit{{"nofile", 8}}, []string{"cpu", "memory", "pids"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Plan(tc.l, tc.available); !reflect.DeepEqual(got, tc.writes) {
				t.Errorf("Plan = %+v, want %+v", got, tc.writes)
			}
			if got := Rlimits(tc.l, tc.available); !reflect.DeepEqual(got, tc.rlimits) {
				t.Errorf("Rlimits = %v, want %v", got, tc.rlimits)
			}
			if got := Needed(tc.l); !reflect.DeepEqual(got, tc.needed) {
				t.Errorf("Needed = %v, want %v", got, tc.needed)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	l := initconfig.Limits{Memory: 1 << 20, CPUWeight: 5, Processes: 3}
	if err := Missing(l, all); err != nil {
		t.Errorf("all controllers: %v", err)
	}
	// pids has a stand-in; memory and cpu do not.
	if err := Missing(l, []string{"cpu", "memory"}); err != nil {
		t.Errorf("without pids: %v", err)
	}
	err := Missing(l, []string{"pids"})
	want := "the kernel has no cgroup v2 cpu (CONFIG_CGROUP_SCHED and CONFIG_FAIR_GROUP_SCHED) or memory (CONFIG_MEMCG) controller; the recipe's limits need it"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if err := Missing(initconfig.Limits{OpenFiles: 5}, nil); err != nil {
		t.Errorf("open_files needs no controller: %v", err)
	}
}

func TestEnable(t *testing.T) {
	svcs := []initconfig.Service{
		{Name: "a", Limits: &initconfig.Limits{Memory: 1 << 20}},
		{Name: "b"},
		{Name: "c", Limits: &initconfig.Limits{Processes: 5, OpenFiles: 3}},
	}
	if got := Enable(svcs, all); got != "+memory +pids" {
		t.Errorf("Enable = %q", got)
	}
	if got := Enable(svcs, []string{"memory"}); got != "+memory" {
		t.Errorf("Enable without pids = %q", got)
	}
	if got := Enable(svcs[1:2], all); got != "" {
		t.Errorf("Enable without limits = %q", got)
	}
	if got := ParseControllers([]byte("cpuset cpu io memory pids\n")); !reflect.DeepEqual(got, all) {
		t.Errorf("ParseControllers = %q", got)
	}
	if got := Dir("web"); got != "/sys/fs/cgroup/services/web" {
		t.Errorf("Dir = %q", got)
	}
}

func TestOOMKills(t *testing.T) {
	// As Linux 6.1 writes it (mm/memcontrol.c, memory_events_show).
	const events = "low 0\nhigh 0\nmax 1207\noom 2\noom_kill 2\noom_group_kill 2\n"
	if n, err := OOMKills([]byte(events)); err != nil || n != 2 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
	for _, bad := range []string{"", "oom 1\n", "oom_kill x\n", "oom_kill -1\n", "oom_kill\n"} {
		if _, err := OOMKills([]byte(bad)); err == nil {
			t.Errorf("OOMKills(%q) succeeded", bad)
		}
	}
}

func TestShimArgv(t *testing.T) {
	rl := []Rlimit{{"nofile", 1024}, {"nproc", 7}}
	argv := []string{"/bin/web", "--", "-x", "nofile=1"}
	a := ShimArgv(rl, argv)
	if want := []string{ShimName, "nofile=1024", "nproc=7", "--", "/bin/web", "--", "-x", "nofile=1"}; !reflect.DeepEqual(a, want) {
		t.Fatalf("ShimArgv = %q", a)
	}
	gotRL, gotArgv, err := ParseShim(a[1:])
	if err != nil || !reflect.DeepEqual(gotRL, rl) || !reflect.DeepEqual(gotArgv, argv) {
		t.Fatalf("ParseShim = %v, %q, %v", gotRL, gotArgv, err)
	}
	for _, bad := range [][]string{{}, {"nofile=1"}, {"--"}, {"core=0", "--", "/x"}, {"nofile=-1", "--", "/x"}, {"nofile", "--", "/x"}} {
		if _, _, err := ParseShim(bad); err == nil || !strings.Contains(err.Error(), ShimName) {
			t.Errorf("ParseShim(%q) = %v", bad, err)
		}
	}
}
