package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/cavaliergopher/cpio"
)

// Entry is one archive entry as listed by [List]: the record without its
// Data, and the size of the entry's data in the archive (the file length for
// regular files, the target length for symbolic links, 0 otherwise).
type Entry struct {
	Record
	Size int64
}

// DefaultReadLimit is the total size of file contents that [ReadAll] accepts:
// 1 GiB, far more than an appliance initramfs holds, but a bound on the
// memory a hostile or corrupt (e.g. decompression-bomb) input can make it
// allocate.
const DefaultReadLimit = 1 << 30

// List reads an uncompressed newc archive from r, up to and including its
// TRAILER!!! entry, and returns its entries in archive order without their
// data. Bytes after the trailer are not read. Names are returned as stored;
// use [ValidateName] to check them.
//
// List is strict: a bad magic, a field that is not eight hexadecimal digits,
// an unknown file type, a name longer than PATH_MAX or not NUL-terminated,
// data on an entry type that has none, non-zero padding, a wrong checksum in
// a "070702" archive, or input that ends before the trailer is an error
// (truncation errors wrap [io.ErrUnexpectedEOF]).
func List(r io.Reader) ([]Entry, error) {
	ar := newArchiveReader(r)
	var out []Entry
	for {
		e, err := ar.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// ReadAll is [ReadAllLimit] with [DefaultReadLimit].
func ReadAll(r io.Reader) ([]Record, error) {
	return ReadAllLimit(r, DefaultReadLimit)
}

// ReadAllLimit reads an uncompressed newc archive like [List] but returns
// records with the contents of regular files in Data. It fails before
// reading a file that would take the total size of contents over maxTotal
// bytes; a negative maxTotal means no limit. Memory grows with the data
// actually present, never with a size a header merely claims.
func ReadAllLimit(r io.Reader, maxTotal int64) ([]Record, error) {
	ar := newArchiveReader(r)
	var out []Record
	var total int64
	for {
		e, err := ar.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		rec := e.Record
		if rec.Type() == TypeReg {
			if maxTotal >= 0 && e.Size > maxTotal-total {
				return nil, fmt.Errorf("initramfs: %q: file contents exceed the limit of %d bytes in total", rec.Name, maxTotal)
			}
			total += e.Size
			var buf bytes.Buffer
			if err := ar.readBody(&buf); err != nil {
				return nil, err
			}
			rec.Data = buf.Bytes()
			if rec.Data == nil {
				rec.Data = []byte{}
			}
		}
		out = append(out, rec)
	}
}

// tapReader passes reads through to r, counts them and, while recording,
// keeps a copy of the bytes read.
type tapReader struct {
	r         io.Reader
	n         int64 // bytes read so far
	recording bool
	buf       []byte
}

func (t *tapReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if t.recording {
		t.buf = append(t.buf, p[:n]...)
	}
	return n, err
}

// archiveReader reads entries with cavaliergopher/cpio and checks each one
// against the raw bytes the library consumed, recovering the fields the
// library drops (rdev) or misreads (malformed hex becomes 0 there).
type archiveReader struct {
	tap     *tapReader
	cr      *cpio.Reader
	index   int    // number of the current entry, from 0
	start   int64  // offset of the current entry's header
	name    string // name of the current entry
	pad     int64  // padding after the current entry's data
	left    int64  // data bytes of the current regular file not yet read
	pending bool   // the current entry is a regular file whose data is unread
	crc     bool   // the current entry has a "070702" checksum
	check   uint32 // that checksum
	done    bool   // the trailer has been read
}

func newArchiveReader(r io.Reader) *archiveReader {
	tap := &tapReader{r: r}
	return &archiveReader{tap: tap, cr: cpio.NewReader(tap), index: -1}
}

// errorf returns an error naming the current entry.
func (ar *archiveReader) errorf(format string, args ...any) error {
	where := fmt.Sprintf("entry %d at offset %d", ar.index, ar.start)
	if ar.name != "" {
		where += fmt.Sprintf(" (%q)", ar.name)
	}
	return fmt.Errorf("initramfs: %s: %w", where, fmt.Errorf(format, args...))
}

// truncated returns an error for input that ends too early.
func (ar *archiveReader) truncated(what string) error {
	return ar.errorf("archive ends in the middle of the %s: %w", what, io.ErrUnexpectedEOF)
}

// readBody copies the rest of the current regular file's data to dst and
// verifies the checksum of a "070702" entry.
func (ar *archiveReader) readBody(dst io.Writer) error {
	if !ar.pending {
		return nil
	}
	ar.pending = false
	sr := &sumReader{r: ar.cr}
	n, err := io.CopyN(dst, sr, ar.left)
	ar.left -= n
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ar.truncated("file data")
		}
		return ar.errorf("copy file data: %w", err)
	}
	if ar.crc && sr.sum != ar.check {
		return ar.errorf("data checksum is %#08x, header says %#08x", sr.sum, ar.check)
	}
	return nil
}

// sumReader adds up the bytes read through it (the newc "crc").
type sumReader struct {
	r   io.Reader
	sum uint32
}

func (s *sumReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	for _, b := range p[:n] {
		s.sum += uint32(b)
	}
	return n, err
}

