// Package qemutests holds turbo-image's acceptance tests: they build
// recipes with the real CLI (called in-process), boot the results in real
// QEMU with a real kernel, and read the serial console.
//
// They need qemu-system-x86_64, a Go toolchain and the Linux source
// (Debian: qemu-system-x86, linux-source-6.1 and build tools; `make test`
// installs them). Without them each test skips with a message naming what
// to install. The first run builds the kernel (several minutes); it is
// cached in $TURBO_CACHE (default: the user cache directory), so later runs
// take seconds.
package qemutests

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/host/cli"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// shared is set up once per test binary.
var shared struct {
	once    sync.Once
	cache   string
	accel   string
	testapp string
	err     error
}

func setup(t *testing.T) {
	t.Helper()
	testenv.MustHaveQEMU(t)
	testenv.MustHaveKernelSource(t)
	shared.once.Do(func() {
		shared.cache, shared.err = builder.DefaultCacheDir(os.Getenv)
		if shared.err != nil {
			return
		}
		a, why := vmm.ChooseAccel(context.Background(), vmm.DefaultBinary, os.Getenv("TURBO_ACCEL"))
		shared.accel = string(a)
		fmt.Fprintf(os.Stderr, "qemu-tests: accelerator %s (%s); cache %s\n", a, why, shared.cache)
		dir, err := os.MkdirTemp("", "turbo-testapp-")
		if err != nil {
			shared.err = err
			return
		}
		shared.testapp = filepath.Join(dir, "testapp")
		cmd := osexec.Command("go", "build", "-trimpath", "-o", shared.testapp, "./testapp")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("building testapp: %v\n%s", err, out)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

func (r *result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

type result struct {
	code           int
	stdout, stderr string
}

func testEnv(stdout, stderr io.Writer) *cli.Env {
	return &cli.Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: func(k string) string {
		switch k {
		case "TURBO_CACHE":
			return shared.cache
		case "TURBO_ACCEL":
			return shared.accel
		}
		return os.Getenv(k)
	}}
}

// turbo runs the CLI in-process and waits for it.
func turbo(t *testing.T, ctx context.Context, args ...string) *result {
	t.Helper()
	var out, errb strings.Builder
	code := cli.MainEnv(ctx, args, testEnv(&out, &errb))
	return &result{code, out.String(), errb.String()}
}

// build builds recipe into a new directory and returns it.
func build(t *testing.T, recipe string, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "build")
	r := turbo(t, context.Background(), append([]string{"build", recipe, "-o", out, "-q"}, extra...)...)
	if r.code != 0 {
		t.Fatalf("build %s failed: %s", recipe, r)
	}
	return out
}

// writeRecipe writes recipe.yaml and files into a new directory and
// returns the recipe's path. "@testapp" as a file's content copies the
// test app binary.
func writeRecipe(t *testing.T, yaml string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := []byte(content)
		if content == "@testapp" {
			b, err := os.ReadFile(shared.testapp)
			if err != nil {
				t.Fatal(err)
			}
			data = b
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// vm is a `turbo-image run` in the background with its console readable
// line by line. Every line is kept (all); the readers (waitFor, expectAll)
// walk it with a cursor, so no line is ever lost, however long a test
// spends elsewhere while the guest prints (a bounded channel dropped lines
// once it was full).
type vm struct {
	t      *testing.T
	cancel context.CancelFunc
	more   chan struct{} // a line arrived or the console ended; closed at its end
	done   chan *result
	mu     sync.Mutex
	all    []string
	next   int  // the first line the readers have not looked at
	ended  bool // the console is closed: no line will follow
	stderr *syncBuffer
	res    *result
}

// errConsoleEnded and errNoLine are nextLine's two ways of giving up.
var (
	errConsoleEnded = errors.New("the VM ended")
	errNoLine       = errors.New("timed out")
)

// nextLine returns the next console line the readers have not seen,
// waiting for it until deadline fires.
func (v *vm) nextLine(deadline <-chan time.Time) (string, error) {
	for {
		v.mu.Lock()
		if v.next < len(v.all) {
			l := v.all[v.next]
			v.next++
			v.mu.Unlock()
			return l, nil
		}
		ended := v.ended
		v.mu.Unlock()
		if ended {
			return "", errConsoleEnded
		}
		select {
		case <-v.more:
		case <-deadline:
			return "", errNoLine
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

func startVM(t *testing.T, args ...string) *vm {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	v := &vm{t: t, cancel: cancel, more: make(chan struct{}, 1), done: make(chan *result, 1), stderr: &syncBuffer{}}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			v.mu.Lock()
			v.all = append(v.all, l)
			v.mu.Unlock()
			select {
			case v.more <- struct{}{}:
			default: // a wake-up is already pending; the line is in all
			}
		}
		v.mu.Lock()
		v.ended = true
		v.mu.Unlock()
		close(v.more)
	}()
	go func() {
		code := cli.MainEnv(ctx, append([]string{"run"}, args...), testEnv(pw, v.stderr))
		pw.Close()
		v.done <- &result{code: code, stderr: v.stderr.String()}
	}()
	t.Cleanup(func() { v.stop() })
	return v
}

// console returns everything the VM printed so far.
func (v *vm) console() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.all, "\n")
}

// waitFor reads console lines until one matches re and returns its
// submatches; it fails the test on timeout or if the VM ends first.
func (v *vm) waitFor(re string, timeout time.Duration) []string {
	v.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(timeout)
	for {
		l, err := v.nextLine(deadline)
		switch {
		case errors.Is(err, errConsoleEnded):
			v.t.Fatalf("VM ended before %q appeared\nconsole:\n%s\nstderr:\n%s", re, v.console(), v.stderr.String())
		case err != nil:
			v.t.Fatalf("no %q within %v\nconsole:\n%s\nstderr:\n%s", re, timeout, v.console(), v.stderr.String())
		}
		if m := rx.FindStringSubmatch(l); m != nil {
			return m
		}
	}
}

// waitCount waits until the console so far holds s exactly n times, and
// fails the test if it ever holds more, or still fewer after timeout. For
// lines whose cause the test saw end elsewhere (an HTTP answer, a command
// that returned): the serial console can lag the network.
func (v *vm) waitCount(s string, n int, timeout time.Duration) {
	v.t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		got := strings.Count(v.console(), s)
		if got == n {
			return
		}
		if got > n || time.Since(start) > timeout {
			v.t.Fatalf("the console holds %q %d times, want %d (waited %v)\nconsole:\n%s", s, got, n, time.Since(start).Round(time.Millisecond), v.console())
		}
	}
}

// wait waits for the run command to return.
func (v *vm) wait(timeout time.Duration) *result {
	v.t.Helper()
	if v.res != nil {
		return v.res
	}
	select {
	case r := <-v.done:
		r.stdout = v.console()
		v.res = r
		return r
	case <-time.After(timeout):
		v.t.Fatalf("run did not return within %v\nconsole:\n%s", timeout, v.console())
	}
	return nil
}

// stop interrupts the run (like ctrl-C) and waits for it.
func (v *vm) stop() *result {
	v.t.Helper()
	v.cancel()
	return v.wait(60 * time.Second)
}

// freePort returns a TCP port that is free on 127.0.0.1 right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// qemuProcesses lists running QEMU processes whose command line mentions
// dir.
func qemuProcesses(dir string) []string {
	var out []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(s, "qemu-system") && strings.Contains(s, dir) {
			out = append(out, s)
		}
	}
	return out
}

// builtOnce caches builds of unchanged recipes within one test binary run.
var builtOnce struct {
	mu   sync.Mutex
	dirs map[string]string
}

// buildOnce builds recipe (with extra build flags) once per test binary
// and returns the build directory. Tests must not modify it.
func buildOnce(t *testing.T, recipe string, extra ...string) string {
	t.Helper()
	key := recipe + "\x00" + strings.Join(extra, "\x00")
	builtOnce.mu.Lock()
	defer builtOnce.mu.Unlock()
	if d, ok := builtOnce.dirs[key]; ok {
		return d
	}
	dir, err := os.MkdirTemp("", "qemu-tests-build-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "build")
	r := turbo(t, context.Background(), append([]string{"build", recipe, "-o", out, "-q"}, extra...)...)
	if r.code != 0 {
		t.Fatalf("build %s failed: %s", recipe, r)
	}
	if builtOnce.dirs == nil {
		builtOnce.dirs = map[string]string{}
	}
	builtOnce.dirs[key] = out
	return out
}

// exec runs a host command.
func exec(name string, args ...string) (string, error) {
	out, err := osexec.Command(name, args...).CombinedOutput()
	return string(out), err
}
