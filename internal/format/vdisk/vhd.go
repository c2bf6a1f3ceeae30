package vdisk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// VHD (Microsoft "Virtual Hard Disk Image Format Specification" 1.0): a
// fixed disk is the disk's bytes followed by a 512-byte footer. Azure
// takes only fixed VHDs whose virtual size is a whole number of MiB, so
// the image is padded with zeros to the next MiB.

// VHDFooterSize is the size of the footer that ends a fixed VHD.
const VHDFooterSize = 512

// vhdAlign is the alignment of the virtual size Azure requires.
const vhdAlign = 1 << 20

// vhdEpoch is the VHD time stamp origin, 2000-01-01 00:00:00 UTC, in Unix
// seconds.
const vhdEpoch = 946684800

// VHDOptions are the identifiers of a VHD footer.
type VHDOptions struct {
	// UniqueID is the footer's unique ID (a UUID); derive it from the
	// build for reproducible output.
	UniqueID [16]byte
	// Epoch is the footer's time stamp in Unix seconds (SOURCE_DATE_EPOCH
	// or 0); times before 2000 are written as 0.
	Epoch int64
}

// VHDSize returns the size of the fixed VHD of a size-byte raw image:
// the virtual size (size rounded up to a MiB) plus the footer.
func VHDSize(size int64) int64 { return ceilDiv(size, vhdAlign)*vhdAlign + VHDFooterSize }

// WriteVHD writes the fixed VHD of the size-byte raw image to w. When w
// can seek and truncate (an *os.File), runs of zeros are skipped with a
// seek, so the output stays as sparse as the raw image.
func WriteVHD(w io.Writer, raw io.ReaderAt, size int64, o VHDOptions) error {
	if err := checkSize(size); err != nil {
		return err
	}
	virtual := VHDSize(size) - VHDFooterSize
	sw := newSparseWriter(w)
	const block = 1 << 16
	buf := make([]byte, block)
	for off := int64(0); off < virtual; off += block {
		if err := readBlock(raw, size, buf, off); err != nil {
			return err
		}
		if err := sw.write(buf); err != nil {
			return err
		}
	}
	footer := vhdFooter(virtual, o)
	if err := sw.write(footer[:]); err != nil {
		return err
	}
	return sw.finish()
}

// vhdFooter returns the footer of a fixed disk of the given virtual size
// (the specification's "Hard Disk Footer Format"; big-endian fields).
func vhdFooter(virtual int64, o VHDOptions) [VHDFooterSize]byte {
	var f [VHDFooterSize]byte
	be := binary.BigEndian
	copy(f[0:8], "conectix")
	be.PutUint32(f[8:], 2)           // features: reserved bit, always set
	be.PutUint32(f[12:], 0x00010000) // file format version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none for a fixed disk
	var ts uint32
	if o.Epoch > vhdEpoch {
		ts = uint32(min(o.Epoch-vhdEpoch, 1<<32-1))
	}
	be.PutUint32(f[24:], ts)
	// Creator application "win ": qemu's block/vpc.c (and Hyper-V) take
	// the disk size from the footer's current size only for the creator
	// applications of Hyper-V and a few converters; for any other it
	// computes the size from the CHS geometry, which rounds a MiB-aligned
	// disk down and would cut off the backup GPT.
	copy(f[28:32], "win ")
	be.PutUint32(f[32:], 0x000a0000) // creator version 10.0, as Hyper-V
	copy(f[36:40], "Wi2k")           // creator host OS: Windows
	be.PutUint64(f[40:], uint64(virtual))
	be.PutUint64(f[48:], uint64(virtual))
	c, h, s := vhdGeometry(virtual / 512)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 2) // disk type: fixed
	copy(f[68:84], o.UniqueID[:])
	// f[84] saved state 0; the rest is reserved zeros.
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	be.PutUint32(f[64:], ^sum)
	return f
}

// vhdGeometry is the CHS geometry of a disk of the given number of
// sectors, by the algorithm in the specification's appendix.
func vhdGeometry(total int64) (cyl uint16, heads, spt uint8) {
	total = min(total, 65535*16*255)
	var sectors, h, cth int64
	if total >= 65535*16*63 {
		sectors, h = 255, 16
		cth = total / sectors
	} else {
		sectors = 17
		cth = total / sectors
		h = max((cth+1023)/1024, 4)
		if cth >= h*1024 || h > 16 {
			sectors, h = 31, 16
			cth = total / sectors
		}
		if cth >= h*1024 {
			sectors, h = 63, 16
			cth = total / sectors
		}
	}
	return uint16(cth / h), uint8(h), uint8(sectors)
}

// sparseWriter writes blocks to w in order; when w is a file, all-zero
// blocks become a seek and finish sets the file's size.
type sparseWriter struct {
	w    io.Writer
	file interface {
		io.Seeker
		Truncate(int64) error
	}
	off     int64
	pending bool // a zero block was skipped: the file must be extended
}

func newSparseWriter(w io.Writer) *sparseWriter {
	sw := &sparseWriter{w: w}
	if f, ok := w.(interface {
		io.Seeker
		Truncate(int64) error
	}); ok {
		if off, err := f.Seek(0, io.SeekCurrent); err == nil {
			sw.file, sw.off = f, off
		}
	}
	return sw
}

func (s *sparseWriter) write(b []byte) error {
	if s.file != nil && allZero(b) {
		s.off += int64(len(b))
		s.pending = true
		return nil
	}
	if s.pending {
		if _, err := s.file.Seek(s.off, io.SeekStart); err != nil {
			return err
		}
		s.pending = false
	}
	n, err := s.w.Write(b)
	s.off += int64(n)
	if err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

func (s *sparseWriter) finish() error {
	if s.pending {
		return s.file.Truncate(s.off)
	}
	return nil
}
