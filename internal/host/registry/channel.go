package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// Channel signatures (docs/registry.md, "Channels"); the format is
// ociartifact's. oras-go pushes them to the referrers API where the
// registry has one and otherwise keeps the "sha256-<hex>" tag of the
// referrers tag schema (distribution-spec, "Referrers Tag Schema") up to
// date; lookups use the same two ways.
const (
	ChannelSignatureType = ociartifact.ChannelSignatureType
	MediaTypeStatement   = ociartifact.MediaTypeStatement
	MediaTypeChannelSig  = ociartifact.MediaTypeChannelSig
	AnnotationChannel    = ociartifact.AnnotationChannel
	AnnotationKeyID      = ociartifact.AnnotationKeyID
)

// maxReferrers bounds the channel signatures read for one build.
const maxReferrers = ociartifact.MaxReferrers

// PromoteResult describes a finished promote.
type PromoteResult struct {
	Repo      string        // registry/name
	Channel   string        // the tag moved
	Digest    digest.Digest // the build's digest (unchanged)
	Signature digest.Digest // the channel signature manifest
	Name      string
	Version   string
	KeyID     string
	Previous  digest.Digest // what the channel tag held before, or ""
}

// ChannelSig is one channel signature found on a build
// (ociartifact.ChannelSig).
type ChannelSig = ociartifact.ChannelSig

// Build is a build in a registry and the channel signatures on it.
type Build = ociartifact.Build

// Channel is a channel tag of a repository.
type Channel struct {
	Name  string
	Build *Build
	Err   error // why the tag could not be read as a build
	// Attached is the build's SBOM and provenance (nil with AttachedErr
	// saying why they could not be read).
	Attached    *Attached
	AttachedErr error
}

// Promote signs the build ref (registry/name:tag or @digest) for channel
// with key and then moves the tag channel to it. The signature is pushed
// first, so a channel tag never points at a build not signed for it by
// this key.
func Promote(ctx context.Context, ref, channel string, key signing.PrivateKey, o Options) (*PromoteResult, error) {
	if err := signing.ValidChannel(channel); err != nil {
		return nil, err
	}
	r, err := open(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	if r.Reference.Reference == "" {
		return nil, fmt.Errorf("reference %q: promote needs a tag or digest (registry/name:tag or @sha256:...)", ref)
	}
	plan, bdigest, mbytes, err := r.fetchPlanBytes(ctx)
	if err != nil {
		return nil, err
	}
	stmt, err := signing.MarshalStatement(signing.Statement{Schema: signing.StatementSchema, Digest: bdigest.String(),
		Name: plan.m.Name, Version: plan.m.Version, Channel: channel})
	if err != nil {
		return nil, err
	}
	sig, err := signing.SignStatement(key, stmt)
	if err != nil {
		return nil, err
	}
	sigFile, err := signing.MarshalSignatures([]signing.Signature{sig})
	if err != nil {
		return nil, err
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: bdigest, Size: int64(len(mbytes)), ArtifactType: ArtifactType}
	sd, err := r.pushChannelSig(ctx, subject, stmt, sigFile, map[string]string{AnnotationChannel: channel, AnnotationKeyID: sig.KeyID})
	if err != nil {
		return nil, r.explain("push channel signature for "+channel, err)
	}
	res := &PromoteResult{Repo: r.Reference.Registry + "/" + r.Reference.Repository, Channel: channel, Digest: bdigest,
		Signature: sd.Digest, Name: plan.m.Name, Version: plan.m.Version, KeyID: sig.KeyID}
	if prev, err := r.Resolve(ctx, channel); err == nil {
		res.Previous = prev.Digest
	}
	if err := r.PushReference(ctx, subject, bytes.NewReader(mbytes), channel); err != nil {
		return nil, r.explain("move tag "+channel, err)
	}
	return res, nil
}

// pushChannelSig pushes a channel signature manifest (its blobs first)
// and returns its descriptor.
func (r *remoteRepo) pushChannelSig(ctx context.Context, subject ocispec.Descriptor, stmt, sigFile []byte, annotations map[string]string) (ocispec.Descriptor, error) {
	blobs := []struct {
		mt   string
		data []byte
	}{{ocispec.MediaTypeEmptyJSON, emptyConfig}, {MediaTypeStatement, stmt}, {MediaTypeChannelSig, sigFile}}
	var layers []ocispec.Descriptor
	for i, b := range blobs {
		d := ocispec.Descriptor{MediaType: b.mt, Digest: digest.FromBytes(b.data), Size: int64(len(b.data))}
		if err := r.pushBlob(ctx, d, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.data)), nil }, &PushResult{}); err != nil {
			return ocispec.Descriptor{}, err
		}
		if i > 0 {
			layers = append(layers, d)
		}
	}
	sm, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ChannelSignatureType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       layers,
		Subject:      &subject,
		Annotations:  annotations,
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	sd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(sm), Size: int64(len(sm)), ArtifactType: ChannelSignatureType}
	if err := r.Push(ctx, sd, bytes.NewReader(sm)); err != nil {
		return ocispec.Descriptor{}, err
	}
	return sd, nil
}

