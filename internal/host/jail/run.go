package jail

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// ChildArg is the hidden first argument that makes the turbo-image binary
// (or any binary that calls Child for it, such as a test binary) the
// jail's set-up process; see Child.
const ChildArg = "__turbo-jail-child"

// DefaultStopGrace is how long Stop waits after SIGTERM before it kills
// the jail: the init's own shutdown grace (5 s by default) plus room to
// print its last lines.
const DefaultStopGrace = 15 * time.Second

// Options configures Start.
type Options struct {
	// Self is the binary that runs Child when started with ChildArg
	// (default: /proc/self/exe, the running turbo-image).
	Self string
	// Console receives the jail's standard output and error (the init's
	// console) byte for byte; nil discards it.
	Console io.Writer
	// OnLine sees every complete console line, in order, from one
	// goroutine; it must not block for long.
	OnLine func(line string)
	// StopGrace is the SIGTERM-to-SIGKILL time when the context ends
	// (default DefaultStopGrace).
	StopGrace time.Duration
}

// Status is how a jail ended.
type Status struct {
	// Code is PID 1's exit code, -1 if a signal ended it.
	Code int
	// Signal names the signal that ended it, "" if it exited.
	Signal string
	// Stopped is true if Stop (or the context) asked it to end.
	Stopped bool
}

func (s Status) String() string {
	var b strings.Builder
	switch {
	case s.Signal != "":
		b.WriteString("ended by signal " + s.Signal)
	default:
		fmt.Fprintf(&b, "exited with code %d", s.Code)
	}
	if s.Stopped {
		b.WriteString(" (stopped by us)")
	}
	return b.String()
}

// Run starts the plan's jail and waits for it: the in-process API for
// library code (a build step, a scrub program). When ctx ends the jail is
// asked to stop (SIGTERM to its PID 1) and killed after the grace.
func Run(ctx context.Context, p *Plan, o Options) (Status, error) {
	proc, err := Start(ctx, p, o)
	if err != nil {
		return Status{}, err
	}
	return proc.Wait()
}

// copyLines copies r to w and hands every line to onLine. Lines longer
// than 64 KiB come in pieces.
func copyLines(r io.Reader, w io.Writer, onLine func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if w != nil {
				w.Write(line)
			}
			if onLine != nil {
				onLine(strings.TrimRight(string(line), "\r\n"))
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
