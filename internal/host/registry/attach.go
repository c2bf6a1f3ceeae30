package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// The SBOM and the provenance as referrers (docs/registry.md, "SBOM and
// provenance").
//
// Push attaches each to the build as an OCI image manifest whose subject
// is the build (OCI image spec 1.1, manifest.md "subject"; distribution
// spec "Listing Referrers"), so tools that look for an SBOM or an
// attestation among a digest's referrers (oras discover, scanners) find
// them without knowing turbo-image's layout:
//
//	SBOM        artifactType application/spdx+json; one layer, the build's
//	            sbom.spdx.json blob (already uploaded as a layer of the build)
//	provenance  artifactType application/vnd.in-toto+json; one layer, the
//	            envelope file, application/vnd.dsse.envelope.v1+json;
//	            annotation in-toto.io/predicate-type: SLSA Provenance v1
//
// Both manifests are pure functions of the files (no time stamp), so a
// second push of the same build adds nothing. oras-go keeps the referrers
// tag schema fallback (the "sha256-<hex>" index) where the registry has no
// referrers API, as for channel signatures.
const (
	SBOMArtifactType       = ociartifact.MediaTypeSPDX
	ProvenanceArtifactType = provenance.PayloadType
	MediaTypeDSSE          = "application/vnd.dsse.envelope.v1+json"
	AnnotationPredicate    = "in-toto.io/predicate-type"
)

// Attached is what a build in a registry has attached as referrers.
type Attached struct {
	// SBOM is the digest of the SBOM referrer's manifest ("" if none).
	SBOM digest.Digest
	// Provenance is the digest of the provenance referrer chosen ("" if
	// none): the one with the most signatures.
	Provenance digest.Digest
	// Envelope is that provenance's envelope (nil if none); its statement
	// is about this build (checked), its signatures are not verified
	// unless Key is set.
	Envelope *provenance.Envelope
	// Key is the trusted key whose signature verified (zero if no key was
	// given or none verified; then KeyErr says why when keys were given).
	Key    signing.PublicKey
	KeyErr error
}

// referrerManifest returns the bytes of a referrer manifest of subject
// with one layer.
func referrerManifest(subject ocispec.Descriptor, artifactType string, l ocispec.Descriptor, annotations map[string]string) ([]byte, error) {
	return json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{l},
		Subject:      &subject,
		Annotations:  annotations,
	})
}

// pushReferrer pushes a one-layer referrer (the layer blob unless the
// registry has it, then the manifest) and returns its digest.
func (r *remoteRepo) pushReferrer(ctx context.Context, subject ocispec.Descriptor, artifactType string, l ocispec.Descriptor, blob []byte, annotations map[string]string) (digest.Digest, error) {
	if err := r.pushBlob(ctx, ocispec.DescriptorEmptyJSON, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(emptyConfig)), nil }, &PushResult{}); err != nil {
		return "", err
	}
	if err := r.pushBlob(ctx, l, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil }, &PushResult{}); err != nil {
		return "", err
	}
	mb, err := referrerManifest(subject, artifactType, l, annotations)
	if err != nil {
		return "", err
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)), ArtifactType: artifactType}
	if err := r.Push(ctx, md, bytes.NewReader(mb)); err != nil {
		return "", r.explain("push "+artifactType+" referrer", err)
	}
	return md.Digest, nil
}

// attachment is a file to attach, read and checked before the push.
type attachment struct {
	artifactType string
	layer        ocispec.Descriptor
	data         []byte
	annotations  map[string]string
	envelope     *provenance.Envelope // the provenance's, parsed
}

// planAttach reads the SBOM and the provenance of the build folder d
// (verified) and checks the provenance is about this build, before
// anything is pushed. An unsigned provenance is attached too (channels
// and pull say it is unsigned).
func planAttach(ctx context.Context, d *manifest.Dir) ([]attachment, error) {
	var out []attachment
	if a, ok := d.Manifest.Artifact(ociartifact.SBOMFile); ok {
		data, err := manifest.ReadRegular(ctx, filepath.Join(d.Path, a.Name), a.Size)
		if err != nil {
			return nil, err
		}
		if manifest.Digest(a.Name, data) != a {
			return nil, fmt.Errorf("%s: changed since it was checked", a.Name)
		}
		out = append(out, attachment{artifactType: SBOMArtifactType, data: data,
			layer: ocispec.Descriptor{MediaType: ociartifact.MediaTypeSPDX, Digest: digest.NewDigestFromEncoded(digest.SHA256, a.SHA256), Size: a.Size,
				Annotations: map[string]string{ocispec.AnnotationTitle: a.Name}}})
	}
	p := filepath.Join(d.Path, provenance.FileName)
	data, err := manifest.ReadRegular(ctx, p, provenance.MaxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	e, _, err := provenance.Open(p, data, d.Manifest, manifest.Digest(manifest.FileName, d.Bytes).SHA256)
	if err != nil {
		return nil, err
	}
	return append(out, attachment{artifactType: ProvenanceArtifactType, data: data, envelope: e,
		layer: ocispec.Descriptor{MediaType: MediaTypeDSSE, Digest: digest.FromBytes(data), Size: int64(len(data)),
			Annotations: map[string]string{ocispec.AnnotationTitle: provenance.FileName}},
		annotations: map[string]string{AnnotationPredicate: provenance.PredicateType}}), nil
}

// attach pushes the planned attachments as referrers of subject.
func (r *remoteRepo) attach(ctx context.Context, subject ocispec.Descriptor, plan []attachment) (*Attached, error) {
	att := &Attached{}
	for _, a := range plan {
		d, err := r.pushReferrer(ctx, subject, a.artifactType, a.layer, a.data, a.annotations)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", a.layer.Annotations[ocispec.AnnotationTitle], err)
		}
		if a.envelope != nil {
			att.Provenance, att.Envelope = d, a.envelope
		} else {
			att.SBOM = d
		}
	}
	return att, nil
}

