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

// TestPushPull drives the commands against a real registry: push prints
// REF@DIGEST, pull -o writes the same bytes, and a second push of the same
// folder prints the same digest.
func TestPushPull(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	src := fakeBuild(t)
	env := func(stdout, stderr *bytes.Buffer) *Env {
		return &Env{Stdout: stdout, Stderr: stderr, Getenv: func(k string) string {
			if k == "HOME" {
				return t.TempDir()
			}
			return ""
		}}
	}
	ref := reg.Host + "/acme/hello:1.0.0"
	var digests []string
	for range 2 {
		var out, errb bytes.Buffer
		if code := MainEnv(context.Background(), []string{"push", src, ref}, env(&out, &errb)); code != 0 {
			t.Fatalf("push: exit %d: %s", code, errb.String())
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
