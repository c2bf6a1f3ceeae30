package ext4fs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Xattr is one extended attribute, by its full name ("user.mime",
// "security.selinux", "system.posix_acl_access"). POSIX ACL values are in
// the format of the Linux xattr interface (version 2, what getxattr(2)
// returns and tar's SCHILY.xattr records carry), converted from and to
// ext4's shorter disk format.
type Xattr struct {
	Name  string
	Value []byte
}

const (
	xattrMagic      = 0xEA020000
	xattrBlockHdr   = 32
	xattrEntryFixed = 16
)

// Name indexes (attributes.rst, "Attribute Name Indices").
var xattrPrefixes = []struct {
	index  uint8
	prefix string
}{
	{2, "system.posix_acl_access"},
	{3, "system.posix_acl_default"},
	{8, "system.richacl"},
	{1, "user."},
	{4, "trusted."},
	{6, "security."},
	{7, "system."},
}

func xattrFullName(index uint8, name string) (string, error) {
	for _, p := range xattrPrefixes {
		if p.index == index {
			if (index == 2 || index == 3 || index == 8) && name != "" {
				return "", fmt.Errorf("xattr index %d with a name %q", index, name)
			}
			return p.prefix + name, nil
		}
	}
	return "", fmt.Errorf("xattr name index %d is unknown", index)
}

// splitXattrName is the inverse of xattrFullName.
func splitXattrName(full string) (uint8, string, error) {
	for _, p := range xattrPrefixes {
		if p.index == 2 || p.index == 3 || p.index == 8 {
			if full == p.prefix {
				return p.index, "", nil
			}
			continue
		}
		if strings.HasPrefix(full, p.prefix) && len(full) > len(p.prefix) {
			return p.index, full[len(p.prefix):], nil
		}
	}
	return 0, "", fmt.Errorf("xattr %q: ext4 stores only user., trusted., security., system. names and POSIX ACLs", full)
}

// parseXattrEntries decodes the entries starting at entries[0]; values are
// at valueBase+e_value_offs within area.
func parseXattrEntries(area []byte, start, valueBase int) ([]Xattr, error) {
	le := binary.LittleEndian
	var out []Xattr
	off := start
	for {
		if off+4 > len(area) {
			return nil, errors.New("xattr entries run past their area")
		}
		if le.Uint32(area[off:]) == 0 {
			break
		}
		if off+xattrEntryFixed > len(area) {
			return nil, errors.New("xattr entry runs past its area")
		}
		nameLen, index := int(area[off]), area[off+1]
		voff, inum, vsize := int(le.Uint16(area[off+2:])), le.Uint32(area[off+4:]), int64(le.Uint32(area[off+8:]))
		if off+xattrEntryFixed+nameLen > len(area) {
			return nil, errors.New("xattr name runs past its area")
		}
		if inum != 0 {
			return nil, errors.New("xattr value in an inode (ea_inode) is not supported")
		}
		name, err := xattrFullName(index, string(area[off+xattrEntryFixed:off+xattrEntryFixed+nameLen]))
		if err != nil {
			return nil, err
		}
		if vsize > int64(len(area)) || valueBase+voff+int(vsize) > len(area) {
			return nil, fmt.Errorf("xattr %s: value of %d bytes at %d runs past its area", name, vsize, voff)
		}
		v := append([]byte(nil), area[valueBase+voff:valueBase+voff+int(vsize)]...)
		if index == 2 || index == 3 {
			if v, err = aclFromDisk(v); err != nil {
				return nil, fmt.Errorf("xattr %s: %w", name, err)
			}
		}
		out = append(out, Xattr{Name: name, Value: v})
		off += (xattrEntryFixed + nameLen + 3) &^ 3
	}
	return out, nil
}

// xattrs reads the in-inode and block attributes of in.
func (f *FS) xattrs(in *Inode) ([]Xattr, error) {
	var out []Xattr
	le := binary.LittleEndian
	if len(in.extra) >= 4 && le.Uint32(in.extra) == xattrMagic {
		x, err := parseXattrEntries(in.extra, 4, 4)
		if err != nil {
			return nil, fmt.Errorf("in-inode xattrs: %w", err)
		}
		out = append(out, x...)
	}
	if in.FileACL != 0 {
		if in.FileACL < uint64(f.sb.FirstDataBlock) || in.FileACL >= f.sb.BlocksCount {
			return nil, fmt.Errorf("xattr block %d is outside the file system", in.FileACL)
		}
		b := make([]byte, f.sb.BlockSize)
		if err := f.dev.readAt(b, int64(in.FileACL)*f.sb.BlockSize); err != nil {
			return nil, err
		}
		if le.Uint32(b) != xattrMagic || le.Uint32(b[8:]) != 1 {
			return nil, fmt.Errorf("xattr block %d: bad magic or block count", in.FileACL)
		}
		x, err := parseXattrEntries(b, xattrBlockHdr, 0)
		if err != nil {
			return nil, fmt.Errorf("xattr block %d: %w", in.FileACL, err)
		}
		out = append(out, x...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("xattr %s appears twice", out[i].Name)
		}
	}
	return out, nil
}

// POSIX ACL tags (linux/posix_acl.h).
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
)

