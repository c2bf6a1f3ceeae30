// Package initramfs writes, reads and safely extracts the newc cpio archives
// that Linux unpacks into its initial root file system, and compresses them in
// the formats the kernel can decompress.
//
// # What the kernel requires
//
// The rules below come from the kernel's Documentation/driver-api/early-userspace/buffer-format.rst
// (https://docs.kernel.org/driver-api/early-userspace/buffer-format.html)
// and from the code that implements them in Linux 6.1 (init/initramfs.c,
// lib/decompress.c, lib/decompress_inflate.c, lib/decompress_unzstd.c,
// lib/decompress_unlz4.c):
//
//   - The archive is in the SVR4 "newc" format: every entry starts with the
//     six-byte magic "070701" ("070702", the "crc" variant with a byte-sum
//     checksum, is also accepted), followed by thirteen 8-digit ASCII
//     hexadecimal fields (inode, mode, uid, gid, nlink, mtime, filesize,
//     devmajor, devminor, rdevmajor, rdevminor, namesize, check): a 110-byte
//     header.
//   - The name follows the header, NUL-terminated (namesize counts the NUL and
//     may be at most PATH_MAX, 4096); header plus name are padded with zero
//     bytes to a multiple of 4, and so is the data that follows.
//   - The data of a regular file is its contents; the data of a symbolic link
//     is its target (filesize = length of the target, never zero, at most
//     PATH_MAX); every other type has no data.
//   - Device nodes carry their device number in rdevmajor:rdevminor. The
//     kernel opens /dev/console before it runs /init, so an initramfs without
//     a devtmpfs must contain dev/console as the character device 5:1.
//   - A non-directory with nlink >= 2 is treated as a hard link to an earlier
//     entry with the same (devmajor, devminor, inode); this package therefore
//     writes nlink 1 for everything except directories (nlink 2).
//   - The archive ends with an entry named "TRAILER!!!" (filesize 0), which
//     also resets the kernel's hard-link table, so independently made
//     archives may be concatenated; zero bytes may pad between members.
//   - Each member may be compressed. The kernel recognises the format by its
//     first two bytes; this package produces the three that suit an
//     appliance: gzip (a plain RFC 1952 header: the kernel skips a file name
//     but not an extra field or comment, so none is written), zstd (standard
//     frames; the kernel decompresses initramfs in streaming mode and
//     allocates the frame's window, so the window is kept at 8 MiB, as the
//     kernel's own build uses), and LZ4 in the legacy frame format (magic
//     0x184C2102 followed by blocks of at most 8 MiB of uncompressed data,
//     which is the only LZ4 format lib/decompress_unlz4.c understands).
//
// # Reproducibility
//
// [WriteArchive] writes a canonical archive: entries sorted by name (so
// parents come first), missing parent directories added, inode numbers
// 1..n in output order, one mtime for every entry and, unless asked
// otherwise, owner 0:0. The same set of records therefore always gives the
// same bytes, and [NewCompressor] compresses deterministically.
//
// # Implementation notes
//
// The package owns its newc codec, as u-root's pkg/cpio and Go's
// archive/tar own theirs: [Writer] encodes every header itself (one small
// API with a sticky error, records as data) and [Reader] decodes it,
// streaming, with one strict parser for every field. A general cpio library
// was used here before, but it neither wrote nor read the device numbers
// (c_rdevmajor/c_rdevminor) that dev/console needs, read malformed hex as
// zero and hid the header bytes, so one direction had two code paths and
// reading re-parsed every header behind its back; the format is 110 bytes of
// fixed fields, smaller than the glue. Extraction goes through [os.Root] and
// never follows a symbolic link.
//
// # What the kernel unpacks
//
// [ImageReader] reads an initramfs image the way unpack_to_rootfs in
// init/initramfs.c does: every member of a concatenation of plain and
// compressed archives, with the zero padding the kernel skips between them,
// within [Limits]; [Unpacker] models what do_name, do_symlink and
// clean_path then make of each entry (which earlier entry it replaces,
// where a symlinked parent sends it, what is skipped). The hostile corpus in
// testdata/cpio-corpus (see its README.md) pins both down.
package initramfs
