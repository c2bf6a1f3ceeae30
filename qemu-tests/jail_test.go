package qemutests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
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
