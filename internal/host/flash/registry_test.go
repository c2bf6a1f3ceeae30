package flash

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/host/registry"
	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// TestFlashFromRegistry flashes a disk straight from a registry reference
// (what `flash REF --target` does): the payloads stream from the real
// registry, every one checked; refusals change no byte of the disk.
func TestFlashFromRegistry(t *testing.T) {
	v1 := build(t, "hello", "1.0.0", false)
	v2 := build(t, "hello", "1.0.1", false)
	reg := registrytest.Start(t, registrytest.Config{})
	ctx := context.Background()
	repo := reg.Host + "/acme/hello"
	pushed, err := registry.Push(ctx, v2, repo+":1.0.1", registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := signing.GenerateKey(nil)
	at, _ := signing.GenerateKey(nil)
	if _, err := registry.Promote(ctx, repo+"@"+pushed.Digest.String(), "at", at, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	flashRef := func(ref, channel string, keys ...signing.PublicKey) (string, error) {
		disk := diskCopy(t, v1)
		// What boots next: the ESP and the running slot (the inactive
		// slot is scratch until the switch).
		boot := func() [2][32]byte {
			return [2][32]byte{partitionSHA(t, disk, "turbo-esp"), partitionSHA(t, disk, "turbo-a")}
		}
		before := boot()
		rb, err := registry.OpenBuild(ctx, ref, channel, keys, registry.Options{})
		if err == nil {
			_, err = FlashDiskFrom(disk, Source{Manifest: rb.Manifest, ManifestBytes: rb.ManifestBytes, Signature: rb.Signature, Payloads: rb}, Options{})
		}
		if err != nil {
			if boot() != before {
				t.Fatalf("a refused flash from %s changed the ESP or the running slot: %v", ref, err)
			}
		}
		return disk, err
	}

	// Signed for "at" only: refused for prod, before anything is read.
	if _, err := flashRef(repo+":at", "prod", prod.Public()); err == nil || !strings.Contains(err.Error(), `it is signed for channel "at"`) {
		t.Fatalf("at build flashed as prod: %v", err)
	}
	// Altered in the registry's storage: refused, the disk unchanged.
	root := filepath.Join(v2, "root.squashfs")
	m := loadManifest(t, v2)
	a, _ := m.Artifact("root.squashfs")
	blob := filepath.Join(reg.Storage, "docker/registry/v2/blobs/sha256", a.SHA256[:2], a.SHA256, "data")
	good, _ := os.ReadFile(blob)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(blob, bad, 0o644)
	if _, err := flashRef(repo+":at", "at", at.Public()); err == nil || !strings.Contains(err.Error(), "its bytes in the registry were altered") {
		t.Fatalf("altered root flashed: %v", err)
	}
	os.WriteFile(blob, good, 0o644)

	// The good case: signed for at, flashed; slot b holds the root.
	disk, err := flashRef(repo+":at", "at", at.Public())
	if err != nil {
		t.Fatal(err)
	}
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := d.ReadPartition("turbo-b")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, a.Size)
	io.ReadFull(pr, got)
	d.Close()
	if want, _ := os.ReadFile(root); !bytes.Equal(got, want) {
		t.Fatal("slot b does not hold the pushed root")
	}
	// Without a channel: any build by reference, as pull does.
	if _, err := flashRef(repo+"@"+pushed.Digest.String(), ""); err != nil {
		t.Fatal(err)
	}

	// Wrong credentials: the error names the registry.
	auth := registrytest.Start(t, registrytest.Config{TLS: true, User: "ci", Password: "right"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "auth.json"), []byte(`{"auths":{"`+auth.Host+`":{"auth":"Y2k6d3Jvbmc="}}}`), 0o600)
	o := registry.Options{CAFile: auth.CA, Getenv: func(k string) string {
		if k == "REGISTRY_AUTH_FILE" {
			return filepath.Join(dir, "auth.json")
		}
		return ""
	}}
	_, err = registry.OpenBuild(ctx, auth.Host+"/acme/hello:1.0.1", "", nil, o)
	if err == nil || !strings.Contains(err.Error(), "registry "+auth.Host+" refused access (401 Unauthorized)") {
		t.Fatalf("wrong credentials: %v", err)
	}
	t.Logf("wrong credentials: %v", err)
}
