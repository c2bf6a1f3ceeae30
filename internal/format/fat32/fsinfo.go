package fat32

import "encoding/binary"

// FSInfo sector (Microsoft FAT specification, section 5, "FAT32 FSInfo
// Sector Structure"): two hints, the free cluster count and the next free
// cluster, framed by three signatures. The sector is kept whole so that
// rewriting the hints preserves every other byte.
const (
	fsinfoLead   = 0x41615252 // FSI_LeadSig, offset 0
	fsinfoStruct = 0x61417272 // FSI_StrucSig, offset 484
	fsinfoTrail  = 0xaa550000 // FSI_TrailSig, offset 508
	fsinfoNone   = 0xffffffff // "unknown" for either hint

	fsinfoFreeCount = 488 // FSI_Free_Count
	fsinfoNextFree  = 492 // FSI_Nxt_Free
)

// fsInfo is a raw FSInfo sector.
type fsInfo []byte

// newFSInfo returns an FSInfo sector of size bytes with the given hints.
func newFSInfo(size int64, free, next uint32) fsInfo {
	f := make(fsInfo, size)
	binary.LittleEndian.PutUint32(f[0:], fsinfoLead)
	binary.LittleEndian.PutUint32(f[484:], fsinfoStruct)
	binary.LittleEndian.PutUint32(f[508:], fsinfoTrail)
	f.setHints(free, next)
	return f
}

// valid reports whether f carries the three signatures.
func (f fsInfo) valid() bool {
	return len(f) >= 512 &&
		binary.LittleEndian.Uint32(f[0:]) == fsinfoLead &&
		binary.LittleEndian.Uint32(f[484:]) == fsinfoStruct &&
		binary.LittleEndian.Uint32(f[508:]) == fsinfoTrail
}

func (f fsInfo) freeCount() uint32 { return binary.LittleEndian.Uint32(f[fsinfoFreeCount:]) }
func (f fsInfo) nextFree() uint32  { return binary.LittleEndian.Uint32(f[fsinfoNextFree:]) }

func (f fsInfo) setHints(free, next uint32) {
	binary.LittleEndian.PutUint32(f[fsinfoFreeCount:], free)
	binary.LittleEndian.PutUint32(f[fsinfoNextFree:], next)
}
