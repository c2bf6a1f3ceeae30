package vdisk

import (
	"bufio"
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"
)

// Compressed qcow2 (QEMU docs/interop/qcow2.txt, "Compressed Clusters
// Descriptor"): the layout of WriteQCOW2, except that each non-zero
// cluster is stored deflate-compressed at a byte offset in the data area,
// packed one after the other, where compression saves a sector or more
// (others are stored whole, cluster-aligned, as QEMU's own
// `qemu-img convert -c` does). The L2 entry of a compressed cluster has
// bit 62 set, the host byte offset in bits 0-53 and, in bits 54-61, the
// number of 512-byte sectors the data spans beyond the first. Every host
// cluster a compressed cluster touches counts one reference per cluster
// stored in it (QEMU's refcount rule for compressed clusters, checked by
// `qemu-img check`).
//
// The data is raw deflate (RFC 1951) with a 4 KiB window: QEMU inflates
// compressed clusters with a 12-bit window (block/qcow2-threads.c,
// inflateInit2(-12)), so a stream referring further back would not
// decompress. The standard library's compress/flate always uses 32 KiB;
// klauspost/compress/flate (already a dependency) takes the window as a
// parameter. Compression is deterministic: same input, same bytes.

const (
	qcowCompressed = uint64(1) << 62 // QCOW_OFLAG_COMPRESSED
	qcowCsizeShift = 62 - (qcowClusterBits - 8)
	qcowWindow     = 4096
)

// qcowCompressor deflates one cluster at a time with QEMU's window.
type qcowCompressor struct {
	buf bytes.Buffer
	w   *flate.Writer
}

func newQCOWCompressor() (*qcowCompressor, error) {
	c := &qcowCompressor{}
	w, err := flate.NewWriterWindow(&c.buf, qcowWindow)
	if err != nil {
		return nil, err
	}
	c.w = w
	return c, nil
}

// compress returns the deflated cluster, valid until the next call.
func (c *qcowCompressor) compress(cluster []byte) ([]byte, error) {
	c.buf.Reset()
	c.w.Reset(&c.buf)
	if _, err := c.w.Write(cluster); err != nil {
		return nil, err
	}
	if err := c.w.Close(); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

// worthIt reports whether n compressed bytes save at least one sector.
func worthIt(n int) bool { return n <= qcowCluster-512 }

// WriteQCOW2Compressed writes the qcow2 image of the size-byte raw image
// to w with compressed clusters. It reads the image twice: once to size
// the compressed clusters (their places decide the metadata in front of
// them), once to write them.
func WriteQCOW2Compressed(w io.Writer, raw io.ReaderAt, size int64) error {
	if err := checkSize(size); err != nil {
		return err
	}
	data, err := nonZeroBlocks(raw, size, qcowCluster)
	if err != nil {
		return err
	}
	comp, err := newQCOWCompressor()
	if err != nil {
		return err
	}
	cluster := make([]byte, qcowCluster)
	// Pass 1: where each cluster's data goes, relative to the data area.
	offs := make([]int64, len(data))
	sizes := make([]int, len(data)) // 0: stored whole
	var end int64
	for i, c := range data {
		if err := readBlock(raw, size, cluster, c*qcowCluster); err != nil {
			return err
		}
		z, err := comp.compress(cluster)
		if err != nil {
			return err
		}
		if worthIt(len(z)) {
			offs[i], sizes[i] = end, len(z)
			end += int64(len(z))
			continue
		}
		end = ceilDiv(end, qcowCluster) * qcowCluster
		offs[i] = end
		end += qcowCluster
	}
	l := planQCOW2Data(size, data, ceilDiv(end, qcowCluster))
	base := l.dataStart * qcowCluster

	// Refcounts: the metadata clusters once each; each data cluster once
	// per guest cluster stored in it.
	refs := make([]uint16, l.total)
	for i := int64(0); i < l.dataStart; i++ {
		refs[i] = 1
	}
	for i := range data {
		n := int64(sizes[i])
		if n == 0 {
			n = qcowCluster
		}
		for c := (base + offs[i]) / qcowCluster; c <= (base+offs[i]+n-1)/qcowCluster; c++ {
			refs[c]++
		}
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	put := func(b []byte) error { _, err := bw.Write(b); return err }
	err = writeQCOWMeta(bw, size, l, data, refs, func(i int) uint64 {
		off := uint64(base + offs[i])
		n := int64(sizes[i])
		if n == 0 {
			return off | qcowCopied
		}
		extra := uint64((base+offs[i]+n-1)/512 - (base+offs[i])/512)
		return qcowCompressed | extra<<qcowCsizeShift | off
	})
	if err != nil {
		return err
	}
	// Pass 2: the data, padded to whole clusters at the end (QEMU reads
	// whole sectors of compressed data).
	var pos int64
	for i, c := range data {
		if err := readBlock(raw, size, cluster, c*qcowCluster); err != nil {
			return err
		}
		if pad := offs[i] - pos; pad > 0 {
			if err := put(make([]byte, pad)); err != nil {
				return err
			}
			pos += pad
		}
		b := cluster
		if sizes[i] > 0 {
			if b, err = comp.compress(cluster); err != nil {
				return err
			}
		}
		if err := put(b); err != nil {
			return err
		}
		pos += int64(len(b))
	}
	if pad := ceilDiv(pos, qcowCluster)*qcowCluster - pos; pad > 0 {
		if err := put(make([]byte, pad)); err != nil {
			return err
		}
	}
	return bw.Flush()
}
