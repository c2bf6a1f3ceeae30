package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Timing defaults of the process runner.
const (
	// DefaultStopGrace is how long a cancelled context lets QEMU shut down
	// after SIGTERM before the process group is killed.
	DefaultStopGrace = 3 * time.Second
	// killWait bounds how long Stop waits for the child to disappear after
	// SIGKILL. A process stuck in the kernel (seen here with nested KVM: ~15 s
	// in D state) may outlive it; it is still reaped in the background.
	killWait = 20 * time.Second
	// drainWait bounds how long the reaper waits for QEMU's output pipes to
	// reach EOF after the child exited.
	drainWait = 2 * time.Second
	// stderrTail is how much of QEMU's stderr is kept for error messages.
	stderrTail = 16 << 10
)

// RunOptions configures StartWith.
type RunOptions struct {
	// Console receives QEMU's stdout (the serial console with Serial
	// "stdio") byte for byte. nil discards it. If a write fails the output
	// is still drained and the error is reported by Wait.
	Console io.Writer
	// Stdin is copied to QEMU's stdin (the serial console's input). It is
	// always passed through a pipe, never as a terminal, so QEMU neither
	// changes terminal modes nor is stopped by job control; putting a
	// terminal in raw mode is the caller's business. nil means /dev/null.
	// An io.Reader cannot be interrupted: the goroutine copying it may stay
	// blocked in Stdin.Read after QEMU ended, until that read returns (its
	// data is then dropped).
	Stdin io.Reader
	// OnLine is called with every complete console line (without the line
	// end; "\r\n" and "\n" both end a line), in order, from one goroutine,
	// after the line's bytes went to Console. A final unterminated line is
	// delivered at EOF. Lines longer than MaxLineBytes come in pieces. It
	// must not block for long: QEMU's output waits for it.
	OnLine func(line string)
	// StopGrace is the SIGTERM-to-SIGKILL grace used when the context is
	// cancelled (default DefaultStopGrace).
	StopGrace time.Duration
}

// ExitStatus says how a QEMU process ended.
type ExitStatus struct {
	// Code is the exit code, or -1 if a signal ended the process.
	Code int
	// Signal names the signal that ended the process ("killed",
	// "terminated", ...), empty if it exited.
	Signal string
	// Stopped is true if Stop, Kill or context cancellation asked the
	// process to end before it had exited by itself. (QEMU exits with code 0
	// on SIGTERM, so Code alone cannot tell.)
	Stopped bool
	// Stderr is the last 16 KiB of QEMU's standard error.
	Stderr string
}

// String describes the end of the process in one line, with QEMU's last
// stderr line if there is one.
func (s ExitStatus) String() string {
	var b strings.Builder
	switch {
	case s.Stopped:
		b.WriteString("stopped by us")
		if s.Signal != "" {
			b.WriteString(" (" + s.Signal + ")")
		}
	case s.Signal != "":
		b.WriteString("ended by signal: " + s.Signal)
	default:
		fmt.Fprintf(&b, "exited with code %d", s.Code)
	}
	if last := errorLine(s.Stderr); last != "" {
		b.WriteString(": " + last)
	}
	return b.String()
}