// fetchPlanBytes is fetchPlan that also returns the OCI manifest bytes.
func (r *remoteRepo) fetchPlanBytes(ctx context.Context) (*pullPlan, digest.Digest, []byte, error) {
	var raw []byte
	plan, d, err := r.fetchPlanWith(ctx, func(b []byte) { raw = b })
	return plan, d, raw, err
}

// Signatures reads the build ref and its channel signatures, each checked
// against its build (digest, name, version) and, when trusted keys are
// given, verified against them.
func Signatures(ctx context.Context, ref string, trusted []signing.PublicKey, o Options) (*Build, error) {
	r, err := open(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	if r.Reference.Reference == "" {
		return nil, fmt.Errorf("reference %q: want a tag or digest (registry/name:tag or @sha256:...)", ref)
	}
	return r.build(ctx, trusted)
}

func (r *remoteRepo) build(ctx context.Context, trusted []signing.PublicKey) (*Build, error) {
	plan, d, raw, err := r.fetchPlanBytes(ctx)
	if err != nil {
		return nil, err
	}
	sigs, err := r.channelSigs(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(raw))}, plan.m, trusted)
	if err != nil {
		return nil, err
	}
	return &Build{Digest: d, Manifest: plan.m, Sigs: sigs}, nil
}

// channelSigs lists and reads the channel signatures of the build subject.
func (r *remoteRepo) channelSigs(ctx context.Context, subject ocispec.Descriptor, m *manifest.Manifest, trusted []signing.PublicKey) ([]ChannelSig, error) {
	var refs []ocispec.Descriptor
	err := r.Referrers(ctx, subject, ChannelSignatureType, func(page []ocispec.Descriptor) error {
		refs = append(refs, page...)
		if len(refs) > maxReferrers {
			return fmt.Errorf("over %d channel signatures on %s", maxReferrers, subject.Digest)
		}
		return nil
	})
	if err != nil {
		return nil, r.explain("list channel signatures of "+subject.Digest.String(), err)
	}
	var out []ChannelSig
	for _, d := range refs {
		cs := ChannelSig{Manifest: d.Digest}
		stmtBytes, err := r.readChannelSig(ctx, d, &cs)
		if err == nil {
			err = checkStatement(cs.Statement, subject.Digest, m)
		}
		if err == nil && len(trusted) > 0 {
			cs.Key, err = signing.VerifyStatement(stmtBytes, cs.Sig, trusted)
			cs.Verified = err == nil
		}
		cs.Err = err
		out = append(out, cs)
	}
	slices.SortFunc(out, func(a, b ChannelSig) int {
		if c := strings.Compare(a.Statement.Channel, b.Statement.Channel); c != 0 {
			return c
		}
		return strings.Compare(a.Sig.KeyID, b.Sig.KeyID)
	})
	return out, nil
}

