package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasregistry "oras.land/oras-go/v2/registry"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// RemoteBuild is a build in a registry, checked (the OCI manifest against
// manifest.json, and the channel signature when a channel was asked for),
// whose slot payloads stream from the registry: an update.Source for
// flash REF. Nothing is written to the local disk on the way.
type RemoteBuild struct {
	Ref           string
	Digest        digest.Digest
	Manifest      *manifest.Manifest
	ManifestBytes []byte
	Signature     []byte // manifest.json.sig, when the build carries one
	Channel       *ChannelSig
	// Bytes counts what the payload reads fetched.
	Bytes int64

	r    *remoteRepo
	plan *pullPlan
	ctx  context.Context
}

// OpenBuild resolves ref, checks the build as pull does, and when channel
// is not "" refuses a build not signed for it by one of trusted
// (CheckChannel). ctx also bounds the payload reads.
func OpenBuild(ctx context.Context, ref, channel string, trusted []signing.PublicKey, o Options) (*RemoteBuild, error) {
	r, err := open(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	if r.Reference.Reference == "" {
		return nil, fmt.Errorf("reference %q: want a tag or digest (registry/name:tag or @sha256:...)", ref)
	}
	plan, d, raw, err := r.fetchPlanBytes(ctx)
	if err != nil {
		return nil, err
	}
	b := &RemoteBuild{Ref: r.Reference.String(), Digest: d, Manifest: plan.m, r: r, plan: plan, ctx: ctx}
	if _, _, _, ok := plan.m.SlotPayloads(); !ok {
		return nil, fmt.Errorf("registry %s: %s: the build has no disk slot (build it with outputs: [disk])", r.host, r.Reference)
	}
	if channel != "" {
		if err := signing.ValidChannel(channel); err != nil {
			return nil, err
		}
		sigs, err := r.channelSigs(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(raw))}, plan.m, trusted)
		if err != nil {
			return nil, err
		}
		if b.Channel, err = CheckChannel(&Build{Digest: d, Manifest: plan.m, Sigs: sigs}, channel, trusted); err != nil {
			return nil, fmt.Errorf("registry %s: %s: %w", r.host, r.Reference, err)
		}
	}
	for _, l := range plan.layers {
		var buf bytes.Buffer
		switch l.Name {
		case manifest.FileName:
			if _, err := r.fetchVerified(ctx, l.Desc, &buf); err != nil {
				return nil, fmt.Errorf("%s: %w", l.Name, err)
			}
			b.ManifestBytes = buf.Bytes()
		case signing.SignatureFile:
			if l.Desc.Size > update.MaxSignatureBytes {
				return nil, fmt.Errorf("registry %s: %s is %d bytes", r.host, l.Name, l.Desc.Size)
			}
			if _, err := r.fetchVerified(ctx, l.Desc, &buf); err != nil {
				return nil, fmt.Errorf("%s: %w", l.Name, err)
			}
			b.Signature = buf.Bytes()
		}
	}
	return b, nil
}

// Open implements update.Source: the layer of artifact a, streamed and
// checked against its digest as it arrives.
func (b *RemoteBuild) Open(a manifest.File) (io.ReadCloser, error) {
	for _, l := range b.plan.layers {
		if l.Name != a.Name {
			continue
		}
		if l.Compressed() || l.Desc.Digest.Encoded() != a.SHA256 || l.Desc.Size != a.Size {
			return nil, fmt.Errorf("registry %s: layer %s does not hold %s as manifest.json describes it", b.r.host, l.Desc.Digest, a.Name)
		}
		rc, err := b.r.Blobs().Fetch(b.ctx, l.Desc)
		if err != nil {
			return nil, b.r.explain("fetch blob "+l.Desc.Digest.String(), err)
		}
		return &countingRC{ReadCloser: ociartifact.VerifyBlob(rc, l.Desc, b.r.host), n: &b.Bytes}, nil
	}
	return nil, fmt.Errorf("registry %s: %s has no layer %s", b.r.host, b.Digest, a.Name)
}

// Finish implements update.Source: every blob was checked as it ended.
func (b *RemoteBuild) Finish() error { return b.ctx.Err() }

type countingRC struct {
	io.ReadCloser
	n *int64
}

func (c *countingRC) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	*c.n += int64(k)
	return k, err
}

// LooksLikeReference reports whether s reads as a registry reference with
// a tag or digest whose first component names a registry host (it holds a
// '.' or a ':', or is localhost), as Docker tells a registry from a
// Docker Hub name. Commands that take a build folder or a reference ask
// this only for a path that does not exist.
func LooksLikeReference(s string) bool {
	ref, err := orasregistry.ParseReference(s)
	if err != nil || ref.Reference == "" {
		return false
	}
	host, _, _ := strings.Cut(s, "/")
	return strings.ContainsAny(host, ".:") || host == "localhost"
}
