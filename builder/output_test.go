package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/sbom"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// writeBuild writes a minimal valid build folder (manifest + one artifact).
func writeBuild(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, sb := []byte("kernel"), []byte("{}\n")
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "x", Version: "1", Arch: "amd64",
		Artifacts: []manifest.File{manifest.Digest(KernelFile, data), manifest.Digest(sbom.FileName, sb)}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, KernelFile), data, 0o644)
	os.WriteFile(filepath.Join(dir, sbom.FileName), sb, 0o644) // the SBOM is ours too
	os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644)
}

// TestOutputProblem: issue 9 defect 1 and its siblings. Only a missing or
// empty folder, or a folder that holds exactly a turbo-image build, may be
// replaced.
func TestOutputProblem(t *testing.T) {
	root := t.TempDir()
	mk := func(name string, setup func(p string)) string {
		p := filepath.Join(root, name)
		setup(p)
		return p
	}
	home, _ := os.UserHomeDir()
	recipeDir := mk("project", func(p string) {
		os.MkdirAll(p, 0o755)
		os.WriteFile(filepath.Join(p, "recipe.yaml"), []byte("name: x\n"), 0o644)
	})
	cases := []struct {
		name, out, want string // want "" means allowed
	}{
		{"missing", filepath.Join(root, "new"), ""},
		{"empty", mk("empty", func(p string) { os.Mkdir(p, 0o755) }), ""},
		{"previous build", mk("build", func(p string) { writeBuild(t, p) }), ""},
		{"signed build", mk("signed", func(p string) {
			writeBuild(t, p)
			os.WriteFile(filepath.Join(p, "manifest.json.sig"), []byte("sig"), 0o644)
		}), ""},
		{"build with its provenance", mk("prov", func(p string) {
			writeBuild(t, p)
			os.WriteFile(filepath.Join(p, "provenance.intoto.jsonl"), []byte("{}\n"), 0o644)
		}), ""},
		{"web app with a manifest.json", mk("webapp", func(p string) {
			os.MkdirAll(filepath.Join(p, "src"), 0o755)
			os.WriteFile(filepath.Join(p, "manifest.json"), []byte(`{"name":"app","short_name":"a"}`), 0o644)
			os.WriteFile(filepath.Join(p, "src", "index.js"), []byte("x"), 0o644)
			os.WriteFile(filepath.Join(p, "NOTES.md"), []byte("x"), 0o644)
		}), "manifest.json is not a turbo-image manifest"},
		{"build with a killed sign's temporary file", mk("build-signtmp", func(p string) {
			writeBuild(t, p)
			os.WriteFile(filepath.Join(p, ".manifest.json.sig.tmp-123456"), []byte("half"), 0o644)
		}), ""},
		{"build plus a hidden user file", mk("build-hidden", func(p string) {
			writeBuild(t, p)
			os.WriteFile(filepath.Join(p, ".notes.tmp-1"), []byte("x"), 0o644)
		}), `it holds ".notes.tmp-1", which is not a build artifact`},
		{"build plus a user file", mk("build-notes", func(p string) {
			writeBuild(t, p)
			os.WriteFile(filepath.Join(p, "NOTES.md"), []byte("x"), 0o644)
		}), `it holds "NOTES.md", which is not a build artifact`},
		{"build plus a subfolder", mk("build-sub", func(p string) {
			writeBuild(t, p)
			os.Mkdir(filepath.Join(p, "keep"), 0o755)
		}), `it holds "keep"`},
		{"build with a symlinked artifact", mk("build-link", func(p string) {
			writeBuild(t, p)
			os.Remove(filepath.Join(p, KernelFile))
			os.Symlink("/etc/passwd", filepath.Join(p, KernelFile))
		}), "is not a regular file"},
		{"no manifest", mk("plain", func(p string) {
			os.Mkdir(p, 0o755)
			os.WriteFile(filepath.Join(p, "a"), nil, 0o644)
		}), "no readable manifest.json"},
		{"a file", mk("file", func(p string) { os.WriteFile(p, []byte("x"), 0o644) }), "exists and is not a folder"},
		{"a symlink to a build", mk("link", func(p string) { os.Symlink(filepath.Join(root, "build"), p) }), "is a symlink"},
		{"the root", "/", "is the root of the file system"},
		{"the recipe's folder", recipeDir, "is the folder of the recipe"},
		{"a parent of the recipe", root, "holds " + recipeDir},
	}
	if home != "" && home != "/" {
		cases = append(cases, struct{ name, out, want string }{"home", home, "refusing to replace it"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := OutputProblem(tc.out, recipeDir)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.out) {
				t.Fatalf("got %v, want an error naming %s and saying %q", err, tc.out, tc.want)
			}
		})
	}
}

// TestCommitKeepsUserFiles: the refusal holds at commit time too (the
// folder may change during a build), and nothing of the user's is touched.
func TestCommitKeepsUserFiles(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	tmp, err := newOutputDir(out)
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.remove()
	os.MkdirAll(filepath.Join(out, "src"), 0o755)
	os.WriteFile(filepath.Join(out, "manifest.json"), []byte(`{"name":"web"}`), 0o644)
	os.WriteFile(filepath.Join(out, "src", "index.js"), []byte("x"), 0o644)
	if err := commitOutputDir(tmp, out); err == nil {
		t.Fatal("replaced a folder that is not a build")
	}
	if b, err := os.ReadFile(filepath.Join(out, "src", "index.js")); err != nil || string(b) != "x" {
		t.Fatalf("user file changed: %q %v", b, err)
	}
}

