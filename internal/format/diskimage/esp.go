package diskimage

import (
	"io/fs"

	"github.com/turbo-image/turbo-image/internal/format/fat32"
)

// ESP is file-level access to the FAT32 EFI System Partition: an io/fs
// file system (paths such as "loader/loader.conf", "." for the root;
// names matched case-insensitively, as FAT does) with the writes that
// direct boot and flashing need. Package fat32 implements it.
type ESP interface {
	fs.ReadDirFS
	fs.ReadFileFS
	fs.StatFS
	// WriteFile creates or replaces a file, creating missing parent
	// directories. A replaced file's directory entry is switched to the new
	// data with a single sector write, after the data is on disk.
	WriteFile(name string, data []byte) error
	// Rename renames a file or directory within its directory. It fails if
	// newname exists (unless it differs from oldname only in case).
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Sync writes pending FAT updates and flushes the device.
	Sync() error
}

var _ ESP = (*fat32.FS)(nil)

// File is a file to put on the ESP.
type File = fat32.File

// espSizeNeeded returns the smallest ESP size (a multiple of 1 MiB, at
// least MinESPSize) that holds files, or 0 if none up to 2 TiB does.
func espSizeNeeded(files []File) int64 {
	need := map[int64]int64{}
	for s := MinESPSize; s <= maxDiskSize; s += MiB {
		g, err := fat32.PlanGeometry(s)
		if err != nil {
			continue
		}
		cs := g.ClusterSize()
		n, ok := need[cs]
		if !ok {
			n = fat32.ClustersNeeded(files, cs)
			need[cs] = n
		}
		if g.Clusters >= n {
			return s
		}
	}
	return 0
}
