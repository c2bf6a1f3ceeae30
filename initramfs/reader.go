package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Entry is one archive entry as [Reader.Next] returns it: the record without its
// Data, the size of the entry's data in the archive (the file length for
// regular files, the target length for symbolic links, 0 otherwise), and
// the header fields that [Record] does not carry, which the kernel uses to
// recognise hard links (a non-directory with Nlink >= 2 that shares Inode,
// DevMajor and DevMinor with an earlier entry).
type Entry struct {
	Record
	Size               int64
	Nlink, Inode       uint32
	DevMajor, DevMinor uint32
}

// DefaultReadLimit is the total size of file contents that [ReadAll] accepts:
// 1 GiB, far more than an appliance initramfs holds, but a bound on the
// memory a hostile or corrupt (e.g. decompression-bomb) input can make it
// allocate.
const DefaultReadLimit = 1 << 30

// ReadAll is [ReadAllLimit] with [DefaultReadLimit].
func ReadAll(r io.Reader) ([]Record, error) {
	return ReadAllLimit(r, DefaultReadLimit)
}

// ReadAllLimit reads an uncompressed newc archive with [Reader] and returns
// records with the contents of regular files in Data. It fails before
// reading a file that would take the total size of contents over maxTotal
// bytes; a negative maxTotal means no limit. Memory grows with the data
// actually present, never with a size a header merely claims.
func ReadAllLimit(r io.Reader, maxTotal int64) ([]Record, error) {
	ar := NewReader(r)
	var out []Record
	var total int64
	for {
		e, err := ar.Next()
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
			if _, err := io.Copy(&buf, ar); err != nil {
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

// Reader reads a newc archive entry by entry, in the manner of archive/tar's
// Reader: [Reader.Next] returns the next entry's metadata as data and
// [Reader.Read] the contents of the current regular file. It parses every
// header itself, strictly (see [NewReader]), reads exactly the bytes of the
// archive up to and including the trailer's name (never beyond, so that a
// caller can go on with what follows), and allocates at most one name and
// one symlink target (each bounded by PATH_MAX) per entry: memory does not
// grow with the input. Wrap an unbuffered source in a bufio.Reader.
type Reader struct {
	r       io.Reader
	off     int64  // bytes consumed from r
	index   int    // number of the current entry, from 0
	start   int64  // offset of the current entry's header
	name    string // name of the current entry
	pad     int64  // padding after the current entry's data, not yet read
	left    int64  // data bytes of the current regular file not yet read
	crc     bool   // the current entry has a "070702" checksum
	check   uint32 // that checksum
	sum     uint32 // byte sum of the data read so far
	done    bool   // the trailer has been read
	err     error  // sticky error
	scratch [headerSize]byte
}

// NewReader returns a Reader of the newc archive that starts at the current
// position of r.
//
// The Reader is strict: a bad magic, a field that is not eight hexadecimal
// digits, an unknown file type, a name longer than PATH_MAX or not
// NUL-terminated, data on an entry type that has none, non-zero padding, a
// wrong checksum in a "070702" archive, or input that ends before the
// trailer is an error (truncation errors wrap [io.ErrUnexpectedEOF]). Names
// are returned as stored; use [ValidateName] to check them.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, index: -1}
}

// Offset returns the number of bytes read from the underlying reader (the
// offset in the archive; error messages give offsets the same way): after
// [Reader.Next] has returned io.EOF, the end of the trailer's name (its
// padding is not read).
func (ar *Reader) Offset() int64 { return ar.off }

// errorf returns an error naming the current entry.
func (ar *Reader) errorf(format string, args ...any) error {
	where := fmt.Sprintf("entry %d at offset %d", ar.index, ar.start)
	if ar.name != "" {
		where += fmt.Sprintf(" (%q)", ar.name)
	}
	return fmt.Errorf("initramfs: %s: %w", where, fmt.Errorf(format, args...))
}

// truncated returns an error for input that ends too early.
func (ar *Reader) truncated(what string) error {
	return ar.errorf("archive ends in the middle of the %s: %w", what, io.ErrUnexpectedEOF)
}

// readFull reads len(b) bytes; it returns the count read and whether the
// input ended early. Other read errors are returned as they are.
func (ar *Reader) readFull(b []byte) (int, bool, error) {
	n, err := io.ReadFull(ar.r, b)
	ar.off += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return n, true, nil
	}
	return n, false, err
}

// fail makes err sticky and returns it.
func (ar *Reader) fail(err error) error {
	ar.err = err
	return err
}

// Read reads the data of the current entry if it is a regular file; it
// returns io.EOF at the end of the data (0, io.EOF for other types), after
// checking the checksum of a "070702" entry. Input that ends inside the data
// is an error wrapping io.ErrUnexpectedEOF.
func (ar *Reader) Read(p []byte) (int, error) {
	if ar.err != nil {
		return 0, ar.err
	}
	if ar.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > ar.left {
		p = p[:ar.left]
	}
	n, err := ar.r.Read(p)
	ar.off += int64(n)
	ar.left -= int64(n)
	if ar.crc {
		for _, b := range p[:n] {
			ar.sum += uint32(b)
		}
	}
	switch {
	case ar.left == 0:
		if ar.crc && ar.sum != ar.check {
			return n, ar.fail(ar.errorf("data checksum is %#08x, header says %#08x", ar.sum, ar.check))
		}
		return n, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return n, ar.fail(ar.truncated("file data"))
	case err != nil:
		return n, ar.fail(ar.errorf("read file data: %w", err))
	}
	return n, nil
}

// skipData reads and discards the rest of the current file's data.
func (ar *Reader) skipData() error {
	if ar.left == 0 {
		return nil
	}
	_, err := io.Copy(io.Discard, ar) // io.Discard reuses pooled buffers
	return err
}

// Next returns the next entry, or io.EOF after the trailer. The data of the
// previous entry, if not read, is skipped (and its checksum verified). Once
// Next has failed it returns the same error forever.
func (ar *Reader) Next() (Entry, error) {
	if ar.err != nil {
		return Entry{}, ar.err
	}
	if ar.done {
		return Entry{}, io.EOF
	}
	if err := ar.skipData(); err != nil {
		return Entry{}, err
	}
	e, err := ar.next()
	if err != nil && !errors.Is(err, io.EOF) {
		ar.err = err
	}
	return e, err
}

func (ar *Reader) next() (Entry, error) {
	ar.index++
	ar.name = ""
	ar.start = ar.off + ar.pad
	ar.crc, ar.sum, ar.check = false, 0, 0

	pad := ar.scratch[:ar.pad]
	ar.pad = 0
	if _, short, err := ar.readFull(pad); err != nil {
		return Entry{}, ar.errorf("read padding: %w", err)
	} else if short {
		return Entry{}, ar.truncated("padding after the previous entry")
	}
	if !allZero(pad) {
		return Entry{}, ar.errorf("padding after the previous entry is not zero bytes")
	}
	raw := ar.scratch[:headerSize]
	n, short, err := ar.readFull(raw)
	switch {
	case err != nil:
		return Entry{}, ar.errorf("read header: %w", err)
	case short && n == 0:
		return Entry{}, ar.errorf("archive ends without a TRAILER!!! entry: %w", io.ErrUnexpectedEOF)
	case short:
		return Entry{}, ar.truncated("header")
	}
	h, err := parseRawHeader(raw)
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
	nameb := make([]byte, h.nsize)
	if _, short, err := ar.readFull(nameb); err != nil {
		return Entry{}, ar.errorf("read name: %w", err)
	} else if short {
		return Entry{}, ar.truncated("name")
	}
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
	namePad := ar.scratch[:pad4(headerSize+int64(h.nsize))]
	if _, short, err := ar.readFull(namePad); err != nil {
		return Entry{}, ar.errorf("read name padding: %w", err)
	} else if short {
		return Entry{}, ar.truncated("name padding")
	}
	if !allZero(namePad) {
		return Entry{}, ar.errorf("padding after the name is not zero bytes")
	}
	rec := Record{
		Name:  ar.name,
		Mode:  h.mode,
		UID:   int(h.uid),
		GID:   int(h.gid),
		MTime: int64(h.mtime),
	}
	switch t {
	case TypeSymlink:
		target := make([]byte, h.filesize)
		if _, short, err := ar.readFull(target); err != nil {
			return Entry{}, ar.errorf("read symlink target: %w", err)
		} else if short {
			return Entry{}, ar.truncated("symlink target")
		}
		if bytes.IndexByte(target, 0) >= 0 {
			return Entry{}, ar.errorf("symlink target contains a NUL byte")
		}
		rec.Linkname = string(target)
	case TypeChar, TypeBlock:
		rec.Major, rec.Minor = h.rmaj, h.rmin
	case TypeReg:
		ar.left = int64(h.filesize)
		ar.crc = h.magic == crcMagic
		ar.check = h.check
	}
	ar.pad = pad4(int64(h.filesize))
	return Entry{Record: rec, Size: int64(h.filesize), Nlink: h.nlink, Inode: h.ino, DevMajor: h.dmaj, DevMinor: h.dmin}, nil
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