// next returns the next entry, or io.EOF after the trailer.
func (ar *archiveReader) next() (Entry, error) {
	if ar.done {
		return Entry{}, io.EOF
	}
	if err := ar.readBody(io.Discard); err != nil {
		return Entry{}, err
	}
	ar.index++
	ar.name = ""
	ar.start = ar.tap.n + ar.pad
	prevPad := ar.pad

	ar.tap.buf = ar.tap.buf[:0]
	ar.tap.recording = true
	hdr, nextErr := ar.cr.Next()
	ar.tap.recording = false
	raw := ar.tap.buf

	// The library first skips the previous entry's padding.
	if int64(len(raw)) < prevPad {
		return Entry{}, ar.truncated("padding after the previous entry")
	}
	if !allZero(raw[:prevPad]) {
		return Entry{}, ar.errorf("padding after the previous entry is not zero bytes")
	}
	raw = raw[prevPad:]
	if len(raw) == 0 {
		return Entry{}, ar.errorf("archive ends without a TRAILER!!! entry: %w", io.ErrUnexpectedEOF)
	}
	if len(raw) < headerSize {
		return Entry{}, ar.truncated("header")
	}
	h, err := parseRawHeader(raw[:headerSize])
	if err != nil {
		return Entry{}, ar.errorf("%w", err)
	}
	if h.nsize < 2 {
		return Entry{}, ar.errorf("c_namesize is %d: the name is empty", h.nsize)
	}
	if h.nsize > MaxNameLen+1 {
		return Entry{}, ar.errorf("c_namesize is %d, more than PATH_MAX (%d)", h.nsize, MaxNameLen+1)
	}
	if h.magic == newcMagic && h.check != 0 {
		return Entry{}, ar.errorf("c_check is %#x; it must be 0 in a %q archive", h.check, newcMagic)
	}
	nameEnd := headerSize + int(h.nsize)
	if len(raw) < nameEnd {
		return Entry{}, ar.truncated("name")
	}
	nameb := raw[headerSize:nameEnd]
	if nameb[len(nameb)-1] != 0 {
		return Entry{}, ar.errorf("name is not NUL-terminated")
	}
	nameb = nameb[:len(nameb)-1]
	if bytes.IndexByte(nameb, 0) >= 0 {
		return Entry{}, ar.errorf("name contains a NUL byte")
	}
	ar.name = string(nameb)
	if ar.name == trailerName {
		if h.filesize != 0 {
			return Entry{}, ar.errorf("trailer has c_filesize %d; it must be 0", h.filesize)
		}
		if !errors.Is(nextErr, io.EOF) {
			return Entry{}, ar.errorf("cpio library did not stop at the trailer: %v", nextErr)
		}
		ar.done = true
		return Entry{}, io.EOF
	}

	t := h.mode & TypeMask
	if !knownType(t) || h.mode&^(TypeMask|PermMask) != 0 {
		return Entry{}, ar.errorf("c_mode %#o is not a known file type with permissions", h.mode)
	}
	switch t {
	case TypeReg:
	case TypeSymlink:
		if h.filesize == 0 || h.filesize > MaxLinkLen {
			return Entry{}, ar.errorf("symlink target length %d is not in 1..%d", h.filesize, MaxLinkLen)
		}
	default:
		if h.filesize != 0 {
			return Entry{}, ar.errorf("%s has %d bytes of data; only regular files and symlinks have data", typeName(t), h.filesize)
		}
	}
	namePad := int(pad4(int64(nameEnd)))
	need := nameEnd + namePad
	if len(raw) < need {
		return Entry{}, ar.truncated("name padding")
	}
	if !allZero(raw[nameEnd:need]) {
		return Entry{}, ar.errorf("padding after the name is not zero bytes")
	}
	rec := Record{
		Name:  ar.name,
		Mode:  h.mode,
		UID:   int(h.uid),
		GID:   int(h.gid),
		MTime: int64(h.mtime),
	}
	if t == TypeSymlink {
		if len(raw) < need+int(h.filesize) {
			return Entry{}, ar.truncated("symlink target")
		}
		target := raw[need : need+int(h.filesize)]
		if bytes.IndexByte(target, 0) >= 0 {
			return Entry{}, ar.errorf("symlink target contains a NUL byte")
		}
		rec.Linkname = string(target)
	}
	if t == TypeChar || t == TypeBlock {
		rec.Major, rec.Minor = h.rmaj, h.rmin
	}
	if nextErr != nil {
		if errors.Is(nextErr, io.EOF) || errors.Is(nextErr, io.ErrUnexpectedEOF) {
			return Entry{}, ar.truncated("entry")
		}
		return Entry{}, ar.errorf("%w", nextErr)
	}
	// The library parsed the same bytes; disagreement would be a bug here.
	if hdr.Name != rec.Name || hdr.Linkname != rec.Linkname {
		return Entry{}, ar.errorf("internal error: cpio library read name %q link %q", hdr.Name, hdr.Linkname)
	}

	ar.pad = pad4(int64(h.filesize))
	ar.crc = h.magic == crcMagic
	ar.check = h.check
	if t == TypeReg {
		ar.pending = true
		ar.left = int64(h.filesize)
	}
	return Entry{Record: rec, Size: int64(h.filesize)}, nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
