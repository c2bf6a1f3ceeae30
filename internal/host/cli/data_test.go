package cli

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
)

func dataDisk(t *testing.T, seed string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), seed+".img")
	if err := diskimage.Write(p, diskimage.Image{Layout: diskimage.Layout{SlotSize: 8 << 20, DataSize: 8 << 20, Arch: "amd64", Seed: seed},
		SlotA: []byte("slot"), DataExt4: true}); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestDataCommands runs data export, ls and import through Main: an export
// records its channel, ls lists it, an import up the channel order is
// refused (the target unchanged) unless --force.
func TestDataCommands(t *testing.T) {
	dev, prod := dataDisk(t, "dev"), dataDisk(t, "prod")
	arch := filepath.Join(t.TempDir(), "dev.tar.zst")
	code, out, errOut := runMain(t, "data", "export", dev, "-o", arch, "--channel", "dev")
	if code != 0 || !strings.Contains(out, "channel=dev") {
		t.Fatalf("export: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "data", "ls", arch)
	if code != 0 || !strings.Contains(out, "drwxr-xr-x") || !strings.Contains(out, "channel=dev") {
		t.Fatalf("ls: %d\n%s%s", code, out, errOut)
	}
	before := fileSum(t, prod)
	code, _, errOut = runMain(t, "data", "import", arch, "--target", prod, "--channel", "prod")
	if code != 1 || !strings.Contains(errOut, "data from dev would flow up into prod") {
		t.Fatalf("import up: %d\n%s", code, errOut)
	}
	if fileSum(t, prod) != before {
		t.Fatal("a refused import changed the target")
	}
	code, out, errOut = runMain(t, "data", "import", arch, "--target", prod, "--channel", "prod", "--force")
	if code != 0 || !strings.Contains(errOut, "--force") || !strings.Contains(out, "imported") {
		t.Fatalf("import --force: %d\n%s%s", code, out, errOut)
	}
	// Usage errors: a verb's foreign flag, a missing verb.
	if code, _, errOut := runMain(t, "data", "ls", arch, "--force"); code != 2 || !strings.Contains(errOut, "does not take --force") {
		t.Errorf("ls --force: %d %s", code, errOut)
	}
	if code, _, _ := runMain(t, "data"); code != 2 {
		t.Errorf("data without a verb: %d", code)
	}
}

// TestDataImportFolder: --target FOLDER unpacks into a jail's data
// folder; a non-empty one is refused with exit 1.
func TestDataImportFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: owners of a jail's data folder need root")
	}
	disk := dataDisk(t, "folder")
	arch := filepath.Join(t.TempDir(), "x.tar.zst")
	if code, out, errOut := runMain(t, "data", "export", disk, "-o", arch); code != 0 {
		t.Fatalf("export: %d %s%s", code, out, errOut)
	}
	dir := t.TempDir()
	if code, out, errOut := runMain(t, "data", "import", arch, "--target", dir); code != 0 || !strings.Contains(out, "imported") {
		t.Fatalf("import into a folder: %d %s%s", code, out, errOut)
	}
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if code, _, errOut := runMain(t, "data", "import", arch, "--target", dir); code != 1 || !strings.Contains(errOut, "is not empty") {
		t.Errorf("import into a non-empty folder: %d %s", code, errOut)
	}
}

// TestDataScrubUsage: scrub's flags are checked before anything runs.
func TestDataScrubUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"data", "scrub", "in.tar.zst", "-o", "out.tar.zst"}, "needs --with BUILD and -o FILE"},
		{[]string{"data", "scrub", "in.tar.zst", "--with", "out/hello"}, "needs --with BUILD and -o FILE"},
		{[]string{"data", "scrub", "--with", "out/hello", "-o", "x"}, "wants one archive"},
		{[]string{"data", "scrub", "in.tar.zst", "--with", "b", "-o", "x", "--target", "y"}, "does not take --target"},
	} {
		if code, _, errOut := runMain(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d %s, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if os.Geteuid() == 0 {
		dir := t.TempDir()
		if code, _, errOut := runMain(t, "data", "scrub", filepath.Join(dir, "in.tar.zst"), "--with", dir, "-o", filepath.Join(dir, "out")); code != 1 {
			t.Errorf("scrub with a folder that is no build: exit %d %s, want 1", code, errOut)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("a refused scrub left %v", ents)
		}
	}
}

// TestDataLiveUsage: a live export needs a token; --token goes only with
// an agent; an import into a running appliance is refused with what to do
// instead, before anything is read.
func TestDataLiveUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"data", "export", "http://127.0.0.1:1", "-o", "x.tar.zst"}, 2, "a live export needs --token, --token-file or $TURBO_TOKEN"},
		{[]string{"data", "export", "disk.img", "-o", "x.tar.zst", "--token", "t"}, 2, "go with a live export"},
		{[]string{"data", "import", "x.tar.zst", "--target", "http://127.0.0.1:1"}, 1, "power the appliance off, import into its disk image"},
	} {
		if code, _, errOut := runMain(t, tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d %s, want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
