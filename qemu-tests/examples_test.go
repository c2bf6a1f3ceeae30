package qemutests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/cli"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// bootReady boots a build (or disk) with run --exit-on-ready --json and
// returns the run document and the console (stderr); it fails the test
// unless the appliance became ready.
func bootReady(t *testing.T, target string, extra ...string) (cli.RunJSON, string) {
	t.Helper()
	args := append([]string{"run", target, "--exit-on-ready", "--timeout", "300s", "--json"}, extra...)
	r := turbo(t, context.Background(), args...)
	if r.code != 0 {
		t.Fatalf("run --exit-on-ready: %s", r)
	}
	var doc cli.RunJSON
	decodeStrict(t, r.stdout, &doc)
	if doc.Outcome != "ready" || doc.Ready == nil {
		t.Fatalf("run document: %+v", doc)
	}
	return doc, r.stderr
}

// buildSize is the sum of a build's artifacts as its manifest lists them.
func buildSize(t *testing.T, dir string, names ...string) string {
	t.Helper()
	var parts []string
	for _, n := range names {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, n+" "+bytesize.Format(st.Size()))
	}
	return strings.Join(parts, ", ")
}

// TestNewBuildsAndBoots is a new user's first minutes: `new` writes a
// recipe folder, and build and run --exit-on-ready work on it as is.
func TestNewBuildsAndBoots(t *testing.T) {
	setup(t)
	dir := filepath.Join(t.TempDir(), "demo")
	r := turbo(t, context.Background(), "new", "demo", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "recipe.yaml") {
		t.Fatalf("new: %s", r)
	}
	if r := turbo(t, context.Background(), "new", "demo", "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("a second new over the folder: %s", r)
	}
	out := build(t, filepath.Join(dir, "recipe.yaml"))
	doc, console := bootReady(t, out)
	if doc.Ready.Name != "demo" || doc.Ready.Version != "0.1.0" || !regexp.MustCompile(`(?m)^demo: .*listening on :8080`).MatchString(console) {
		t.Fatalf("ready %+v, console:\n%s", doc.Ready, console)
	}
	t.Logf("new demo: %s; ready: guest uptime %d ms, host wall %d ms (%s)", buildSize(t, out, "kernel", "initramfs.cpio.zst"),
		doc.Ready.UptimeMS, doc.Ready.HostWallMS, doc.Accel)
}

// TestExampleRecipesBoot builds each example recipe beyond hello and
// boots it to TURBO_READY, checking what the example is about.
func TestExampleRecipesBoot(t *testing.T) {
	setup(t)
	t.Run("busybox-httpd", func(t *testing.T) {
		testenv.MustHaveFile(t, "/bin/busybox", "busybox-static")
		out := buildOnce(t, "../recipes/busybox-httpd/recipe.yaml")
		// Its health check is an HTTP GET of / that busybox httpd serves.
		doc, _ := bootReady(t, out)
		t.Logf("busybox-httpd: %s; ready: guest uptime %d ms, host wall %d ms (%s)", buildSize(t, out, "kernel", "initramfs.cpio.zst"),
			doc.Ready.UptimeMS, doc.Ready.HostWallMS, doc.Accel)
	})
	t.Run("pair", func(t *testing.T) {
		out := buildOnce(t, "../recipes/pair/recipe.yaml")
		doc, console := bootReady(t, out)
		if !strings.Contains(console, "web: store answered on http://127.0.0.1:9000") {
			t.Fatalf("web never reached store:\n%s", console)
		}
		t.Logf("pair: %s; ready: guest uptime %d ms, host wall %d ms (%s)", buildSize(t, out, "kernel", "initramfs.cpio.zst"),
			doc.Ready.UptimeMS, doc.Ready.HostWallMS, doc.Accel)
	})
	t.Run("nats", func(t *testing.T) {
		debugfs := testenv.MustHaveTool(t, "debugfs", "e2fsprogs")
		out := buildOnce(t, "../recipes/nats/recipe.yaml")
		disk := copyDisk(t, out)
		doc, console := bootReady(t, disk, "--boot", "disk")
		if !strings.Contains(console, "/data/nats/jetstream") {
			t.Errorf("JetStream does not store to /data:\n%s", console)
		}
		// What it wrote is on the data partition, not in memory.
		img := dataPartitionFile(t, disk)
		ls, err := exec(debugfs, "-R", "ls -p /nats/jetstream", img)
		if err != nil || !strings.Contains(ls, "/.") {
			t.Errorf("no /nats/jetstream folder on the data partition: %v\n%s", err, ls)
		}
		t.Logf("nats: %s, disk.img %s; ready: guest uptime %d ms, host wall %d ms (%s)", buildSize(t, out, "kernel", "slot-initramfs.cpio.zst", "root.squashfs"),
			"(sparse)", doc.Ready.UptimeMS, doc.Ready.HostWallMS, doc.Accel)
	})
}
