// Package ext4test holds what the ext4 tests share: a file system image
// in memory and the empty file system the hostile images and fuzz
// targets of internal/format/ext4fs and internal/host/data start from.
// For tests only.
package ext4test

import (
	"errors"
	"io"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
)

// MemDev is a file system image in memory: an io.ReaderAt and
// io.WriterAt over its bytes that never grows.
type MemDev []byte

// ReadAt reads from the image; past its end it returns io.EOF.
func (m MemDev) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(b, m[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes into the image; a write outside it is an error.
func (m MemDev) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > int64(len(m)) {
		return 0, errors.New("write outside the image")
	}
	return copy(m[off:], b), nil
}

// Clone is a copy to patch or fill, leaving m as it was.
func (m MemDev) Clone() MemDev { return append(MemDev(nil), m...) }

// Empty is the smallest empty file system ext4img writes (ext4img.MinSize
// bytes) with options o (Fresh is always set), as the builder writes /data.
func Empty(t testing.TB, o ext4img.Options) MemDev {
	t.Helper()
	const size = ext4img.MinSize
	m := make(MemDev, size)
	o.Fresh = true
	if err := ext4img.Create(m, size, o); err != nil {
		t.Fatal(err)
	}
	return m
}
