package initramfs

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// File type bits of [Record.Mode]: the S_IF* values of Linux's stat(2),
// which are also what a newc header stores.
const (
	TypeMask    uint32 = 0o170000 // mask selecting the type bits of a mode
	TypeSocket  uint32 = 0o140000 // socket
	TypeSymlink uint32 = 0o120000 // symbolic link
	TypeReg     uint32 = 0o100000 // regular file
	TypeBlock   uint32 = 0o060000 // block device node
	TypeDir     uint32 = 0o040000 // directory
	TypeChar    uint32 = 0o020000 // character device node
	TypeFifo    uint32 = 0o010000 // FIFO (named pipe)
)

// Permission bits of [Record.Mode].
const (
	ModeSetuid uint32 = 0o4000 // set-user-ID
	ModeSetgid uint32 = 0o2000 // set-group-ID
	ModeSticky uint32 = 0o1000 // sticky
	PermMask   uint32 = 0o7777 // mask selecting permission, setuid, setgid and sticky bits
)

// Limits that the Linux initramfs unpacker (init/initramfs.c) and the newc
// format impose.
const (
	// MaxNameLen is the longest entry name in bytes: namesize, which counts
	// the terminating NUL, may be at most PATH_MAX (4096).
	MaxNameLen = 4095
	// MaxLinkLen is the longest symbolic link target in bytes (PATH_MAX
	// including the NUL that symlink(2) needs).
	MaxLinkLen = 4095
	// MaxFileSize is the largest regular file: filesize is 8 hex digits.
	MaxFileSize = 0xFFFFFFFF
	// MaxMajor and MaxMinor bound device numbers: the kernel builds the
	// device number with MKDEV, which has 12 bits of major and 20 of minor.
	MaxMajor = 0xFFF
	MaxMinor = 0xFFFFF
)

// trailerName is the name of the end-of-archive entry.
const trailerName = "TRAILER!!!"

// Record is one archive entry, as data.
type Record struct {
	// Name is the path inside the archive: relative, slash-separated and
	// clean ("bin/hello", "dev/console"); "." is not allowed. See
	// [ValidateName].
	Name string
	// Mode is the file type (one of the Type* constants) ORed with the
	// permission bits (PermMask), as in stat(2).
	Mode uint32
	// UID and GID are the numeric owner and group.
	UID, GID int
	// Major and Minor are the device number of a character or block device
	// node; zero for every other type.
	Major, Minor uint32
	// Linkname is the target of a symbolic link; empty for other types.
	Linkname string
	// Data is the contents of a regular file; nil for other types.
	Data []byte
	// MTime is the modification time in seconds since the Unix epoch.
	MTime int64
}

// Type returns the file type bits of r.Mode (one of the Type* constants).
func (r Record) Type() uint32 { return r.Mode & TypeMask }

// Perm returns the permission bits of r.Mode, including setuid, setgid and
// sticky.
func (r Record) Perm() uint32 { return r.Mode & PermMask }

// File returns a regular file record with permissions perm and contents data.
func File(name string, perm uint32, data []byte) Record {
	return Record{Name: name, Mode: TypeReg | perm&PermMask, Data: data}
}

// Dir returns a directory record with permissions perm.
func Dir(name string, perm uint32) Record {
	return Record{Name: name, Mode: TypeDir | perm&PermMask}
}

// Symlink returns a symbolic link record (permissions 0777, as Linux reports
// for every symbolic link) pointing to target.
func Symlink(name, target string) Record {
	return Record{Name: name, Mode: TypeSymlink | 0o777, Linkname: target}
}

// CharDev returns a character device node record for device major:minor,
// e.g. CharDev("dev/console", 0o600, 5, 1).
func CharDev(name string, perm uint32, major, minor uint32) Record {
	return Record{Name: name, Mode: TypeChar | perm&PermMask, Major: major, Minor: minor}
}

// BlockDev returns a block device node record for device major:minor.
func BlockDev(name string, perm uint32, major, minor uint32) Record {
	return Record{Name: name, Mode: TypeBlock | perm&PermMask, Major: major, Minor: minor}
}

