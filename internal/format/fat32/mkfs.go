package fat32

import (
	"encoding/binary"
	"errors"
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

// SectorSize is the sector size of the volumes Format writes. Open reads
// any sector size FAT allows.
const SectorSize int64 = 512

// Geometry is the layout of a FAT32 volume with 512-byte sectors, counted
// in sectors.
type Geometry struct {
	Reserved          int64 // reserved sectors (boot sector, FSInfo, backups)
	TotalSectors      int64
	SectorsPerCluster int64
	FATSectors        int64 // sectors of one FAT
	Clusters          int64 // data clusters
}

// ClusterSize is the cluster size in bytes.
func (g Geometry) ClusterSize() int64 { return g.SectorsPerCluster * SectorSize }

// PlanGeometry picks the cluster size for a volume of size bytes the way
// Microsoft's FAT specification (and mkfs.fat) does, and sizes the FATs.
func PlanGeometry(size int64) (Geometry, error) {
	g := Geometry{Reserved: fatReservedSectors, TotalSectors: size / SectorSize}
	if size%SectorSize != 0 || g.TotalSectors > 0xffffffff {
		return g, fmt.Errorf("FAT32 volume size %d: not a whole number of sectors below 2 TiB", size)
	}
	switch s := g.TotalSectors; {
	case s <= 532480: // 260 MiB
		g.SectorsPerCluster = 1
	case s <= 16777216: // 8 GiB
		g.SectorsPerCluster = 8
	case s <= 33554432: // 16 GiB
		g.SectorsPerCluster = 16
	case s <= 67108864: // 32 GiB
		g.SectorsPerCluster = 32
	default:
		g.SectorsPerCluster = 64
	}
	g.FATSectors = 1
	for i := 0; i < 64; i++ {
		data := g.TotalSectors - g.Reserved - fatCount*g.FATSectors
		if data <= 0 {
			return g, fmt.Errorf("FAT32 volume of %s is too small", bytesize.CeilMiB(size))
		}
		g.Clusters = data / g.SectorsPerCluster
		need := ((g.Clusters+2)*4 + SectorSize - 1) / SectorSize
		if need <= g.FATSectors {
			break
		}
		g.FATSectors = need
	}
	if g.Clusters < fatMinClusters || g.Clusters > fatMaxClus {
		return g, fmt.Errorf("FAT32 volume of %s has %d clusters, FAT32 needs %d to %d", bytesize.CeilMiB(size), g.Clusters, fatMinClusters, fatMaxClus)
	}
	return g, nil
}

// File is a file to put on a new volume.
type File struct {
	// Path is slash-separated and relative to the volume root, e.g.
	// "EFI/BOOT/BOOTX64.EFI". Names are case-insensitive on FAT.
	Path string
	// Data is the file's content (less than 4 GiB).
	Data []byte
}

// fatLabel is the volume label of the ESPs this package writes (11 bytes,
// space padded).
var fatLabel = [11]byte{'T', 'U', 'R', 'B', 'O', '-', 'E', 'S', 'P', ' ', ' '}

// Format writes an empty FAT32 file system with geometry g to dev, which
// must read as zeros (only non-zero sectors are written, which keeps image
// files sparse). hidden is the volume's first sector on the disk; the
// volume label is TURBO-ESP.
func Format(dev Device, g Geometry, volumeID, hidden uint32) error {
	if g.Reserved <= fatBackupBoot+1 || g.Reserved > 0xffff {
		return fmt.Errorf("FAT32: %d reserved sectors leave no room for the backup boot sector", g.Reserved)
	}
	bs := (&bootSector{
		OEMName:           [8]byte{'T', 'U', 'R', 'B', 'O', 'I', 'M', 'G'},
		BytesPerSector:    uint16(SectorSize),
		SectorsPerCluster: uint8(g.SectorsPerCluster),
		ReservedSectors:   uint16(g.Reserved),
		NumFATs:           fatCount,
		Media:             fatMedia,
		SectorsPerTrack:   63,
		Heads:             255,
		HiddenSectors:     hidden,
		TotalSectors32:    uint32(g.TotalSectors),
		FATSize32:         uint32(g.FATSectors),
		RootCluster:       2,
		FSInfoSector:      1,
		BackupBootSector:  fatBackupBoot,
		DriveNumber:       0x80,
		BootSignature:     extBootSignature,
		VolumeID:          volumeID,
		VolumeLabel:       fatLabel,
		FSType:            [8]byte{'F', 'A', 'T', '3', '2', ' ', ' ', ' '},
	}).bytes()
	info := newFSInfo(SectorSize, uint32(g.Clusters-1), 3) // the root directory uses cluster 2

	fat := make([]byte, SectorSize)
	binary.LittleEndian.PutUint32(fat[0:], 0x0fffff00|fatMedia)
	binary.LittleEndian.PutUint32(fat[4:], fatEOC)
	binary.LittleEndian.PutUint32(fat[8:], fatEOC) // root directory

	root := make([]byte, SectorSize)
	label := newShortEntry(attrVolumeID, 0, 0)
	copy(label[:11], fatLabel[:])
	copy(root, label[:])

	dataStart := (g.Reserved + fatCount*g.FATSectors) * SectorSize
	writes := []struct {
		b   []byte
		off int64
	}{
		{bs, 0},
		{info, SectorSize},
		{bs, fatBackupBoot * SectorSize},
		{info, (fatBackupBoot + 1) * SectorSize},
		{fat, g.Reserved * SectorSize},
		{fat, (g.Reserved + g.FATSectors) * SectorSize},
		{root, dataStart},
	}
	for _, w := range writes {
		if err := writeFull(dev, w.b, w.off); err != nil {
			return fmt.Errorf("FAT32: writing file system: %w", err)
		}
	}
	return nil
}

// ClustersNeeded returns how many clusters of clusterSize bytes the
// files take on a fresh ESP written by Build, directories included. It
// follows Build's order and entry placement exactly.
func ClustersNeeded(files []File, clusterSize int64) int64 {
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

// CheckFiles validates the caller's ESP file list: relative clean paths
// of valid FAT names, no duplicates (FAT compares names case-insensitively)
// and no file that is also a directory.
func CheckFiles(files []File) error {
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

// Build formats dev (size bytes, reading as zeros) as FAT32 and writes
// files in path order. Every timestamp is the FAT epoch, so the result
// depends only on the arguments.
func Build(dev Device, size int64, volumeID, hidden uint32, files []File) error {
	g, err := PlanGeometry(size)
	if err != nil {
		return err
	}
	if err := Format(dev, g, volumeID, hidden); err != nil {
		return err
	}
	v, err := Open(dev, size, true)
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

// MinSize returns the smallest volume size, a whole number of MiB, that
// Build can put files on (at least the smallest FAT32 volume, 33 MiB), or
// an error when none up to 2 TiB can.
func MinSize(files []File) (int64, error) {
	const mib = 1 << 20
	need := map[int64]int64{}
	for s := int64(33 * mib); s < 2<<40; s += mib {
		g, err := PlanGeometry(s)
		if err != nil {
			continue
		}
		cs := g.ClusterSize()
		n, ok := need[cs]
		if !ok {
			n = ClustersNeeded(files, cs)
			need[cs] = n
		}
		if g.Clusters >= n {
			return s, nil
		}
	}
	return 0, errors.New("FAT32: the files do not fit on any volume up to 2 TiB")
}
