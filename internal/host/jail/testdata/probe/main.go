//go:build linux

// Command probe tries one way out of a jail and reports: "ok: ..." and
// exit 0 when the way is closed, "ESCAPE: ..." and exit 1 when it is
// open. The escape tests run it inside a jail (must be ok) and, as a
// control, on the host (must report the escape), so each check is shown
// able to fail.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: probe CHECK ARGS...")
		os.Exit(2)
	}
	var escapes []string
	escape := func(format string, a ...any) { escapes = append(escapes, fmt.Sprintf(format, a...)) }
	args := os.Args[2:]
	switch os.Args[1] {
	case "hostfile": // SECRET: a file only the host has
		if b, err := os.ReadFile(args[0]); err == nil {
			escape("read host file %s: %q", args[0], b)
		}
	case "symlink": // PREFIX SECRET: through the image's links to / and ..
		for _, link := range []string{"escape", "up", "etc/deep", "up/up/up"} {
			p := filepath.Join(args[0], link) + args[1]
			if b, err := os.ReadFile(p); err == nil {
				escape("read %s through %s: %q", args[1], p, b)
			}
		}
	case "proc": // HOSTPID
		ents, _ := os.ReadDir("/proc")
		var pids []string
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, e.Name())
			}
		}
		if _, err := os.Stat("/proc/" + args[0]); err == nil {
			escape("host pid %s is visible in /proc", args[0])
		}
		if len(pids) > 4 {
			escape("%d processes visible: %s", len(pids), strings.Join(pids, " "))
		}
	case "ptrace": // HOSTPID
		runtime.LockOSThread()
		pid, _ := strconv.Atoi(args[0])
		targets := []int{pid}
		if os.Getuid() != 0 {
			targets = append(targets, 1) // the jail's init, another user
		}
		for _, t := range targets {
			if err := unix.PtraceAttach(t); err == nil {
				var ws unix.WaitStatus
				unix.Wait4(t, &ws, unix.WALL, nil)
				unix.PtraceDetach(t)
				escape("ptrace attached to pid %d", t)
			}
		}
	case "dev":
		allowed := map[string]bool{}
		for _, d := range strings.Split(args[0], ",") {
			allowed[d] = true
		}
		ents, _ := os.ReadDir("/dev")
		for _, e := range ents {
			p := "/dev/" + e.Name()
			var st unix.Stat_t
			if unix.Lstat(p, &st) != nil {
				continue
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFBLK:
				escape("block device %s", p)
			case unix.S_IFCHR:
				if !allowed[e.Name()] {
					escape("character device %s (%d:%d)", p, unix.Major(st.Rdev), unix.Minor(st.Rdev))
				}
			}
		}
		for _, p := range []string{"/dev/mem", "/dev/kmsg", "/dev/vda", "/dev/sda", "/dev/kvm", "/sys/block", "/sys/devices", "/sys/class"} {
			if _, err := os.Stat(p); err == nil {
				escape("%s exists", p)
			}
		}
	case "root":
		if b, err := os.ReadFile("/proc/self/uid_map"); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				f := strings.Fields(line)
				if len(f) == 3 && f[1] == "0" {
					escape("uid map %q reaches host root", line)
				}
			}
		}
		status, _ := os.ReadFile("/proc/self/status")
		for _, line := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "NoNewPrivs":
				if v != "1" {
					escape("no_new_privs is %s: a set-id file could raise privileges", v)
				}
			case "CapEff", "CapPrm":
				if os.Getuid() != 0 && strings.Trim(v, "0") != "" {
					escape("%s is %s for a non-root user", k, v)
				}
			}
		}
		if os.Getuid() != 0 {
			if err := unix.Setresuid(0, 0, 0); err == nil {
				escape("setresuid(0) succeeded")
			}
		}
		if err := unix.Mount("none", "/tmp", "tmpfs", 0, ""); err == nil {
			escape("mounted a tmpfs")
		}
	case "seccomp": // NAMES: the calls that must reach the kernel's own checks without the filter
		must := map[string]bool{}
		for _, n := range strings.Split(args[0], ",") {
			must[n] = true
		}
		// Arguments the kernel refuses early with its own errno (or,
		// for userfaultfd in user mode, accepts), not EPERM: through the
		// filter every one is EPERM (clone3 ENOSYS).
		calls := []struct {
			name string
			nr   uintptr
			args [6]uintptr
			want unix.Errno
		}{
			{"bpf", unix.SYS_BPF, [6]uintptr{0xffff}, unix.EPERM},
			{"userfaultfd", unix.SYS_USERFAULTFD, [6]uintptr{1 | unix.O_CLOEXEC /* UFFD_USER_MODE_ONLY */}, unix.EPERM},
			{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, [6]uintptr{0, 0, ^uintptr(0), ^uintptr(0), ^uintptr(0)}, unix.EPERM},
			{"keyctl", unix.SYS_KEYCTL, [6]uintptr{0xdead}, unix.EPERM},
			{"add_key", unix.SYS_ADD_KEY, [6]uintptr{}, unix.EPERM},
			{"request_key", unix.SYS_REQUEST_KEY, [6]uintptr{}, unix.EPERM},
			{"mount", unix.SYS_MOUNT, [6]uintptr{}, unix.EPERM},
			{"umount2", unix.SYS_UMOUNT2, [6]uintptr{0, 0xffff}, unix.EPERM},
			{"setns", unix.SYS_SETNS, [6]uintptr{^uintptr(0)}, unix.EPERM},
			{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, [6]uintptr{^uintptr(0)}, unix.EPERM},
			{"clone3", unix.SYS_CLONE3, [6]uintptr{}, unix.ENOSYS},
			// Refused by the kernel's own capability check too; the
			// filter answers first.
			{"kexec_load", unix.SYS_KEXEC_LOAD, [6]uintptr{0, 0, 0, 0x8000}, unix.EPERM},
			{"init_module", unix.SYS_INIT_MODULE, [6]uintptr{}, unix.EPERM},
			{"finit_module", unix.SYS_FINIT_MODULE, [6]uintptr{^uintptr(0)}, unix.EPERM},
		}
		for _, c := range calls {
			r, _, errno := unix.Syscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
			if errno == 0 {
				unix.Close(int(r))
			}
			if errno != c.want {
				got := "success"
				if errno != 0 {
					got = errno.Error()
				}
				if must[c.name] {
					escape("%s reached the kernel: %s", c.name, got)
				} else {
					fmt.Printf("note: %s: %s\n", c.name, got)
				}
			}
		}
		for n := range must {
			found := false
			for _, c := range calls {
				found = found || c.name == n
			}
			if !found {
				fmt.Println("unknown call", n)
				os.Exit(2)
			}
		}
	default:
		fmt.Println("unknown check", os.Args[1])
		os.Exit(2)
	}
	if len(escapes) > 0 {
		for _, e := range escapes {
			fmt.Println("ESCAPE: " + e)
		}
		os.Exit(1)
	}
	fmt.Println("ok: " + os.Args[1])
}
