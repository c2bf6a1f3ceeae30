package builder

import (
	"archive/zip"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// fakeProxy writes a file:// Go module proxy (the layout of
// https://go.dev/ref/mod#goproxy-protocol) with example.com/turbodep
// v1.0.0 and v1.2.0, and example.com/turbotest v1.0.0 and v1.1.0 whose
// cmd/hi imports turbodep; v1.0.0's go.mod requires turbodep v1.0.0. It
// points the go command at it (GOPROXY, no checksum database, a private
// module cache) for the rest of the test.
func fakeProxy(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mod := func(path, version string, files map[string]string) {
		at := filepath.Join(root, filepath.FromSlash(path), "@v")
		write(filepath.Join(at, version+".info"), fmt.Sprintf(`{"Version":%q,"Time":"2024-01-01T00:00:00Z"}`, version))
		write(filepath.Join(at, version+".mod"), files["go.mod"])
		// A module zip holds the module's files under "path@version/"
		// (https://go.dev/ref/mod#zip-files).
		f, err := os.Create(filepath.Join(at, version+".zip"))
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for name, body := range files {
			w, err := zw.Create(path + "@" + version + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(body))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		list, _ := os.ReadFile(filepath.Join(at, "list"))
		write(filepath.Join(at, "list"), string(list)+version+"\n")
	}
	for _, v := range []string{"v1.0.0", "v1.2.0"} {
		mod("example.com/turbodep", v, map[string]string{
			"go.mod": "module example.com/turbodep\n\ngo 1.22\n",
			"dep.go": "package turbodep\n\nconst Version = \"" + v + "\"\n",
		})
	}
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		mod("example.com/turbotest", v, map[string]string{
			"go.mod":       "module example.com/turbotest\n\ngo 1.22\n\nrequire example.com/turbodep v1.0.0\n",
			"cmd/hi/hi.go": "package main\n\nimport \"example.com/turbodep\"\n\nfunc main() { println(\"hi " + v + "\", turbodep.Version) }\n",
		})
	}
	modcache := t.TempDir()
	t.Cleanup(func() { // the go command writes its cache read-only
		filepath.WalkDir(modcache, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	// The init's own modules come from the real module cache, whose
	// cache/download folder has a proxy's layout.
	real, err := goEnvVar(context.Background(), "go", "GOMODCACHE")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(root)+",file://"+filepath.ToSlash(filepath.Join(real, "cache", "download")))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOMODCACHE", modcache)
}

func moduleRecipe(t *testing.T, services string) string {
	dir := t.TempDir()
	p := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(p, []byte("name: mods\nversion: \"1\"\nkernel: {fragments: [builtin:virt]}\nservices:\n"+services), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestModulePackages builds services from pkg@version like go install
// does: the pinned version, @latest resolved to the newest, the package's
// own go.mod choosing its dependency (v1.0.0, not the newer v1.2.0), all
// of it recorded in manifest.json from the binaries' build information.
func TestModulePackages(t *testing.T) {
	fakeProxy(t)
	rec := moduleRecipe(t, `  - name: pinned
    package: example.com/turbotest/cmd/hi@v1.0.0
  - name: newest
    package: example.com/turbotest/cmd/hi@latest
`)
	out := filepath.Join(t.TempDir(), "out")
	res, err := Build(context.Background(), Options{Recipe: rec, Out: out, Kernel: fakeKernel(t), CacheDir: testCache})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := manifest.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]manifest.GoBinary{}
	for _, g := range m.GoBinaries {
		got[g.Name] = g
	}
	for name, want := range map[string]string{"service:pinned": "v1.0.0", "service:newest": "v1.1.0"} {
		g := got[name]
		if g.Package != "example.com/turbotest/cmd/hi" || g.Main.Path != "example.com/turbotest" || g.Main.Version != want ||
			!strings.HasPrefix(g.GoVersion, "go1.") {
			t.Errorf("%s: %+v, want main module example.com/turbotest %s", name, g, want)
		}
		if len(g.Deps) != 1 || g.Deps[0].Path != "example.com/turbodep" || g.Deps[0].Version != "v1.0.0" || !strings.HasPrefix(g.Deps[0].Sum, "h1:") {
			t.Errorf("%s: deps %+v, want example.com/turbodep v1.0.0 (its go.mod's requirement) with its hash", name, g.Deps)
		}
	}
	if g := got["init"]; g.Main.Path != "github.com/turbo-image/turbo-image" {
		t.Errorf("init: %+v, want the turbo-image module", g)
	}
	if len(res.Manifest.GoBinaries) != len(m.GoBinaries) {
		t.Errorf("result and file disagree: %d and %d binaries", len(res.Manifest.GoBinaries), len(m.GoBinaries))
	}
}

// TestModulePackageErrors: a version the proxy does not have and a bare
// import path without a go.mod both fail the build naming the recipe's
// file, line and field, with go's own message for the first.
func TestModulePackageErrors(t *testing.T) {
	fakeProxy(t)
	for _, c := range []struct {
		services string
		want     []string
	}{
		{"  - name: hi\n    package: example.com/turbotest/cmd/hi@v9.9.9\n",
			[]string{"recipe.yaml:6: services[0].package: go install example.com/turbotest/cmd/hi@v9.9.9", "v9.9.9"}},
		{"  - name: ok\n    package: example.com/turbotest/cmd/hi@v1.0.0\n  - name: hi\n    package: example.com/turbotest/cmd/hi\n",
			[]string{"recipe.yaml:8: services[1].package: example.com/turbotest/cmd/hi has no version", "@latest"}},
	} {
		rec := moduleRecipe(t, c.services)
		out := filepath.Join(t.TempDir(), "out")
		_, err := Build(context.Background(), Options{Recipe: rec, Out: out, Kernel: fakeKernel(t), CacheDir: testCache})
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("got %v, want it to say %q", err, w)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s exists after a failed build", out)
		}
	}
}
