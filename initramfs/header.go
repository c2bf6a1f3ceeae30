package initramfs

import (
	"fmt"
)

// rawHeader is a newc header with every field as stored.
type rawHeader struct {
	magic                  string
	ino, mode, uid, gid    uint32
	nlink, mtime, filesize uint32
	dmaj, dmin, rmaj, rmin uint32
	nsize, check           uint32
}

// headerFields names the thirteen hexadecimal fields in header order, for
// error messages.
var headerFields = [13]string{
	"c_ino", "c_mode", "c_uid", "c_gid", "c_nlink", "c_mtime", "c_filesize",
	"c_devmajor", "c_devminor", "c_rdevmajor", "c_rdevminor", "c_namesize", "c_check",
}

// fields returns pointers to the thirteen hexadecimal fields in header order.
func (h *rawHeader) fields() [13]*uint32 {
	return [13]*uint32{
		&h.ino, &h.mode, &h.uid, &h.gid, &h.nlink, &h.mtime, &h.filesize,
		&h.dmaj, &h.dmin, &h.rmaj, &h.rmin, &h.nsize, &h.check,
	}
}

// appendTo appends the 110-byte encoding of h to b, in upper-case hex
// (the kernel's parse_header and GNU cpio accept either case; upper case is
// what this package has always written, so archives stay byte-identical).
func (h rawHeader) appendTo(b []byte) []byte {
	const digits = "0123456789ABCDEF"
	b = append(b, h.magic...)
	for _, f := range h.fields() {
		v := *f
		for shift := 28; shift >= 0; shift -= 4 {
			b = append(b, digits[(v>>uint(shift))&0xF])
		}
	}
	return b
}

// parseRawHeader decodes a 110-byte newc header strictly: the magic must be
// "070701" or "070702" and every field exactly eight hexadecimal digits.
func parseRawHeader(b []byte) (rawHeader, error) {
	var h rawHeader
	if len(b) < headerSize {
		return h, fmt.Errorf("header is %d bytes, want %d", len(b), headerSize)
	}
	switch m := string(b[:6]); m {
	case newcMagic, crcMagic:
		h.magic = m
	case "070707":
		return h, fmt.Errorf("magic %q is the old portable (odc) cpio format; the kernel needs newc (cpio -H newc)", m)
	default:
		return h, fmt.Errorf("bad magic %q, want %q", b[:6], newcMagic)
	}
	for i, f := range h.fields() {
		field := b[6+8*i : 6+8*i+8]
		var v uint32
		for _, c := range field {
			var d byte
			switch {
			case '0' <= c && c <= '9':
				d = c - '0'
			case 'a' <= c && c <= 'f':
				d = c - 'a' + 10
			case 'A' <= c && c <= 'F':
				d = c - 'A' + 10
			default:
				return h, fmt.Errorf("field %s is %q, not 8 hexadecimal digits", headerFields[i], field)
			}
			v = v<<4 | uint32(d)
		}
		*f = v
	}
	return h, nil
}
