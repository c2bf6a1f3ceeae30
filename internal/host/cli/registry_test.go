package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
)

// homeEnv is the environment of a registry command run by a test: HOME
// is home (an empty one: no credentials of the user's are read) and
// nothing else is set.
func homeEnv(home string, stdout, stderr *bytes.Buffer) *Env {
	return &Env{Stdout: stdout, Stderr: stderr, Getenv: func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}}
}

// registryCLI returns a runner of turbo-image commands with one empty
// HOME for all of them; each run must exit with want (else the test
// stops, showing both outputs) and gives back its stdout and stderr.
func registryCLI(t *testing.T) func(want int, args ...string) (string, string) {
	home := t.TempDir()
	return func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := MainEnv(context.Background(), args, homeEnv(home, &out, &errb)); code != want {
			t.Fatalf("%v: exit %d, want %d: %s%s", args, code, want, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
}

// TestPushPull drives the commands against a real registry: push prints
// REF@DIGEST, pull -o writes the same bytes, and a second push of the same
// folder prints the same digest.
func TestPushPull(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	src, _ := sbomBuild(t) // a build with an SBOM: it goes along
	env := func(stdout, stderr *bytes.Buffer) *Env { return homeEnv(t.TempDir(), stdout, stderr) }
	ref := reg.Host + "/acme/hello:1.0.0"
	var digests []string
	for i := range 2 {
		var out, errb bytes.Buffer
		if code := MainEnv(context.Background(), []string{"push", src, ref}, env(&out, &errb)); code != 0 {
			t.Fatalf("push: exit %d: %s", code, errb.String())
		}
		// Progress, in a log's plain lines: each layer, to 100%; the
		// second push finds every blob there.
		want := `(?m)^turbo-image: push \d+/\d+: sbom\.spdx\.json: .* of .* \(100%\)`
		if i == 1 {
			want = `(?m)^turbo-image: push \d+/\d+: sbom\.spdx\.json \(already in the registry\): .* of .* \(100%\)$`
		}
		if !regexp.MustCompile(want).MatchString(errb.String()) || strings.ContainsAny(errb.String(), "\r\x1b") {
			t.Errorf("push %d: no line matching %s in:\n%s", i, want, errb.String())
		}
		m := regexp.MustCompile(`^` + regexp.QuoteMeta(ref) + `@(sha256:[0-9a-f]{64})\n$`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("push printed %q", out.String())
		}
		digests = append(digests, m[1])
	}
	if digests[0] != digests[1] {
		t.Fatalf("same folder, two digests: %v", digests)
	}
	dst := filepath.Join(t.TempDir(), "pulled")
	var out, errb bytes.Buffer
	if code := MainEnv(context.Background(), []string{"pull", reg.Host + "/acme/hello@" + digests[0], "-o", dst}, env(&out, &errb)); code != 0 {
		t.Fatalf("pull: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "every digest verified") {
		t.Fatalf("pull printed %q", out.String())
	}
	if want := `(?m)^turbo-image: pull \d+/\d+: manifest\.json: .* of .* \(100%\)`; !regexp.MustCompile(want).MatchString(errb.String()) {
		t.Errorf("pull: no line matching %s in:\n%s", want, errb.String())
	}
	t.Logf("pull:\n%s", errb.String())
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		a, _ := os.ReadFile(filepath.Join(src, e.Name()))
		b, err := os.ReadFile(filepath.Join(dst, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs after pull (%v)", e.Name(), err)
		}
	}
	// pull without -o is a usage error.
	errb.Reset()
	if code := MainEnv(context.Background(), []string{"pull", ref}, env(&out, &errb)); code != 2 || !strings.Contains(errb.String(), "-o DIR") {
		t.Fatalf("pull without -o: exit %d, %q", code, errb.String())
	}
}

// TestPromoteChannels drives promote, channels and pull --channel: keys
// from keygen, at then prod, the channel listing, and a refusal that
// names both channels.
func TestPromoteChannels(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	src := fakeBuild(t)
	run := registryCLI(t)
	keys := t.TempDir()
	for _, k := range []string{"at", "prod"} {
		run(0, "keygen", "-o", filepath.Join(keys, k+".key"))
	}
	repo := reg.Host + "/acme/hello"
	out, _ := run(0, "push", src, repo+":1.0.0")
	digest := strings.TrimSpace(strings.TrimPrefix(out, repo+":1.0.0@"))
	out, msg := run(0, "promote", repo+"@"+digest, "--channel", "at", "--key", filepath.Join(keys, "at.key"))
	if out != repo+":at@"+digest+"\n" || !strings.Contains(msg, "signed hello") {
		t.Fatalf("promote printed %q %q", out, msg)
	}
	t.Logf("%s", msg)
	out, _ = run(0, "promote", repo+":at", "--channel", "prod", "--key", filepath.Join(keys, "prod.key"))
	if out != repo+":prod@"+digest+"\n" {
		t.Fatalf("promote to prod printed %q", out)
	}
	out, _ = run(0, "channels", repo, "--key", filepath.Join(keys, "prod.pub"))
	t.Logf("channels:\n%s", out)
	for _, w := range []string{"at\t" + digest, "prod\t" + digest, "signed for prod by key", "verified with " + filepath.Join(keys, "prod.pub"), "signed for at by key", "not verified (key not among --key)"} {
		if !strings.Contains(out, w) {
			t.Fatalf("channels does not say %q:\n%s", w, out)
		}
	}
	dst := filepath.Join(t.TempDir(), "prod")
	run(0, "pull", repo+":prod", "-o", dst, "--channel", "prod", "--key", filepath.Join(keys, "prod.pub"))
	bad := filepath.Join(t.TempDir(), "bad")
	_, msg = run(1, "pull", repo+":at", "-o", bad, "--channel", "prod", "--key", filepath.Join(keys, "at.pub"))
	if !strings.Contains(msg, `"at"`) || !strings.Contains(msg, `"prod"`) {
		t.Fatalf("refusal does not name both channels: %s", msg)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatal("refused pull created its folder")
	}
	run(2, "pull", repo+":at", "-o", bad, "--channel", "prod")
	run(2, "promote", repo+":at", "--channel", "prod")
}
