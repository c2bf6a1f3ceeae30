package kernel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fileIdentity is the stat data, beyond size and mtime, that tells whether
// a file was replaced or modified.
type fileIdentity struct {
	inode, device uint64
	ctimeNS       int64
}

func statIdentity(fi fs.FileInfo) fileIdentity {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileIdentity{}
	}
	return fileIdentity{inode: st.Ino, device: uint64(st.Dev), ctimeNS: st.Ctim.Nano()}
}

// lockPoll is how often a busy lock is retried.
const lockPoll = 200 * time.Millisecond

// acquireLock takes an exclusive flock(2) on path (created if needed),
// waiting until it is free or ctx is done. The kernel releases the lock
// if the process dies, so a crash never leaves a stale lock.
func acquireLock(ctx context.Context, path string, r reporter, waitMsg string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	reported := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("kernel cache: locking %s: %w", path, err)
		}
		if !reported {
			r.report(Progress{Stage: "wait", Line: waitMsg})
			reported = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// setProcessGroup runs cmd in its own process group and makes context
// cancellation kill the whole group (make and every compiler it started).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 10 * time.Second
}

// hostSupported reports whether Build can run on this OS.
func hostSupported() error { return nil }
