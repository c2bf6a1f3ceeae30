// Package fat32 reads, writes and creates FAT32 file systems, as used for
// the EFI System Partition, following Microsoft's "FAT: General Overview
// of On-Disk Format" (FAT32 BPB, FSInfo, long file names, short-name
// aliases and their checksum). Everything is plain I/O on a Device: no
// mounts, no root, no external tools.
//
// One file per on-disk structure:
//
//   - bootsector.go: the boot sector and BIOS Parameter Block, as named
//     fields;
//   - fsinfo.go: the FSInfo sector (free count and next-free hints);
//   - table.go: the file allocation table, cluster chains, allocation;
//   - direntry.go: directory entries, long-name entry sets, their
//     placement;
//   - shortname.go: long-name rules and 8.3 aliases;
//   - mkfs.go: geometry, formatting, and building a volume from a file list;
//   - fs.go: Open and the read side, an io/fs file system;
//   - write.go: WriteFile, Rename, Remove, Sync.
//
// An opened volume (FS) is an fs.FS, so anything that reads an fs.FS
// (package slots, fs.WalkDir, testing/fstest) reads it. Paths follow
// io/fs (fs.ValidPath: "loader/entries", "." for the root); names are
// matched case-insensitively, as FAT does.
//
// Renames are an in-place edit of the directory entry: when the entry
// (long-name slots plus 8.3 entry) lies in one sector and the new name needs
// no more slots than are available there, the rename is a single sector
// write, which disks perform atomically. New entries are placed so that
// they never straddle a sector boundary. A replaced file's entry is switched
// to the new data with one sector write, after the data is on disk.
//
// Open checks every boot-sector field before using it and bounds every
// chain and directory, so a hostile volume gives an error, never a panic,
// a hang or a huge allocation.
//
// go-diskfs v1.9.4's fat32 package was evaluated and not used: its output
// fails `fsck.fat -n` (".." of first-level directories points at cluster 2
// instead of 0, empty files own a cluster, the FSInfo free count is left
// unset), it stamps the clock into every directory entry, its Remove leaks
// the file's clusters, and its Rename rewrites the whole directory. Its
// reader trusts BPB fields and follows cyclic cluster chains forever. This
// package stamps 1980-01-01 00:00 (the FAT epoch) everywhere, so equal
// inputs give byte-identical volumes.
//
// Nothing in this package prints, logs or reads the clock.
package fat32
