package follow

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// Build is the build a channel holds, checked: its OCI manifest against
// its manifest.json (ociartifact.MatchLayers) and a channel signature for
// the followed channel by a trusted key (ociartifact.CheckChannel). It is
// an update.Source of its slot payloads, streamed from the registry.
type Build struct {
	Digest        digest.Digest // the OCI manifest's digest
	Manifest      *manifest.Manifest
	ManifestBytes []byte
	Signature     []byte // manifest.json.sig when the build carries one
	Channel       *ociartifact.ChannelSig

	plan *ociartifact.Plan
	c    *Client
	ctx  context.Context
}

var manifestAccept = []string{ocispec.MediaTypeImageManifest}

// Resolve returns the OCI manifest the channel's tag holds now and its
// digest: one small request, the whole of a poll when nothing changed.
func (c *Client) Resolve(ctx context.Context) ([]byte, digest.Digest, error) {
	return c.manifestBytes(ctx, c.cfg.Channel, manifestAccept...)
}

// Fetch checks the build whose OCI manifest is raw (from Resolve): the
// artifact format, manifest.json (fetched, digest checked, parsed), and
// the channel signatures. A build not signed for the channel by a
// trusted key is refused with an error wrapping
// ociartifact.ErrNotInChannel. ctx also bounds the payload reads of the
// returned Build.
func (c *Client) Fetch(ctx context.Context, raw []byte, d digest.Digest) (*Build, error) {
	p, err := ociartifact.ParseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %s (%s): %w", c.cfg.Registry, c.Ref(), d, err)
	}
	var mdesc ocispec.Descriptor
	for _, l := range p.Layers {
		if l.Name == manifest.FileName {
			mdesc = l.Desc
		}
	}
	mb, err := c.smallBlob(ctx, mdesc, manifest.MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.FileName, err)
	}
	m, err := manifest.Parse(mb)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %s: %s: %w", c.cfg.Registry, c.Ref(), manifest.FileName, err)
	}
	plan, err := ociartifact.MatchLayers(p, m, mb)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %s: %w", c.cfg.Registry, c.Ref(), err)
	}
	b := &Build{Digest: d, Manifest: m, ManifestBytes: mb, plan: plan, c: c, ctx: ctx}
	sigs, err := c.channelSigs(ctx, d, m)
	if err != nil {
		return nil, err
	}
	cs, err := ociartifact.CheckChannel(&ociartifact.Build{Digest: d, Manifest: m, Sigs: sigs}, c.cfg.Channel, c.cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %s: %w", c.cfg.Registry, c.Ref(), err)
	}
	b.Channel = cs
	if l, ok := plan.Layer(signing.SignatureFile); ok {
		if b.Signature, err = c.smallBlob(ctx, l.Desc, update.MaxSignatureBytes); err != nil {
			return nil, fmt.Errorf("%s: %w", signing.SignatureFile, err)
		}
	}
	return b, nil
}

// channelSigs lists the build's channel signatures (the referrers API,
// else the referrers tag schema's "sha256-<hex>" tag: distribution-spec
// "Listing Referrers" and "Referrers Tag Schema") and reads each, checked
// against its digests, its statement against the build, and its
// signature against the trusted keys.
func (c *Client) channelSigs(ctx context.Context, d digest.Digest, m *manifest.Manifest) ([]ociartifact.ChannelSig, error) {
	accept := []string{ocispec.MediaTypeImageIndex}
	var data []byte
	resp, cancel, err := c.get(ctx, "/referrers/"+d.String()+"?artifactType="+ociartifact.ChannelSignatureType, accept)
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(resp.Body, ociartifact.MaxManifestBytes+1))
		resp.Body.Close()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("registry %s: referrers of %s: %w", c.cfg.Registry, d, err)
		}
	} else if errors.Is(err, errNotFound) {
		data, _, err = c.manifestBytes(ctx, "sha256-"+d.Encoded(), accept...)
		if errors.Is(err, errNotFound) {
			return nil, nil // no referrers at all
		}
	}
	if err != nil {
		return nil, err
	}
	refs, err := ociartifact.ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %s: %w", c.cfg.Registry, c.Ref(), err)
	}
	var out []ociartifact.ChannelSig
	for _, r := range refs {
		cs := ociartifact.ChannelSig{Manifest: r.Digest}
		stmt, err := c.readChannelSig(ctx, r, &cs)
		if err == nil {
			err = ociartifact.CheckStatement(cs.Statement, d, m)
		}
		if err == nil {
			cs.Key, err = signing.VerifyStatement(stmt, cs.Sig, c.cfg.Keys)
			cs.Verified = err == nil
		}
		cs.Err = err
		out = append(out, cs)
	}
	return out, nil
}

// readChannelSig reads one channel signature manifest and its two blobs.
func (c *Client) readChannelSig(ctx context.Context, r ocispec.Descriptor, cs *ociartifact.ChannelSig) ([]byte, error) {
	mb, _, err := c.manifestBytes(ctx, r.Digest.String(), ocispec.MediaTypeImageManifest)
	if err != nil {
		return nil, err
	}
	om, err := ociartifact.ParseChannelSigManifest(r.Digest, mb)
	if err != nil {
		return nil, err
	}
	var blobs [2][]byte
	for i, l := range om.Layers {
		if blobs[i], err = c.smallBlob(ctx, l, signing.MaxStatementBytes); err != nil {
			return nil, fmt.Errorf("channel signature %s: %w", r.Digest, err)
		}
	}
	cs.Statement, cs.Sig, err = ociartifact.ChannelSigBlobs(r.Digest, om, blobs[0], blobs[1])
	if err != nil {
		return nil, err
	}
	return blobs[0], nil
}

// Open implements update.Source: the layer holding artifact a, streamed
// from the registry. The layer's digest must be the artifact's (the slot
// payloads are sent as they are); the reader fails on a byte more or
// less, or a digest mismatch at its end, and update.Apply checks the
// sha256 against manifest.json again while it writes.
func (b *Build) Open(a manifest.File) (io.ReadCloser, error) {
	l, ok := b.plan.Layer(a.Name)
	if !ok {
		return nil, fmt.Errorf("registry %s: %s has no layer %s", b.c.cfg.Registry, b.Digest, a.Name)
	}
	if l.Compressed() || l.Desc.Digest.Encoded() != a.SHA256 || l.Desc.Size != a.Size {
		return nil, fmt.Errorf("registry %s: layer %s is %s (%d bytes), %s says sha256:%s (%d bytes)", b.c.cfg.Registry, a.Name, l.Desc.Digest, l.Desc.Size, manifest.FileName, a.SHA256, a.Size)
	}
	return b.c.blob(b.ctx, l.Desc)
}

// Finish implements update.Source: every blob was checked as it ended.
func (b *Build) Finish() error { return b.ctx.Err() }
