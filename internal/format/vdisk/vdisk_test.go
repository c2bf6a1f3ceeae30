package vdisk

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
)

// synthetic returns a sparse-looking raw image: mostly zeros, with data in
// the first sector, across a cluster boundary, in one full cluster and in
// the last sector. size is deliberately not a multiple of 64 KiB.
func synthetic(size int64) []byte {
	img := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(off, n int64) {
		for i := off; i < off+n; i++ {
			img[i] = byte(r.Uint32()) | 1
		}
	}
	fill(0, 512)
	fill(3*65536-100, 200)
	fill(5*65536, 65536)
	fill(size-512, 512)
	return img
}

const synthSize = 9*65536 + 3*512

// readQCOW2 decodes a qcow2 written by WriteQCOW2 (no backing, no
// compression) back into raw bytes, checking the header and refcounts.
func readQCOW2(t *testing.T, f []byte) []byte {
	t.Helper()
	be := binary.BigEndian
	if string(f[:4]) != "QFI\xfb" || be.Uint32(f[4:]) != 3 || be.Uint32(f[20:]) != qcowClusterBits {
		t.Fatalf("bad qcow2 header % x", f[:24])
	}
	if len(f)%qcowCluster != 0 {
		t.Fatalf("file size %d not whole clusters", len(f))
	}
	size := int64(be.Uint64(f[24:]))
	l1n := int64(be.Uint32(f[36:]))
	l1 := int64(be.Uint64(f[40:]))
	rt := int64(be.Uint64(f[48:]))
	out := make([]byte, size)
	used := map[int64]int{0: 1}
	for i := int64(0); i < l1n; i++ {
		e := be.Uint64(f[l1+8*i:])
		if e == 0 {
			continue
		}
		l2 := int64(e &^ qcowCopied)
		used[l2/qcowCluster]++
		for j := int64(0); j < qcowL2Entries; j++ {
			d := be.Uint64(f[l2+8*j:])
			if d == 0 {
				continue
			}
			off := int64(d &^ qcowCopied)
			used[off/qcowCluster]++
			dst := (i*qcowL2Entries + j) * qcowCluster
			copy(out[dst:min(dst+qcowCluster, size)], f[off:off+qcowCluster])
		}
	}
	// Every cluster's refcount is 1, none is referenced twice.
	total := int64(len(f)) / qcowCluster
	for c := int64(0); c < total; c++ {
		blk := int64(be.Uint64(f[rt+8*(c/qcowRefsPerBlk):]))
		if got := be.Uint16(f[blk+2*(c%qcowRefsPerBlk):]); got != 1 {
			t.Errorf("cluster %d: refcount %d, want 1", c, got)
		}
		if used[c] > 1 {
			t.Errorf("cluster %d referenced %d times", c, used[c])
		}
	}
	return out
}

