package ext4fs

import (
	"encoding/binary"
	"time"
)

// File types in i_mode (inodes.rst, "i_mode").
const (
	ModeFIFO   = 0x1000
	ModeChar   = 0x2000
	ModeDir    = 0x4000
	ModeBlock  = 0x6000
	ModeFile   = 0x8000
	ModeLink   = 0xA000
	ModeSocket = 0xC000
	modeType   = 0xF000
)

// Inode flags used here.
const (
	flagHugeFile   = 0x40000
	flagExtents    = 0x80000
	flagEAInode    = 0x200000
	flagInlineData = 0x10000000
)

// Inode offsets (inodes.rst).
const (
	inMode       = 0x00
	inUIDLo      = 0x02
	inSizeLo     = 0x04
	inAtime      = 0x08
	inCtime      = 0x0C
	inMtime      = 0x10
	inGIDLo      = 0x18
	inLinks      = 0x1A
	inBlocksLo   = 0x1C
	inFlags      = 0x20
	inBlock      = 0x28
	inBlockLen   = 60
	inGeneration = 0x64
	inFileACLLo  = 0x68
	inSizeHi     = 0x6C
	inBlocksHi   = 0x74
	inFileACLHi  = 0x76
	inUIDHi      = 0x78
	inGIDHi      = 0x7A
	inExtraIsize = 0x80
	inCtimeExtra = 0x84
	inMtimeExtra = 0x88
	inAtimeExtra = 0x8C
	inCrtime     = 0x90
	inCrtimeExtr = 0x94
)

// Inode is a decoded inode.
type Inode struct {
	Num     uint32
	Mode    uint16 // type and permission bits
	UID     uint32
	GID     uint32
	Size    uint64
	Links   uint16
	Flags   uint32
	FileACL uint64 // block of the extended attribute block, 0 if none
	Atime   time.Time
	Ctime   time.Time
	Mtime   time.Time
	Crtime  time.Time // zero if the inode has no creation time
	Block   [inBlockLen]byte
	// Blocks512 is i_blocks in 512-byte units.
	Blocks512 uint64
	// extra is the in-inode extended attribute area (after i_extra_isize).
	extra []byte
}

// Type is the file type bits of Mode.
func (in *Inode) Type() uint16 { return in.Mode & modeType }

// Perm is the permission bits of Mode, with setuid, setgid and sticky.
func (in *Inode) Perm() uint16 { return in.Mode &^ modeType }

// decodeTime turns a 32-bit seconds field and its extra field (two epoch
// bits, 30 bits of nanoseconds) into a time (inodes.rst, "Inode
// Timestamps").
func decodeTime(secs uint32, extra uint32, hasExtra bool) time.Time {
	s := int64(int32(secs))
	var ns int64
	if hasExtra {
		s += int64(extra&3) << 32
		ns = int64(extra >> 2)
		if ns > 999999999 {
			ns = 0
		}
	}
	return time.Unix(s, ns).UTC()
}

// encodeTime is the inverse of decodeTime.
func encodeTime(t time.Time) (secs uint32, extra uint32) {
	s := t.Unix()
	lo := uint32(s)
	epoch := uint32((s-int64(int32(lo)))>>32) & 3
	return lo, epoch | uint32(t.Nanosecond())<<2
}

// parseInode decodes raw (one inode table slot of inodeSize bytes).
func parseInode(num uint32, raw []byte, hugeFile bool) *Inode {
	le := binary.LittleEndian
	in := &Inode{
		Num:       num,
		Mode:      le.Uint16(raw[inMode:]),
		UID:       uint32(le.Uint16(raw[inUIDLo:])) | uint32(le.Uint16(raw[inUIDHi:]))<<16,
		GID:       uint32(le.Uint16(raw[inGIDLo:])) | uint32(le.Uint16(raw[inGIDHi:]))<<16,
		Size:      uint64(le.Uint32(raw[inSizeLo:])) | uint64(le.Uint32(raw[inSizeHi:]))<<32,
		Links:     le.Uint16(raw[inLinks:]),
		Flags:     le.Uint32(raw[inFlags:]),
		FileACL:   uint64(le.Uint32(raw[inFileACLLo:])) | uint64(le.Uint16(raw[inFileACLHi:]))<<32,
		Blocks512: uint64(le.Uint32(raw[inBlocksLo:])) | uint64(le.Uint16(raw[inBlocksHi:]))<<32,
	}
	copy(in.Block[:], raw[inBlock:inBlock+inBlockLen])
	extraEnd := 128
	if len(raw) > 128+4 {
		isize := int(le.Uint16(raw[inExtraIsize:]))
		if isize >= 4 && 128+isize <= len(raw) && isize%4 == 0 {
			extraEnd = 128 + isize
			in.extra = raw[extraEnd:]
		}
	}
	has := func(off int) bool { return off+4 <= extraEnd }
	in.Atime = decodeTime(le.Uint32(raw[inAtime:]), extraField(raw, inAtimeExtra, has), has(inAtimeExtra))
	in.Ctime = decodeTime(le.Uint32(raw[inCtime:]), extraField(raw, inCtimeExtra, has), has(inCtimeExtra))
	in.Mtime = decodeTime(le.Uint32(raw[inMtime:]), extraField(raw, inMtimeExtra, has), has(inMtimeExtra))
	if has(inCrtime) {
		in.Crtime = decodeTime(le.Uint32(raw[inCrtime:]), extraField(raw, inCrtimeExtr, has), has(inCrtimeExtr))
	}
	if hugeFile && in.Flags&flagHugeFile != 0 {
		// i_blocks counts file system blocks, not sectors; the caller
		// does not use Blocks512 for anything but reports.
		in.Blocks512 = 0
	}
	return in
}

func extraField(raw []byte, off int, has func(int) bool) uint32 {
	if !has(off) {
		return 0
	}
	return binary.LittleEndian.Uint32(raw[off:])
}
