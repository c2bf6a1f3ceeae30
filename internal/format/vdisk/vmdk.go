package vdisk

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// VMDK stream-optimized (VMware "Virtual Disk Format 1.1", sections
// "Stream-Optimized Compressed Sparse Extents"): the form VMware (OVF
// packages) and VirtualBox import. The file is written front to back:
//
//	sector 0           sparse extent header (grain directory offset "at end")
//	sector 1..         the text descriptor
//	sector 128..       one grain marker + zlib-compressed grain per non-zero grain
//	                   then, per grain table: a GT marker and the table
//	                   a GD marker and the grain directory
//	                   a footer marker and the footer (the header again, with
//	                   the real grain directory offset)
//	                   the end-of-stream marker
//
// Grains are 64 KiB (128 sectors), grain tables 512 entries (32 MiB of
// disk); all-zero grains are not stored (grain table entry 0).

const (
	vmdkSector      = 512
	vmdkGrainSecs   = 128
	vmdkGrain       = vmdkGrainSecs * vmdkSector
	vmdkGTEntries   = 512
	vmdkGTSecs      = vmdkGTEntries * 4 / vmdkSector
	vmdkFirstGrain  = 128 // sectors of header and descriptor before the first grain
	vmdkGDAtEnd     = ^uint64(0)
	vmdkMarkerEOS   = 0
	vmdkMarkerGT    = 1
	vmdkMarkerGD    = 2
	vmdkMarkerFoot  = 3
	vmdkFlagNL      = 1 << 0  // valid new line detection test
	vmdkFlagComp    = 1 << 16 // grains are compressed
	vmdkFlagMarkers = 1 << 17 // the extent has markers
)

// VMDKOptions are the identifiers of a VMDK descriptor.
type VMDKOptions struct {
	// CID is the descriptor's content ID; derive it from the build for
	// reproducible output. It must not be 0xffffffff (which means "no
	// parent" in parentCID).
	CID uint32
	// Name is the file name the descriptor's extent line gives, the
	// output's own base name (a stream-optimized disk is one file).
	Name string
}