func TestQCOW2RoundTrip(t *testing.T) {
	img := synthetic(synthSize)
	var b bytes.Buffer
	if err := WriteQCOW2(&b, bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	if got := readQCOW2(t, b.Bytes()); !bytes.Equal(got, img) {
		t.Fatal("qcow2 content differs from the raw image")
	}
	// header, L1, refcount table, one refcount block, one L2, and the four
	// non-zero clusters (0, 2, 3, 5, 9) -> 5 data clusters.
	if want := int64(5+5) * qcowCluster; int64(b.Len()) != want {
		t.Errorf("qcow2 is %d bytes, want %d (zero clusters must be skipped)", b.Len(), want)
	}
	var again bytes.Buffer
	WriteQCOW2(&again, bytes.NewReader(img), int64(len(img)))
	if !bytes.Equal(again.Bytes(), b.Bytes()) {
		t.Error("two writes differ")
	}
}

// TestQCOW2Plan covers disks needing several L2 tables, refcount blocks
// and table clusters (planned, not written: 1 TiB of data).
func TestQCOW2Plan(t *testing.T) {
	var data []int64
	for c := int64(0); c < 1<<24; c += 1 {
		data = append(data, c)
	}
	l := planQCOW2(1<<40, data)
	if l.l1Entries != 2048 || len(l.l2Tables) != 2048 {
		t.Errorf("L1 %d entries, %d L2 tables; want 2048, 2048", l.l1Entries, len(l.l2Tables))
	}
	if l.refBlocks*qcowRefsPerBlk < l.total || l.refTableCls*qcowCluster/8 < l.refBlocks {
		t.Errorf("refcounts do not cover the file: %+v", l)
	}
	if l.refBlocks != ceilDiv(l.total, qcowRefsPerBlk) {
		t.Errorf("%d refcount blocks for %d clusters", l.refBlocks, l.total)
	}
}

func TestVHD(t *testing.T) {
	img := synthetic(synthSize)
	o := VHDOptions{UniqueID: [16]byte{1, 2, 3}, Epoch: 946684800 + 77}
	var b bytes.Buffer
	if err := WriteVHD(&b, bytes.NewReader(img), int64(len(img)), o); err != nil {
		t.Fatal(err)
	}
	f := b.Bytes()
	if int64(len(f)) != 1<<20+512 || VHDSize(int64(len(img))) != int64(len(f)) {
		t.Fatalf("VHD is %d bytes, want 1 MiB + 512", len(f))
	}
	if !bytes.Equal(f[:len(img)], img) || !allZero(f[len(img):1<<20]) {
		t.Error("VHD data is not the raw image padded with zeros")
	}
	ft := f[1<<20:]
	be := binary.BigEndian
	if string(ft[:8]) != "conectix" || be.Uint32(ft[60:]) != 2 || be.Uint64(ft[48:]) != 1<<20 || be.Uint32(ft[24:]) != 77 {
		t.Errorf("bad footer % x", ft[:64])
	}
	if !bytes.Equal(ft[68:84], o.UniqueID[:]) {
		t.Error("unique ID not written")
	}
	var sum uint32
	for i, c := range ft {
		if i < 64 || i >= 68 {
			sum += uint32(c)
		}
	}
	if ^sum != be.Uint32(ft[64:]) {
		t.Errorf("checksum %08x, want %08x", be.Uint32(ft[64:]), ^sum)
	}
}

func TestVHDGeometry(t *testing.T) {
	// Values from the specification's algorithm worked by hand.
	for _, c := range []struct {
		sectors int64
		cyl     uint16
		h, s    uint8
	}{
		{655360, 650, 16, 63},                  // 320 MiB
		{2048, 30, 4, 17},                      // 1 MiB
		{65535 * 16 * 255 * 2, 65535, 16, 255}, // clamped
	} {
		cyl, h, s := vhdGeometry(c.sectors)
		if cyl != c.cyl || h != c.h || s != c.s {
			t.Errorf("%d sectors: CHS %d/%d/%d, want %d/%d/%d", c.sectors, cyl, h, s, c.cyl, c.h, c.s)
		}
	}
}

// readVMDK decodes a stream-optimized VMDK by its grain directory.
func readVMDK(t *testing.T, f []byte) []byte {
	t.Helper()
	le := binary.LittleEndian
	if string(f[:4]) != "KDMV" || le.Uint64(f[56:]) != vmdkGDAtEnd {
		t.Fatalf("bad header % x", f[:64])
	}
	foot := f[len(f)-2*512:]
	mk := f[len(f)-3*512:]
	if le.Uint32(mk[12:]) != vmdkMarkerFoot || string(foot[:4]) != "KDMV" || !allZero(f[len(f)-512:]) {
		t.Fatal("no footer and end-of-stream marker")
	}
	capacity := int64(le.Uint64(foot[12:]))
	gd := int64(le.Uint64(foot[56:])) * 512
	out := make([]byte, capacity*512)
	grains := ceilDiv(capacity, vmdkGrainSecs)
	for g := int64(0); g < grains; g++ {
		gtOff := int64(le.Uint32(f[gd+4*(g/vmdkGTEntries):])) * 512
		sec := int64(le.Uint32(f[gtOff+4*(g%vmdkGTEntries):]))
		if sec == 0 {
			continue
		}
		m := f[sec*512:]
		if lba := int64(le.Uint64(m)); lba != g*vmdkGrainSecs {
			t.Fatalf("grain %d: marker LBA %d", g, lba)
		}
		n := le.Uint32(m[8:])
		zr, err := zlib.NewReader(bytes.NewReader(m[12 : 12+n]))
		if err != nil {
			t.Fatal(err)
		}
		d, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		copy(out[g*vmdkGrain:], d)
	}
	return out
}

func TestVMDKRoundTrip(t *testing.T) {
	img := synthetic(synthSize)
	o := VMDKOptions{CID: 0x1234abcd, Name: "disk.vmdk"}
	var b bytes.Buffer
	if err := WriteVMDK(&b, bytes.NewReader(img), int64(len(img)), o); err != nil {
		t.Fatal(err)
	}
	if got := readVMDK(t, b.Bytes()); !bytes.Equal(got, img) {
		t.Fatal("VMDK content differs from the raw image")
	}
	if !bytes.Contains(b.Bytes()[512:2048], []byte("CID=1234abcd\n")) {
		t.Error("descriptor lacks the CID")
	}
	if b.Len() > 3*65536 {
		t.Errorf("VMDK is %d bytes: zero grains must be skipped and data compressed", b.Len())
	}
	if err := WriteVMDK(io.Discard, bytes.NewReader(img), int64(len(img)), VMDKOptions{CID: 1, Name: "a\"b"}); err == nil {
		t.Error("a quote in the extent name was accepted")
	}
}

func TestBadSize(t *testing.T) {
	for _, size := range []int64{0, -512, 1000} {
		r := bytes.NewReader(make([]byte, 1024))
		if WriteQCOW2(io.Discard, r, size) == nil || WriteVHD(io.Discard, r, size, VHDOptions{}) == nil ||
			WriteVMDK(io.Discard, r, size, VMDKOptions{Name: "x"}) == nil {
			t.Errorf("size %d accepted", size)
		}
	}
	// A raw image shorter than it claims is an error, not zeros.
	if err := WriteQCOW2(io.Discard, bytes.NewReader(make([]byte, 512)), 4096); err == nil {
		t.Error("short read accepted")
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func TestDetect(t *testing.T) {
	img := synthetic(synthSize)
	size := int64(len(img))
	var q, v, h bytes.Buffer
	WriteQCOW2(&q, bytesReader(img), size)
	WriteVMDK(&v, bytesReader(img), size, VMDKOptions{CID: 1, Name: "d.vmdk"})
	WriteVHD(&h, bytesReader(img), size, VHDOptions{})
	// A raw GPT disk: the backup header in the last sector.
	raw := make([]byte, 64<<10)
	copy(raw[512:], "EFI PART")
	copy(raw[len(raw)-512:], "EFI PART")
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"qcow2", q.Bytes(), QCOW2},
		{"vmdk", v.Bytes(), VMDK},
		{"vmdk descriptor", []byte("# Disk DescriptorFile\nversion=1\n"), VMDK},
		{"fixed vhd", h.Bytes(), VHD},
		{"raw gpt", raw, ""},
		{"empty", nil, ""},
		{"tiny", []byte("QF"), ""},
	} {
		if got := Detect(bytesReader(c.b), int64(len(c.b))); got != c.want {
			t.Errorf("%s: Detect = %q, want %q", c.name, got, c.want)
		}
	}
	if QEMUFormat(VHD) != "vpc" || QEMUFormat("") != "raw" || QEMUFormat(QCOW2) != "qcow2" {
		t.Error("QEMUFormat")
	}
}

// FuzzDetect: Detect reads outside files (run, flash and inspect call it on
// whatever they are given); it must never panic, and a file shorter than a
// magic number is never a virtual disk.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("QFI\xfb"))
	f.Add([]byte("KDMV\x03\x00\x00\x00"))
	f.Add([]byte("# Disk DescriptorFile\n"))
	f.Add([]byte("conectix"))
	f.Add(append(make([]byte, 512), "conectix"...))
	f.Add(append(make([]byte, 1024), "EFI PART"...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Detect(bytesReader(b), int64(len(b)))
		switch got {
		case "", QCOW2, VMDK, VHD:
		default:
			t.Fatalf("Detect = %q", got)
		}
		if len(b) < 4 && got != "" {
			t.Fatalf("%d bytes detected as %s", len(b), got)
		}
		// A size beyond the data (a short read) must not panic either.
		Detect(bytesReader(b), int64(len(b))+4096)
	})
}