// typeName returns a human-readable name of a file type, for error messages.
func typeName(t uint32) string {
	switch t {
	case TypeReg:
		return "regular file"
	case TypeDir:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeChar:
		return "character device"
	case TypeBlock:
		return "block device"
	case TypeFifo:
		return "fifo"
	case TypeSocket:
		return "socket"
	}
	return fmt.Sprintf("unknown type %#o", t)
}

// knownType reports whether t is one of the Type* constants.
func knownType(t uint32) bool {
	switch t {
	case TypeReg, TypeDir, TypeSymlink, TypeChar, TypeBlock, TypeFifo, TypeSocket:
		return true
	}
	return false
}

// ValidateName reports whether name may be used as [Record.Name]: non-empty,
// relative, slash-separated and clean (path.Clean leaves it unchanged), not
// ".", with no ".." element, no NUL byte, at most [MaxNameLen] bytes, and not
// the reserved end-of-archive name "TRAILER!!!".
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == ".":
		return errors.New(`name "." is not allowed`)
	case len(name) > MaxNameLen:
		return fmt.Errorf("name is %d bytes, more than the %d the kernel accepts", len(name), MaxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return errors.New("name contains a NUL byte")
	case strings.HasPrefix(name, "/"):
		return errors.New("name is absolute; it must be relative to the archive root")
	case name == ".." || strings.HasPrefix(name, "../"):
		return errors.New(`name has a ".." element`)
	case path.Clean(name) != name:
		return fmt.Errorf("name is not clean (want %q)", path.Clean(name))
	case name == trailerName:
		return errors.New(`name "TRAILER!!!" is reserved for the end of the archive`)
	}
	return nil
}

// Validate reports whether r can be written: a valid name, a known file type
// and no mode bits beyond type and permissions, data only for regular files,
// a link target (1..MaxLinkLen bytes) exactly for symbolic links, a device
// number (within MaxMajor:MaxMinor) only for device nodes, and owners and
// mtime that fit the header's 32-bit fields.
func (r Record) Validate() error {
	if err := ValidateName(r.Name); err != nil {
		return err
	}
	t := r.Type()
	if !knownType(t) {
		return fmt.Errorf("mode %#o has no known file type", r.Mode)
	}
	if r.Mode&^(TypeMask|PermMask) != 0 {
		return fmt.Errorf("mode %#o has bits beyond file type and permissions", r.Mode)
	}
	if r.UID < 0 || int64(r.UID) > 0xFFFFFFFF || r.GID < 0 || int64(r.GID) > 0xFFFFFFFF {
		return fmt.Errorf("owner %d:%d does not fit in 32 bits", r.UID, r.GID)
	}
	if r.MTime < 0 || r.MTime > 0xFFFFFFFF {
		return fmt.Errorf("mtime %d does not fit in an unsigned 32-bit field", r.MTime)
	}
	if t != TypeReg && r.Data != nil {
		return fmt.Errorf("%s has data; only regular files may", typeName(t))
	}
	if int64(len(r.Data)) > MaxFileSize {
		return fmt.Errorf("file is %d bytes, more than the format's %d", len(r.Data), int64(MaxFileSize))
	}
	if t == TypeSymlink {
		switch {
		case r.Linkname == "":
			return errors.New("symlink has an empty target")
		case len(r.Linkname) > MaxLinkLen:
			return fmt.Errorf("symlink target is %d bytes, more than %d", len(r.Linkname), MaxLinkLen)
		case strings.IndexByte(r.Linkname, 0) >= 0:
			return errors.New("symlink target contains a NUL byte")
		}
	} else if r.Linkname != "" {
		return fmt.Errorf("%s has a link target; only symlinks may", typeName(t))
	}
	if t == TypeChar || t == TypeBlock {
		if r.Major > MaxMajor || r.Minor > MaxMinor {
			return fmt.Errorf("device %d:%d out of range (major <= %d, minor <= %d)", r.Major, r.Minor, MaxMajor, MaxMinor)
		}
	} else if r.Major != 0 || r.Minor != 0 {
		return fmt.Errorf("%s has a device number; only device nodes may", typeName(t))
	}
	return nil
}