// WriteVMDK writes the stream-optimized VMDK of the size-byte raw image to
// w.
func WriteVMDK(w io.Writer, raw io.ReaderAt, size int64, o VMDKOptions) error {
	if err := checkSize(size); err != nil {
		return err
	}
	if o.CID == 0xffffffff {
		return fmt.Errorf("vmdk: CID ffffffff is reserved")
	}
	if o.Name == "" || strings.ContainsAny(o.Name, "\"\n\r/") {
		return fmt.Errorf("vmdk: extent name %q: want a plain file name", o.Name)
	}
	capacity := size / vmdkSector
	desc := vmdkDescriptor(capacity, o)
	descSecs := ceilDiv(int64(len(desc)), vmdkSector)
	if 1+descSecs > vmdkFirstGrain {
		return fmt.Errorf("vmdk: descriptor of %d bytes does not fit before the first grain", len(desc))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var pos int64 // bytes written
	put := func(b []byte) error {
		n, err := bw.Write(b)
		pos += int64(n)
		return err
	}
	pad := func() error { // zeros to the next sector
		if r := pos % vmdkSector; r != 0 {
			return put(make([]byte, vmdkSector-r))
		}
		return nil
	}
	marker := func(val uint64, size, typ uint32) error {
		m := make([]byte, vmdkSector)
		binary.LittleEndian.PutUint64(m, val)
		binary.LittleEndian.PutUint32(m[8:], size)
		binary.LittleEndian.PutUint32(m[12:], typ)
		return put(m)
	}

	if err := put(vmdkHeader(capacity, descSecs, vmdkGDAtEnd)); err != nil {
		return err
	}
	if err := put(desc); err != nil {
		return err
	}
	if err := put(make([]byte, vmdkFirstGrain*vmdkSector-pos)); err != nil {
		return err
	}

	grains := ceilDiv(capacity, vmdkGrainSecs)
	numGTs := ceilDiv(grains, vmdkGTEntries)
	gt := make([]uint32, numGTs*vmdkGTEntries) // every table, back to back
	buf := make([]byte, vmdkGrain)
	var comp bytes.Buffer
	zw, err := zlib.NewWriterLevel(&comp, zlib.DefaultCompression)
	if err != nil {
		return err
	}
	for g := int64(0); g < grains; g++ {
		if err := readBlock(raw, size, buf, g*vmdkGrain); err != nil {
			return err
		}
		if allZero(buf) {
			continue
		}
		// The last grain of a disk that is not a whole number of grains
		// holds only the disk's sectors.
		n := min(int64(vmdkGrain), size-g*vmdkGrain)
		comp.Reset()
		zw.Reset(&comp)
		if _, err := zw.Write(buf[:n]); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		gt[g] = uint32(pos / vmdkSector)
		// Grain marker: LBA and compressed size, then the data at once.
		var m [12]byte
		binary.LittleEndian.PutUint64(m[:], uint64(g*vmdkGrainSecs))
		binary.LittleEndian.PutUint32(m[8:], uint32(comp.Len()))
		if err := put(m[:]); err != nil {
			return err
		}
		if err := put(comp.Bytes()); err != nil {
			return err
		}
		if err := pad(); err != nil {
			return err
		}
	}

	gd := make([]uint32, numGTs)
	for t := int64(0); t < numGTs; t++ {
		if err := marker(vmdkGTSecs, 0, vmdkMarkerGT); err != nil {
			return err
		}
		gd[t] = uint32(pos / vmdkSector)
		if err := put(le32s(gt[t*vmdkGTEntries : (t+1)*vmdkGTEntries])); err != nil {
			return err
		}
	}
	gdSecs := ceilDiv(numGTs*4, vmdkSector)
	if err := marker(uint64(gdSecs), 0, vmdkMarkerGD); err != nil {
		return err
	}
	gdOffset := uint64(pos / vmdkSector)
	if err := put(le32s(gd)); err != nil {
		return err
	}
	if err := pad(); err != nil {
		return err
	}
	if err := marker(1, 0, vmdkMarkerFoot); err != nil {
		return err
	}
	if err := put(vmdkHeader(capacity, descSecs, gdOffset)); err != nil {
		return err
	}
	if err := marker(0, 0, vmdkMarkerEOS); err != nil {
		return err
	}
	if pos > 1<<32*vmdkSector {
		return fmt.Errorf("vmdk: %d bytes is past the 2 TiB a stream-optimized extent can address", pos)
	}
	return bw.Flush()
}

func le32s(v []uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[i*4:], x)
	}
	return b
}

// vmdkHeader is the SparseExtentHeader (little-endian, packed).
func vmdkHeader(capacity, descSecs int64, gdOffset uint64) []byte {
	h := make([]byte, vmdkSector)
	le := binary.LittleEndian
	copy(h, "KDMV")
	le.PutUint32(h[4:], 3) // version 3: stream-optimized
	le.PutUint32(h[8:], vmdkFlagNL|vmdkFlagComp|vmdkFlagMarkers)
	le.PutUint64(h[12:], uint64(capacity))
	le.PutUint64(h[20:], vmdkGrainSecs)
	le.PutUint64(h[28:], 1) // descriptor offset, sectors
	le.PutUint64(h[36:], uint64(descSecs))
	le.PutUint32(h[44:], vmdkGTEntries)
	le.PutUint64(h[48:], 0) // no redundant grain directory
	le.PutUint64(h[56:], gdOffset)
	le.PutUint64(h[64:], vmdkFirstGrain) // overhead: sectors before the first grain
	h[72] = 0                            // clean shutdown
	h[73], h[74], h[75], h[76] = '\n', ' ', '\r', '\n'
	le.PutUint16(h[77:], 1) // compression: deflate
	return h
}

// vmdkDescriptor is the text descriptor of the disk. The geometry is the
// usual one for an IDE disk of this size (255 heads, 63 sectors).
func vmdkDescriptor(capacity int64, o VMDKOptions) []byte {
	cyl := min(capacity/(255*63), 16383)
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", o.CID)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE \"%s\"\n\n", capacity, o.Name)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.virtualHWVersion = \"4\"\nddb.adapterType = \"ide\"\n")
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\n", cyl)
	return []byte(b.String())
}
