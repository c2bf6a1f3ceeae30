//go:build !linux

package jail

import (
	"context"
	"errors"
	"syscall"
	"time"
)

var errNotLinux = errors.New("jail: a Linux jail needs a Linux host (namespaces); on FreeBSD use --dry-run --os freebsd for a jail(8) command, elsewhere run the VM")

// Process is a running jail (Linux only).
type Process struct{}

// Start needs Linux.
func Start(ctx context.Context, p *Plan, o Options) (*Process, error) {
	return nil, errNotLinux
}

// Child needs Linux.
func Child(args []string) error { return errNotLinux }

// Pid is the host's process id of the jail's PID 1.
func (p *Process) Pid() int { return 0 }

// Done is closed once the jail has ended.
func (p *Process) Done() <-chan struct{} { return nil }

// Wait blocks until the jail has ended.
func (p *Process) Wait() (Status, error) { return Status{}, errNotLinux }

// Signal sends sig to the jail's PID 1.
func (p *Process) Signal(sig syscall.Signal) bool { return false }

// Stop asks the jail to shut down.
func (p *Process) Stop(grace time.Duration) {}

// BootTime needs Linux.
func BootTime() time.Duration { return 0 }

// PrepareData needs Linux.
func PrepareData(p *Plan) error { return errNotLinux }

// StartPasta needs Linux.
func StartPasta(ctx context.Context, pid int, ports []PortForward) (func(), error) {
	return nil, errNotLinux
}

// Walkable needs Linux.
func Walkable(dir string, uids, gids []IDMap) error { return errNotLinux }
