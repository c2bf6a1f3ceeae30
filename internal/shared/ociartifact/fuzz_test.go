package ociartifact

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const sigDigest = "sha256:ab00000000000000000000000000000000000000000000000000000000000000"

func indexOf(entries ...string) string {
	return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(entries, ",") + `]}`
}

func entry(artifactType, dgst string, size int) string {
	return `{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + artifactType + `","digest":"` + dgst + `","size":` + strings.Repeat("9", size) + `}`
}

func TestParseIndex(t *testing.T) {
	got, err := ParseIndex([]byte(indexOf(entry(ChannelSignatureType, sigDigest, 3), entry("application/other", sigDigest, 3),
		entry(ChannelSignatureType, "sha256:xyz", 3), entry(ChannelSignatureType, sigDigest, 9))))
	if err != nil {
		t.Fatal(err)
	}
	// Only the first: the others are another artifact type, a bad digest,
	// an oversized manifest.
	if len(got) != 1 || got[0].Digest != digest.Digest(sigDigest) || got[0].Size != 999 {
		t.Fatalf("ParseIndex = %+v", got)
	}
	for _, bad := range []string{``, `[]`, `{"schemaVersion":1}`, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`} {
		if _, err := ParseIndex([]byte(bad)); err == nil {
			t.Errorf("ParseIndex(%q) accepted", bad)
		}
	}
}

func TestParseChannelSigManifest(t *testing.T) {
	good := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + ChannelSignatureType + `",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[{"mediaType":"` + MediaTypeStatement + `","digest":"` + sigDigest + `","size":100},{"mediaType":"` + MediaTypeChannelSig + `","digest":"` + sigDigest + `","size":100}]}`
	if _, err := ParseChannelSigManifest(sigDigest, []byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"huge statement": strings.Replace(good, `"size":100}`, `"size":100000}`, 1),
		"one layer":      good[:strings.Index(good, `,{"mediaType":"`+MediaTypeChannelSig)] + `]}`,
		"other type":     strings.Replace(good, ChannelSignatureType, ArtifactType, 1),
		"bad digest":     strings.Replace(good, sigDigest, "md5:00", 1),
	} {
		if _, err := ParseChannelSigManifest(sigDigest, []byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseIndex feeds hostile referrers indexes and channel signature
// manifests to their parsers: no panic, and whatever is accepted is
// bounded.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(indexOf(entry(ChannelSignatureType, sigDigest, 3))))
	f.Add([]byte(indexOf(strings.Repeat(entry(ChannelSignatureType, sigDigest, 3)+",", 300) + entry(ChannelSignatureType, sigDigest, 3))))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"size":-1}]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":null,"manifests":[]}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if ds, err := ParseIndex(data); err == nil {
			if len(ds) > MaxReferrers {
				t.Fatalf("%d descriptors", len(ds))
			}
			for _, d := range ds {
				if d.Size <= 0 || d.Size > MaxManifestBytes || d.Digest.Validate() != nil {
					t.Fatalf("accepted %+v", d)
				}
			}
		}
		if om, err := ParseChannelSigManifest(sigDigest, data); err == nil {
			if len(om.Layers) != 2 || om.Layers[0].Size > 4<<10 || om.Layers[1].Size > 4<<10 {
				t.Fatalf("accepted %+v", om)
			}
		}
	})
}

// TestEmptyDigestNoPanic: go-digest's Algorithm panics on a digest without
// ':'; every parser validates first (found by FuzzParseIndex).
func TestEmptyDigestNoPanic(t *testing.T) {
	m := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + ArtifactType + `",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[{"mediaType":"` + MediaTypeManifest + `","digest":"","size":1,"annotations":{"org.opencontainers.image.title":"manifest.json"}}]}`
	if _, err := ParseManifest([]byte(m)); err == nil || !strings.Contains(err.Error(), "not a sha256 digest") {
		t.Fatalf("ParseManifest: %v", err)
	}
	if _, err := ParseIndex([]byte(indexOf(entry(ChannelSignatureType, "", 3)))); err != nil {
		t.Fatalf("ParseIndex: %v", err)
	}
}
