package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// PullResult describes a finished pull.
type PullResult struct {
	Digest   digest.Digest
	Manifest *manifest.Manifest
	Layers   int
	Bytes    int64 // fetched from the registry
	// Channel is the signature that admitted the build to the channel
	// asked for (PullChannel), or nil.
	Channel *ChannelSig
	// Attached is the SBOM and provenance found as referrers; the
	// provenance (if any) was written into the folder.
	Attached *Attached
}

// Pull fetches the build ref (registry/name:tag or registry/name@digest)
// into the folder out, which follows the rules of build -o
// (builder.OutputProblem): missing, empty or a turbo-image build, never a
// folder of the user's. Every blob is checked against its digest and
// every file against manifest.json while it is written into a temporary
// folder next to out; out is replaced only when all of it matches.
func Pull(ctx context.Context, ref, out string, o Options) (*PullResult, error) {
	return PullChannel(ctx, ref, out, "", nil, o)
}

// PullChannel is Pull that, when channel is not "", first checks that the
// build is signed for channel by one of the trusted keys (CheckChannel)
// and refuses it, writing nothing, if it is not.
func PullChannel(ctx context.Context, ref, out, channel string, trusted []signing.PublicKey, o Options) (*PullResult, error) {
	r, err := open(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	if r.Reference.Reference == "" {
		return nil, fmt.Errorf("reference %q: pull needs a tag or digest (registry/name:tag or @sha256:...)", ref)
	}
	outAbs, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	var raw []byte
	plan, mdigest, err := r.fetchPlanWith(ctx, func(b []byte) { raw = b })
	if err != nil {
		return nil, err
	}
	res := &PullResult{Digest: mdigest, Manifest: plan.m, Layers: len(plan.layers)}
	if channel != "" {
		if err := signing.ValidChannel(channel); err != nil {
			return nil, err
		}
		subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: mdigest, Size: int64(len(raw))}
		sigs, err := r.channelSigs(ctx, subject, plan.m, trusted)
		if err != nil {
			return nil, err
		}
		cs, err := CheckChannel(&Build{Digest: mdigest, Manifest: plan.m, Sigs: sigs}, channel, trusted)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %s: %w", r.host, r.Reference, err)
		}
		res.Channel = cs
	}
	od, err := builder.NewOutputDir(outAbs)
	if err != nil {
		return nil, err
	}
	defer od.Close()
	for i, l := range plan.layers {
		at := Progress{Layer: l.Name, Index: i, Layers: len(plan.layers), Size: l.Desc.Size}
		o.report(at)
		var onBytes func(int64)
		if o.Progress != nil {
			onBytes = func(n int64) { at.Done = n; o.report(at) }
		}
		n, err := r.fetchLayer(ctx, l, filepath.Join(od.Path(), l.Name), onBytes)
		res.Bytes += n
		if err != nil {
			return nil, err
		}
	}
	if _, err := manifest.LoadDir(ctx, od.Path()); err != nil {
		return nil, err
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: mdigest, Size: int64(len(raw))}
	if res.Attached, err = r.attached(ctx, subject, plan, nil); err != nil {
		return nil, err
	}
	if err := writeProvenance(od.Path(), res.Attached); err != nil {
		return nil, err
	}
	if err := od.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// pullPlan is a registry manifest checked against the build's manifest.
type pullPlan struct {
	m      *manifest.Manifest
	layers []layer // File set from manifest.json
}

// fetchPlan fetches and checks the OCI manifest and manifest.json.
func (r *remoteRepo) fetchPlan(ctx context.Context) (*pullPlan, digest.Digest, error) {
	return r.fetchPlanWith(ctx, nil)
}

// fetchPlanWith is fetchPlan; raw, if not nil, gets the OCI manifest's
// bytes.
func (r *remoteRepo) fetchPlanWith(ctx context.Context, raw func([]byte)) (*pullPlan, digest.Digest, error) {
	ref := r.Reference.Reference
	desc, rc, err := r.FetchReference(ctx, ref)
	if err != nil {
		return nil, "", r.explain("fetch "+r.Reference.String(), err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, MaxManifestBytes+1))
	rc.Close()
	if err != nil {
		return nil, "", r.explain("fetch "+r.Reference.String(), err)
	}
	got := digest.FromBytes(data)
	if got != desc.Digest || (r.Reference.ValidateReferenceAsDigest() == nil && string(got) != ref) {
		return nil, "", fmt.Errorf("registry %s: manifest of %s has digest %s, registry says %s: refusing it", r.host, r.Reference, got, desc.Digest)
	}
	p, err := parseManifest(data)
	if err != nil {
		return nil, "", fmt.Errorf("registry %s: %s: %w", r.host, r.Reference, err)
	}
	if raw != nil {
		raw(data)
	}
	var mdesc ocispec.Descriptor
	for _, l := range p.Layers {
		if l.Name == manifest.FileName {
			mdesc = l.Desc
		}
	}
	if mdesc.Size > manifest.MaxManifestBytes {
		return nil, "", fmt.Errorf("registry %s: %s: %s layer is %d bytes, over %d", r.host, r.Reference, manifest.FileName, mdesc.Size, manifest.MaxManifestBytes)
	}
	var buf bytes.Buffer
	if _, err := r.fetchVerified(ctx, mdesc, &buf); err != nil {
		return nil, "", fmt.Errorf("%s: %w", manifest.FileName, err)
	}
	m, err := manifest.Parse(buf.Bytes())
	if err != nil {
		return nil, "", fmt.Errorf("registry %s: %s: %s: %w", r.host, r.Reference, manifest.FileName, err)
	}
	plan, err := matchLayers(p, m, buf.Bytes())
	if err != nil {
		return nil, "", fmt.Errorf("registry %s: %s: %w", r.host, r.Reference, err)
	}
	return plan, got, nil
}

