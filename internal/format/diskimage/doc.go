// Package diskimage writes and reads the appliance's GPT disk image: a FAT32
// EFI System Partition, two slot roots ("a" and "b", squashfs images made
// by package squashfs) and a data partition. Everything is done with plain file I/O on an image file or
// a block device: no root, no loop mounts, no external tools.
//
// # Layout
//
// PlanLayout turns a Layout (sizes, architecture, seed) into a Plan: a 1 MiB
// aligned GPT with, in order, turbo-esp, turbo-a, turbo-b and turbo-data.
// Partition types follow the UEFI specification (EFI System Partition) and
// the Discoverable Partitions Specification
// (https://uapi-group.org/specifications/specs/discoverable_partitions_specification/):
// "Root Partition (x86-64)" / "Root Partition (64-bit ARM/AArch64)" for the
// slots and "Variable Data Partition" for data. Every identifier (disk GUID,
// partition GUIDs, FAT volume ID) is derived from Layout.Seed with SHA-256 as
// an RFC 9562 version 8 UUID, so equal inputs give byte-identical images.
//
// # Who writes what
//
//   - GPT (protective MBR, primary and backup header and entry array) is
//     written and read with github.com/diskfs/go-diskfs/partition/gpt, with
//     every GUID set explicitly. Before go-diskfs parses a table, the headers
//     are checked here (entry size, entry count), because go-diskfs trusts
//     those fields (an entry size of 0 makes it loop forever, a huge count
//     makes it allocate without bound).
//   - FAT32 is written and read by this package (fat*.go), following
//     Microsoft's "FAT: General Overview of On-Disk Format" (FAT32 BPB,
//     FSInfo, long file names, short-name aliases and their checksum).
//     go-diskfs v1.9.4's fat32 writer was evaluated and not used: its output
//     fails `fsck.fat -n` (".." of first-level directories points at cluster
//     2 instead of 0, empty files own a cluster, the FSInfo free count is
//     left unset), it stamps the clock into every directory entry, its
//     Remove leaks the file's clusters, and its Rename rewrites the whole
//     directory. Its reader trusts BPB fields and follows cyclic cluster
//     chains forever. Our writer stamps 1980-01-01 00:00 (the FAT epoch)
//     everywhere and the volume ID from the seed.
//   - Squashfs slot roots are written by package squashfs.
//
// # Readers
//
// Open reads the GPT of an image file or block device; Disk.ESP gives
// file-level access to the FAT32 ESP (read, write, rename, remove) as needed
// by direct boot and flashing, and Disk.ReadPartition / Disk.WritePartition
// give raw access to the slots. Renames are done as an in-place edit of the
// directory entry; when the entry (long-name slots plus 8.3 entry) lies in
// one sector and the new name needs no more slots than are available there,
// the rename is a single sector write, which disks perform atomically. This
// package places new entries so that they never straddle a sector boundary.
//
// Nothing in this package prints, logs or reads the clock.
package diskimage
