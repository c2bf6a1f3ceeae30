package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// provBuild is fakeBuild with a recipe input and the provenance the
// builder writes, signed by the keys given.
func provBuild(t *testing.T, dir string, seed uint64, keys ...signing.PrivateKey) {
	t.Helper()
	fakeBuild(t, dir, seed)
	ctx := context.Background()
	registrytest.AddProvenance(t, dir, "v1.0.0")
	os.Remove(filepath.Join(dir, signing.SignatureFile))
	for _, k := range keys {
		if err := signing.SignDir(ctx, dir, k); err != nil {
			t.Fatal(err)
		}
		if err := provenance.SignDir(ctx, dir, k); err != nil {
			t.Fatal(err)
		}
	}
}

// fallbackIndex returns the artifact types in the referrers tag schema
// index of the build d.
func fallbackIndex(t *testing.T, repo string, d digest.Digest) []string {
	t.Helper()
	ctx := context.Background()
	r, err := open(ctx, repo+":sha256-"+d.Encoded(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, rc, err := r.FetchReference(ctx, "sha256-"+d.Encoded())
	if err != nil {
		t.Fatalf("no referrers fallback tag: %v", err)
	}
	defer rc.Close()
	var b bytes.Buffer
	b.ReadFrom(rc)
	var idx ocispec.Index
	if err := json.Unmarshal(b.Bytes(), &idx); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, d := range idx.Manifests {
		types = append(types, d.ArtifactType)
	}
	slices.Sort(types)
	return types
}

// TestAttachSBOMAndProvenance: push attaches both as referrers (through
// the tag schema fallback: Distribution 2.8 has no referrers API), pull
// fetches them and writes the provenance, channels shows both per
// channel, against the real registry.
func TestAttachSBOMAndProvenance(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	ctx := context.Background()
	root := t.TempDir()
	release, other := testKey(t, 5), testKey(t, 6)
	src := filepath.Join(root, "build")
	provBuild(t, src, 7, release)
	repo := reg.Host + "/acme/hello"

	p, err := Push(ctx, src, repo+":1.0.1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Attached
	if a == nil || a.SBOM == "" || a.Provenance == "" || len(a.Envelope.Signatures) != 1 {
		t.Fatalf("push attached %+v", a)
	}
	if got := fallbackIndex(t, repo, p.Digest); !slices.Equal(got, []string{SBOMArtifactType, ProvenanceArtifactType}) {
		t.Fatalf("fallback index lists %v", got)
	}
	// Same build, same referrers: a second push adds nothing.
	p2, err := Push(ctx, src, repo+":1.0.1", Options{})
	if err != nil || p2.Attached.SBOM != a.SBOM || p2.Attached.Provenance != a.Provenance {
		t.Fatalf("second push: %+v %v", p2.Attached, err)
	}
	if got := fallbackIndex(t, repo, p.Digest); len(got) != 2 {
		t.Fatalf("second push changed the referrers: %v", got)
	}

	// Pull writes the provenance; the folder verifies with it.
	out := filepath.Join(root, "pulled")
	pr, err := Pull(ctx, repo+":1.0.1", out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Attached.SBOM != a.SBOM || pr.Attached.Provenance != a.Provenance {
		t.Fatalf("pull found %+v, pushed %+v", pr.Attached, a)
	}
	want, _ := os.ReadFile(filepath.Join(src, provenance.FileName))
	if got, err := os.ReadFile(filepath.Join(out, provenance.FileName)); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("pulled provenance differs from the pushed one (%v)", err)
	}
	if _, err := provenance.VerifyDir(ctx, out, []signing.PublicKey{release.Public()}); err != nil {
		t.Fatalf("pulled provenance does not verify: %v", err)
	}

	// Signed again by a second key and pushed: a second provenance
	// referrer; pull takes the one with both signatures.
	if err := provenance.SignDir(ctx, src, other); err != nil {
		t.Fatal(err)
	}
	p3, err := Push(ctx, src, repo+":1.0.1", Options{})
	if err != nil || p3.Attached.Provenance == a.Provenance {
		t.Fatalf("push after a second signature: %+v %v", p3.Attached, err)
	}
	pr, err = Pull(ctx, repo+"@"+p.Digest.String(), out, Options{})
	if err != nil || pr.Attached.Provenance != p3.Attached.Provenance || len(pr.Attached.Envelope.Signatures) != 2 {
		t.Fatalf("pull after two provenances: %+v %v", pr.Attached, err)
	}
	if _, err := provenance.VerifyDir(ctx, out, []signing.PublicKey{other.Public()}); err != nil {
		t.Fatalf("second key: %v", err)
	}

	// channels: each channel's digest has both, the provenance verified
	// with the key given.
	if _, err := Promote(ctx, repo+":1.0.1", "prod", release, Options{}); err != nil {
		t.Fatal(err)
	}
	chans, err := Channels(ctx, repo, []signing.PublicKey{release.Public()}, Options{})
	if err != nil || len(chans) != 1 {
		t.Fatalf("channels: %v %v", chans, err)
	}
	b := chans[0]
	if b.AttachedErr != nil || b.Attached.SBOM == "" || b.Attached.Envelope == nil || b.Attached.KeyErr != nil || !b.Attached.Key.Equal(release.Public()) {
		t.Fatalf("channel prod: %+v %v", b.Attached, b.AttachedErr)
	}
	chans, _ = Channels(ctx, repo, []signing.PublicKey{testKey(t, 9).Public()}, Options{})
	if k := chans[0].Attached.KeyErr; k == nil || !strings.Contains(k.Error(), "untrusted") {
		t.Fatalf("an untrusted key verified the provenance: %v", k)
	}
}

// TestAttachedRefusals: a build without provenance has only its SBOM
// attached; a provenance altered in the registry's storage, and a
// referrer that carries another build's provenance, stop the pull with
// nothing written.
func TestAttachedRefusals(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	ctx := context.Background()
	root := t.TempDir()
	key := testKey(t, 5)
	repo := reg.Host + "/acme/hello"

	plain := filepath.Join(root, "plain")
	fakeBuild(t, plain, 11)
	pp, err := Push(ctx, plain, repo+":0.9", Options{})
	if err != nil || pp.Attached.SBOM == "" || pp.Attached.Envelope != nil {
		t.Fatalf("build without provenance: %+v %v", pp.Attached, err)
	}
	if _, err := Promote(ctx, repo+":0.9", "edge", key, Options{}); err != nil {
		t.Fatal(err)
	}
	chans, err := Channels(ctx, repo, nil, Options{})
	if err != nil || len(chans) != 1 || chans[0].Attached.Envelope != nil || chans[0].Attached.SBOM == "" {
		t.Fatalf("channels of a build without provenance: %+v %v", chans, err)
	}

	src := filepath.Join(root, "build")
	provBuild(t, src, 12, key)
	p, err := Push(ctx, src, repo+":1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile(filepath.Join(src, provenance.FileName))
	blob := digest.FromBytes(env).Encoded()
	data := filepath.Join(reg.Storage, "docker/registry/v2/blobs/sha256", blob[:2], blob, "data")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	os.WriteFile(data, b, 0o644)
	out := filepath.Join(root, "out", "x")
	os.MkdirAll(filepath.Dir(out), 0o755)
	_, err = Pull(ctx, repo+":1", out, Options{})
	refused(t, err, out, false, "altered", reg.Host)
	os.WriteFile(data, env, 0o644)

	// Another build's signed provenance attached to this one.
	otherDir := filepath.Join(root, "other")
	provBuild(t, otherDir, 13, key)
	oenv, _ := os.ReadFile(filepath.Join(otherDir, provenance.FileName))
	r, err := open(ctx, repo+":1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: p.Digest, Size: mustSize(t, r, p.Digest)}
	l := ocispec.Descriptor{MediaType: MediaTypeDSSE, Digest: digest.FromBytes(oenv), Size: int64(len(oenv))}
	if _, err := r.pushReferrer(ctx, subject, ProvenanceArtifactType, l, oenv, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Pull(ctx, repo+":1", out, Options{})
	refused(t, err, out, false, "is not about this build", "subject")
}

func mustSize(t *testing.T, r *remoteRepo, d digest.Digest) int64 {
	t.Helper()
	desc, err := r.Resolve(context.Background(), d.String())
	if err != nil {
		t.Fatal(err)
	}
	return desc.Size
}