// TestQCOW2Compressed: clusters are stored in guest order; 0, 2 and 3
// compress and share a host cluster, the random cluster 5 is stored whole
// at the next cluster boundary, 9 compressed after it; the L2 entries say
// so, and two writes are identical.
func TestQCOW2Compressed(t *testing.T) {
	img := synthetic(synthSize)
	var b, again bytes.Buffer
	if err := WriteQCOW2Compressed(&b, bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	WriteQCOW2Compressed(&again, bytes.NewReader(img), int64(len(img)))
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Error("two writes differ")
	}
	// header, L1, refcount table, refcount block, L2; three data clusters.
	if want := 8 * qcowCluster; b.Len() != want {
		t.Errorf("%d bytes, want %d", b.Len(), want)
	}
	f := b.Bytes()
	be := binary.BigEndian
	l2 := int64(be.Uint64(f[int64(be.Uint64(f[40:])):]) &^ qcowCopied)
	compressed := 0
	for j := int64(0); j < qcowL2Entries; j++ {
		e := be.Uint64(f[l2+8*j:])
		switch {
		case e == 0:
		case e&qcowCompressed != 0:
			compressed++
			if j == 5 {
				t.Error("the random cluster 5 was stored compressed")
			}
		case j != 5 || e&qcowCopied == 0 || int64(e&^qcowCopied)%qcowCluster != 0:
			t.Errorf("cluster %d: entry %#x, want compressed, or cluster 5 whole and aligned", j, e)
		}
	}
	if compressed != 4 {
		t.Errorf("%d compressed clusters, want 4 (0, 2, 3, 9)", compressed)
	}
}
