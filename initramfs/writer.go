package initramfs

import (
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
)

const (
	newcMagic  = "070701" // newc header without checksum
	crcMagic   = "070702" // newc header with byte-sum checksum
	headerSize = 110      // bytes in a newc header
)

// Writer writes newc records in the order given. It does not sort, add
// parents or reject duplicates; use [WriteArchive] for a canonical archive.
// Inode numbers are 1, 2, ... in the order records are written.
type Writer struct {
	w      io.Writer
	cw     *cpio.Writer
	ino    int64
	err    error // sticky I/O error
	closed bool
}

// NewWriter returns a Writer that writes a newc archive to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, cw: cpio.NewWriter(w)}
}

// WriteRecord writes one record. A record that fails [Record.Validate] is
// rejected without writing anything; an I/O error is returned by every later
// call.
func (w *Writer) WriteRecord(r Record) error {
	if w.closed {
		return fmt.Errorf("initramfs: write %q: writer is closed", r.Name)
	}
	if w.err != nil {
		return w.err
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("initramfs: record %q: %w", r.Name, err)
	}
	w.ino++
	var err error
	switch r.Type() {
	case TypeChar, TypeBlock:
		err = w.writeDevice(r)
	default:
		err = w.writeWithLibrary(r)
	}
	if err != nil {
		w.err = fmt.Errorf("initramfs: write %q: %w", r.Name, err)
		return w.err
	}
	return nil
}

// nlink returns the link count written for r: 2 for directories (their own
// entry and "."), 1 for everything else so that the kernel never takes an
// entry for a hard link.
func nlink(r Record) int {
	if r.Type() == TypeDir {
		return 2
	}
	return 1
}

// writeWithLibrary writes a regular file, directory, symlink, FIFO or socket
// through cavaliergopher/cpio.
func (w *Writer) writeWithLibrary(r Record) error {
	body := r.Data
	if r.Type() == TypeSymlink {
		body = []byte(r.Linkname)
	}
	hdr := &cpio.Header{
		Name:    r.Name,
		Mode:    cpio.FileMode(r.Mode),
		Uid:     r.UID,
		Guid:    r.GID,
		Links:   nlink(r),
		ModTime: time.Unix(r.MTime, 0),
		Inode:   w.ino,
		Size:    int64(len(body)),
	}
	if err := w.cw.WriteHeader(hdr); err != nil {
		return err
	}
	if len(body) > 0 {
		if _, err := w.cw.Write(body); err != nil {
			return err
		}
	}
	return nil
}

// writeDevice writes the header of a character or block device node itself,
// because cavaliergopher/cpio always writes zero rdev fields.
func (w *Writer) writeDevice(r Record) error {
	// Write the padding of the previous entry so that the stream is 4-byte
	// aligned and the library's state is clean for the entry after this one.
	if err := w.cw.Flush(); err != nil {
		return err
	}
	h := rawHeader{
		magic: newcMagic,
		ino:   uint32(w.ino),
		mode:  r.Mode,
		uid:   uint32(r.UID),
		gid:   uint32(r.GID),
		nlink: uint32(nlink(r)),
		mtime: uint32(r.MTime),
		rmaj:  r.Major,
		rmin:  r.Minor,
		nsize: uint32(len(r.Name) + 1),
	}
	buf := h.appendTo(make([]byte, 0, headerSize+len(r.Name)+4))
	buf = append(buf, r.Name...)
	buf = append(buf, 0)
	buf = append(buf, make([]byte, pad4(int64(len(buf))))...)
	_, err := w.w.Write(buf)
	return err
}

// Close writes the TRAILER!!! entry and the final padding. It does not close
// the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.cw.Close(); err != nil {
		w.err = fmt.Errorf("initramfs: write trailer: %w", err)
	}
	return w.err
}

// pad4 returns the number of zero bytes that align n to a multiple of 4.
func pad4(n int64) int64 { return (4 - n%4) % 4 }

// Options control the canonical form that [WriteArchive] writes.
type Options struct {
	// MTime is every entry's mtime, in seconds since the epoch; callers pass
	// SOURCE_DATE_EPOCH or 0.
	MTime int64
	// KeepOwners keeps each record's UID and GID; when false every owner
	// becomes 0:0.
	KeepOwners bool
}

// DefaultDirPerm is the permission of parent directories that
// [Canonicalize] adds because no record names them.
const DefaultDirPerm = 0o755

// Canonicalize returns the records [WriteArchive] writes, in order, without
// writing anything: it validates every record (all problems are reported
// together), rejects duplicate names and parents that are not directories,
// adds missing parent directories with [DefaultDirPerm], sets every mtime to
// opts.MTime and, unless opts.KeepOwners, every owner to 0:0, and sorts by
// name in byte order (which puts every directory before its contents, since
// a parent's name is a prefix of its children's). The input slice is not
// modified; the result shares Data slices with it.
func Canonicalize(records []Record, opts Options) ([]Record, error) {
	if opts.MTime < 0 || opts.MTime > 0xFFFFFFFF {
		return nil, fmt.Errorf("initramfs: mtime %d does not fit in an unsigned 32-bit field", opts.MTime)
	}
	var errs []error
	byName := make(map[string]Record, len(records))
	for _, r := range records {
		r.MTime = opts.MTime
		if !opts.KeepOwners {
			r.UID, r.GID = 0, 0
		}
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("record %q: %w", r.Name, err))
			continue
		}
		if _, dup := byName[r.Name]; dup {
			errs = append(errs, fmt.Errorf("record %q: duplicate name", r.Name))
			continue
		}
		byName[r.Name] = r
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("initramfs: %w", errors.Join(sortedErrors(errs)...))
	}
	out := make([]Record, 0, len(byName))
	for _, r := range byName {
		out = append(out, r)
	}
	// Add missing parents; check that existing ones are directories.
	for _, r := range out {
		for p := path.Dir(r.Name); p != "."; p = path.Dir(p) {
			parent, ok := byName[p]
			if !ok {
				d := Dir(p, DefaultDirPerm)
				d.MTime = opts.MTime
				byName[p] = d
				out = append(out, d)
				continue
			}
			if parent.Type() != TypeDir {
				errs = append(errs, fmt.Errorf("record %q: parent %q is a %s, not a directory", r.Name, p, typeName(parent.Type())))
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("initramfs: %w", errors.Join(sortedErrors(errs)...))
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// sortedErrors sorts errors by message so that error text does not depend
// on map iteration or input order.
func sortedErrors(errs []error) []error {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return slices.CompactFunc(errs, func(a, b error) bool { return a.Error() == b.Error() })
}

// WriteArchive writes records to w as a canonical, reproducible newc archive
// (see [Canonicalize]) followed by the trailer: the same set of records, in
// any order and with any mtimes, always gives the same bytes. Inode numbers
// are 1..n in output order; nlink is 2 for directories and 1 otherwise.
// Nothing is written if the records are invalid.
func WriteArchive(w io.Writer, records []Record, opts Options) error {
	plan, err := Canonicalize(records, opts)
	if err != nil {
		return err
	}
	aw := NewWriter(w)
	for _, r := range plan {
		if err := aw.WriteRecord(r); err != nil {
			return err
		}
	}
	return aw.Close()
}
