// Package squashfs writes the read-only root file system of an appliance
// slot: a squashfs 4.0 image built from an in-memory tree, following the
// on-disk format as read by Linux (fs/squashfs,
// include/linux/squashfs_fs.h) and squashfs-tools.
//
// go-diskfs v1.9.4's squashfs writer was evaluated and not used: it builds
// from a host temp directory, reads symlink targets relative to the
// process's working directory (so any symlink fails), drops file owners
// (every file becomes 0:0) and stamps the clock into the superblock. This
// writer takes the tree from memory, keeps per-entry owners and writes
// mtime 0 everywhere, so equal trees give byte-identical images.
//
// Nothing in this package prints, logs or reads the clock.
package squashfs
