//go:build linux

package jail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// BootTime is the host's CLOCK_BOOTTIME: a jail's init counts its uptime
// from the value the runner passes.
func BootTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// PrepareData makes the plan's data folder ready: it is created if
// missing, and a new or empty folder is given to the jail's root (the
// mapped id), as /data belongs to root in a VM. A folder with files that
// belongs to an id the jail does not map is refused rather than changed:
// its files would be unreadable or unwritable inside.
func PrepareData(p *Plan) error {
	if p.Data == "" {
		return nil
	}
	if err := os.MkdirAll(p.Data, 0o755); err != nil {
		return fmt.Errorf("jail: data folder: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p.Data, &st); err != nil {
		return fmt.Errorf("jail: data folder: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("jail: data folder %s is not a folder", p.Data)
	}
	rootUID, _ := ToHost(p.UIDMap, 0)
	rootGID, _ := ToHost(p.GIDMap, 0)
	if int(st.Uid) == rootUID {
		return nil
	}
	entries, err := os.ReadDir(p.Data)
	if err != nil {
		return fmt.Errorf("jail: data folder: %w", err)
	}
	if len(entries) > 0 || p.Rootless {
		return fmt.Errorf("jail: data folder %s belongs to uid %d, which is not the jail's root (host uid %d); use a new or empty folder, or chown -R %d:%d it", p.Data, st.Uid, rootUID, rootUID, rootGID)
	}
	if err := os.Chown(p.Data, rootUID, rootGID); err != nil {
		return fmt.Errorf("jail: data folder: %w", err)
	}
	return nil
}

// PastaBinary is Debian's passt package's user-mode network for a
// namespace.
const PastaBinary = "pasta"

// StartPasta connects the private network namespace of the jail whose
// PID 1 is pid to the host with pasta and returns how to stop it. It
// waits until pasta has configured the namespace (its PID file appears).
//
// pasta may fail to open the namespace while the jail's child is between
// its change of ids and its execve (the process is not dumpable then, and
// pasta drops its capabilities before it opens the namespace): an early
// exit is retried a few times.
func StartPasta(ctx context.Context, pid int, ports []PortForward) (stop func(), err error) {
	for try := 0; ; try++ {
		stop, err = startPasta(ctx, pid, ports)
		if err == nil || try == 4 || ctx.Err() != nil || !strings.Contains(err.Error(), "exited") {
			return stop, err
		}
		time.Sleep(time.Duration(try+1) * 20 * time.Millisecond)
	}
}

func startPasta(ctx context.Context, pid int, ports []PortForward) (stop func(), err error) {
	bin, err := exec.LookPath(PastaBinary)
	if err != nil {
		return nil, errors.New("jail: --net private needs pasta (Debian package passt): apt-get install passt")
	}
	dir, err := os.MkdirTemp("", "turbo-pasta-")
	if err != nil {
		return nil, err
	}
	pidFile := dir + "/pid"
	args := append([]string{"--pid", pidFile}, PastaArgs(pid, os.Getuid(), ports)...)
	cmd := exec.Command(bin, args...)
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("jail: pasta: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	deadline := time.After(10 * time.Second)
	for {
		if _, err := os.Stat(pidFile); err == nil {
			return stop, nil
		}
		select {
		case <-exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("jail: pasta %s: exited: %s", strings.Join(args, " "), strings.TrimSpace(errBuf.String()))
		case <-deadline:
			stop()
			return nil, errors.New("jail: pasta did not set up the network within 10 s")
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
