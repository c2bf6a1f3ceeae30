package diskimage

import (
	"os"
	"sort"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/fat32"
)

// looseGeometry is a FAT32 geometry with 512-byte clusters for small test
// volumes, below the 65525-cluster minimum that real ESPs must meet (as
// package fat32's tests use).
func looseGeometry(size int64) fat32.Geometry {
	g := fat32.Geometry{Reserved: 8, TotalSectors: size / SectorSize, SectorsPerCluster: 1, FATSectors: 1}
	for i := 0; i < 64; i++ {
		g.Clusters = (g.TotalSectors - g.Reserved - 2*g.FATSectors) / g.SectorsPerCluster
		need := ((g.Clusters+2)*4 + SectorSize - 1) / SectorSize
		if need <= g.FATSectors {
			break
		}
		g.FATSectors = need
	}
	return g
}

// smallDiskPlan is a tiny disk for fuzz seeds: a GPT with a 24 KiB ESP at
// sector 34 (right after the primary GPT) and a 1 KiB slot, 59 KiB in all.
func smallDiskPlan() Plan {
	return Plan{
		Size:     (34 + 48 + 2 + 33) * SectorSize,
		DiskGUID: seedGUID("small", "disk"),
		VolumeID: seedVolumeID("small"),
		Partitions: []Partition{
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
	writePlanned(t, path, smallDiskPlan(), files)
}

// writePlanned writes plan's GPT, a loose FAT32 holding files in its
// first partition and "slot-a-content" at the start of its second, to
// path.
func writePlanned(t testing.TB, path string, plan Plan, files []File) {
	t.Helper()
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
	if err := fat32.Format(dev, looseGeometry(esp.Size), plan.VolumeID, uint32(esp.Start/SectorSize)); err != nil {
		t.Fatal(err)
	}
	v, err := fat32.Open(dev, esp.Size, true)
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, fl := range files {
		if err := v.WriteFile(fl.Path, fl.Data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteAt([]byte("slot-a-content"), plan.Partitions[1].Start); err != nil {
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

func names(t *testing.T, v ESP, dir string) []string {
	t.Helper()
	ents, err := v.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%q): %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out
}

func mustRead(t *testing.T, v ESP, p string) []byte {
	t.Helper()
	b, err := v.ReadFile(p)
	if err != nil {
		t.Fatalf("ReadFile(%q): %v", p, err)
	}
	return b
}
