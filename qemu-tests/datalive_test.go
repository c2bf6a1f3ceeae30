package qemutests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/data"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// TestDataLiveExport (one boot): a running hello with the update agent
// exports its /data live through a published port: the agent pauses the
// service (no data.quiesce: SIGSTOP of its process group), syncs and
// freezes /data (FIFREEZE), streams it and resumes; the archive holds
// hello/boots with the source from the appliance (name, version, build,
// from=live), the pause is reported (SIGSTOP and FIFREEZE both taken), a
// second export works (/data was thawed: a frozen one would hang the
// sync), and hello is not reported unhealthy meanwhile (health results
// are not counted while it is stopped). A bad token writes no archive.
// An app writing while it is exported, and the cgroup.freeze path, are
// TestDataBoltRoundTrip's.
func TestDataLiveExport(t *testing.T) {
	setup(t)
	token := "correct-horse-battery-staple"
	key, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"release.pub": key.Public().MarshalText(), "agent.token": []byte(token + "\n")}
	upd := "update: {settle: 1s, trusted_keys: [release.pub], agent: {listen: \":8443\", token_file: agent.token}}\n"
	out := buildOnce(t, helloRecipe(t, goodHealth, "", upd, files))
	disk := copyDisk(t, out)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	v := startVM(t, disk, "--boot", "disk", "--publish", fmt.Sprintf("%d:8443", port), "--timeout", "400s")
	defer v.stop()
	v.waitFor(`update agent listening on :8443`, bootTimeout)
	v.waitFor(`TURBO_READY name=hello version=1\.0\.0 slot=a`, bootTimeout)

	dir := t.TempDir()
	tokFile := filepath.Join(dir, "t")
	os.WriteFile(tokFile, []byte(token+"\n"), 0o600)
	bad := filepath.Join(dir, "bad.tar.zst")
	if r := turbo(t, context.Background(), "data", "export", base, "--token", "nope", "-o", bad); r.code != 1 || !strings.Contains(r.stderr, "bad or missing token") {
		t.Fatalf("export with a bad token: %s", r)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("a refused export left %s", bad)
	}
	arch := filepath.Join(dir, "live.tar.zst")
	r := turbo(t, context.Background(), "data", "export", base, "--token-file", tokFile, "-o", arch, "--channel", "prod")
	if r.code != 0 {
		t.Fatalf("live export: %s\nconsole:\n%s", r, v.console())
	}
	if !strings.Contains(r.stderr, "paused its app for") || !strings.Contains(r.stderr, "stopped hello") {
		t.Errorf("export did not report the pause: %s", r)
	}
	t.Logf("%s%s", r.stdout, r.stderr)
	v.waitFor(`data export: \d+ members, \d+ bytes of file data; app paused \d+ ms`, bootTimeout)
	f, err := os.Open(arch)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var boots bool
	src, err := data.List(context.Background(), f, data.Limits{}, func(e *data.Entry) error {
		boots = boots || (e.Path == "hello/boots" && e.Header.Size > 0)
		return nil
	})
	if err != nil || !boots || src.Name != "hello" || src.Version != "1.0.0" || src.From != "live" || src.Channel != "prod" || !strings.HasPrefix(src.Build, "sha256:") {
		t.Fatalf("archive: source %+v, hello/boots %v, %v", src, boots, err)
	}
	// Thawed: a second export syncs /data again and must not hang.
	r = turbo(t, context.Background(), "data", "export", base, "--token-file", tokFile, "-o", filepath.Join(dir, "again.tar.zst"))
	if r.code != 0 {
		t.Fatalf("second live export: %s", r)
	}
	if c := v.console(); strings.Contains(c, "TURBO_UNHEALTHY") {
		t.Errorf("hello was reported unhealthy around the export:\n%s", c)
	}
}
