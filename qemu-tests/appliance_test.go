package qemutests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/cli"
)

const bootTimeout = 120 * time.Second

// TestHelloServesHTTP builds the example recipe, boots it, waits for
// TURBO_READY, fetches its page through --publish, and stops it with an
// interrupt, which must leave no QEMU behind.
func TestHelloServesHTTP(t *testing.T) {
	setup(t)
	out := build(t, "../recipes/hello/recipe.yaml")
	port := freePort(t)
	v := startVM(t, out, "--publish", fmt.Sprintf("%d:8080", port), "--timeout", "300s")
	m := v.waitFor(`TURBO_READY name=hello version=1\.0\.0 uptime_ms=(\d+)`, bootTimeout)
	t.Logf("guest uptime at ready: %s ms", m[1])

	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTP answer through --publish: %v\nconsole:\n%s", err, v.console())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(body, "hello from hello 1.0.0") {
		t.Fatalf("unexpected page %q", body)
	}
	r := v.stop()
	if r.code != 130 {
		t.Errorf("interrupted run exited %d, want 130: %s", r.code, r.stderr)
	}
	if ps := qemuProcesses(out); len(ps) > 0 {
		t.Errorf("QEMU still running after the run ended: %v", ps)
	}
}

// TestExitOnReady is the CI smoke test form of run.
func TestExitOnReady(t *testing.T) {
	setup(t)
	out := build(t, "../recipes/hello/recipe.yaml")
	r := turbo(t, context.Background(), "run", out, "--exit-on-ready", "--timeout", "120s")
	if r.code != 0 {
		t.Fatalf("run --exit-on-ready: %s", r)
	}
	if !strings.Contains(r.stderr, "ready: hello 1.0.0, guest uptime") {
		t.Errorf("no boot time report: %s", r.stderr)
	}
	if ps := qemuProcesses(out); len(ps) > 0 {
		t.Errorf("QEMU still running: %v", ps)
	}
}

// TestCrashLoopBacksOffThenFails: a service that always crashes is
// restarted after 1 s, then 2 s, then given up and reported unhealthy, and
// run --exit-on-ready fails with the console's tail. The service has a
// health check that never passes (nothing listens on port 9; its start
// period outlasts the crash loop): without one it would count as healthy
// after 300 ms of uptime, and on a loaded CI machine the Go runtime of
// testapp alone can take that long before it exits, so the appliance
// rightly printed TURBO_READY and run --exit-on-ready ended the VM before
// the crash loop could give up.
func TestCrashLoopBacksOffThenFails(t *testing.T) {
	setup(t)
	recipe := writeRecipe(t, `
name: crashy
version: "1"
kernel: {fragments: [builtin:virt]}
cmdline: [quiet]
services:
  - name: crash
    binary: testapp
    args: [crash]
    restart_limit: {burst: 3, interval: 60s}
    health: {http: "http://127.0.0.1:9/", start_period: 300s}
`, map[string]string{"testapp": "@testapp"})
	out := build(t, recipe)
	v := startVM(t, out, "--exit-on-ready", "--timeout", "180s")
	v.waitFor(`TURBO_UNHEALTHY service=crash reason=gave up after 3 deaths in 1m0s`, bootTimeout+30*time.Second)
	r := v.wait(60 * time.Second)
	if r.code == 0 || !strings.Contains(r.stderr, "UNHEALTHY") || !strings.Contains(r.stderr, "last console lines") {
		t.Fatalf("run should fail with the console tail: %s", r)
	}
	// The console tells the story in order: each start, then the init's
	// line about that death (the init drains a service's output before it
	// reports the exit), with the backoff doubling from 1 s.
	startRE := regexp.MustCompile(`^crash: start uptime_ms=(\d+)`)
	exitRE := regexp.MustCompile(`^turbo-init: service crash exited with status 1; (.*)`)
	var story []string
	var starts []int64
	for _, l := range strings.Split(v.console(), "\n") {
		if m := startRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			starts = append(starts, n)
			story = append(story, "start")
		} else if m := exitRE.FindStringSubmatch(l); m != nil {
			story = append(story, m[1])
		}
	}
	want := []string{"start", "restarting in 1s", "start", "restarting in 2s", "start",
		"gave up after 3 deaths in 1m0s (last: exited with status 1)"}
	if !slices.Equal(story, want) {
		t.Fatalf("console story\n got %q\nwant %q\nconsole:\n%s", story, want, v.console())
	}
	// Backoff measured in guest time: at least 1 s, then at least 2 s.
	// (/proc/uptime has 10 ms resolution.)
	if d := starts[1] - starts[0]; d < 990 {
		t.Errorf("second start %d ms after the first, want >= 1 s", d)
	}
	if d := starts[2] - starts[1]; d < 1990 {
		t.Errorf("third start %d ms after the second, want >= 2 s", d)
	}
	if strings.Contains(v.console(), "TURBO_READY") {
		t.Errorf("a failed service must not be reported ready")
	}
}

