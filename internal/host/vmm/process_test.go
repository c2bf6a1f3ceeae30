//go:build linux

package vmm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// procInfo is one process as /proc shows it.
type procInfo struct {
	pid   int
	comm  string
	state byte   // R, S, D, Z, ...
	sigs  uint64 // pending signals, thread and shared (bit n-1 = signal n)
}

func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procInfo{}, false
	}
	p := procInfo{pid: pid}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			p.comm = v
		case "State":
			if v != "" {
				p.state = v[0]
			}
		case "SigPnd", "ShdPnd":
			n, _ := strconv.ParseUint(v, 16, 64)
			p.sigs |= n
		}
	}
	return p, true
}

// children lists the processes whose parent is ppid.
func children(t *testing.T, ppid int) []procInfo {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var out []procInfo
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp == ppid {
			if p, ok := readProc(pid); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// gone reports whether pid no longer exists (or is only a zombie awaiting
// a reaper that is not us).
func gone(pid int) bool {
	p, ok := readProc(pid)
	return !ok || p.state == 'Z' || p.state == 'X'
}

// goneWithin polls until pid is gone (a SIGKILLed process takes a moment
// to exit).
func goneWithin(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !gone(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// lineWaiter collects console lines and lets a test wait for one.
type lineWaiter struct {
	mu    sync.Mutex
	lines []string
	ch    chan struct{}
}

func newLineWaiter() *lineWaiter { return &lineWaiter{ch: make(chan struct{}, 1)} }

func (w *lineWaiter) onLine(l string) {
	w.mu.Lock()
	w.lines = append(w.lines, l)
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

func (w *lineWaiter) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// find returns the first line containing sub.
func (w *lineWaiter) find(sub string) (string, bool) {
	for _, l := range w.all() {
		if strings.Contains(l, sub) {
			return l, true
		}
	}
	return "", false
}

// wait blocks until a line containing sub arrived, or fails the test.
func (w *lineWaiter) wait(t *testing.T, sub string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if l, ok := w.find(sub); ok {
			return l
		}
		select {
		case <-w.ch:
		case <-deadline:
			t.Fatalf("no console line containing %q within %v; got %d lines, last: %q", sub, timeout, len(w.all()), tail(w.all(), 5))
		}
	}
}

func must(p procInfo, _ bool) procInfo { return p }

func tail(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitDone waits for the process to end or fails the test.
func waitDone(t *testing.T, p *Process, timeout time.Duration) ExitStatus {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(timeout):
		p.Kill()
		t.Fatalf("process %d still running after %v", p.Pid(), timeout)
	}
	st, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// seabiosArgs boots SeaBIOS on a PC under TCG with its debug console on
// stdout; it reaches "Booting from ..." in ~0.1 s and then idles.
var seabiosArgs = []string{
	"-accel", "tcg", "-machine", "pc", "-m", "32", "-nodefaults", "-no-user-config",
	"-display", "none", "-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
}

func TestStartStopQEMU(t *testing.T) {
	qemu := testenv.MustHaveQEMU(t)
	var console syncBuffer
	w := newLineWaiter()
	p, err := StartWith(context.Background(), qemu, seabiosArgs, RunOptions{Console: &console, OnLine: w.onLine})
	if err != nil {
		t.Fatal(err)
	}
	w.wait(t, "Booting from", 30*time.Second)
	if !strings.Contains(console.String(), "SeaBIOS") {
		t.Errorf("console copy lacks the SeaBIOS banner: %.200q", console.String())
	}
	start := time.Now()
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Stop took %v: QEMU should exit on SIGTERM", d)
	}
	st, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !st.Stopped {
		t.Errorf("status %+v: want Stopped", st)
	}
	if !strings.Contains(st.Stderr, "terminating on signal 15") {
		t.Errorf("stderr %q: want QEMU's SIGTERM message", st.Stderr)
	}
	if !gone(p.Pid()) {
		t.Errorf("QEMU pid %d still exists after Stop", p.Pid())
	}
	for _, c := range children(t, os.Getpid()) {
		if c.pid == p.Pid() {
			t.Errorf("QEMU pid %d is still our child: %+v", c.pid, c)
		}
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartContextCancelStopsQEMU(t *testing.T) {
	qemu := testenv.MustHaveQEMU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newLineWaiter()
	p, err := StartWith(ctx, qemu, seabiosArgs, RunOptions{OnLine: w.onLine, StopGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.wait(t, "Booting from", 30*time.Second)
	cancel()
	st := waitDone(t, p, 10*time.Second)
	if !st.Stopped {
		t.Errorf("status %+v: want Stopped after cancel", st)
	}
	if !gone(p.Pid()) {
		t.Errorf("QEMU pid %d still exists", p.Pid())
	}
}

func TestStartQEMUFailsByItself(t *testing.T) {
	qemu := testenv.MustHaveQEMU(t)
	p, err := StartWith(context.Background(), qemu, []string{"-machine", "none", "-display", "none", "-nodefaults",
		"-drive", "file=/nonexistent/no-such-disk.img,format=raw,if=none,id=d0"}, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, p, 30*time.Second)
	if st.Stopped || st.Code != 1 || st.Signal != "" {
		t.Errorf("status %+v: want exit code 1 by itself", st)
	}
	if !strings.Contains(st.Stderr, "no-such-disk.img") {
		t.Errorf("stderr %q does not name the missing disk", st.Stderr)
	}
	if s := st.String(); !strings.HasPrefix(s, "exited with code 1: qemu") || !strings.Contains(s, "no-such-disk.img") {
		t.Errorf("String() = %q", s)
	}
}

func TestStartMissingBinary(t *testing.T) {
	p, err := StartWith(context.Background(), "/nonexistent/qemu-system-x86_64", nil, RunOptions{})
	if err == nil {
		p.Kill()
		t.Fatal("Start of a missing binary succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v: want it to wrap ErrNotExist", err)
	}
}

func TestStartCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if p, err := StartWith(ctx, "/bin/sh", []string{"-c", "exit 0"}, RunOptions{}); err == nil {
		p.Kill()
		t.Fatal("Start with a cancelled context succeeded")
	}
}

// The following use /bin/sh to check process-group handling without QEMU.

func TestStopKillsGroupIgnoringSIGTERM(t *testing.T) {
	w := newLineWaiter()
	// Both the shell and its background sleep ignore SIGTERM.
	script := `trap "" TERM; sleep 60 & echo "pids $$ $!"; wait`
	p, err := StartWith(context.Background(), "/bin/sh", []string{"-c", script}, RunOptions{OnLine: w.onLine})
	if err != nil {
		t.Fatal(err)
	}
	line := w.wait(t, "pids ", 10*time.Second)
	var shPid, sleepPid int
	if _, err := fmt.Sscanf(line, "pids %d %d", &shPid, &sleepPid); err != nil || shPid != p.Pid() {
		t.Fatalf("bad pids line %q (pid %d): %v", line, p.Pid(), err)
	}
	start := time.Now()
	if err := p.Stop(300 * time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Stop returned after %v, before the grace period", d)
	}
	st, _ := p.Wait()
	if !st.Stopped || st.Signal != "killed" || st.Code != -1 {
		t.Errorf("status %+v: want stopped by SIGKILL", st)
	}
	if !goneWithin(sleepPid, 5*time.Second) {
		t.Errorf("grandchild %d survived the group kill: %+v", sleepPid, must(readProc(sleepPid)))
	}
}

func TestExitKillsLeftoversInGroup(t *testing.T) {
	w := newLineWaiter()
	// The shell exits at once, leaving a background sleep that holds stdout.
	p, err := StartWith(context.Background(), "/bin/sh", []string{"-c", `sleep 60 & echo "bg $!"; exit 3`}, RunOptions{OnLine: w.onLine})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, p, 10*time.Second)
	if st.Stopped || st.Code != 3 {
		t.Errorf("status %+v: want exit code 3 by itself", st)
	}
	line, ok := w.find("bg ")
	if !ok {
		t.Fatalf("no bg line in %q", w.all())
	}
	bg, _ := strconv.Atoi(strings.TrimPrefix(line, "bg "))
	if !goneWithin(bg, 5*time.Second) {
		t.Errorf("background process %d survived its group leader", bg)
	}
}

func TestStdinAndLines(t *testing.T) {
	var console syncBuffer
	w := newLineWaiter()
	p, err := StartWith(context.Background(), "/bin/sh",
		[]string{"-c", `read a; read b; printf 'got %s\r\n' "$a"; printf 'then %s\n' "$b"; printf 'tail'`},
		RunOptions{Console: &console, Stdin: strings.NewReader("hello\nworld\n"), OnLine: w.onLine})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, p, 10*time.Second)
	if st.Code != 0 {
		t.Errorf("status %+v", st)
	}
	if got, want := w.all(), []string{"got hello", "then world", "tail"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", got, want)
	}
	if got, want := console.String(), "got hello\r\nthen world\ntail"; got != want {
		t.Errorf("console %q, want %q", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestConsoleWriteErrorStillDrains(t *testing.T) {
	w := newLineWaiter()
	p, err := StartWith(context.Background(), "/bin/sh", []string{"-c", `i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done`},
		RunOptions{Console: failingWriter{}, OnLine: w.onLine})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("child blocked: output not drained after a console error")
	}
	st, err := p.Wait()
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Wait error %v: want the console write error", err)
	}
	if st.Code != 0 || len(w.all()) != 2000 {
		t.Errorf("status %+v, %d lines: want code 0 and all 2000 lines", st, len(w.all()))
	}
}

func TestExitStatusString(t *testing.T) {
	tests := []struct {
		st   ExitStatus
		want string
	}{
		{ExitStatus{Code: 0}, "exited with code 0"},
		{ExitStatus{Code: 1, Stderr: "qemu: warning\nqemu: could not open x\n"}, "exited with code 1: qemu: could not open x"},
		{ExitStatus{Code: 1, Stderr: "qemu-system-x86_64: unsupported machine type\nUse -machine help to list supported machines\n"}, "exited with code 1: qemu-system-x86_64: unsupported machine type"},
		{ExitStatus{Code: 2, Stderr: "usage: x\n\n"}, "exited with code 2: usage: x"},
		{ExitStatus{Code: -1, Signal: "killed", Stopped: true}, "stopped by us (killed)"},
		{ExitStatus{Code: 0, Stopped: true, Stderr: "qemu: terminating on signal 15"}, "stopped by us: qemu: terminating on signal 15"},
		{ExitStatus{Code: -1, Signal: "segmentation fault"}, "ended by signal: segmentation fault"},
	}
	for _, tc := range tests {
		if got := tc.st.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.st, got, tc.want)
		}
	}
}

// The tests find QEMU under the name the package runs.
func TestDefaultBinaryIsTestenvQEMU(t *testing.T) {
	if DefaultBinary != testenv.QEMU {
		t.Errorf("DefaultBinary %q != testenv.QEMU %q", DefaultBinary, testenv.QEMU)
	}
}
