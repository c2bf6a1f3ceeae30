// Command testapp is a multi-purpose service for the acceptance tests: it
// says a line, crashes, leaves orphans behind, counts zombies or stops slowly, writes
// a bbolt database continuously or scrubs it, as its first argument asks.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/turbo-image/turbo-image/qemu-tests/testapp/boltapp"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: testapp say WORDS|crash|orphans N|sleeper D|zombies|graceful|whoami|httpget URL|hog|steady|bolt DB|boltscrub DB")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "say":
		// Prints its arguments and its uid, then exits 0 (a data.quiesce or
		// data.resume program whose run the console shows).
		fmt.Printf("testapp say: %s uid=%d\n", strings.Join(os.Args[2:], " "), os.Getuid())
	case "crash":
		// Exits at once with an error, every time.
		fmt.Printf("start uptime_ms=%d\n", uptimeMS())
		os.Exit(1)
	case "orphans":
		n, _ := strconv.Atoi(os.Args[2])
		for i := 0; i < n; i++ {
			cmd := exec.Command(os.Args[0], "sleeper", "300ms")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := cmd.Start(); err != nil {
				fmt.Println("start:", err)
				os.Exit(1)
			}
		}
		// Exit without waiting: the children become orphans of PID 1.
		fmt.Printf("left %d orphans\n", n)
	case "sleeper":
		d, _ := time.ParseDuration(os.Args[2])
		time.Sleep(d)
	case "zombies":
		// Reports zombie processes once the orphans had time to exit.
		time.Sleep(2 * time.Second)
		for {
			z, total := countZombies()
			fmt.Printf("zombies=%d processes=%d\n", z, total)
			time.Sleep(500 * time.Millisecond)
		}
	case "graceful":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Println("waiting for SIGTERM")
		<-sig
		fmt.Println("got SIGTERM, saving state")
		time.Sleep(200 * time.Millisecond)
		fmt.Println("state saved")
	case "whoami":
		// Reports what the init gave the service, and a file's metadata.
		wd, _ := os.Getwd()
		fmt.Printf("uid=%d gid=%d cwd=%s FOO=%s args=%v\n", os.Getuid(), os.Getgid(), wd, os.Getenv("FOO"), os.Args[2:])
		if st, err := os.Stat("/etc/secret"); err == nil {
			sys := st.Sys().(*syscall.Stat_t)
			fmt.Printf("secret mode=%o owner=%d:%d\n", st.Mode().Perm(), sys.Uid, sys.Gid)
		}
		time.Sleep(time.Hour)
	case "httpget":
		// An exec health check: exit 0 if the URL answers 200.
		resp, err := http.Get(os.Args[2])
		if err != nil || resp.StatusCode != 200 {
			os.Exit(1)
		}
	case "hog":
		// Reports its limits, then allocates (and touches) memory until
		// the OOM killer ends it.
		fmt.Printf("hog start pid=%d %s\n", os.Getpid(), limits())
		var hold [][]byte
		for mib := 1; ; mib++ {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = byte(i)
			}
			hold = append(hold, b)
			if mib%8 == 0 {
				fmt.Printf("hog holds %d MiB\n", mib)
			}
			time.Sleep(5 * time.Millisecond)
		}
	case "steady":
		// Reports its limits, then that it is alive, with its pid, every
		// 500 ms.
		fmt.Printf("steady start pid=%d %s\n", os.Getpid(), limits())
		for {
			time.Sleep(500 * time.Millisecond)
			fmt.Printf("steady alive pid=%d\n", os.Getpid())
		}
	case "bolt":
		// The continuous writer of the data round trip (package boltapp):
		// checks the database it finds, then commits a transaction every
		// 5 ms, forever, saying so every 100.
		p := os.Args[2]
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Println("bolt:", err)
			os.Exit(1)
		}
		_, statErr := os.Stat(p)
		db, err := boltapp.Open(p, false)
		if err != nil {
			fmt.Println("bolt open:", err)
			os.Exit(1)
		}
		if statErr != nil {
			fmt.Println("bolt new", p)
		} else if s, err := boltapp.Check(db); err != nil {
			fmt.Printf("bolt open %s check=FAILED: %v\n", p, err)
			os.Exit(1)
		} else {
			fmt.Printf("bolt open %s %s check=ok\n", p, s)
		}
		for {
			n, err := boltapp.Step(db)
			if err != nil {
				fmt.Println("bolt write:", err)
				os.Exit(1)
			}
			if n%100 == 0 {
				fmt.Printf("bolt wrote counter=%d\n", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	case "boltscrub":
		// The recipe's data.scrub: masks the addresses into a compacted
		// copy; exits 1 if the database fails its check.
		s, err := boltapp.Scrub(os.Args[2])
		if err != nil {
			fmt.Println("boltscrub:", err)
			os.Exit(1)
		}
		fmt.Printf("bolt scrubbed %s %s\n", os.Args[2], s)
	default:
		fmt.Println("unknown mode", os.Args[1])
		os.Exit(2)
	}
}

// limits reports the process's cgroup, the limits in it and its
// RLIMIT_NOFILE and RLIMIT_NPROC, as key=value words.
func limits() string {
	cg, _ := os.ReadFile("/proc/self/cgroup")
	path := strings.TrimPrefix(strings.TrimSpace(string(cg)), "0::")
	out := []string{"cgroup=" + path}
	for _, f := range []string{"memory.max", "memory.swap.max", "memory.oom.group", "cpu.weight", "pids.max"} {
		b, err := os.ReadFile("/sys/fs/cgroup" + path + "/" + f)
		v := strings.TrimSpace(string(b))
		if err != nil {
			v = "none"
		}
		out = append(out, f+"="+v)
	}
	for _, r := range []struct {
		name string
		res  int
	}{{"nofile", syscall.RLIMIT_NOFILE}, {"nproc", 6 /* RLIMIT_NPROC */}} {
		var l syscall.Rlimit
		syscall.Getrlimit(r.res, &l)
		out = append(out, fmt.Sprintf("%s=%d/%d", r.name, l.Cur, l.Max))
	}
	return strings.Join(append(out, "cpu.max="+cpuQuota()), " ")
}

// cpuQuota finds the CPU quota the way go.uber.org/automaxprocs does (the
// library big Go servers use, which logs "failed to set GOMAXPROCS" when
// it cannot): the cgroup2 mount in /proc/self/mountinfo, the process's
// cgroup in /proc/self/cgroup, then cpu.max there, shown as QUOTA/PERIOD.
func cpuQuota() string {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "failed:" + err.Error()
	}
	mnt := ""
	for _, l := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if f := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(f) >= 5 {
			mnt = f[4]
		}
	}
	if mnt == "" {
		return "failed:no-cgroup2-mount"
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "failed:" + err.Error()
	}
	b, err := os.ReadFile(mnt + strings.TrimPrefix(strings.TrimSpace(string(cg)), "0::") + "/cpu.max")
	if err != nil {
		return "failed:" + strings.ReplaceAll(err.Error(), " ", "_")
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "/")
}

func uptimeMS() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return -1
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return int64(f * 1000)
}

func countZombies() (zombies, total int) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		total++
		// pid (comm) STATE ...; comm may contain spaces, so cut at the last ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && s[i+2] == 'Z' {
			zombies++
		}
	}
	return zombies, total
}