// matchLayers checks the layers against manifest.json
// (ociartifact.MatchLayers).
func matchLayers(p *parsed, m *manifest.Manifest, mbytes []byte) (*pullPlan, error) {
	pl, err := ociartifact.MatchLayers(p, m, mbytes)
	if err != nil {
		return nil, err
	}
	return &pullPlan{m: pl.Manifest, layers: pl.Layers}, nil
}

// fetchVerified copies the blob desc to w and checks its size and digest;
// it returns the bytes read. w may have received bad bytes when it fails.
func (r *remoteRepo) fetchVerified(ctx context.Context, desc ocispec.Descriptor, w io.Writer) (int64, error) {
	rc, err := r.Blobs().Fetch(ctx, desc)
	if err != nil {
		return 0, r.explain("fetch blob "+desc.Digest.String(), err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(ctxio.Reader(ctx, rc), desc.Size+1))
	if err != nil {
		return n, r.explain("fetch blob "+desc.Digest.String(), err)
	}
	if n != desc.Size {
		return n, fmt.Errorf("registry %s: blob %s is %d bytes, the manifest says %d: refusing it", r.host, desc.Digest, n, desc.Size)
	}
	if got := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)); got != desc.Digest {
		return n, fmt.Errorf("registry %s: blob %s has digest %s: its bytes in the registry were altered; refusing it", r.host, desc.Digest, got)
	}
	return n, nil
}

// fetchLayer writes layer l to path, decompressing the disk image, and
// checks the file against manifest.json. onBytes (may be nil) hears the
// blob's bytes as they arrive.
func (r *remoteRepo) fetchLayer(ctx context.Context, l layer, path string, onBytes func(int64)) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := sha256.New()
	fileW := io.MultiWriter(f, h)
	var n int64
	sp := &sparseWriter{f: f}
	if l.Compressed() {
		// The disk image is mostly zeros: holes keep it as sparse as
		// the build wrote it.
		fileW = io.MultiWriter(sp, h)
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			dec, err := zstd.NewReader(pr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
			if err == nil {
				_, err = io.Copy(fileW, io.LimitReader(dec, l.File.Size+1))
				dec.Close()
			}
			pr.CloseWithError(err)
			done <- err
		}()
		n, err = r.fetchVerified(ctx, l.Desc, counted(pw, onBytes))
		pw.CloseWithError(err)
		if derr := <-done; err == nil && derr != nil {
			err = fmt.Errorf("registry %s: %s: decompress: %w", r.host, l.Name, derr)
		}
	} else {
		n, err = r.fetchVerified(ctx, l.Desc, counted(fileW, onBytes))
	}
	if err != nil {
		return n, fmt.Errorf("%s: %w", l.Name, err)
	}
	if l.Compressed() {
		if err := sp.finish(); err != nil {
			return n, err
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != l.File.SHA256 {
		return n, fmt.Errorf("registry %s: %s: file has sha256 %s, %s says %s: refusing it", r.host, l.Name, got, manifest.FileName, l.File.SHA256)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	return n, f.Close()
}

// counted is w reporting its running byte count to onBytes (w itself
// when onBytes is nil).
func counted(w io.Writer, onBytes func(int64)) io.Writer {
	if onBytes == nil {
		return w
	}
	return &byteCounter{w: w, onBytes: onBytes}
}

// sparseWriter writes to a fresh file, seeking over whole 4 KiB blocks of
// zeros so they become holes; finish sets the final size.
type sparseWriter struct {
	f   *os.File
	off int64
	buf []byte // a partial block
}

const sparseBlock = 4096

func (s *sparseWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(sparseBlock-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == sparseBlock {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (s *sparseWriter) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	if !allZero(s.buf) {
		if _, err := s.f.WriteAt(s.buf, s.off); err != nil {
			return err
		}
	}
	s.off += int64(len(s.buf))
	s.buf = s.buf[:0]
	return nil
}

func (s *sparseWriter) finish() error {
	if err := s.flush(); err != nil {
		return err
	}
	return s.f.Truncate(s.off)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
