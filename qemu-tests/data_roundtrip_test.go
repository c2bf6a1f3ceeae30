package qemutests

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/data"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestDataOfflineToLive (one boot, ~25 s under TCG): 100.2 MiB of files
// (100 of 1 MiB, half random, half text; 2000 of 100 bytes) go into a
// hello disk by offline import, out again by offline export, then the
// appliance boots (its kernel mounts the imported ext4) and exports its
// /data live through the agent; GNU tar unpacks the live archive and
// every file is byte-identical to the source (diff -r), the only
// difference being hello's own boot counter. Before that, a client that
// stops reading mid-export is cut off by the agent's stall limit and the
// app resumes. The recipe names data.quiesce and data.resume, so this
// test covers that path (TestDataLiveExport covers SIGSTOP and
// TestDataBoltRoundTrip the cgroup freeze). The times are logged with
// the load average (docs/data.md, "Measured"); nothing asserts on them.
func TestDataOfflineToLive(t *testing.T) {
	setup(t)
	tarTool := testenv.MustHaveTool(t, "tar", "tar")
	testenv.MustHaveTool(t, "zstd", "zstd")
	diffTool := testenv.MustHaveTool(t, "diff", "diffutils")
	token := "correct-horse-battery-staple"
	key, _ := signing.GenerateKey(nil)
	testapp, err := os.ReadFile(shared.testapp)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"release.pub": key.Public().MarshalText(), "agent.token": []byte(token + "\n"), "testapp": testapp}
	// data.quiesce and data.resume instead of the freeze: each prints a
	// line on the console, and the agent names quiesce as its pause.
	upd := "update: {settle: 1s, trusted_keys: [release.pub], agent: {listen: \":8443\", token_file: agent.token}}\n" +
		"files: [{dest: /bin/testapp, src: testapp, mode: \"0755\"}]\n" +
		"data: {quiesce: [/bin/testapp, say, quiesce-ran], resume: [/bin/testapp, say, resume-ran]}\n"
	out := buildOnce(t, helloRecipe(t, goodHealth, "", upd, files))
	disk := copyDisk(t, out)
	src := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	for d := 0; d < 10; d++ {
		dd := filepath.Join(src, fmt.Sprintf("d%d", d))
		os.Mkdir(dd, 0o755)
		for i := 0; i < 10; i++ {
			b := make([]byte, 1<<20)
			if i%2 == 0 {
				rng.Read(b)
			} else {
				copy(b, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 1<<20/44+1))
			}
			os.WriteFile(filepath.Join(dd, fmt.Sprintf("big%d", i)), b, 0o644)
		}
		for i := 0; i < 200; i++ {
			os.WriteFile(filepath.Join(dd, fmt.Sprintf("small%d", i)), bytes.Repeat([]byte("x"), 100), 0o644)
		}
	}
	dir := t.TempDir()
	arch := filepath.Join(dir, "in.tar.zst")
	f, _ := os.Create(arch)
	if _, err := data.ExportFolder(context.Background(), src, data.Source{Name: "hello"}, 0, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	la := func() string { b, _ := os.ReadFile("/proc/loadavg"); return strings.TrimSpace(string(b)) }
	st := time.Now()
	r := turbo(t, context.Background(), "data", "import", arch, "--target", disk)
	if r.code != 0 {
		t.Fatalf("offline import: %s", r)
	}
	t.Logf("offline import: %v load %s\n%s%s", time.Since(st), la(), r.stdout, r.stderr)
	st = time.Now()
	r = turbo(t, context.Background(), "data", "export", disk, "-o", filepath.Join(dir, "off.tar.zst"))
	if r.code != 0 {
		t.Fatalf("offline export: %s", r)
	}
	t.Logf("offline export: %v load %s\n%s", time.Since(st), la(), r.stdout)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	v := startVM(t, disk, "--boot", "disk", "--publish", fmt.Sprintf("%d:8443", port), "--timeout", "600s")
	defer v.stop()
	v.waitFor(`TURBO_READY name=hello`, bootTimeout)
	// A client that stops reading after the headers (hung, or its network
	// gone without a reset): 100 MiB do not fit in the socket buffers, so
	// the agent's writes block; it cuts the export after its stall limit
	// (exportStall, 20 s), thaws /data and resumes hello. The live export
	// below then proves it: a paused agent would answer 409, a frozen
	// /data would hang its sync.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/data/export", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stalled export: %v %v", resp, err)
	}
	v.waitFor(`data export cut short after \d+ bytes: .*the client took no data for 20s`, 3*time.Minute)
	resp.Body.Close()
	// data.resume ran after the cut export too (quiesce ran before it).
	if c := v.console(); strings.Count(c, "testapp say: quiesce-ran uid=") != 1 || strings.Count(c, "testapp say: resume-ran uid=") != 1 {
		t.Fatalf("quiesce and resume around the cut export, once each:\n%s", c)
	}
	live := filepath.Join(dir, "live.tar.zst")
	st = time.Now()
	r = turbo(t, context.Background(), "data", "export", base, "--token", token, "-o", live)
	if r.code != 0 {
		t.Fatalf("live export: %s\nconsole:\n%s", r, v.console())
	}
	t.Logf("live export: %v load %s\n%s%s", time.Since(st), la(), r.stdout, r.stderr)
	if !strings.Contains(r.stderr, "paused its app for ") || !strings.Contains(r.stderr, ": data.quiesce /bin/testapp say quiesce-ran; /data frozen (FIFREEZE)") {
		t.Errorf("the live export did not report data.quiesce as its pause: %s", r.stderr)
	}
	// data.resume ran after the live export (it runs before the archive's
	// trailer is sent; its line may reach the serial console a little
	// after the export returned).
	v.waitCount("testapp say: resume-ran", 2, time.Minute)
	x := t.TempDir()
	if o, err := osexec.Command(tarTool, "--zstd", "-xf", live, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	o, _ := osexec.Command(diffTool, "-r", src, x).CombinedOutput()
	if want := "Only in " + x + ": hello\n"; string(o) != want {
		t.Errorf("diff -r source live-export:\n%s\nwant only %q", o, want)
	}
}
