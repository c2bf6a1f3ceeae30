package diskimage

import (
	"encoding/binary"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

const (
	fatReservedSectors = 32 // mkfs.fat's default: FAT starts 16 KiB in
	fatCount           = 2
	fatBackupBoot      = 6
	fatMedia           = 0xf8
	fatMinClusters     = 65525 // fewer clusters make a volume FAT16
)

// fatGeometry is the layout of a FAT32 volume with 512-byte sectors.
type fatGeometry struct {
	reserved     int64 // reserved sectors (boot sector, FSInfo, backups)
	totalSectors int64
	spc          int64 // sectors per cluster
	fatSectors   int64
	clusters     int64
}

func (g fatGeometry) clusterSize() int64 { return g.spc * SectorSize }

// fat32Geometry picks the cluster size for a volume of size bytes the way
// Microsoft's FAT specification (and mkfs.fat) does, and sizes the FATs.
func fat32Geometry(size int64) (fatGeometry, error) {
	g := fatGeometry{reserved: fatReservedSectors, totalSectors: size / SectorSize}
	if size%SectorSize != 0 || g.totalSectors > 0xffffffff {
		return g, fmt.Errorf("FAT32 volume size %d: not a whole number of sectors below 2 TiB", size)
	}
	switch s := g.totalSectors; {
	case s <= 532480: // 260 MiB
		g.spc = 1
	case s <= 16777216: // 8 GiB
		g.spc = 8
	case s <= 33554432: // 16 GiB
		g.spc = 16
	case s <= 67108864: // 32 GiB
		g.spc = 32
	default:
		g.spc = 64
	}
	g.fatSectors = 1
	for i := 0; i < 64; i++ {
		data := g.totalSectors - g.reserved - fatCount*g.fatSectors
		if data <= 0 {
			return g, fmt.Errorf("FAT32 volume of %s is too small", bytesize.CeilMiB(size))
		}
		g.clusters = data / g.spc
		need := ((g.clusters+2)*4 + SectorSize - 1) / SectorSize
		if need <= g.fatSectors {
			break
		}
		g.fatSectors = need
	}
	if g.clusters < fatMinClusters || g.clusters > fatMaxClus {
		return g, fmt.Errorf("FAT32 volume of %s has %d clusters, FAT32 needs %d to %d", bytesize.CeilMiB(size), g.clusters, fatMinClusters, fatMaxClus)
	}
	return g, nil
}

// fatLabel is the volume label of the ESPs this package writes (11 bytes,
// space padded).
var fatLabel = [11]byte{'T', 'U', 'R', 'B', 'O', '-', 'E', 'S', 'P', ' ', ' '}

// mkfsFAT32 writes an empty FAT32 file system of size bytes to dev, which
// must read as zeros (only non-zero sectors are written, which keeps image
// files sparse). hidden is the volume's first sector on the disk.
func mkfsFAT32(dev blockStorage, size int64, volumeID, hidden uint32) error {
	g, err := fat32Geometry(size)
	if err != nil {
		return err
	}
	return formatFAT(dev, g, volumeID, hidden)
}

// formatFAT writes an empty FAT32 file system with geometry g to dev, which
// must read as zeros.
func formatFAT(dev blockStorage, g fatGeometry, volumeID, hidden uint32) error {
	bs := make([]byte, SectorSize)
	copy(bs[0:], []byte{0xeb, 0x58, 0x90}) // jmp over the BPB
	copy(bs[3:], "TURBOIMG")
	binary.LittleEndian.PutUint16(bs[11:], uint16(SectorSize))
	bs[13] = byte(g.spc)
	if g.reserved <= fatBackupBoot+1 || g.reserved > 0xffff {
		return fmt.Errorf("FAT32: %d reserved sectors leave no room for the backup boot sector", g.reserved)
	}
	binary.LittleEndian.PutUint16(bs[14:], uint16(g.reserved))
	bs[16] = fatCount
	bs[21] = fatMedia
	binary.LittleEndian.PutUint16(bs[24:], 63)  // sectors per track
	binary.LittleEndian.PutUint16(bs[26:], 255) // heads
	binary.LittleEndian.PutUint32(bs[28:], hidden)
	binary.LittleEndian.PutUint32(bs[32:], uint32(g.totalSectors))
	binary.LittleEndian.PutUint32(bs[36:], uint32(g.fatSectors))
	binary.LittleEndian.PutUint32(bs[44:], 2) // root directory cluster
	binary.LittleEndian.PutUint16(bs[48:], 1) // FSInfo sector
	binary.LittleEndian.PutUint16(bs[50:], fatBackupBoot)
	bs[64] = 0x80 // drive number
	bs[66] = 0x29 // extended boot signature: the next three fields are valid
	binary.LittleEndian.PutUint32(bs[67:], volumeID)
	copy(bs[71:82], fatLabel[:])
	copy(bs[82:90], "FAT32   ")
	bs[510], bs[511] = 0x55, 0xaa

	info := make([]byte, SectorSize)
	binary.LittleEndian.PutUint32(info[0:], fsinfoLead)
	binary.LittleEndian.PutUint32(info[484:], fsinfoStruct)
	binary.LittleEndian.PutUint32(info[488:], uint32(g.clusters-1)) // root uses one
	binary.LittleEndian.PutUint32(info[492:], 3)
	binary.LittleEndian.PutUint32(info[508:], fsinfoTrail)

	fat := make([]byte, SectorSize)
	binary.LittleEndian.PutUint32(fat[0:], 0x0fffff00|fatMedia)
	binary.LittleEndian.PutUint32(fat[4:], fatEOC)
	binary.LittleEndian.PutUint32(fat[8:], fatEOC) // root directory

	root := make([]byte, SectorSize)
	label := newShortEntry(attrVolumeID, 0, 0)
	copy(label[:11], fatLabel[:])
	copy(root, label[:])

	dataStart := (g.reserved + fatCount*g.fatSectors) * SectorSize
	writes := []struct {
		b   []byte
		off int64
	}{
		{bs, 0},
		{info, SectorSize},
		{bs, fatBackupBoot * SectorSize},
		{info, (fatBackupBoot + 1) * SectorSize},
		{fat, g.reserved * SectorSize},
		{fat, (g.reserved + g.fatSectors) * SectorSize},
		{root, dataStart},
	}
	for _, w := range writes {
		if err := writeFull(dev, w.b, w.off); err != nil {
			return fmt.Errorf("FAT32: writing file system: %w", err)
		}
	}
	return nil
}

// espClustersNeeded returns how many clusters of clusterSize bytes the
// files take on a fresh ESP written by buildESP, directories included. It
// follows buildESP's order and entry placement exactly.
func espClustersNeeded(files []File, clusterSize int64) int64 {
	type simDir struct {
		used     []bool
		children map[string]*simDir
	}
	per := int(SectorSize / dirEntrySize)
	perCluster := int(clusterSize / dirEntrySize)
	var total int64
	newDir := func(preset int) *simDir {
		total++
		d := &simDir{used: make([]bool, perCluster), children: map[string]*simDir{}}
		for i := 0; i < preset; i++ {
			d.used[i] = true
		}
		return d
	}
	place := func(d *simDir, name string) {
		n := entrySetSlots(name)
		for {
			pos := findFree(len(d.used), n, per, func(i int) bool { return !d.used[i] })
			if pos >= 0 {
				for i := pos; i < pos+n; i++ {
					d.used[i] = true
				}
				return
			}
			total++
			d.used = append(d.used, make([]bool, perCluster)...)
		}
	}
	root := newDir(1) // volume label
	for _, f := range sortedFiles(files) {
		comps := strings.Split(f.Path, "/")
		d := root
		for _, c := range comps[:len(comps)-1] {
			key := strings.ToUpper(c)
			sub, ok := d.children[key]
			if !ok {
				sub = newDir(2) // "." and ".."
				place(d, c)
				d.children[key] = sub
			}
			d = sub
		}
		place(d, comps[len(comps)-1])
		total += (int64(len(f.Data)) + clusterSize - 1) / clusterSize
	}
	return total
}

// sortedFiles returns the files sorted by path.
func sortedFiles(files []File) []File {
	out := append([]File(nil), files...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// checkESPFiles validates the caller's ESP file list: relative clean paths
// of valid FAT names, no duplicates (FAT compares names case-insensitively)
// and no file that is also a directory.
func checkESPFiles(files []File) error {
	seen := map[string]bool{} // upper-case path -> is a directory
	for _, f := range files {
		p := f.Path
		if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." {
			return fmt.Errorf("ESP file %q: path must be relative and clean", p)
		}
		comps := strings.Split(p, "/")
		for _, c := range comps {
			if err := checkLongName(c); err != nil {
				return fmt.Errorf("ESP file %q: %w", p, err)
			}
		}
		if int64(len(f.Data)) > 0xffffffff {
			return fmt.Errorf("ESP file %q: %s is too large for FAT", p, bytesize.CeilMiB(int64(len(f.Data))))
		}
		key := strings.ToUpper(p)
		if isDir, ok := seen[key]; ok {
			if isDir {
				return fmt.Errorf("ESP file %q: is also a directory", p)
			}
			return fmt.Errorf("ESP file %q: listed twice (FAT names ignore case)", p)
		}
		seen[key] = false
		for i := 1; i < len(comps); i++ {
			dk := strings.ToUpper(strings.Join(comps[:i], "/"))
			if isDir, ok := seen[dk]; ok && !isDir {
				return fmt.Errorf("ESP file %q: %q is also a file", p, strings.Join(comps[:i], "/"))
			}
			seen[dk] = true
		}
	}
	return nil
}

// espSizeNeeded returns the smallest ESP size (a multiple of 1 MiB, at
// least MinESPSize) that holds files, or 0 if none up to 2 TiB does.
func espSizeNeeded(files []File) int64 {
	need := map[int64]int64{}
	for s := MinESPSize; s <= maxDiskSize; s += MiB {
		g, err := fat32Geometry(s)
		if err != nil {
			continue
		}
		cs := g.clusterSize()
		n, ok := need[cs]
		if !ok {
			n = espClustersNeeded(files, cs)
			need[cs] = n
		}
		if g.clusters >= n {
			return s
		}
	}
	return 0
}

// buildESP formats dev (size bytes, reading as zeros) as FAT32 and writes
// files in path order. Every timestamp is the FAT epoch, so the result
// depends only on the arguments.
func buildESP(dev blockStorage, size int64, volumeID, hidden uint32, files []File) error {
	if err := mkfsFAT32(dev, size, volumeID, hidden); err != nil {
		return err
	}
	v, err := openFAT(dev, size, true)
	if err != nil {
		return fmt.Errorf("reopening new FAT32: %w", err)
	}
	for _, f := range sortedFiles(files) {
		if err := v.WriteFile(f.Path, f.Data); err != nil {
			return err
		}
	}
	return v.flush()
}