// TestOrphansAreReaped: a service leaves orphans behind; once they exit,
// PID 1 must have reaped them (no zombies).
func TestOrphansAreReaped(t *testing.T) {
	setup(t)
	recipe := writeRecipe(t, `
name: orphans
version: "1"
kernel: {fragments: [builtin:virt]}
cmdline: [quiet]
services:
  - name: parent
    binary: testapp
    args: [orphans, "5"]
    restart: never
  - name: check
    binary: testapp
    args: [zombies]
`, map[string]string{"testapp": "@testapp"})
	out := build(t, recipe)
	v := startVM(t, out, "--timeout", "180s")
	v.waitFor(`parent: left 5 orphans`, bootTimeout)
	m := v.waitFor(`check: zombies=(\d+) processes=(\d+)`, 60*time.Second)
	if m[1] != "0" {
		t.Fatalf("%s zombies left after the orphans exited\nconsole:\n%s", m[1], v.console())
	}
	// The sleepers are gone too: only init, the check and kernel threads remain
	// as processes with a /proc entry (kernel threads count; there must be no
	// testapp sleeper among them, which the zombie count already proves for
	// exited ones).
	v.stop()
}

// TestPowerDownIsOrderly: an interrupted run asks the guest to power down
// (ACPI power button); the init stops services in reverse order with
// SIGTERM, waits for them, syncs, unmounts and powers off by itself.
func TestPowerDownIsOrderly(t *testing.T) {
	setup(t)
	recipe := writeRecipe(t, `
name: graceful
version: "1"
kernel: {fragments: [builtin:virt]}
cmdline: [quiet]
services:
  - name: first
    binary: testapp
    args: [graceful]
  - name: second
    binary: testapp
    args: [graceful]
`, map[string]string{"testapp": "@testapp"})
	out := build(t, recipe)
	v := startVM(t, out, "--timeout", "180s")
	// Ready means 300 ms of uptime, not that each program got as far as
	// its SIGTERM handler (on a loaded host it may not have yet), so wait
	// for both, in whatever order the lines come.
	seen := map[string]bool{}
	for len(seen) < 3 {
		m := v.waitFor(`(TURBO_READY name=graceful|first: waiting for SIGTERM|second: waiting for SIGTERM)`, bootTimeout)
		seen[m[1]] = true
	}
	v.cancel()
	r := v.wait(60 * time.Second)
	c := r.stdout
	want := []string{
		"turbo-init: shutting down: power button",
		"turbo-init: stopping service second",
		"turbo-init: stopping service first",
		"second: state saved",
		"TURBO_POWEROFF",
	}
	pos := -1
	for _, w := range want {
		i := strings.Index(c, w)
		if i < 0 {
			t.Fatalf("console lacks %q\nconsole:\n%s\nstderr:\n%s", w, c, r.stderr)
		}
		if i < pos && w != "second: state saved" {
			t.Errorf("%q out of order", w)
		}
		pos = i
	}
	if !strings.Contains(c, "first: state saved") {
		t.Errorf("first service did not finish its shutdown")
	}
	if strings.Contains(c, "did not stop within") {
		t.Errorf("services needed SIGKILL")
	}
	if !strings.Contains(r.stderr, "powered off") {
		t.Errorf("run should report the guest powered off: %s", r.stderr)
	}
}

// TestBadRecipeReportsEveryProblem: build refuses a bad recipe with
// file:line errors and leaves no output behind.
func TestBadRecipeReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "recipe.yaml")
	os.WriteFile(recipe, []byte(`name: Bad_Name
version: 1.0
kernel: {fragments: [builtin:virt]}
colour: blue
services:
  - name: a
    binary: ../outside
  - name: a
    package: ./app
files:
  - dest: /proc/x
    content: hi
`), 0o644)
	out := filepath.Join(dir, "out")
	r := turbo(t, context.Background(), "build", recipe, "-o", out)
	if r.code == 0 {
		t.Fatal("bad recipe built")
	}
	for _, want := range []string{
		recipe + ":1: name:",
		recipe + ":2: version:",
		recipe + ":4: colour:",
		recipe + ":7: services[0].binary:",
		recipe + ":8: services[1].name:",
		recipe + ":11: files[0].dest:",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory exists after a failed build")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("build left files behind: %v", entries)
	}
}

