//go:build linux

package jail

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Process is a running jail.
type Process struct {
	pid    int
	done   chan struct{}
	mu     sync.Mutex
	ended  bool
	stop   bool
	status Status
	err    error
}

// Start starts the plan's jail and returns at once.
func Start(ctx context.Context, p *Plan, o Options) (*Process, error) {
	self := o.Self
	if self == "" {
		// The running binary through its magic link: the child executes
		// it as the jail's root, which may not walk to its path (root's
		// go install puts it under /root, mode 0700).
		self = "/proc/self/exe"
	}
	cmd, err := command(p, self)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("jail: start: %w", err)
	}
	proc := &Process{pid: cmd.Process.Pid, done: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		copyLines(r, o.Console, o.OnLine)
		close(copied)
	}()
	go func() {
		werr := cmd.Wait()
		proc.mu.Lock()
		proc.ended = true
		proc.mu.Unlock()
		// Once PID 1 is gone the kernel kills the whole PID namespace;
		// the pipe ends when the last of them is gone.
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
			r.Close()
			<-copied
		}
		r.Close()
		st := Status{Code: -1}
		if ps := cmd.ProcessState; ps != nil {
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				st.Signal = ws.Signal().String()
			} else {
				st.Code = ps.ExitCode()
			}
		} else if werr != nil {
			proc.err = fmt.Errorf("jail: wait: %w", werr)
		}
		proc.mu.Lock()
		st.Stopped = proc.stop
		proc.mu.Unlock()
		proc.status = st
		close(proc.done)
	}()
	grace := o.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	go func() {
		select {
		case <-ctx.Done():
			proc.Stop(grace)
		case <-proc.done:
		}
	}()
	return proc, nil
}

// Pid is the host's process id of the jail's PID 1.
func (p *Process) Pid() int { return p.pid }

// Done is closed once the jail has ended and its output is drained.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait blocks until the jail has ended.
func (p *Process) Wait() (Status, error) {
	<-p.done
	return p.status, p.err
}

// Signal sends sig to the jail's PID 1 unless it has ended; it reports
// whether it was still running.
func (p *Process) Signal(sig syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return false
	}
	p.stop = true
	syscall.Kill(p.pid, sig)
	return true
}

// Stop asks the jail to shut down in order (SIGTERM to its init, the
// same as a VM's power button) and kills it if it has not ended after
// grace. It returns once the jail is gone.
//
// The kernel drops a signal sent to a PID namespace's init that has no
// handler for it (pid_namespaces(7)); between the set-up child's execve
// and the init's signal.Notify there is none. So SIGTERM is sent again
// every resendEvery until the jail ends: the init's shutdown is
// idempotent, and a stop during start-up is not lost for the whole grace.
func (p *Process) Stop(grace time.Duration) {
	if !p.Signal(syscall.SIGTERM) {
		<-p.done
		return
	}
	const resendEvery = 200 * time.Millisecond
	deadline := time.After(grace)
	tick := time.NewTicker(resendEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			p.Signal(syscall.SIGTERM)
		case <-deadline:
			p.Signal(syscall.SIGKILL)
			<-p.done
			return
		}
	}
}