// aclFromDisk converts ext4's ACL format (fs/ext4/acl.h: version 1, short
// entries without an id for the *_OBJ, MASK and OTHER tags) into the xattr
// interface's (include/uapi/linux/posix_acl_xattr.h: version 2, every
// entry tag, perm, id).
func aclFromDisk(v []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(v) < 4 || le.Uint32(v) != 1 {
		return nil, errors.New("ACL is not ext4 ACL version 1")
	}
	var out bytes.Buffer
	out.Write([]byte{2, 0, 0, 0})
	for p := v[4:]; len(p) > 0; {
		if len(p) < 4 {
			return nil, errors.New("ACL entry cut short")
		}
		tag, perm := le.Uint16(p), le.Uint16(p[2:])
		id := uint32(0xFFFFFFFF)
		switch tag {
		case aclUser, aclGroup:
			if len(p) < 8 {
				return nil, errors.New("ACL entry cut short")
			}
			id = le.Uint32(p[4:])
			p = p[8:]
		case aclUserObj, aclGroupObj, aclMask, aclOther:
			p = p[4:]
		default:
			return nil, fmt.Errorf("ACL tag %#x is unknown", tag)
		}
		var e [8]byte
		le.PutUint16(e[0:], tag)
		le.PutUint16(e[2:], perm)
		le.PutUint32(e[4:], id)
		out.Write(e[:])
	}
	return out.Bytes(), nil
}

// aclToDisk is the inverse of aclFromDisk.
func aclToDisk(v []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(v) < 4 || le.Uint32(v) != 2 || (len(v)-4)%8 != 0 {
		return nil, errors.New("ACL is not in the xattr format version 2")
	}
	var out bytes.Buffer
	out.Write([]byte{1, 0, 0, 0})
	for p := v[4:]; len(p) > 0; p = p[8:] {
		tag := le.Uint16(p)
		switch tag {
		case aclUser, aclGroup:
			out.Write(p[:8])
		case aclUserObj, aclGroupObj, aclMask, aclOther:
			out.Write(p[:4])
		default:
			return nil, fmt.Errorf("ACL tag %#x is unknown", tag)
		}
	}
	return out.Bytes(), nil
}

// xattrEntryHash is ext4_xattr_hash_entry (fs/ext4/xattr.c): the name's
// bytes, then the value's 32-bit little-endian words.
func xattrEntryHash(name []byte, value []byte) uint32 {
	var h uint32
	for _, c := range name {
		h = h<<5 ^ h>>27 ^ uint32(c)
	}
	for i := 0; i < len(value); i += 4 {
		var w [4]byte
		copy(w[:], value[i:])
		h = h<<16 ^ h>>16 ^ binary.LittleEndian.Uint32(w[:])
	}
	return h
}

// diskXattr is one attribute ready to be laid out.
type diskXattr struct {
	index uint8
	name  []byte
	value []byte
}

func (x diskXattr) entrySize() int { return (xattrEntryFixed + len(x.name) + 3) &^ 3 }
func (x diskXattr) valueSize() int { return (len(x.value) + 3) &^ 3 }

// toDiskXattrs converts and sorts attributes the way the kernel looks them
// up in a block (by index, name length, name).
func toDiskXattrs(xs []Xattr) ([]diskXattr, error) {
	out := make([]diskXattr, 0, len(xs))
	for _, x := range xs {
		idx, name, err := splitXattrName(x.Name)
		if err != nil {
			return nil, err
		}
		if len(name) > 255 {
			return nil, fmt.Errorf("xattr %q: name longer than 255 bytes", x.Name)
		}
		v := x.Value
		if idx == 2 || idx == 3 {
			if v, err = aclToDisk(v); err != nil {
				return nil, fmt.Errorf("xattr %s: %w", x.Name, err)
			}
		}
		out = append(out, diskXattr{index: idx, name: []byte(name), value: v})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.index != b.index {
			return a.index < b.index
		}
		if len(a.name) != len(b.name) {
			return len(a.name) < len(b.name)
		}
		return bytes.Compare(a.name, b.name) < 0
	})
	return out, nil
}

// layoutXattrs writes xs into area (entries from start, values packed
// downwards from the end, offsets relative to valueBase) and reports
// whether they fit. Entry hashes are set (block: header hash too, by the
// caller).
func layoutXattrs(area []byte, start, valueBase int, xs []diskXattr) bool {
	le := binary.LittleEndian
	need := start + 4
	for _, x := range xs {
		need += x.entrySize() + x.valueSize()
	}
	if need > len(area) {
		return false
	}
	off, vend := start, len(area)
	for _, x := range xs {
		vend -= x.valueSize()
		copy(area[vend:], x.value)
		area[off] = byte(len(x.name))
		area[off+1] = x.index
		le.PutUint16(area[off+2:], uint16(vend-valueBase))
		le.PutUint32(area[off+4:], 0)
		le.PutUint32(area[off+8:], uint32(len(x.value)))
		le.PutUint32(area[off+12:], xattrEntryHash(x.name, x.value))
		copy(area[off+xattrEntryFixed:], x.name)
		off += x.entrySize()
	}
	return true
}