// TestDHCPAndHealthChecks: the network comes from DHCP (u-root's client,
// QEMU's user-mode DHCP server), a tcp and an exec health check gate
// readiness, and a service runs with the user, group, directory, env and
// args its recipe gives, seeing a file with the recipe's mode and owner.
func TestDHCPAndHealthChecks(t *testing.T) {
	setup(t)
	recipe := writeRecipe(t, `
name: dhcp
version: "1"
kernel: {fragments: [builtin:virt]}
cmdline: [quiet]
network: {mode: dhcp}
services:
  - name: web
    package: ./app
    health: {tcp: "127.0.0.1:8080"}
  - name: probe
    binary: testapp
    args: [sleeper, 1h]
    health: {exec: [/bin/probe, httpget, "http://127.0.0.1:8080/healthz"]}
  - name: who
    binary: testapp
    args: [whoami, x, y]
    user: 1000
    group: 1001
    workdir: /tmp
    env: {FOO: bar}
files:
  - dest: /etc/secret
    content: "s3cret\n"
    mode: "0640"
    owner: "1000:1001"
`, map[string]string{"testapp": "@testapp", "app/go.mod": "module example.com/hello\n\ngo 1.22\n", "app/main.go": readFile(t, "../recipes/hello/app/main.go")})
	out := build(t, recipe)
	port := freePort(t)
	v := startVM(t, out, "--publish", fmt.Sprintf("%d:8080", port), "--timeout", "300s")
	v.waitFor(`turbo-init: dhcp: .*10\.0\.2\.15`, bootTimeout)
	v.waitFor(`who: uid=1000 gid=1001 cwd=/tmp FOO=bar args=\[x y\]`, bootTimeout)
	v.waitFor(`TURBO_READY name=dhcp`, bootTimeout)
	// The file's mode and owner as the recipe gave them (who prints this
	// line right after its first, maybe after TURBO_READY).
	v.waitCount("who: secret mode=640 owner=1000:1001", 1, 30*time.Second)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("no HTTP over the DHCP-configured network: %v", err)
	}
	resp.Body.Close()
	v.stop()
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTimeoutStopsQEMU: a run that times out fails with the console's tail
// and leaves no QEMU behind.
func TestTimeoutStopsQEMU(t *testing.T) {
	setup(t)
	out := build(t, "../recipes/hello/recipe.yaml")
	r := turbo(t, context.Background(), "run", out, "--timeout", "300ms")
	if r.code == 0 || !strings.Contains(r.stderr, "timed out after 300ms") || !strings.Contains(r.stderr, "last console lines") {
		t.Fatalf("want a timeout failure: %s", r)
	}
	if ps := qemuProcesses(out); len(ps) > 0 {
		t.Errorf("QEMU still running after the timeout: %v", ps)
	}
}

// TestExitOnReadyJSON: build --json and run --exit-on-ready --json print
// one document each on stdout (the console goes to stderr) that parses
// into the documented shapes.
func TestExitOnReadyJSON(t *testing.T) {
	setup(t)
	out := filepath.Join(t.TempDir(), "build")
	r := turbo(t, context.Background(), "build", "../recipes/hello/recipe.yaml", "-o", out, "--json")
	if r.code != 0 {
		t.Fatalf("build --json: %s", r)
	}
	var b cli.BuildJSON
	decodeStrict(t, r.stdout, &b)
	if b.Schema != cli.SchemaBuild || b.Name != "hello" || b.Dir != out || len(b.Artifacts) == 0 || len(b.Steps) == 0 {
		t.Fatalf("build document: %+v", b)
	}
	r = turbo(t, context.Background(), "run", out, "--exit-on-ready", "--timeout", "120s", "--json")
	if r.code != 0 {
		t.Fatalf("run --exit-on-ready --json: %s", r)
	}
	var doc cli.RunJSON
	decodeStrict(t, r.stdout, &doc)
	if doc.Schema != cli.SchemaRun || doc.Outcome != "ready" || doc.ExitCode != 0 || doc.Error != "" ||
		doc.Name != "hello" || doc.Version != b.Version || doc.Boot != "initramfs" || doc.Boots != 1 || doc.Trial != nil {
		t.Fatalf("run document: %+v", doc)
	}
	rd := doc.Ready
	if rd == nil || rd.Name != "hello" || rd.Version != b.Version || rd.Boot != 1 || rd.UptimeMS <= 0 ||
		rd.HostWallMS <= 0 || doc.WallMS < rd.HostWallMS {
		t.Fatalf("ready report: %+v (wall %d ms)", rd, doc.WallMS)
	}
	if !strings.Contains(r.stderr, "TURBO_READY name=hello") {
		t.Errorf("the console is not on stderr: %s", r)
	}
	t.Logf("ready: guest uptime %d ms, host wall %d ms, session %d ms (%s)", rd.UptimeMS, rd.HostWallMS, doc.WallMS, doc.Accel)
}

// decodeStrict parses stdout as exactly one JSON document into v, with
// fields the Go structs do not know refused.
func decodeStrict(t *testing.T, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not one %T: %v\n%s", v, err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
	}
}
