package qemutests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/cli"
	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestMain lets `run --vmm jail` re-execute this test binary as the
// jail's set-up child (/proc/self/exe with jail.ChildArg), as
// turbo-image's main does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.ChildArg {
		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestJailRunsHello runs hello's build (the same initramfs the VM boots)
// with `run --vmm jail` on a private network: the init reports ready, the
// service answers through the published port, and ctrl-C stops it in
// order (TURBO_POWEROFF, exit 130). No QEMU is started.
func TestJailRunsHello(t *testing.T) {
	setup(t)
	testenv.MustHaveTool(t, "pasta", "passt")
	dir := buildOnce(t, "../recipes/hello/recipe.yaml")

	// CI smoke test: ready, then out, with the JSON outcome.
	r := turbo(t, context.Background(), "run", dir, "--vmm", "jail", "--net", "private", "--exit-on-ready", "--timeout", "60s", "--json")
	if r.code != 0 {
		t.Fatalf("run --vmm jail --exit-on-ready: %s", r)
	}
	var doc cli.RunJSON
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Outcome != "ready" || doc.Boot != "jail" || doc.Ready == nil || doc.Ready.Name != "hello" {
		t.Fatalf("JSON %q: %+v (%v)", r.stdout, doc, err)
	}
	if !strings.Contains(r.stderr, "TURBO_READY name=hello") || !strings.Contains(r.stderr, "TURBO_POWEROFF") {
		t.Errorf("console lacks TURBO_READY or TURBO_POWEROFF:\n%s", r.stderr)
	}

	port := freePort(t)
	v := startVM(t, dir, "--vmm", "jail", "--net", "private", "--publish", fmt.Sprintf("%d:8080", port))
	v.waitFor(`^TURBO_READY name=hello version=1\.0\.0 uptime_ms=\d+$`, 60*time.Second)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("GET through the published port: %v\nconsole:\n%s", err, v.console())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "hello from hello 1.0.0") {
		t.Errorf("answer %q", body)
	}
	res := v.stop()
	if res.code != 130 {
		t.Errorf("ctrl-C: exit %d, want 130\n%s", res.code, res)
	}
	for _, want := range []string{"turbo-init: stopping service hello", "TURBO_POWEROFF"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("no orderly shutdown: %q missing from the console:\n%s", want, res.stdout)
		}
	}
}

// TestJailCtrlCAtAnyMoment interrupts a jail run at moments spread over
// its start (unpacking, the jail's set-up, pasta's network, the services'
// start, ready): each run exits 130, never a bare "context canceled"
// error, and leaves no process of the jail behind.
func TestJailCtrlCAtAnyMoment(t *testing.T) {
	setup(t)
	testenv.MustHaveTool(t, "pasta", "passt")
	dir := buildOnce(t, "../recipes/hello/recipe.yaml")
	for _, d := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		v := startVM(t, dir, "--vmm", "jail", "--net", "private", "--publish", fmt.Sprintf("%d:8080", freePort(t)))
		time.Sleep(d)
		began := time.Now()
		res := v.stop()
		t.Logf("ctrl-C after %v: exit %d, stopped in %v", d, res.code, time.Since(began).Round(time.Millisecond))
		if res.code != 130 {
			t.Errorf("ctrl-C after %v: exit %d, want 130\n%s", d, res.code, res)
		}
		if strings.Contains(res.stderr, "context canceled") && !strings.Contains(res.stderr, "interrupted") {
			t.Errorf("ctrl-C after %v: a bare context error:\n%s", d, res.stderr)
		}
	}
	// The jail's service and pasta are gone (given a moment to be reaped).
	var left []string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		left = processesNamed("hello", "pasta", "pasta.avx2", "passt")
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("processes left behind: %q", left)
}

// processesNamed lists running processes whose command name is one of
// names, as "PID name".
func processesNamed(names ...string) []string {
	var out []string
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range comms {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(b))
		for _, n := range names {
			if c == n {
				out = append(out, strings.Split(p, "/")[2]+" "+c)
			}
		}
	}
	return out
}

// TestDevRebuildsAndKeepsTheLastGoodBuild runs `turbo-image dev`: the
// first build runs in a jail; a broken recipe is reported while the
// running version stays; a fixed one with a new version replaces it.
func TestDevRebuildsAndKeepsTheLastGoodBuild(t *testing.T) {
	setup(t)
	const good = `
name: devloop
version: "%s"
kernel: {fragments: [builtin:virt]}
cmdline: [quiet]
services:
  - name: sleeper
    binary: testapp
    args: [sleeper, 1h]
`
	recipe := writeRecipe(t, fmt.Sprintf(good, "1"), map[string]string{"testapp": "@testapp"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- cli.MainEnv(ctx, []string{"dev", recipe, "--poll", "50ms"}, testEnv(&out, &errb)) }()
	waitFor := func(what string, buf *syncBuffer, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !strings.Contains(buf.String(), what) {
			select {
			case code := <-done:
				t.Fatalf("dev ended (exit %d) before %q\nstdout:\n%s\nstderr:\n%s", code, what, out.String(), errb.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q within %v\nstdout:\n%s\nstderr:\n%s", what, timeout, out.String(), errb.String())
			}
		}
	}
	waitFor("TURBO_READY name=devloop version=1 ", &out, 3*time.Minute)

	// Past the file system's time stamp granularity.
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(recipe, []byte("name: devloop\nversion: \"2\"\nservices: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("build failed; version 1 keeps running", &errb, time.Minute)
	if strings.Contains(out.String(), "TURBO_POWEROFF") {
		t.Fatalf("a broken build stopped the running version:\n%s", out.String())
	}

	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(recipe, []byte(fmt.Sprintf(good, "2")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("TURBO_READY name=devloop version=2 ", &out, 3*time.Minute)
	if !strings.Contains(out.String(), "TURBO_POWEROFF") {
		t.Errorf("version 1 was not stopped in order before version 2 started:\n%s", out.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 130 {
			t.Errorf("ctrl-C: exit %d, want 130\n%s", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop")
	}
}
