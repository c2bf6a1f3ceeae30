package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

func TestKernelFacts(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("ab", 32)
	m := &manifest.Manifest{
		Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "b1",
		Cmdline: "console=ttyS0", Tries: 3,
		Artifacts: []manifest.File{manifest.Digest("kernel", []byte("k")), manifest.Digest("initramfs.cpio.zst", []byte("i"))},
		Inputs:    []manifest.File{manifest.Digest("recipe.yaml", []byte("r")), {Name: "kernel:cache-key", SHA256: key}},
		Toolchain: manifest.Toolchain{Go: "go1.26"},
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	build := filepath.Join(dir, "build")
	cache := filepath.Join(dir, "cache")
	for p, data := range map[string]string{
		filepath.Join(build, manifest.FileName):           string(b),
		filepath.Join(cache, "kernels", key, "meta.json"): `{"format":1,"release":"6.1.99","steps":1234}`,
		filepath.Join(dir, "linux.tar.xz"):                strings.Repeat("x", 3<<20),
	} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	notes, err := kernelFacts(cache, build, filepath.Join(dir, "linux.tar.xz"))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"Linux 6.1.99", "1234 kbuild steps", "3.0 MiB", "took"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	if _, err := kernelFacts(cache, build, filepath.Join(dir, "missing.tar.xz")); err == nil {
		t.Error("a missing source: no error")
	}
}
