//go:build linux && turbo_limits

package turboinit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/guest/cgroup"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// svcLimits is how the init enforces one service's limits: its cgroup
// (open, for clone3 into it) and the rlimits its shim sets. err, when set,
// is why the limits cannot be enforced: the service is then not started.
type svcLimits struct {
	dir     string
	fd      *os.File
	memory  int64
	ooms    int64 // oom_kill count already reported
	rlimits []cgroup.Rlimit
	err     error
}

// setupLimits creates a cgroup for every service with limits and writes
// the limits into it (package cgroup's plan). A service whose limits
// cannot be enforced keeps the reason and fails to start.
func (in *Init) setupLimits() error {
	in.limits = make([]*svcLimits, len(in.cfg.Services))
	need := false
	for _, s := range in.cfg.Services {
		need = need || s.Limits != nil
	}
	if !need {
		return nil
	}
	var available []string
	b, err := os.ReadFile(filepath.Join(cgroup.Mount, "cgroup.controllers"))
	if err != nil {
		err = fmt.Errorf("cgroup v2 is not available (the kernel needs CONFIG_CGROUPS): %w", err)
	} else {
		available = cgroup.ParseControllers(b)
		err = enableControllers(cgroup.Enable(in.cfg.Services, available))
	}
	var errs []error
	for i, s := range in.cfg.Services {
		if s.Limits == nil {
			continue
		}
		l := &svcLimits{dir: cgroup.Dir(s.Name), memory: s.Limits.Memory, rlimits: cgroup.Rlimits(*s.Limits, available)}
		in.limits[i] = l
		l.err = err
		if l.err == nil {
			l.err = cgroup.Missing(*s.Limits, available)
		}
		if l.err == nil {
			l.fd, l.err = makeCgroup(l.dir, cgroup.Plan(*s.Limits, available))
		}
		if l.err != nil {
			l.err = fmt.Errorf("limits of service %s: %w", s.Name, l.err)
			errs = append(errs, l.err)
		}
	}
	return errors.Join(errs...)
}

// enableControllers enables controllers ("+memory +pids") for the
// root's children and for the services' parent cgroup's children.
func enableControllers(line string) error {
	if line == "" {
		return nil
	}
	parent := filepath.Join(cgroup.Mount, cgroup.Parent)
	if err := writeFile(filepath.Join(cgroup.Mount, "cgroup.subtree_control"), line); err != nil {
		return err
	}
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return writeFile(filepath.Join(parent, "cgroup.subtree_control"), line)
}

// makeCgroup creates dir, writes the plan into it and opens it.
func makeCgroup(dir string, plan []cgroup.Write) (*os.File, error) {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	for _, w := range plan {
		err := writeFile(filepath.Join(dir, w.File), w.Value)
		if err != nil && !(w.Optional && errors.Is(err, fs.ErrNotExist)) {
			return nil, err
		}
	}
	return os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
}

// writeFile writes value to a cgroup file in one write, as the kernel
// wants it.
func writeFile(name, value string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, name, err)
	}
	return nil
}

// limitStart prepares the start of service i: the process is cloned
// straight into the service's cgroup, and when the service has rlimits it
// starts as the init's shim, which sets them and executes argv. It
// returns the program and argv to start.
func (in *Init) limitStart(i int, attr *os.ProcAttr, argv []string) (string, []string, error) {
	if in.limits == nil { // a jail: the host's runner owns the cgroups
		if in.cfg.Services[i].Limits != nil {
			in.con.Logf("service %s: limits are not enforced in a jail (run --vmm jail); they are in a VM", in.cfg.Services[i].Name)
		}
		return argv[0], argv, nil
	}
	l := in.limits[i]
	if l == nil {
		return argv[0], argv, nil
	}
	if l.err != nil {
		return "", nil, l.err
	}
	attr.Sys.UseCgroupFD = true
	attr.Sys.CgroupFD = int(l.fd.Fd())
	if len(l.rlimits) == 0 {
		return argv[0], argv, nil
	}
	return "/proc/self/exe", cgroup.ShimArgv(l.rlimits, argv), nil
}

// limitExited explains the death of service i (how, from its wait status)
// with what its cgroup saw: a kill by the OOM killer at its memory limit.
// It also kills what the service left in its cgroup, so a restart starts
// with the whole budget.
func (in *Init) limitExited(i int, how string) string {
	if in.limits == nil {
		return how
	}
	l := in.limits[i]
	if l == nil || l.err != nil {
		return how
	}
	if err := writeFile(filepath.Join(l.dir, "cgroup.kill"), "1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		in.con.Logf("service %s: %v", in.cfg.Services[i].Name, err)
	}
	if l.memory == 0 {
		return how
	}
	b, err := os.ReadFile(filepath.Join(l.dir, "memory.events"))
	if err != nil {
		return how
	}
	n, err := cgroup.OOMKills(b)
	if err != nil || n <= l.ooms {
		return how
	}
	l.ooms = n
	return fmt.Sprintf("%s: out of memory, the kernel's OOM killer ended it at its limit of %s (memory.events oom_kill %d)",
		how, bytesize.Format(l.memory), n)
}

// runShim is the init binary started as ShimName: it sets the rlimits on
// itself and executes the service in its place. It does not return.
func runShim(args []string) {
	rl, argv, err := cgroup.ParseShim(args)
	if err == nil {
		for _, r := range rl {
			res := unix.RLIMIT_NOFILE
			if r.Resource == "nproc" {
				res = unix.RLIMIT_NPROC
			}
			if err = unix.Setrlimit(res, &unix.Rlimit{Cur: r.Value, Max: r.Value}); err != nil {
				err = fmt.Errorf("setrlimit %s %d: %w", r.Resource, r.Value, err)
				break
			}
		}
	}
	if err == nil {
		err = syscall.Exec(argv[0], argv, os.Environ())
		err = fmt.Errorf("exec %s: %w", argv[0], err)
	}
	fmt.Fprintf(os.Stderr, "turbo-init: %v\n", err)
	os.Exit(127)
}

// freezeCgroup sets service i's cgroup.freeze (cgroup v2 freezer,
// Documentation/admin-guide/cgroup-v2.rst) and, when freezing, waits
// until cgroup.events says "frozen 1". ok is false when the service has
// no cgroup of its own or the kernel has no cgroup.freeze.
func (in *Init) freezeCgroup(i int, freeze bool) (ok bool, err error) {
	if in.limits == nil || in.limits[i] == nil || in.limits[i].err != nil {
		return false, nil
	}
	dir := in.limits[i].dir
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err != nil {
		return false, nil
	}
	v := "0"
	if freeze {
		v = "1"
	}
	if err := writeFile(filepath.Join(dir, "cgroup.freeze"), v); err != nil {
		return true, err
	}
	for deadline := time.Now().Add(5 * time.Second); freeze; {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return true, err
		}
		if strings.Contains(string(b), "frozen 1") {
			return true, nil
		}
		if time.Now().After(deadline) {
			writeFile(filepath.Join(dir, "cgroup.freeze"), "0")
			return true, errors.New("cgroup.events did not say frozen within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true, nil
}
