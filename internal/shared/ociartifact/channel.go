package ociartifact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// Channel signatures (docs/registry.md, "Channels").
//
// A channel signature is an OCI image manifest whose subject is the
// build's manifest (OCI image spec 1.1, manifest.md "subject"; the
// distribution spec's referrers), so it travels with the build without
// changing one byte of it:
//
//	artifactType  ChannelSignatureType
//	config        the empty config
//	layers        [0] the statement (signing.Statement), MediaTypeStatement
//	              [1] the signature, one line of the manifest.json.sig
//	                  format, MediaTypeChannelSig
//	subject       the build's OCI manifest
//	annotations   AnnotationChannel, AnnotationKeyID
const (
	ChannelSignatureType = "application/vnd.turbo-image.channel-signature.v1"
	MediaTypeStatement   = "application/vnd.turbo-image.channel-statement.v1+json"
	MediaTypeChannelSig  = "application/vnd.turbo-image.channel-signature.v1.sig"
	AnnotationChannel    = "io.github.turbo-image.channel"
	AnnotationKeyID      = "io.github.turbo-image.key-id"
)

// MaxReferrers bounds the channel signatures read for one build.
const MaxReferrers = 256

// ParseChannelSigManifest checks that data (the manifest d) is a
// turbo-image channel signature: our artifactType, two layers (statement,
// signature) of bounded size. It returns the manifest; its two blobs are
// fetched by the caller and checked with ChannelSigBlobs.
func ParseChannelSigManifest(d digest.Digest, data []byte) (ocispec.Manifest, error) {
	var om ocispec.Manifest
	if len(data) > MaxManifestBytes {
		return om, fmt.Errorf("channel signature manifest %s is %d bytes", d, len(data))
	}
	if err := json.Unmarshal(data, &om); err != nil {
		return om, fmt.Errorf("channel signature %s: %w", d, err)
	}
	if om.ArtifactType != ChannelSignatureType || len(om.Layers) != 2 ||
		om.Layers[0].MediaType != MediaTypeStatement || om.Layers[1].MediaType != MediaTypeChannelSig {
		return om, fmt.Errorf("channel signature %s: not a turbo-image channel signature (artifactType %q, %d layers)", d, om.ArtifactType, len(om.Layers))
	}
	for i, l := range om.Layers {
		if l.Size > signing.MaxStatementBytes || l.Size < 0 {
			return om, fmt.Errorf("channel signature %s: layer %d is %d bytes", d, i, l.Size)
		}
		if l.Digest.Validate() != nil || l.Digest.Algorithm() != digest.SHA256 {
			return om, fmt.Errorf("channel signature %s: layer %d: digest %q is not a sha256 digest", d, i, l.Digest)
		}
	}
	return om, nil
}

// ChannelSigBlobs parses the statement and signature blobs of the channel
// signature om (manifest d), already checked against their digests, and
// checks them against its annotations.
func ChannelSigBlobs(d digest.Digest, om ocispec.Manifest, stmt, sig []byte) (signing.Statement, signing.Signature, error) {
	s, err := signing.ParseStatement("channel signature "+d.String()+" statement", stmt)
	if err != nil {
		return signing.Statement{}, signing.Signature{}, err
	}
	sigs, err := signing.ParseSignatures("channel signature "+d.String()+" signature", sig)
	if err != nil {
		return s, signing.Signature{}, err
	}
	if len(sigs) != 1 {
		return s, signing.Signature{}, fmt.Errorf("channel signature %s: %d signatures, want 1", d, len(sigs))
	}
	if om.Annotations[AnnotationChannel] != s.Channel || om.Annotations[AnnotationKeyID] != sigs[0].KeyID {
		return s, sigs[0], fmt.Errorf("channel signature %s: annotations say channel %q key %q, its statement and signature say %q %q",
			d, om.Annotations[AnnotationChannel], om.Annotations[AnnotationKeyID], s.Channel, sigs[0].KeyID)
	}
	return s, sigs[0], nil
}

// CheckStatement checks that a statement is about the build d described
// by m.
func CheckStatement(s signing.Statement, d digest.Digest, m *manifest.Manifest) error {
	if s.Digest != d.String() {
		return fmt.Errorf("statement is for build %s, not %s", s.Digest, d)
	}
	if s.Name != m.Name || s.Version != m.Version {
		return fmt.Errorf("statement names %s %s, the build is %s %s", s.Name, s.Version, m.Name, m.Version)
	}
	return nil
}

