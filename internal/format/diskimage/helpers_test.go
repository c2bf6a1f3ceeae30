package diskimage

import (
	"errors"
	"io"
	"os"
	"testing"
)

// memDev is an in-memory blockStorage that can record its writes.
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
func looseGeometry(size int64) fatGeometry {
	reserved := int64(fatReservedSectors)
	if size < 1<<20 {
		reserved = 8 // tiny volumes for the fuzzer
	}
	g := fatGeometry{reserved: reserved, totalSectors: size / SectorSize, spc: 1, fatSectors: 1}
	for i := 0; i < 64; i++ {
		g.clusters = (g.totalSectors - g.reserved - fatCount*g.fatSectors) / g.spc
		need := ((g.clusters+2)*4 + SectorSize - 1) / SectorSize
		if need <= g.fatSectors {
			break
		}
		g.fatSectors = need
	}
	return g
}

// newTestFAT formats a small in-memory FAT32 volume and opens it.
func newTestFAT(t testing.TB, size int64) (*memDev, *fatFS) {
	t.Helper()
	dev := newMemDev(size)
	if err := formatFAT(dev, looseGeometry(size), 0x1234abcd, 0); err != nil {
		t.Fatal(err)
	}
	v, err := openFAT(dev, size, true)
	if err != nil {
		t.Fatal(err)
	}
	return dev, v
}

// smallDiskPlan is a tiny disk for fuzz seeds: a GPT with a 24 KiB ESP at
// sector 34 (right after the primary GPT) and a 1 KiB slot, 59 KiB in all.
func smallDiskPlan() Plan {
	return Plan{
		Size:     (34 + 48 + 2 + 33) * SectorSize,
		DiskGUID: seedGUID("small", "disk"),
		VolumeID: seedVolumeID("small"),
		Partitions: []PartitionPlan{
			{Index: 1, Name: PartESP, TypeGUID: TypeESP, GUID: seedGUID("small", "esp"), Start: 34 * SectorSize, Size: 48 * SectorSize},
			{Index: 2, Name: PartA, TypeGUID: TypeRootAMD64, GUID: seedGUID("small", "a"), Start: 82 * SectorSize, Size: 2 * SectorSize},
		},
	}
}

// tinyESP is a small ESP file list that fits smallDiskPlan's ESP.
func tinyESP() []File {
	return []File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("MZ")},
		{Path: "loader/loader.conf", Data: []byte("timeout 0\n")},
		{Path: "loader/entries/turbo-2-b+3.conf", Data: []byte("title 2\n")},
		{Path: "loader/entries/turbo-1-a.conf", Data: []byte("title 1\n")},
		{Path: "a/linux", Data: patterned(700, 1)},
		{Path: "b/empty", Data: nil},
	}
}

// writeSmallDisk writes smallDiskPlan with files on its ESP to path.
func writeSmallDisk(t testing.TB, path string, files []File) {
	t.Helper()
	plan := smallDiskPlan()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(plan.Size); err != nil {
		t.Fatal(err)
	}
	if err := writeGPT(f, plan); err != nil {
		t.Fatal(err)
	}
	esp := plan.Partitions[0]
	dev := section{f, esp.Start, esp.Size}
	if err := formatFAT(dev, looseGeometry(esp.Size), plan.VolumeID, uint32(esp.Start/SectorSize)); err != nil {
		t.Fatal(err)
	}
	v, err := openFAT(dev, esp.Size, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, fl := range sortedFiles(files) {
		if err := v.WriteFile(fl.Path, fl.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeFull(f, []byte("slot-a-content"), plan.Partitions[1].Start); err != nil {
		t.Fatal(err)
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
