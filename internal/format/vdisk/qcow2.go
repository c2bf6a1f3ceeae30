package vdisk

import (
	"bufio"
	"encoding/binary"
	"io"
)

// qcow2 (QEMU docs/interop/qcow2.txt), version 3 with no optional
// features, 64 KiB clusters and 16-bit refcounts. The file is laid out in
// one pass, in this order: the header cluster, the L1 table, the refcount
// table, the refcount blocks, the L2 tables, then the data clusters in
// disk order. Clusters of the raw image that are all zeros are left
// unallocated (an L2 entry of 0 reads as zeros when there is no backing
// file), so the file holds only the image's data.

const (
	qcowClusterBits = 16
	qcowCluster     = 1 << qcowClusterBits
	qcowL2Entries   = qcowCluster / 8 // 8-byte L2 entries
	qcowRefBits     = 16              // refcount_order 4
	qcowRefsPerBlk  = qcowCluster * 8 / qcowRefBits
	qcowHeaderLen   = 104
	qcowCopied      = uint64(1) << 63 // QCOW_OFLAG_COPIED: refcount is exactly 1
)

// qcowLayout is where everything goes, in clusters.
type qcowLayout struct {
	l1Entries, l1Clusters int64
	refTable, refTableCls int64 // first cluster, length
	refBlocks             int64 // number of refcount blocks (after the table)
	l2Tables              []int64
	l2Start, dataStart    int64
	total                 int64
}

func planQCOW2(size int64, data []int64) qcowLayout {
	return planQCOW2Data(size, data, int64(len(data)))
}

// planQCOW2Data plans a file whose guest clusters data take dataClusters
// host clusters (fewer than len(data) when they are compressed).
func planQCOW2Data(size int64, data []int64, dataClusters int64) qcowLayout {
	var l qcowLayout
	l.l1Entries = ceilDiv(ceilDiv(size, qcowCluster), qcowL2Entries)
	l.l1Clusters = ceilDiv(l.l1Entries*8, qcowCluster)
	for _, c := range data {
		t := c / qcowL2Entries
		if n := len(l.l2Tables); n == 0 || l.l2Tables[n-1] != t {
			l.l2Tables = append(l.l2Tables, t)
		}
	}
	// The refcount blocks count every cluster of the file, themselves and
	// the table included: grow them until they cover the total.
	l.refTableCls, l.refBlocks = 1, 1
	for {
		l.refTable = 1 + l.l1Clusters
		l.l2Start = l.refTable + l.refTableCls + l.refBlocks
		l.dataStart = l.l2Start + int64(len(l.l2Tables))
		l.total = l.dataStart + dataClusters
		blocks := ceilDiv(l.total, qcowRefsPerBlk)
		tableCls := ceilDiv(blocks*8, qcowCluster)
		if blocks <= l.refBlocks && tableCls <= l.refTableCls {
			return l
		}
		l.refBlocks, l.refTableCls = max(blocks, l.refBlocks), max(tableCls, l.refTableCls)
	}
}

// WriteQCOW2 writes the qcow2 image of the size-byte raw image to w.
func WriteQCOW2(w io.Writer, raw io.ReaderAt, size int64) error {
	if err := checkSize(size); err != nil {
		return err
	}
	data, err := nonZeroBlocks(raw, size, qcowCluster)
	if err != nil {
		return err
	}
	l := planQCOW2(size, data)
	// Every cluster of the file is used once.
	refs := make([]uint16, l.total)
	for i := range refs {
		refs[i] = 1
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	err = writeQCOWMeta(bw, size, l, data, refs, func(i int) uint64 {
		return uint64((l.dataStart+int64(i))*qcowCluster) | qcowCopied
	})
	if err != nil {
		return err
	}
	cluster := make([]byte, qcowCluster)

	// Data clusters, in disk order.
	for _, c := range data {
		if err := readBlock(raw, size, cluster, c*qcowCluster); err != nil {
			return err
		}
		if _, err := bw.Write(cluster); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeQCOWMeta writes everything in front of the data area of a file
// laid out as l: the header, the L1 table (one entry per 512 MiB of the
// disk, pointing at its L2 table), the refcount table and blocks (refs[c]
// is host cluster c's count) and the L2 tables, where entry(i) is the L2
// entry of guest cluster data[i]. Both writers share it: only the data
// area and its L2 entries differ between them.
func writeQCOWMeta(w io.Writer, size int64, l qcowLayout, data []int64, refs []uint16, entry func(i int) uint64) error {
	be := binary.BigEndian
	// table writes n clusters holding the 8-byte entries.
	table := func(entries []uint64, n int64) error {
		t := make([]byte, n*qcowCluster)
		for i, e := range entries {
			be.PutUint64(t[i*8:], e)
		}
		_, err := w.Write(t)
		return err
	}
	if _, err := w.Write(qcowHeader(size, l)); err != nil {
		return err
	}
	l1 := make([]uint64, l.l1Entries)
	for i, t := range l.l2Tables {
		l1[t] = uint64((l.l2Start+int64(i))*qcowCluster) | qcowCopied
	}
	if err := table(l1, l.l1Clusters); err != nil {
		return err
	}
	rt := make([]uint64, l.refBlocks)
	for i := range rt {
		rt[i] = uint64((l.refTable + l.refTableCls + int64(i)) * qcowCluster)
	}
	if err := table(rt, l.refTableCls); err != nil {
		return err
	}
	rb := make([]byte, l.refBlocks*qcowCluster)
	for i, r := range refs {
		be.PutUint16(rb[i*2:], r)
	}
	if _, err := w.Write(rb); err != nil {
		return err
	}
	next := 0
	for _, t := range l.l2Tables {
		l2 := make([]uint64, qcowL2Entries)
		for ; next < len(data) && data[next]/qcowL2Entries == t; next++ {
			l2[data[next]%qcowL2Entries] = entry(next)
		}
		if err := table(l2, 1); err != nil {
			return err
		}
	}
	return nil
}

// qcowHeader is the header cluster of a qcow2 image laid out as l.
func qcowHeader(size int64, l qcowLayout) []byte {
	be := binary.BigEndian
	h := make([]byte, qcowCluster)
	copy(h, "QFI\xfb")
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], qcowClusterBits)
	be.PutUint64(h[24:], uint64(size))
	be.PutUint32(h[36:], uint32(l.l1Entries))
	be.PutUint64(h[40:], uint64(1*qcowCluster))
	be.PutUint64(h[48:], uint64(l.refTable*qcowCluster))
	be.PutUint32(h[56:], uint32(l.refTableCls))
	be.PutUint32(h[96:], 4) // refcount_order: 16-bit refcounts
	be.PutUint32(h[100:], qcowHeaderLen)
	// Bytes 104 on are zero: the end-of-extensions marker (and, with a
	// 104-byte header, compression type deflate).
	return h
}
