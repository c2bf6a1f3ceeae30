package update

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
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
	if _, uki := m.SlotUKI(slots.SlotA); uki {
		return nil, fmt.Errorf("build %s %s boots from unified kernel images (disk.boot_entries: uki): a network flash of those is not supported yet; flash the disk offline", m.Name, m.Version)
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

// StreamSize is the length in bytes of what WriteStream writes for m: a
// 512-byte tar header and the content padded to 512 bytes per member,
// then the two zero blocks that end the archive (POSIX ustar; the names
// are short enough to need no PAX records). Senders use it for progress.
func StreamSize(m *manifest.Manifest, manifestBytes, sig []byte) (int64, error) {
	order, err := StreamOrder(m)
	if err != nil {
		return 0, err
	}
	member := func(size int64) int64 { return 512 + (size+511)/512*512 }
	n := member(int64(len(manifestBytes))) + 1024
	if len(sig) > 0 {
		n += member(int64(len(sig)))
	}
	for _, a := range order {
		n += member(a.Size)
	}
	return n, nil
}

// Stream is a flash stream being read: the manifest (and signature) are
// read at once; payloads are handed out in order by Open, and Finish
// checks that the archive ends right after the last payload. Apply calls
// Finish before the switch, so a stream is accepted whole or not at all.
type Stream struct {
	raw           *countingReader
	tr            *tar.Reader
	Manifest      *manifest.Manifest
	ManifestBytes []byte
	Signature     []byte
	next          *tar.Header
	// last is the header of the payload handed out last.
	last *tar.Header
}

// countingReader is the stream under the tar reader. archive/tar reads
// exactly the blocks it needs (no read-ahead), so once a member's data
// was read the raw stream stands right after it; Finish reads the end of
// the archive from here itself, because tar.Reader takes a missing or
// half end-of-archive marker for a clean end.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// ReadStream reads the head of a flash stream.
func ReadStream(r io.Reader) (*Stream, error) {
	raw := &countingReader{r: r}
	s := &Stream{raw: raw, tr: tar.NewReader(raw)}
	h, err := s.tr.Next()
	if err != nil {
		return nil, fmt.Errorf("flash stream: %w", noEOF(err))
	}
	if h.Name != manifest.FileName {
		return nil, fmt.Errorf("flash stream: first member is %q, want %s", h.Name, manifest.FileName)
	}
	if err := wantRegular(h, manifest.FileName); err != nil {
		return nil, err
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
		if err := wantRegular(h, signing.SignatureFile); err != nil {
			return nil, err
		}
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

// wantRegular refuses a member that is not a regular file, saying what it
// is instead.
func wantRegular(h *tar.Header, want string) error {
	if h.Typeflag == tar.TypeReg {
		return nil
	}
	what := memberKind(h)
	return fmt.Errorf("flash stream: member %q is %s; %s must be a regular file", h.Name, what, want)
}

func memberKind(h *tar.Header) string {
	switch h.Typeflag {
	case tar.TypeSymlink:
		return fmt.Sprintf("a symlink (to %q)", h.Linkname)
	case tar.TypeLink:
		return fmt.Sprintf("a hard link (to %q)", h.Linkname)
	case tar.TypeDir:
		return "a directory"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a named pipe (FIFO)"
	case tar.TypeGNUSparse:
		return "a sparse file"
	}
	return fmt.Sprintf("of tar type %q", h.Typeflag)
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

// Open returns the next payload, which must be a: same name, a regular
// file, and a size that is exactly the manifest's (a stream announcing more
// bytes is refused before any is written).
func (s *Stream) Open(a manifest.File) (io.ReadCloser, error) {
	h := s.next
	if h == nil {
		var err error
		if h, err = s.tr.Next(); err != nil {
			return nil, fmt.Errorf("flash stream: expecting %s: %w", a.Name, noEOF(err))
		}
	}
	s.next = nil
	if h.Name != a.Name {
		return nil, fmt.Errorf("flash stream: got member %q, expecting %s", h.Name, a.Name)
	}
	if err := wantRegular(h, a.Name); err != nil {
		return nil, err
	}
	if h.Size > a.Size {
		return nil, fmt.Errorf("flash stream: %s has %d bytes, more than the %d the manifest says", a.Name, h.Size, a.Size)
	}
	if h.Size < a.Size {
		return nil, fmt.Errorf("flash stream: %s has %d bytes, fewer than the %d the manifest says", a.Name, h.Size, a.Size)
	}
	s.last = h
	return io.NopCloser(s.tr), nil
}

// MaxTrailer bounds the zero bytes accepted after the end-of-archive
// marker (tar writers may pad the archive to a whole record, 10240 bytes
// for GNU tar).
const MaxTrailer = 64 << 10

// Finish checks the end of the stream: the last payload read to its end,
// its padding, then the end-of-archive marker of two zero blocks (POSIX
// pax: "two consecutive 512-byte blocks of binary zeroes"), then nothing
// but zero bytes up to the end of the stream. A stream that is cut, or has
// another member, or garbage in place of the marker, is refused.
func (s *Stream) Finish() error {
	if s.next != nil {
		return fmt.Errorf("flash stream: unexpected member %q after the payloads", s.next.Name)
	}
	if s.last == nil {
		return errors.New("flash stream: Finish before the payloads were read")
	}
	if n, err := io.Copy(io.Discard, s.tr); err != nil {
		return fmt.Errorf("flash stream: %s: %w", s.last.Name, err)
	} else if n != 0 {
		return fmt.Errorf("flash stream: %s was not read to its end (%d bytes left)", s.last.Name, n)
	}
	pad := (blockSize - s.last.Size%blockSize) % blockSize
	buf := make([]byte, 32<<10)
	end := buf[:pad+2*blockSize]
	if k, err := io.ReadFull(s.raw, end); err != nil {
		return fmt.Errorf("flash stream: the end-of-archive marker after %s is missing (%d of %d bytes): %w", s.last.Name, k, len(end), noEOF(err))
	}
	if i := bytes.IndexFunc(end[pad:], func(r rune) bool { return r != 0 }); i >= 0 {
		if hdr, err := tar.NewReader(bytes.NewReader(end[pad:])).Next(); err == nil {
			return fmt.Errorf("flash stream: unexpected member %q after the payloads", hdr.Name)
		}
		return fmt.Errorf("flash stream: garbage at byte %d where the end-of-archive marker should be", s.raw.n-int64(len(end))+pad+int64(i))
	}
	if bytes.ContainsFunc(end[:pad], func(r rune) bool { return r != 0 }) {
		return fmt.Errorf("flash stream: non-zero padding after %s", s.last.Name)
	}
	var trailer int64
	for {
		k, err := s.raw.Read(buf)
		if bytes.ContainsFunc(buf[:k], func(r rune) bool { return r != 0 }) {
			return fmt.Errorf("flash stream: data after the end-of-archive marker (near byte %d)", s.raw.n)
		}
		trailer += int64(k)
		if trailer > MaxTrailer {
			return fmt.Errorf("flash stream: more than %d bytes after the end-of-archive marker", MaxTrailer)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("flash stream: after the end-of-archive marker: %w", err)
		}
	}
}

const blockSize = 512
