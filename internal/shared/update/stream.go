package update

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// The flash stream is how a build travels to the network agent: a tar
// archive with manifest.json first, then manifest.json.sig if the build is
// signed, then the slot payloads in the order a flash writes them (root,
// kernel, initramfs). The agent checks the manifest's signature before it
// reads any payload, and each payload's size and sha256 while it writes
// it, so it never holds the image in memory.

// Limits on the stream's small members.
const (
	MaxManifestBytes  = 1 << 20
	MaxSignatureBytes = 64 << 10
)

// StreamOrder returns the slot payloads in stream order.
func StreamOrder(m *manifest.Manifest) ([]manifest.File, error) {
	root, kernel, initrd, ok := m.SlotPayloads()
	if !ok {
		return nil, fmt.Errorf("build %s %s has no disk slot payloads", m.Name, m.Version)
	}
	return []manifest.File{root, kernel, initrd}, nil
}

// WriteStream writes the flash stream of a build. open returns a payload's
// bytes.
func WriteStream(w io.Writer, m *manifest.Manifest, manifestBytes, sig []byte, open func(manifest.File) (io.ReadCloser, error)) error {
	order, err := StreamOrder(m)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Size: size, Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(manifest.FileName, int64(len(manifestBytes)))); err != nil {
		return err
	}
	if _, err := tw.Write(manifestBytes); err != nil {
		return err
	}
	if len(sig) > 0 {
		if err := tw.WriteHeader(hdr(signing.SignatureFile, int64(len(sig)))); err != nil {
			return err
		}
		if _, err := tw.Write(sig); err != nil {
			return err
		}
	}
	for _, a := range order {
		rc, err := open(a)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr(a.Name, a.Size)); err != nil {
			rc.Close()
			return err
		}
		_, err = io.Copy(tw, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("payload %s: %w", a.Name, err)
		}
	}
	return tw.Close()
}

// Stream is a flash stream being read: the manifest (and signature) are
// read at once; payloads are handed out in order by Open.
type Stream struct {
	tr            *tar.Reader
	Manifest      *manifest.Manifest
	ManifestBytes []byte
	Signature     []byte
	next          *tar.Header
}

// ReadStream reads the head of a flash stream.
func ReadStream(r io.Reader) (*Stream, error) {
	s := &Stream{tr: tar.NewReader(r)}
	h, err := s.tr.Next()
	if err != nil {
		return nil, fmt.Errorf("flash stream: %w", err)
	}
	if h.Name != manifest.FileName || h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("flash stream: first member is %q, want %s", h.Name, manifest.FileName)
	}
	if s.ManifestBytes, err = readSmall(s.tr, h, MaxManifestBytes); err != nil {
		return nil, err
	}
	if s.Manifest, err = manifest.Parse(s.ManifestBytes); err != nil {
		return nil, fmt.Errorf("flash stream: %w", err)
	}
	h, err = s.tr.Next()
	if err != nil {
		return nil, fmt.Errorf("flash stream: after the manifest: %w", noEOF(err))
	}
	if h.Name == signing.SignatureFile {
		if s.Signature, err = readSmall(s.tr, h, MaxSignatureBytes); err != nil {
			return nil, err
		}
		if h, err = s.tr.Next(); err != nil {
			return nil, fmt.Errorf("flash stream: after the signature: %w", noEOF(err))
		}
	}
	s.next = h
	return s, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func readSmall(tr *tar.Reader, h *tar.Header, limit int64) ([]byte, error) {
	if h.Size > limit {
		return nil, fmt.Errorf("flash stream: %s is %d bytes, more than %d", h.Name, h.Size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(tr, h.Size))
	if err != nil {
		return nil, fmt.Errorf("flash stream: %s: %w", h.Name, err)
	}
	if int64(len(b)) != h.Size {
		return nil, fmt.Errorf("flash stream: %s: %w", h.Name, io.ErrUnexpectedEOF)
	}
	return b, nil
}

// Open returns the next payload, which must be a: same name, and a size
// that is exactly the manifest's (a stream announcing more bytes is
// refused before any is written).
func (s *Stream) Open(a manifest.File) (io.ReadCloser, error) {
	h := s.next
	if h == nil {
		var err error
		if h, err = s.tr.Next(); err != nil {
			return nil, fmt.Errorf("flash stream: expecting %s: %w", a.Name, noEOF(err))
		}
	}
	s.next = nil
	if h.Name != a.Name || h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("flash stream: got %q, expecting %s", h.Name, a.Name)
	}
	if h.Size > a.Size {
		return nil, fmt.Errorf("flash stream: %s has %d bytes, more than the %d the manifest says", a.Name, h.Size, a.Size)
	}
	if h.Size < a.Size {
		return nil, fmt.Errorf("flash stream: %s has %d bytes, fewer than the %d the manifest says", a.Name, h.Size, a.Size)
	}
	return io.NopCloser(s.tr), nil
}

// Rest reports whether anything follows the last payload (it must not).
func (s *Stream) Rest() error {
	h, err := s.tr.Next()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flash stream: %w", err)
	}
	return fmt.Errorf("flash stream: unexpected member %q after the payloads", h.Name)
}
