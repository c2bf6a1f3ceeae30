// Package ext4fs reads an ext2/3/4 file system from a disk image region or
// block device, and fills a freshly made, empty ext4 (ext4img.Create) with
// files, without mounting anything and without root.
//
// Why our own code: the Go libraries that exist do not do what /data
// export and import need. github.com/dsoprea/go-ext4 only reads and has
// been unmaintained since 2019; go-diskfs's filesystem/ext4 (v1.9.4, which
// the project already uses to lay out the empty /data) reads, but cannot
// make hard links or device nodes, has no xattr writes, changes a
// symlink's target when asked to chown the link, and stamps new inodes
// with time.Now. The reader here is small and bounded: every count, offset
// and tree depth read from the disk is checked before it is used, and a
// fuzz test (FuzzRead) with a corpus of hostile images drives it.
//
// The on-disk format follows the kernel's description
// (Documentation/filesystems/ext4/: super.rst, group_descr.rst,
// inodes.rst, ifork.rst for extent trees and block maps, directory.rst,
// attributes.rst for extended attributes). One file per structure:
// superblock.go, groupdesc.go, inode.go, extent.go (and block maps),
// dir.go, xattr.go; read.go is the fs-level reader, build.go the writer.
package ext4fs