// errorLine picks the most telling line of QEMU's stderr: the last line
// QEMU prefixed with its program name ("qemu-system-x86_64: ..."), else the
// last non-empty line.
func errorLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "qemu") {
			return strings.TrimSpace(lines[i])
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// Process is a running QEMU (or any other child started by Start).
type Process struct {
	cmd    *exec.Cmd
	pid    int
	done   chan struct{}
	stderr *Tail // the last stderrTail bytes

	mu      sync.Mutex
	exited  bool // the child has exited (may not be reaped yet): send no more signals
	stopReq bool // Stop/Kill asked it to end while it was running

	// Set before done is closed.
	status  ExitStatus
	waitErr error
}

// StartWith runs bin with args as a child in its own process group and
// returns at once. Its stdout goes to opts.Console and opts.OnLine, its
// stderr is kept for ExitStatus. When ctx is cancelled the process is
// stopped as by Stop(opts.StopGrace). On Linux the child also gets SIGKILL
// if the thread that started it dies (PR_SET_PDEATHSIG), so a crashed parent
// leaves no QEMU behind; do not call StartWith from a goroutine that locked
// its OS thread and exits without unlocking it. Other OSes get an error.
func StartWith(ctx context.Context, bin string, args []string, opts RunOptions) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	cmd := exec.Command(bin, args...)
	if err := setupCmd(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: stdout pipe: %w", bin, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(outR, outW)
		return nil, fmt.Errorf("start %s: stderr pipe: %w", bin, err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	var inR, inW *os.File
	if opts.Stdin != nil {
		if inR, inW, err = os.Pipe(); err != nil {
			closeAll(outR, outW, errR, errW)
			return nil, fmt.Errorf("start %s: stdin pipe: %w", bin, err)
		}
		cmd.Stdin = inR
	}
	if err := cmd.Start(); err != nil {
		closeAll(outR, outW, errR, errW, inR, inW)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	// The child holds its own copies now.
	closeAll(outW, errW, inR)

	p := &Process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), stderr: &Tail{MaxBytes: stderrTail}}

	if inW != nil {
		go func() {
			_, _ = io.Copy(inW, opts.Stdin) // ends when QEMU's stdin closes or stdin hits EOF
			_ = inW.Close()
		}()
	}
	var consoleErr error
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		split := lineSplitter{onLine: opts.OnLine}
		buf := make([]byte, 32<<10)
		for {
			n, err := outR.Read(buf)
			if n > 0 {
				if opts.Console != nil && consoleErr == nil {
					if _, werr := opts.Console.Write(buf[:n]); werr != nil {
						consoleErr = werr
					}
				}
				split.write(buf[:n])
			}
			if err != nil {
				split.flush()
				return
			}
		}
	}()
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		_, _ = io.Copy(p.stderr, errR)
	}()

	go func() { // the reaper
		// Wait for the exit without reaping, so the process group id cannot
		// be reused while we kill whatever else is left in the group.
		_ = waitExited(p.pid)
		p.mu.Lock()
		p.exited = true
		_ = killGroup(p.pid)
		p.mu.Unlock()
		werr := cmd.Wait()

		// Output pipes hit EOF once every writer is gone; bound the wait in
		// case something outside the group inherited them.
		drain := time.NewTimer(drainWait)
		for _, ch := range []chan struct{}{outDone, errDone} {
			select {
			case <-ch:
			case <-drain.C:
				closeAll(outR, errR) // unblocks the readers
				<-ch
			}
		}
		drain.Stop()
		closeAll(outR, errR, inW)

		st := ExitStatus{Stderr: p.stderr.String()}
		st.Code, st.Signal = exitDetail(cmd.ProcessState)
		p.mu.Lock()
		st.Stopped = p.stopReq
		p.mu.Unlock()
		var exitErr *exec.ExitError
		switch {
		case werr != nil && !errors.As(werr, &exitErr):
			p.waitErr = fmt.Errorf("wait for %s (pid %d): %w", bin, p.pid, werr)
		case consoleErr != nil:
			p.waitErr = fmt.Errorf("%s (pid %d): console write: %w", bin, p.pid, consoleErr)
		}
		p.status = st
		close(p.done)
	}()

	grace := opts.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Stop(grace)
		case <-p.done:
		}
	}()
	return p, nil
}

// Pid returns the child's process id (also its process group id).
func (p *Process) Pid() int { return p.pid }

// Done is closed once the process has exited, been reaped, and its output
// has been drained.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stderr returns the last 16 KiB QEMU wrote to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Wait blocks until the process has ended and returns how. The error is
// non-nil only if waiting failed or the console writer failed; an exit code
// other than 0 is reported in ExitStatus, not as an error. Wait may be
// called any number of times, from any goroutine.
func (p *Process) Wait() (ExitStatus, error) {
	<-p.done
	return p.status, p.waitErr
}

// Stop ends the process cleanly: SIGTERM to its process group (QEMU shuts
// down on it), then SIGKILL to the group after grace. It returns once the
// process has been reaped, or with an error if it still exists 20 s after
// SIGKILL (a process stuck in the kernel; it is reaped in the background as
// soon as it dies). Stopping a process that already ended is a no-op.
func (p *Process) Stop(grace time.Duration) error {
	if !p.signal(terminateGroup) {
		<-p.done
		return nil
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	if p.signal(killGroup) {
		t.Reset(killWait)
		select {
		case <-p.done:
		case <-t.C:
			return fmt.Errorf("stop %s (pid %d): still not gone %v after SIGKILL (stuck in the kernel?); it will be reaped when it dies", p.cmd.Path, p.pid, killWait)
		}
	}
	<-p.done
	return nil
}

// Kill sends SIGKILL to the process group and returns at once, without
// waiting; use Done or Wait to learn when it is gone.
func (p *Process) Kill() {
	p.signal(killGroup)
}

// signal sends a signal to the group unless the child already exited; it
// reports whether the child was still running.
func (p *Process) signal(send func(pid int) error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return false
	}
	p.stopReq = true
	_ = send(p.pid) // ESRCH cannot happen while the child is unreaped
	return true
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}
