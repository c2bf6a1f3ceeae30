package qemutests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/data"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestDataRoundTrip: hello counts its boots in /data/hello/boots. Appliance
// A boots twice; its /data is exported offline (channel prod) and imported
// into a fresh copy B (channel qa), whose file system turbo-image built
// itself; B's kernel mounts it, reads the count and writes boot 3; e2fsck
// finds B's /data clean after import and after the boot. Importing qa's
// data back into a prod appliance is refused and leaves it byte-identical.
func TestDataRoundTrip(t *testing.T) {
	setup(t)
	e2fsck := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	out := buildOnce(t, "../recipes/hello/recipe.yaml")
	a, b := copyDisk(t, out), copyDisk(t, out)
	boot := func(disk, want string) {
		t.Helper()
		r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s")
		if r.code != 0 {
			t.Fatalf("boot: %s", r)
		}
		if !strings.Contains(r.stdout, "hello: "+want+" in /data/hello/boots") {
			t.Fatalf("want %q:\n%s", want, r.stdout)
		}
	}
	boot(a, "boot 1 recorded")
	boot(a, "boot 2 recorded")
	dir := t.TempDir()
	arch := filepath.Join(dir, "prod.tar.zst")
	if r := turbo(t, context.Background(), "data", "export", a, "-o", arch, "--channel", "prod"); r.code != 0 {
		t.Fatalf("export: %s", r)
	}
	f, err := os.Open(arch)
	if err != nil {
		t.Fatal(err)
	}
	var boots string
	src, err := data.List(context.Background(), f, data.Limits{}, func(e *data.Entry) error {
		if e.Path == "hello/boots" {
			boots = e.Header.Name
		}
		return nil
	})
	f.Close()
	if err != nil || boots == "" || src.Name != "hello" || src.Channel != "prod" || src.From != "disk" {
		t.Fatalf("archive: source %+v, hello/boots %q, %v", src, boots, err)
	}
	if r := turbo(t, context.Background(), "data", "import", arch, "--target", b, "--channel", "qa"); r.code != 0 {
		t.Fatalf("import: %s", r)
	}
	fsck(t, e2fsck, b)
	boot(b, "boot 3 recorded")
	fsck(t, e2fsck, b)

	// qa's data does not go up into prod.
	qa := filepath.Join(dir, "qa.tar.zst")
	if r := turbo(t, context.Background(), "data", "export", b, "-o", qa, "--channel", "qa"); r.code != 0 {
		t.Fatalf("export of b: %s", r)
	}
	before, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	r := turbo(t, context.Background(), "data", "import", qa, "--target", a, "--channel", "prod")
	if r.code != 1 || !strings.Contains(r.stderr, "would flow up into prod") {
		t.Fatalf("import up into prod: %s", r)
	}
	after, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("a refused import changed the prod disk")
	}
	boot(a, "boot 3 recorded")
}
