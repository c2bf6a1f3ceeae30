package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// PushResult describes a finished push.
type PushResult struct {
	Ref    string // the reference pushed (registry/name:tag)
	Digest digest.Digest
	Layers int
	// Bytes is the size of all layers; Uploaded what was sent (layers the
	// registry already held are skipped, and counted in Skipped).
	Bytes, Uploaded int64
	Skipped         int
	Manifest        *manifest.Manifest // the build's manifest.json
	// Attached is the SBOM and provenance pushed as referrers.
	Attached *Attached
}

// newZstd returns the disk image's encoder. One goroutine and a fixed
// level make the output a function of the input alone (klauspost/compress
// documents its encoder as deterministic for a given version, level and
// concurrency), so the layer digest is the same on every machine running
// the same turbo-image.
func newZstd(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
}

// compress writes the zstd form of the file at path to w.
func compress(ctx context.Context, path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	enc, err := newZstd(w)
	if err != nil {
		return err
	}
	if _, err := io.Copy(enc, ctxio.Reader(ctx, f)); err != nil {
		enc.Close()
		return fmt.Errorf("compress %s: %w", path, err)
	}
	return enc.Close()
}

// countingHash counts and hashes what is written to it.
type countingHash struct {
	h hashWriter
	n int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// planLayers lists the layers of the build folder d (verified): its
// artifacts sorted by name, then manifest.json, then the signature if the
// folder has one. Only the disk image is read here (compressed, to learn
// its layer digest); the other layers' digests are the manifest's.
func planLayers(ctx context.Context, d *manifest.Dir) ([]layer, error) {
	arts := append([]manifest.File(nil), d.Manifest.Artifacts...)
	sort.Slice(arts, func(i, j int) bool { return arts[i].Name < arts[j].Name })
	arts = append(arts, manifest.Digest(manifest.FileName, d.Bytes))
	sigPath := filepath.Join(d.Path, signing.SignatureFile)
	switch sig, err := manifest.ReadRegular(ctx, sigPath, 1<<20); {
	case err == nil:
		arts = append(arts, manifest.Digest(signing.SignatureFile, sig))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	var layers []layer
	for _, a := range arts {
		if !safeName(a.Name) {
			return nil, fmt.Errorf("artifact %q: not a plain file name", a.Name)
		}
		mt, err := mediaTypeOf(a.Name)
		if err != nil {
			return nil, err
		}
		l := layer{Name: a.Name, File: a, Desc: descOf(mt, a)}
		if l.Compressed() {
			c := &countingHash{h: sha256.New()}
			if err := compress(ctx, filepath.Join(d.Path, a.Name), c); err != nil {
				return nil, err
			}
			l.Desc.Digest = digest.NewDigestFromBytes(digest.SHA256, c.h.Sum(nil))
			l.Desc.Size = c.n
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// descOf is the layer descriptor of an uncompressed file.
func descOf(mediaType string, f manifest.File) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:   mediaType,
		Digest:      digest.NewDigestFromEncoded(digest.SHA256, f.SHA256),
		Size:        f.Size,
		Annotations: map[string]string{ocispec.AnnotationTitle: f.Name},
	}
}

// Push uploads the build folder dir as one artifact tagged ref
// (registry/name:tag). The folder is verified against its manifest first.
func Push(ctx context.Context, dir, ref string, o Options) (*PushResult, error) {
	r, err := open(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	tag := r.Reference.Reference
	if tag == "" || r.Reference.ValidateReferenceAsTag() != nil {
		return nil, fmt.Errorf("reference %q: push needs a tag (registry/name:tag)", ref)
	}
	d, err := manifest.ReadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := d.Verify(ctx); err != nil {
		if d.VerifyExcept(ctx, DiskFile) == nil {
			return nil, fmt.Errorf("%w: only %s differs; `run` boots it in place and moves its boot counters, and push sends a build exactly as built: rebuild the folder (builds are reproducible) or push a copy that was never booted", err, DiskFile)
		}
		return nil, err
	}
	layers, err := planLayers(ctx, d)
	if err != nil {
		return nil, err
	}
	mb, err := buildManifest(d.Manifest, layers)
	if err != nil {
		return nil, err
	}
	attachments, err := planAttach(ctx, d)
	if err != nil {
		return nil, err
	}
	res := &PushResult{Ref: r.Reference.String(), Layers: len(layers), Manifest: d.Manifest}
	if err := r.pushBlob(ctx, ocispec.DescriptorEmptyJSON, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(emptyConfig)), nil
	}, &PushResult{}); err != nil {
		return nil, err
	}
	for i, l := range layers {
		res.Bytes += l.Desc.Size
		p := filepath.Join(d.Path, l.Name)
		get := func() (io.ReadCloser, error) { return d.Open(ctx, l.File) }
		if l.Name == manifest.FileName {
			get = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(d.Bytes)), nil }
		} else if l.Name == signing.SignatureFile {
			get = func() (io.ReadCloser, error) { return os.Open(p) }
		} else if l.Compressed() {
			get = func() (io.ReadCloser, error) {
				pr, pw := io.Pipe()
				go func() { pw.CloseWithError(compress(ctx, p, pw)) }()
				return pr, nil
			}
		}
		at := Progress{Layer: l.Name, Index: i, Layers: len(layers), Size: l.Desc.Size}
		o.report(at)
		if o.Progress != nil {
			base := get
			get = func() (io.ReadCloser, error) {
				rc, err := base()
				if err != nil {
					return nil, err
				}
				c := &byteCounter{r: rc, onBytes: func(n int64) { at.Done = n; o.report(at) }}
				return struct {
					io.Reader
					io.Closer
				}{c, rc}, nil
			}
		}
		skipped := res.Skipped
		if err := r.pushBlob(ctx, l.Desc, get, res); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		if res.Skipped > skipped {
			at.Done, at.Skipped = at.Size, true
			o.report(at)
		}
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)), ArtifactType: ArtifactType}
	if err := r.PushReference(ctx, md, bytes.NewReader(mb), tag); err != nil {
		return nil, r.explain("push manifest "+tag, err)
	}
	res.Digest = md.Digest
	if res.Attached, err = r.attach(ctx, md, attachments); err != nil {
		return nil, err
	}
	return res, nil
}

// pushBlob uploads one blob unless the registry has it.
func (r *remoteRepo) pushBlob(ctx context.Context, desc ocispec.Descriptor, get func() (io.ReadCloser, error), res *PushResult) error {
	ok, err := r.Exists(ctx, desc)
	if err != nil {
		return r.explain("check blob "+desc.Digest.String(), err)
	}
	if ok {
		res.Skipped++
		return nil
	}
	rc, err := get()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := r.Push(ctx, desc, rc); err != nil {
		return r.explain("upload blob "+desc.Digest.String(), err)
	}
	res.Uploaded += desc.Size
	return nil
}
