package initramfs

import (
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

const (
	newcMagic  = "070701" // newc header without checksum
	crcMagic   = "070702" // newc header with byte-sum checksum
	headerSize = 110      // bytes in a newc header
)

// Writer writes newc records in the order given, in the manner of
// archive/tar's Writer: one call per record, the first I/O error kept and
// returned by every later call. It does not sort, add parents or reject
// duplicates; use [WriteArchive] for a canonical archive. Inode numbers are
// 1, 2, ... in the order records are written; headers use upper-case hex,
// c_devmajor/c_devminor 0 and c_check 0.
type Writer struct {
	w      io.Writer
	ino    uint32
	buf    []byte  // header, name and padding of the record being written
	zero   [3]byte // padding after data
	err    error   // sticky I/O error
	closed bool
}

// NewWriter returns a Writer that writes a newc archive to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
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
	body := r.Data
	if r.Type() == TypeSymlink {
		body = []byte(r.Linkname)
	}
	h := rawHeader{
		magic:    newcMagic,
		ino:      w.ino,
		mode:     r.Mode,
		uid:      uint32(r.UID),
		gid:      uint32(r.GID),
		nlink:    nlink(r),
		mtime:    uint32(r.MTime),
		filesize: uint32(len(body)),
		rmaj:     r.Major,
		rmin:     r.Minor,
	}
	if err := w.writeEntry(h, r.Name, body); err != nil {
		w.err = fmt.Errorf("initramfs: write %q: %w", r.Name, err)
		return w.err
	}
	return nil
}

// writeEntry writes header h for name, then body, each padded with zero
// bytes to a multiple of 4 (buffer-format.rst).
func (w *Writer) writeEntry(h rawHeader, name string, body []byte) error {
	h.nsize = uint32(len(name) + 1)
	b := h.appendTo(w.buf[:0])
	b = append(b, name...)
	b = append(b, 0)
	b = appendPad(b, int64(len(b)))
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	if _, err := w.w.Write(body); err != nil {
		return err
	}
	if p := pad4(int64(len(body))); p > 0 {
		if _, err := w.w.Write(w.zero[:p]); err != nil {
			return err
		}
	}
	return nil
}

// appendPad appends the zero bytes that align n to a multiple of 4.
func appendPad(b []byte, n int64) []byte {
	return append(b, "\x00\x00\x00"[:pad4(n)]...)
}

// nlink returns the link count written for r: 2 for directories (their own
// entry and "."), 1 for everything else so that the kernel never takes an
// entry for a hard link.
func nlink(r Record) uint32 {
	if r.Type() == TypeDir {
		return 2
	}
	return 1
}

// Close writes the TRAILER!!! entry (nlink 1, every other field 0) and its
// padding. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.writeEntry(rawHeader{magic: newcMagic, nlink: 1}, trailerName, nil); err != nil {
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
