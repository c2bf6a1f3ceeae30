package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func TestMountsUnder(t *testing.T) {
	mounts := `/dev/vda / ext4 rw 0 0
proc /srv/root/proc proc rw 0 0
tmpfs /srv/root/dev\040x tmpfs rw 0 0
tmpfs /srv/rootfs tmpfs rw 0 0
sysfs /srv/root sysfs rw 0 0
broken
`
	tests := []struct {
		dir  string
		want []string
	}{
		{"/srv/root", []string{"/srv/root/proc", "/srv/root/dev x", "/srv/root"}},
		{"/srv/root/", []string{"/srv/root/proc", "/srv/root/dev x", "/srv/root"}},
		{"/srv/root/proc", []string{"/srv/root/proc"}},
		{"/elsewhere", nil},
	}
	for _, tt := range tests {
		if got := MountsUnder(mounts, tt.dir); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MountsUnder(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}

func FuzzMountsUnder(f *testing.F) {
	f.Add("proc /a/proc proc rw 0 0\n", "/a")
	f.Add(`x /a\040b\134 y`, "/a b")
	f.Add(`x /a\1`, "/")
	f.Fuzz(func(t *testing.T, mounts, dir string) {
		for _, mp := range MountsUnder(mounts, dir) {
			d := filepath.Clean(dir)
			if mp != d && !strings.HasPrefix(mp, d+"/") {
				t.Fatalf("%q is not under %q", mp, d)
			}
		}
	})
}

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain", "/plain"},
		{`/a\040b`, "/a b"},
		{`/tab\011x\134`, "/tab\tx\\"},
		{`/short\04`, `/short\04`},
		{`/bad\999`, `/bad\999`},
	}
	for _, tt := range tests {
		if got := unescapeMount(tt.in); got != tt.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRemoveTreeRefusesMounts(t *testing.T) {
	// /proc is mounted on every Linux machine this runs on; removeTree of
	// "/" must refuse before deleting anything.
	if _, err := os.Stat("/proc/self/mounts"); err != nil {
		testenv.Missing(t, "no /proc/self/mounts: mount /proc")
	}
	if err := removeTree("/"); err == nil || !strings.Contains(err.Error(), "still mounted") {
		t.Fatalf("removeTree(/) = %v, want a refusal", err)
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "x", "y")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeTree(filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sub); !os.IsNotExist(err) {
		t.Errorf("tree still there: %v", err)
	}
	if err := removeTree(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("removing a missing tree: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "GOFLAGS=-x", "B=2", "GOCACHE=/old"}, []string{"GOCACHE=/new", "GOFLAGS", "C=3"})
	want := []string{"A=1", "B=2", "GOCACHE=/new", "C=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestGoMod(t *testing.T) {
	gomod := []byte("module github.com/turbo-image/turbo-image\n\ngo 1.26.0\n\nrequire (\n\tgithub.com/u-root/u-root v0.16.0\n\tgolang.org/x/sys v0.50.0\n)\n\nrequire golang.org/x/net v0.47.0 // indirect\n")
	if got := goModModule(gomod); got != modulePath {
		t.Errorf("module = %q", got)
	}
	if got := goModGo(gomod); got != "1.26.0" {
		t.Errorf("go = %q", got)
	}
	for path, want := range map[string]string{"github.com/u-root/u-root": "v0.16.0", "golang.org/x/sys": "v0.50.0", "golang.org/x/net": "v0.47.0", "example.com/none": ""} {
		if got := goModRequire(gomod, path); got != want {
			t.Errorf("require %s = %q, want %q", path, got, want)
		}
	}
}

// The repository's go.mod pins the u-root version row 3 uses.
func TestRepoPinsURoot(t *testing.T) {
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if v := goModRequire(gomod, urootModule); !strings.HasPrefix(v, "v") {
		t.Errorf("go.mod requires %s %q; row 3 needs a pinned version", urootModule, v)
	}
	if v := goModRequire(gomod, "golang.org/x/sys"); v == "" {
		t.Error("go.mod does not require golang.org/x/sys (the timing module copies its version)")
	}
}

func TestTimingRecipe(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", helloRecipe))
	if err != nil {
		t.Fatal(err)
	}
	got, err := TimingRecipe(src)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "package: ./app\n") || strings.Contains(string(got), appImport) {
		t.Errorf("timing recipe:\n%s", got)
	}
	if _, err := TimingRecipe([]byte("services:\n  - package: ./app\n")); err == nil {
		t.Error("a recipe without the bench app: no error")
	}
}

// recipeLines returns a recipe's lines without comments and blank lines.
func recipeLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if s := strings.TrimSpace(l); s != "" && !strings.HasPrefix(s, "#") {
			out = append(out, strings.TrimRight(l, " "))
		}
	}
	return out
}

// The bench recipes are recipes/hello/recipe.yaml with the bench app as the
// service (and, for row 1, only the initramfs output); when the example
// changes, they must follow.
func TestBenchRecipesFollowHello(t *testing.T) {
	hello := recipeLines(t, filepath.Join("..", "recipes", "hello", "recipe.yaml"))
	want := strings.Join(hello, "\n")
	want = strings.Replace(want, "package: ./app", "package: "+appImport, 1)
	disk := strings.Join(recipeLines(t, filepath.Join("..", helloDiskRecipe)), "\n")
	if disk != want {
		t.Errorf("%s is not recipes/hello with the bench app:\n%s\n--- want ---\n%s", helloDiskRecipe, disk, want)
	}
	initramfsOnly := strings.Replace(want, "outputs: [initramfs, disk]", "outputs: [initramfs]", 1)
	if got := strings.Join(recipeLines(t, filepath.Join("..", helloRecipe)), "\n"); got != initramfsOnly {
		t.Errorf("%s is not recipes/hello with the bench app and outputs [initramfs]:\n%s\n--- want ---\n%s", helloRecipe, got, initramfsOnly)
	}
	lz4 := strings.Replace(initramfsOnly, "outputs: [initramfs]", "outputs: [initramfs]\ncompression: lz4", 1)
	if got := strings.Join(recipeLines(t, filepath.Join("..", helloLZ4Recipe)), "\n"); got != lz4 {
		t.Errorf("%s is not the bench recipe with compression: lz4:\n%s\n--- want ---\n%s", helloLZ4Recipe, got, lz4)
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := CPUModel(info); got != "AMD EPYC 7B13" {
		t.Errorf("CPUModel = %q", got)
	}
	if got := CPUModel("processor: 0\n"); got != "" {
		t.Errorf("CPUModel without model name = %q", got)
	}
}

func TestParseApt(t *testing.T) {
	depends := "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n  Depends: something-else\n"
	if got, err := ParseAptDepends(depends); err != nil || got != "linux-image-6.1.0-56-amd64" {
		t.Errorf("ParseAptDepends = %q, %v", got, err)
	}
	for _, bad := range []string{"", "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64-unsigned\n", "  Depends: linux-image-6.12.1-1-amd64\n"} {
		if got, err := ParseAptDepends(bad); err == nil {
			t.Errorf("ParseAptDepends(%q) = %q, want an error", bad, got)
		}
	}
	show := "Package: linux-image-6.1.0-56-amd64\nSource: linux-signed-amd64 (6.1.192+2)\nVersion: 6.1.192-2\n"
	if got, err := ParseAptVersion(show); err != nil || got != "6.1.192-2" {
		t.Errorf("ParseAptVersion = %q, %v", got, err)
	}
	if _, err := ParseAptVersion("Package: x\n"); err == nil {
		t.Error("ParseAptVersion without Version: no error")
	}
}

func TestKeyOfDependsOnEveryInput(t *testing.T) {
	a := keyOf("x", "y")
	for _, other := range []string{keyOf("x", "z"), keyOf("xy"), keyOf("x\ny", ""), keyOf("y", "x")} {
		if other == a {
			t.Errorf("keyOf collision with %s", a)
		}
	}
	if keyOf("x", "y") != a {
		t.Error("keyOf is not deterministic")
	}
	// The Debian tree's key changes with its configuration and kernel.
	if debianSystemKey("sha-a", "1.0") == debianSystemKey("sha-b", "1.0") || debianSystemKey("sha-a", "1.0") == debianSystemKey("sha-a", "1.1") {
		t.Error("debianSystemKey ignores an input")
	}
}