// referrers lists the subject's referrers of one artifact type.
func (r *remoteRepo) referrers(ctx context.Context, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	var refs []ocispec.Descriptor
	err := r.Referrers(ctx, subject, artifactType, func(page []ocispec.Descriptor) error {
		refs = append(refs, page...)
		if len(refs) > maxReferrers {
			return fmt.Errorf("over %d %s referrers on %s", maxReferrers, artifactType, subject.Digest)
		}
		return nil
	})
	if err != nil {
		return nil, r.explain("list referrers of "+subject.Digest.String(), err)
	}
	slices.SortFunc(refs, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return refs, nil
}

// readReferrer fetches a one-layer referrer manifest of the given type
// and returns its layer descriptor.
func (r *remoteRepo) readReferrer(ctx context.Context, d ocispec.Descriptor, artifactType, layerType string, subject digest.Digest) (ocispec.Descriptor, error) {
	if d.Size > MaxManifestBytes || d.Size < 0 {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s is %d bytes", d.Digest, d.Size)
	}
	var mb bytes.Buffer
	if _, err := r.fetchManifestVerified(ctx, d, &mb); err != nil {
		return ocispec.Descriptor{}, err
	}
	var om ocispec.Manifest
	if err := json.Unmarshal(mb.Bytes(), &om); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s: %w", d.Digest, err)
	}
	if om.ArtifactType != artifactType || len(om.Layers) != 1 || om.Layers[0].MediaType != layerType || om.Subject == nil || om.Subject.Digest != subject {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s: not a turbo-image %s referrer of %s (artifactType %q, %d layers)", d.Digest, artifactType, subject, om.ArtifactType, len(om.Layers))
	}
	l := om.Layers[0]
	if l.Digest.Validate() != nil || l.Digest.Algorithm() != digest.SHA256 || l.Size < 0 {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s: layer digest %q, size %d", d.Digest, l.Digest, l.Size)
	}
	return l, nil
}

// attached reads what the build (OCI manifest subject, plan) has
// attached: SBOM referrers must hold the build's own SBOM layer;
// provenance referrers must hold a provenance about this build (either
// refusal is an error: a referrer that lies about its build is not
// skipped in silence). Among the provenances the one with the most
// signatures is chosen, and verified when trusted keys are given.
func (r *remoteRepo) attached(ctx context.Context, subject ocispec.Descriptor, plan *pullPlan, trusted []signing.PublicKey) (*Attached, error) {
	att := &Attached{}
	refs, err := r.referrers(ctx, subject, SBOMArtifactType)
	if err != nil {
		return nil, err
	}
	sbomLayer, hasSBOM := layerOf(plan, ociartifact.SBOMFile)
	for _, d := range refs {
		l, err := r.readReferrer(ctx, d, SBOMArtifactType, ociartifact.MediaTypeSPDX, subject.Digest)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", r.host, err)
		}
		if !hasSBOM || l.Digest != sbomLayer.Desc.Digest || l.Size != sbomLayer.Desc.Size {
			return nil, fmt.Errorf("registry %s: SBOM referrer %s holds %s, which is not this build's %s", r.host, d.Digest, l.Digest, ociartifact.SBOMFile)
		}
		att.SBOM = d.Digest
	}
	refs, err = r.referrers(ctx, subject, ProvenanceArtifactType)
	if err != nil {
		return nil, err
	}
	ml, _ := layerOf(plan, manifest.FileName)
	for _, d := range refs {
		l, err := r.readReferrer(ctx, d, ProvenanceArtifactType, MediaTypeDSSE, subject.Digest)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", r.host, err)
		}
		if l.Size > provenance.MaxBytes {
			return nil, fmt.Errorf("registry %s: provenance referrer %s: %d bytes, over %d", r.host, d.Digest, l.Size, provenance.MaxBytes)
		}
		var buf bytes.Buffer
		if _, err := r.fetchVerified(ctx, l, &buf); err != nil {
			return nil, fmt.Errorf("provenance referrer %s: %w", d.Digest, err)
		}
		e, _, err := provenance.Open("registry "+r.host+": provenance referrer "+d.Digest.String(), buf.Bytes(), plan.m, ml.File.SHA256)
		if err != nil {
			return nil, err
		}
		if att.Envelope == nil || len(e.Signatures) > len(att.Envelope.Signatures) {
			att.Envelope, att.Provenance = e, d.Digest
		}
	}
	if att.Envelope != nil && len(trusted) > 0 {
		att.Key, att.KeyErr = signing.VerifyDSSE(att.Envelope.PayloadType, att.Envelope.Payload, att.Envelope.Signatures, trusted)
	}
	return att, nil
}

// attachedOf is attached for the build r's reference names.
func (r *remoteRepo) attachedOf(ctx context.Context, trusted []signing.PublicKey) (*Attached, error) {
	plan, d, raw, err := r.fetchPlanBytes(ctx)
	if err != nil {
		return nil, err
	}
	return r.attached(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(raw))}, plan, trusted)
}

func layerOf(plan *pullPlan, name string) (layer, bool) {
	for _, l := range plan.layers {
		if l.Name == name {
			return l, true
		}
	}
	return layer{}, false
}

// writeProvenance writes the chosen provenance into a pulled build folder.
func writeProvenance(dir string, att *Attached) error {
	if att == nil || att.Envelope == nil {
		return nil
	}
	b, err := att.Envelope.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, provenance.FileName), b, 0o644)
}