func checkStatement(s signing.Statement, d digest.Digest, m *manifest.Manifest) error {
	return ociartifact.CheckStatement(s, d, m)
}

// readChannelSig fetches a channel signature manifest and its two blobs,
// each checked against its digest, and returns the statement bytes.
func (r *remoteRepo) readChannelSig(ctx context.Context, d ocispec.Descriptor, cs *ChannelSig) ([]byte, error) {
	if d.Size > MaxManifestBytes {
		return nil, fmt.Errorf("channel signature manifest %s is %d bytes", d.Digest, d.Size)
	}
	var mb bytes.Buffer
	if _, err := r.fetchManifestVerified(ctx, d, &mb); err != nil {
		return nil, err
	}
	om, err := ociartifact.ParseChannelSigManifest(d.Digest, mb.Bytes())
	if err != nil {
		return nil, err
	}
	var blobs [2]bytes.Buffer
	for i, l := range om.Layers {
		if _, err := r.fetchVerified(ctx, l, &blobs[i]); err != nil {
			return nil, fmt.Errorf("channel signature %s: %w", d.Digest, err)
		}
	}
	cs.Statement, cs.Sig, err = ociartifact.ChannelSigBlobs(d.Digest, om, blobs[0].Bytes(), blobs[1].Bytes())
	if err != nil {
		return nil, err
	}
	return blobs[0].Bytes(), nil
}

// fetchManifestVerified copies the manifest d to w, checking size and digest.
func (r *remoteRepo) fetchManifestVerified(ctx context.Context, d ocispec.Descriptor, w io.Writer) (int64, error) {
	rc, err := r.Manifests().Fetch(ctx, d)
	if err != nil {
		return 0, r.explain("fetch "+d.Digest.String(), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return 0, r.explain("fetch "+d.Digest.String(), err)
	}
	if int64(len(data)) != d.Size || digest.FromBytes(data) != d.Digest {
		return 0, fmt.Errorf("registry %s: manifest %s does not match its digest: refusing it", r.host, d.Digest)
	}
	n, err := w.Write(data)
	return int64(n), err
}

// ErrNotInChannel is wrapped by CheckChannel's refusals.
var ErrNotInChannel = ociartifact.ErrNotInChannel

// CheckChannel returns the signature that admits b to channel
// (ociartifact.CheckChannel).
func CheckChannel(b *Build, channel string, trusted []signing.PublicKey) (*ChannelSig, error) {
	return ociartifact.CheckChannel(b, channel, trusted)
}

// Channels lists the channel tags of the repository repo (registry/name):
// every tag that is a channel name (signing.ValidChannel), with the build
// it holds and that build's channel signatures.
func Channels(ctx context.Context, repo string, trusted []signing.PublicKey, o Options) ([]Channel, error) {
	r, err := open(ctx, repo, o)
	if err != nil {
		return nil, err
	}
	if r.Reference.Reference != "" {
		return nil, fmt.Errorf("reference %q: want a repository (registry/name) without tag or digest", repo)
	}
	var tags []string
	if err := r.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if signing.ValidChannel(t) == nil {
				tags = append(tags, t)
			}
		}
		return nil
	}); err != nil {
		return nil, r.explain("list tags of "+repo, err)
	}
	slices.Sort(tags)
	var out []Channel
	for _, t := range tags {
		tr, err := open(ctx, repo+":"+t, o)
		if err != nil {
			return nil, err
		}
		b, err := tr.build(ctx, trusted)
		c := Channel{Name: t, Build: b, Err: err}
		if err == nil {
			c.Attached, c.AttachedErr = tr.attachedOf(ctx, trusted)
		}
		out = append(out, c)
	}
	return out, nil
}

// descOfManifest is the descriptor of a build's OCI manifest.
func descOfManifest(d digest.Digest, raw []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(raw)), ArtifactType: ArtifactType}
}
