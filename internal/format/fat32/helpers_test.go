package fat32

import (
	"errors"
	"io"
	"testing"
)

// memDev is an in-memory Device that can record its writes.
type memDev struct {
	b      []byte
	record bool
	writes [][2]int64 // offset, length
}

func newMemDev(size int64) *memDev { return &memDev{b: make([]byte, size)} }

func (m *memDev) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memDev) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("memDev: write out of range")
	}
	if m.record {
		m.writes = append(m.writes, [2]int64{off, int64(len(p))})
	}
	return copy(m.b[off:], p), nil
}

// looseGeometry is a FAT32 geometry with 512-byte clusters for small test
// volumes, below the 65525-cluster minimum that real ESPs must meet.
// Linux, mtools and dosfstools still read such volumes as FAT32 because
// the BPB says FAT32.
func looseGeometry(size int64) Geometry {
	reserved := int64(fatReservedSectors)
	if size < 1<<20 {
		reserved = 8 // tiny volumes for the fuzzer
	}
	g := Geometry{Reserved: reserved, TotalSectors: size / SectorSize, SectorsPerCluster: 1, FATSectors: 1}
	for i := 0; i < 64; i++ {
		g.Clusters = (g.TotalSectors - g.Reserved - fatCount*g.FATSectors) / g.SectorsPerCluster
		need := ((g.Clusters+2)*4 + SectorSize - 1) / SectorSize
		if need <= g.FATSectors {
			break
		}
		g.FATSectors = need
	}
	return g
}

// newTestFAT formats a small in-memory FAT32 volume and opens it.
func newTestFAT(t testing.TB, size int64) (*memDev, *FS) {
	t.Helper()
	dev := newMemDev(size)
	if err := Format(dev, looseGeometry(size), 0x1234abcd, 0); err != nil {
		t.Fatal(err)
	}
	v, err := Open(dev, size, true)
	if err != nil {
		t.Fatal(err)
	}
	return dev, v
}

// tinyVolume is a 24 KiB volume holding tinyFiles: small enough for the
// fuzzer to mutate.
func tinyVolume(t testing.TB) []byte {
	_, v := newTestFAT(t, 48*SectorSize)
	for _, f := range sortedFiles(tinyFiles()) {
		if err := v.WriteFile(f.Path, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Sync(); err != nil {
		t.Fatal(err)
	}
	return v.dev.(*memDev).b
}

// tinyFiles is a small ESP file list that fits tinyVolume.
func tinyFiles() []File {
	return []File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("MZ")},
		{Path: "loader/loader.conf", Data: []byte("timeout 0\n")},
		{Path: "loader/entries/turbo-2-b+3.conf", Data: []byte("title 2\n")},
		{Path: "loader/entries/turbo-1-a.conf", Data: []byte("title 1\n")},
		{Path: "a/linux", Data: patterned(700, 1)},
		{Path: "b/empty", Data: nil},
	}
}

// sampleESP is a typical ESP file list.
func sampleESP() []File {
	return []File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("MZ fake systemd-boot")},
		{Path: "loader/loader.conf", Data: []byte("timeout 0\ndefault turbo-*\n")},
		{Path: "loader/entries/turbo-2-b+3.conf", Data: []byte("title turbo 2\nlinux /b/linux\ninitrd /b/initrd\n")},
		{Path: "loader/entries/turbo-1-a.conf", Data: []byte("title turbo 1\nlinux /a/linux\ninitrd /a/initrd\n")},
		{Path: "a/linux", Data: patterned(3000, 1)},
		{Path: "a/initrd", Data: patterned(1500, 2)},
		{Path: "b/empty", Data: nil},
	}
}

// patterned returns n deterministic, poorly compressible bytes.
func patterned(n int, seed uint32) []byte {
	out := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}
