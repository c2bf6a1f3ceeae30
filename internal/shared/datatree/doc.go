// Package datatree writes a mounted folder (an appliance's /data, or a
// scrubbed copy of it) as the members of a turbo-image data archive
// (docs/data.md): a POSIX pax tar (IEEE Std 1003.1-2017, pax format),
// root first, depth first, names in byte order, with modes, owners,
// nanosecond times, hard links, symlinks, FIFOs, devices and extended
// attributes (SCHILY.xattr records, the form GNU tar --xattrs and bsdtar
// write). It is shared by the host (`data scrub`) and the appliance's
// update agent (live `data export`), which streams it as it reads.
//
// The archive's global header and compression are the caller's: the
// agent sends a plain tar, the host adds the header and zstd.
package datatree

// XattrPAX is the pax record prefix of an extended attribute.
const XattrPAX = "SCHILY.xattr."

// Stats counts what an export or import moved.
type Stats struct {
	Files, Dirs, Links, Symlinks, Special int
	// Bytes is the sum of regular files' sizes (holes included).
	Bytes int64
	// Skipped names what could not be carried (sockets).
	Skipped []string
}
