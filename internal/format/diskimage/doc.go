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
//   - The FAT32 ESP is written and read by package fat32.
//   - Squashfs slot roots are written by package squashfs.
//
// # Readers
//
// Open reads the GPT of an image file or block device; Disk.ESP gives
// file-level access to the FAT32 ESP (an fs.FS that also writes, renames
// and removes, as direct boot and flashing need), and Disk.ReadPartition /
// Disk.WritePartition give raw access to the slots.
//
// Nothing in this package prints, logs or reads the clock.
package diskimage