// ParseIndex parses an OCI image index (the referrers API's answer, or the
// referrers tag schema's "sha256-<hex>" tag) and returns the descriptors
// of channel signatures in it.
func ParseIndex(data []byte) ([]ocispec.Descriptor, error) {
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("referrers index is %d bytes, over %d", len(data), MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var idx ocispec.Index
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("referrers index: %w", err)
	}
	if idx.SchemaVersion != 2 || (idx.MediaType != "" && idx.MediaType != ocispec.MediaTypeImageIndex) {
		return nil, fmt.Errorf("referrers index: schemaVersion %d, mediaType %q; want 2 and %s", idx.SchemaVersion, idx.MediaType, ocispec.MediaTypeImageIndex)
	}
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if d.ArtifactType != ChannelSignatureType || d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		if d.Digest.Validate() != nil || d.Digest.Algorithm() != digest.SHA256 || d.Size <= 0 || d.Size > MaxManifestBytes {
			continue
		}
		out = append(out, d)
		if len(out) > MaxReferrers {
			return nil, errors.New("referrers index: over " + fmt.Sprint(MaxReferrers) + " channel signatures")
		}
	}
	return out, nil
}

// ChannelSig is one channel signature found on a build.
type ChannelSig struct {
	Manifest  digest.Digest // the signature's own manifest
	Statement signing.Statement
	Sig       signing.Signature
	// Key is the trusted key that verified it (zero if none did) and Err
	// why it did not verify (nil if no keys were given and it is well
	// formed; then Verified is false).
	Key      signing.PublicKey
	Verified bool
	Err      error
}

// Build is a build in a registry and the channel signatures on it.
type Build struct {
	Digest   digest.Digest
	Manifest *manifest.Manifest
	Sigs     []ChannelSig
}

// ErrNotInChannel is wrapped by CheckChannel's refusals.
var ErrNotInChannel = errors.New("not signed for the channel")

// CheckChannel returns the signature that admits b to channel: a
// signature for that channel verified by one of the trusted keys (b.Sigs
// must have been read with them). Otherwise the error (wrapping
// ErrNotInChannel) says what the build is signed for instead.
func CheckChannel(b *Build, channel string, trusted []signing.PublicKey) (*ChannelSig, error) {
	if len(trusted) == 0 {
		return nil, errors.New("no trusted keys for the channel (--key)")
	}
	var other, untrusted, broken []string
	for i := range b.Sigs {
		s := &b.Sigs[i]
		switch {
		case s.Err == nil && s.Verified && s.Statement.Channel == channel:
			return s, nil
		case s.Statement.Channel == "" || (s.Err != nil && !errors.Is(s.Err, signing.ErrStatementUntrusted) && !errors.Is(s.Err, signing.ErrStatementBadSignature)):
			broken = append(broken, fmt.Sprintf("%s (%v)", s.Manifest, s.Err))
		case s.Statement.Channel != channel:
			other = append(other, fmt.Sprintf("%q (by key %s)", s.Statement.Channel, s.Sig.KeyID))
		case errors.Is(s.Err, signing.ErrStatementBadSignature):
			broken = append(broken, fmt.Sprintf("%s (%v)", s.Manifest, s.Err))
		default:
			untrusted = append(untrusted, s.Sig.KeyID)
		}
	}
	ids := make([]string, 0, len(trusted))
	for _, k := range trusted {
		ids = append(ids, k.ID())
	}
	var why []string
	if len(other) > 0 {
		why = append(why, "it is signed for channel "+strings.Join(other, ", ")+", which is not channel \""+channel+"\"")
	}
	if len(untrusted) > 0 {
		why = append(why, fmt.Sprintf("its %q signatures are by key %s, not by a trusted key (%s)", channel, strings.Join(untrusted, ", "), strings.Join(ids, ", ")))
	}
	if len(broken) > 0 {
		why = append(why, "signatures that do not verify: "+strings.Join(broken, "; "))
	}
	if len(why) == 0 {
		why = append(why, "it has no channel signatures")
	}
	return nil, fmt.Errorf("build %s (%s %s) is %w %q: %s", b.Digest, b.Manifest.Name, b.Manifest.Version, ErrNotInChannel, channel, strings.Join(why, "; "))
}
