package registrytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// WriteBuild writes a build folder as the builder lays it out, without a
// kernel build: each of files into dir, and manifest.json made from m
// with those files as its artifacts (m.Artifacts is filled in). Tests of
// push, pull and promote use it for small fake builds.
func WriteBuild(t *testing.T, dir string, m *manifest.Manifest, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m.Artifacts = append(m.Artifacts, manifest.Digest(name, data))
	}
	writeManifest(t, dir, m)
}

// AddProvenance gives the build in dir a recipe input and the unsigned
// provenance the builder writes (builderVersion names the builder in
// it). manifest.json is rewritten: a signature made before is stale.
func AddProvenance(t *testing.T, dir, builderVersion string) {
	t.Helper()
	m, _, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Inputs = []manifest.File{manifest.Digest("recipe", []byte("name: hello\n"))}
	mb := writeManifest(t, dir, m)
	stmt, err := provenance.Make(m, mb, provenance.Params{BuilderVersion: builderVersion})
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.Unsigned(stmt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, provenance.FileName), env, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeManifest(t *testing.T, dir string, m *manifest.Manifest) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}
