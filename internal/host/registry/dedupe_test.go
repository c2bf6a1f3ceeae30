package registry

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// TestPushUploadsOnlyChangedLayers: v2 differs from v1 only in its app
// (the slot root and the initramfs that carry it; kernel, disk
// conversions and SBOM unchanged): the push of v2 uploads those layers
// and manifest.json, and skips every other one. The registry's storage
// gains a blob for each changed layer and none for the others.
func TestPushUploadsOnlyChangedLayers(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	ctx := context.Background()
	v1 := filepath.Join(t.TempDir(), "v1")
	fakeBuild(t, v1, 1)
	os.Remove(filepath.Join(v1, signing.SignatureFile))
	v2 := filepath.Join(t.TempDir(), "v2")
	fakeBuild(t, v2, 1)
	os.Remove(filepath.Join(v2, signing.SignatureFile))
	m, mb, err := manifest.Load(v2)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]bool{manifest.FileName: true}
	for i, a := range m.Artifacts {
		if a.Name == "root.squashfs" || a.Name == "initramfs.cpio.zst" {
			b, _ := os.ReadFile(filepath.Join(v2, a.Name))
			b[0] ^= 0xff // the new app
			os.WriteFile(filepath.Join(v2, a.Name), b, 0o644)
			m.Artifacts[i] = manifest.Digest(a.Name, b)
			changed[a.Name] = true
		}
	}
	m.Version = "1.0.2"
	if mb, err = m.Marshal(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(v2, manifest.FileName), mb, 0o644)

	r1, err := Push(ctx, v1, reg.Host+"/acme/hello:1.0.1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := storedBlobs(t, reg)
	r2, err := Push(ctx, v2, reg.Host+"/acme/hello:1.0.2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, a := range append(m.Artifacts, manifest.Digest(manifest.FileName, mb)) {
		if changed[a.Name] {
			want += a.Size
			if before[a.SHA256] {
				t.Errorf("%s was in the registry before", a.Name)
			}
		} else if !before[a.SHA256] && a.Name != DiskFile && a.Name != "disk.vhd" {
			t.Errorf("%s (unchanged) was not in the registry before", a.Name)
		}
	}
	after := storedBlobs(t, reg)
	for name := range changed {
		a, _ := m.Artifact(name)
		if name == manifest.FileName {
			a = manifest.Digest(name, mb)
		}
		if !after[a.SHA256] {
			t.Errorf("changed layer %s is not in the registry after the push", name)
		}
	}
	if r2.Uploaded != want || r2.Skipped != r2.Layers-len(changed) {
		t.Fatalf("v2 push uploaded %d bytes and skipped %d of %d layers; want %d bytes (%d changed layers) and %d skipped",
			r2.Uploaded, r2.Skipped, r2.Layers, want, len(changed), r2.Layers-len(changed))
	}
	t.Logf("v1 push: %d bytes of %d; v2 push (app changed): %d bytes of %d, %d of %d layers skipped",
		r1.Uploaded, r1.Bytes, r2.Uploaded, r2.Bytes, r2.Skipped, r2.Layers)
}

// storedBlobs lists the blob digests (hex) in the registry's storage.
func storedBlobs(t *testing.T, reg *registrytest.Registry) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	root := filepath.Join(reg.Storage, "docker/registry/v2/blobs/sha256")
	prefixes, _ := os.ReadDir(root)
	for _, p := range prefixes {
		ds, _ := os.ReadDir(filepath.Join(root, p.Name()))
		for _, d := range ds {
			out[d.Name()] = true
		}
	}
	return out
}