// TestCommitReplacesBuild: a previous build is replaced and nothing is
// left next to it.
func TestCommitReplacesBuild(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	writeBuild(t, out)
	tmp, err := newOutputDir(out)
	if err != nil {
		t.Fatal(err)
	}
	writeBuild(t, tmp.path)
	os.WriteFile(filepath.Join(tmp.path, KernelFile), []byte("new"), 0o644)
	if err := commitOutputDir(tmp, out); err != nil {
		t.Fatal(err)
	}
	tmp.lock.Close()
	if b, _ := os.ReadFile(filepath.Join(out, KernelFile)); string(b) != "new" {
		t.Fatalf("output not replaced: %q", b)
	}
	if _, err := os.Stat(filepath.Join(out, tempMarker)); err == nil {
		t.Error("marker left in the output")
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("left next to the output: %v", entries)
	}
}

// TestCleanStale: issue 9 defect 10. A killed build's temporary folders
// (marker, no lock holder) are removed; a live build's (lock held), other
// folders with our prefix but no marker, and symlinks are kept.
func TestCleanStale(t *testing.T) {
	parent := t.TempDir()
	prefix := outputTempPrefix(filepath.Join(parent, "out"))

	dead, err := newTempDir(parent, prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dead.path, "disk.img"), []byte("partial"), 0o644)
	dead.lock.Close() // what the kernel does when the build is killed

	live, err := newTempDir(parent, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()

	unmarked := filepath.Join(parent, prefix+"user")
	os.Mkdir(unmarked, 0o755)
	target := t.TempDir()
	os.WriteFile(filepath.Join(target, tempMarker), nil, 0o644)
	link := filepath.Join(parent, prefix+"link")
	os.Symlink(target, link)
	other := filepath.Join(parent, "unrelated")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, tempMarker), nil, 0o644)

	removed := cleanStale(parent, prefix)
	if len(removed) != 1 || removed[0] != dead.path {
		t.Errorf("removed %v, want only %s", removed, dead.path)
	}
	if _, err := os.Stat(dead.path); err == nil {
		t.Error("abandoned folder kept")
	}
	for _, p := range []string{live.path, unmarked, link, other, filepath.Join(target, tempMarker)} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

// TestPreflight: issue 9 defect 9. A --kernel that is not a kernel image
// and a boot loader that is not an EFI application are refused before any
// work, and nothing is created.
func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	random := filepath.Join(dir, "random")
	os.WriteFile(random, []byte("\x13\x37 random bytes, not a kernel"), 0o644)
	out := filepath.Join(dir, "out")
	cache := filepath.Join(dir, "cache")
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"random kernel", Options{Kernel: random}, "--kernel " + random + " is not an x86 Linux bzImage"},
		{"passwd as boot loader", Options{Kernel: fakeKernel(t), SystemdBoot: "/etc/passwd"},
			"disk: systemd-boot /etc/passwd (--systemd-boot) is not an EFI application"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Recipe, o.Out, o.CacheDir = "../recipes/hello/recipe.yaml", out, cache
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("output created")
			}
			if _, err := os.Stat(cache); err == nil {
				t.Error("work started: the cache was created")
			}
		})
	}
}

// TestFileInputNames: every image name the recipe allows becomes a
// manifest input name the manifest accepts (issue 9: "/etc/my file" failed
// at the end of the build with "input name not allowed").
func TestFileInputNames(t *testing.T) {
	for name, want := range map[string]string{
		"etc/motd":         "file:/etc/motd",
		"etc/my file":      "file:/etc/my:20file",
		"srv/a:b":          "file:/srv/a:3ab",
		"srv/café":         "file:/srv/caf:c3:a9",
		"srv/@2x~.png=x,y": "file:/srv/:402x:7e.png:3dx:2cy",
	} {
		got := fileInputName(name)
		if got != want {
			t.Errorf("fileInputName(%q) = %q, want %q", name, got, want)
		}
		m := &manifest.Manifest{Schema: manifest.Schema, Name: "x", Version: "1", Arch: "amd64",
			Artifacts: []manifest.File{manifest.Digest(KernelFile, nil)},
			Inputs:    []manifest.File{manifest.Digest(got, nil)}}
		if b, err := m.Marshal(); err != nil {
			t.Errorf("%q: %v", name, err)
		} else if _, err := manifest.Parse(b); err != nil {
			t.Errorf("%q: manifest refuses %q: %v", name, got, err)
		}
	}
}

// TestOutputDir: the exported form used by pull: refuses what build -o
// refuses, leaves nothing when not committed, replaces a build on Commit.
func TestOutputDir(t *testing.T) {
	root := t.TempDir()
	if _, err := NewOutputDir("rel/out"); err == nil {
		t.Fatal("relative output accepted")
	}
	user := filepath.Join(root, "user")
	os.MkdirAll(user, 0o755)
	os.WriteFile(filepath.Join(user, "x"), []byte("x"), 0o644)
	if _, err := NewOutputDir(user); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("user folder: %v", err)
	}
	out := filepath.Join(root, "out")
	o, err := NewOutputDir(out)
	if err != nil {
		t.Fatal(err)
	}
	writeBuild(t, o.Path())
	o.Close()
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Fatalf("uncommitted output left %v", entries)
	}
	writeBuild(t, out)
	os.WriteFile(filepath.Join(out, KernelFile), []byte("old"), 0o644)
	o, err = NewOutputDir(out)
	if err != nil {
		t.Fatal(err)
	}
	writeBuild(t, o.Path())
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if b, _ := os.ReadFile(filepath.Join(out, KernelFile)); string(b) != "kernel" {
		t.Fatalf("kernel %q after commit", b)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 2 {
		t.Fatalf("after commit: %v", entries)
	}
}
