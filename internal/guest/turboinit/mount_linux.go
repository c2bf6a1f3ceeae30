//go:build linux

package turboinit

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mount is one kernel file system mount.
type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// baseMounts are mounted first, on the initramfs.
var baseMounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
}

func (in *Init) mountBase() error {
	var errs []error
	for _, m := range baseMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil && err != unix.EBUSY {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	// cgroup v2: per-service limits, and the runtimes that read their
	// limits from it (Go's GOMAXPROCS). A kernel without cgroups has no
	// cgroup2 file system (ENODEV) nor /sys/fs/cgroup (ENOENT): no error.
	// Not fatal either way: services without limits do not need it.
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil &&
		err != unix.ENODEV && err != unix.ENOENT && err != unix.EBUSY {
		in.con.Logf("mount cgroup2 on /sys/fs/cgroup: %v", err)
	}
	// The kernel opened /dev/console from the initramfs for our stdio;
	// nothing to redo. /dev/fd and friends for programs that expect them.
	for link, target := range map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"} {
		os.Symlink(target, link)
	}
	return errors.Join(errs...)
}
