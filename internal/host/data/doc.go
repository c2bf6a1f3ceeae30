// Package data moves an appliance's /data between environments as a
// portable archive: export reads the data partition of a disk image or
// block device (ext4fs, no mount, no root) into a tar stream compressed
// with zstd; import checks such an archive entry by entry and builds a
// fresh ext4 from it, which replaces the target's /data only once it is
// whole; List shows what an archive holds.
//
// The archive is a POSIX pax tar (IEEE Std 1003.1-2017, pax "Extended
// Header" records) compressed with zstd (RFC 8878), so `tar --zstd -xf`
// unpacks it anywhere. Its first member is a pax global header whose
// TURBO.data.* records name the source (appliance, version, channel,
// build digest); see docs/data.md for the format and the rules import
// enforces.
package data
