package manifest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() *Manifest {
	return &Manifest{
		Schema: Schema, Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "b1",
		Cmdline: "console=ttyS0", Tries: 3,
		Artifacts: []File{Digest("kernel", []byte("k")), Digest("initramfs.cpio.zst", []byte("i"))},
		Inputs:    []File{Digest("recipe.yaml", []byte("r"))},
		Toolchain: Toolchain{Go: "go1.26"},
		GoBinaries: []GoBinary{
			{Name: "service:web", GoVersion: "go1.26.8", Package: "example.com/web/cmd/web",
				Main: Module{Path: "example.com/web", Version: "v1.2.3", Sum: "h1:abc="},
				Deps: []Module{{Path: "example.com/dep", Version: "v0.1.0", Sum: "h1:def=",
					Replace: &Module{Path: "example.com/fork", Version: "v0.1.1"}}}},
			{Name: "init", GoVersion: "go1.26.8", Package: "github.com/turbo-image/turbo-image/cmd/turbo-init",
				Main: Module{Path: "github.com/turbo-image/turbo-image", Version: "(devel)"}},
		},
	}
}

func TestMarshalSortsAndRoundTrips(t *testing.T) {
	b, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Index(string(b), `"init"`) > strings.Index(string(b), `"service:web"`) {
		t.Errorf("go_binaries not sorted:\n%s", b)
	}
	if strings.Index(string(b), `"initramfs.cpio.zst"`) > strings.Index(string(b), `"kernel"`) {
		t.Errorf("artifacts not sorted:\n%s", b)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := m.Marshal()
	if string(b) != string(b2) {
		t.Fatal("round trip changed bytes")
	}
	// sha256("k")
	if a, _ := m.Artifact("kernel"); a.SHA256 != "8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a" || a.Size != 1 {
		t.Errorf("kernel digest %+v", a)
	}
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kernel"), []byte("k"), 0o644)
	os.WriteFile(filepath.Join(dir, "initramfs.cpio.zst"), []byte("i"), 0o644)
	m := sample()
	if err := m.Verify(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "kernel"), []byte("K"), 0o644)
	if err := m.Verify(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "artifact kernel: sha256") {
		t.Fatalf("tampered kernel: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "kernel"), []byte("kk"), 0o644)
	if err := m.Verify(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "2 bytes, manifest says 1") {
		t.Fatalf("longer kernel: %v", err)
	}
	os.Remove(filepath.Join(dir, "kernel"))
	if err := m.Verify(context.Background(), dir); err == nil {
		t.Fatal("missing kernel accepted")
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := sample().Marshal()
	for name, c := range map[string]struct{ data, want string }{
		"unknown":       {strings.Replace(string(good), `"arch"`, `"extra": 1, "arch"`, 1), "unknown field"},
		"bad hex":       {strings.Replace(string(good), "8254c329", "8254C329", 1), "lowercase hex"},
		"traversal":     {strings.Replace(string(good), `"name": "kernel"`, `"name": "../kernel"`, 1), "not allowed"},
		"dup":           {strings.Replace(string(good), `"name": "kernel"`, `"name": "initramfs.cpio.zst"`, 1), "listed twice"},
		"go newline":    {strings.Replace(string(good), `"v1.2.3"`, `"v1.2.3\nx"`, 1), "go_binaries[1]"},
		"replace space": {strings.Replace(string(good), `"v0.1.1"`, `"v0.1.1 x"`, 1), "go_binaries[1]"},
		"go dup":        {strings.Replace(string(good), `"name": "init"`, `"name": "service:web"`, 1), "listed twice"},
	} {
		if _, err := Parse([]byte(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := sample().Marshal()
	f.Add(good)
	f.Add([]byte(`{"schema":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("parsed manifest does not marshal: %v", err)
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("marshalled manifest does not parse: %v", err)
		}
	})
}

func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"1.0.0": true, "2.0.0-rc1": true, "1+git~3_x": true, strings.Repeat("9", 64): true,
		"": false, "-1": false, ".1": false, "1 0": false, "1.0.1\nefi /x": false,
		strings.Repeat("9", 65): false, "1/2": false, "v\u202e1": false,
	} {
		if got := ValidVersion(v); got != want {
			t.Errorf("ValidVersion(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestBuildDigest(t *testing.T) {
	m := sample()
	m.Artifacts = append(m.Artifacts, Digest(SlotRoot, []byte("root")), Digest(SlotInitramfsPrefix+"zst", []byte("si")), Digest("disk.img", []byte("d")))
	d, err := m.BuildDigest()
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := m.Slot().Marshal()
	if d != SlotManifestDigest(sb) || !strings.HasPrefix(d, "sha256:") || len(d) != 71 {
		t.Fatalf("BuildDigest %s, slot manifest digest %s", d, SlotManifestDigest(sb))
	}
	// What the slot runs changes it; what only the build folder holds does not.
	other := sample()
	other.Artifacts = append(other.Artifacts, Digest(SlotRoot, []byte("root2")), Digest(SlotInitramfsPrefix+"zst", []byte("si")))
	if d2, _ := other.BuildDigest(); d2 == d {
		t.Error("another root gives the same build digest")
	}
	same := sample()
	same.Inputs = append(same.Inputs, Digest("service:x", []byte("x")))
	same.Artifacts = append(same.Artifacts, Digest(SlotRoot, []byte("root")), Digest(SlotInitramfsPrefix+"zst", []byte("si")))
	if d3, _ := same.BuildDigest(); d3 != d {
		t.Error("the disk image or an input changed the build digest")
	}
}
