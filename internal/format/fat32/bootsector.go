package fat32

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// bootSector is the FAT32 boot sector: the BIOS Parameter Block (BPB) and
// the FAT32 extended fields, named and placed as in Microsoft's "FAT:
// General Overview of On-Disk Format" (section 3, "Boot Sector and BPB").
// Only the fields this package reads or writes are kept; boot code is
// not.
type bootSector struct {
	OEMName           [8]byte // BS_OEMName, offset 3
	BytesPerSector    uint16  // BPB_BytsPerSec, offset 11
	SectorsPerCluster uint8   // BPB_SecPerClus, offset 13
	ReservedSectors   uint16  // BPB_RsvdSecCnt, offset 14
	NumFATs           uint8   // BPB_NumFATs, offset 16
	RootEntries       uint16  // BPB_RootEntCnt, offset 17 (0 on FAT32)
	TotalSectors16    uint16  // BPB_TotSec16, offset 19 (0 on FAT32)
	Media             uint8   // BPB_Media, offset 21
	FATSize16         uint16  // BPB_FATSz16, offset 22 (0 on FAT32)
	SectorsPerTrack   uint16  // BPB_SecPerTrk, offset 24
	Heads             uint16  // BPB_NumHeads, offset 26
	HiddenSectors     uint32  // BPB_HiddSec, offset 28
	TotalSectors32    uint32  // BPB_TotSec32, offset 32
	FATSize32         uint32  // BPB_FATSz32, offset 36
	ExtFlags          uint16  // BPB_ExtFlags, offset 40: bit 7 set = only FAT (bits 0-3) is active
	RootCluster       uint32  // BPB_RootClus, offset 44
	FSInfoSector      uint16  // BPB_FSInfo, offset 48
	BackupBootSector  uint16  // BPB_BkBootSec, offset 50
	DriveNumber       uint8   // BS_DrvNum, offset 64
	BootSignature     uint8   // BS_BootSig, offset 66: 0x29 = the next three fields are valid
	VolumeID          uint32  // BS_VolID, offset 67
	VolumeLabel       [11]byte
	FSType            [8]byte // BS_FilSysType, offset 82: "FAT32   ", informative only
}

const (
	bootSectorSize   = 512
	extBootSignature = 0x29
	extFlagsMirror   = 0x80 // BPB_ExtFlags bit 7: FATs are not mirrored
)

// parseBootSector decodes the first 512 bytes of a volume. It checks only
// the signature; the geometry is checked by Open, which knows the volume's
// size.
func parseBootSector(b []byte) (bootSector, error) {
	var s bootSector
	if len(b) < bootSectorSize {
		return s, fmt.Errorf("FAT: boot sector of %d bytes", len(b))
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		return s, errors.New("FAT: no boot sector signature")
	}
	le16 := func(o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
	copy(s.OEMName[:], b[3:11])
	s.BytesPerSector = le16(11)
	s.SectorsPerCluster = b[13]
	s.ReservedSectors = le16(14)
	s.NumFATs = b[16]
	s.RootEntries = le16(17)
	s.TotalSectors16 = le16(19)
	s.Media = b[21]
	s.FATSize16 = le16(22)
	s.SectorsPerTrack = le16(24)
	s.Heads = le16(26)
	s.HiddenSectors = le32(28)
	s.TotalSectors32 = le32(32)
	s.FATSize32 = le32(36)
	s.ExtFlags = le16(40)
	s.RootCluster = le32(44)
	s.FSInfoSector = le16(48)
	s.BackupBootSector = le16(50)
	s.DriveNumber = b[64]
	s.BootSignature = b[66]
	s.VolumeID = le32(67)
	copy(s.VolumeLabel[:], b[71:82])
	copy(s.FSType[:], b[82:90])
	return s, nil
}

// totalSectors is BPB_TotSec16, or BPB_TotSec32 when that is 0.
func (s *bootSector) totalSectors() int64 {
	if s.TotalSectors16 != 0 {
		return int64(s.TotalSectors16)
	}
	return int64(s.TotalSectors32)
}

// activeFAT is the only FAT in use, or -1 when all FATs are mirrored.
func (s *bootSector) activeFAT() int {
	if s.ExtFlags&extFlagsMirror == 0 {
		return -1
	}
	return int(s.ExtFlags & 0x0f)
}

// bytes encodes the boot sector: a jump over the BPB, the fields, no boot
// code, and the 0x55 0xaa signature.
func (s *bootSector) bytes() []byte {
	b := make([]byte, bootSectorSize)
	copy(b[0:], []byte{0xeb, 0x58, 0x90}) // jmp over the BPB
	put16 := func(o int, v uint16) { binary.LittleEndian.PutUint16(b[o:], v) }
	put32 := func(o int, v uint32) { binary.LittleEndian.PutUint32(b[o:], v) }
	copy(b[3:11], s.OEMName[:])
	put16(11, s.BytesPerSector)
	b[13] = s.SectorsPerCluster
	put16(14, s.ReservedSectors)
	b[16] = s.NumFATs
	put16(17, s.RootEntries)
	put16(19, s.TotalSectors16)
	b[21] = s.Media
	put16(22, s.FATSize16)
	put16(24, s.SectorsPerTrack)
	put16(26, s.Heads)
	put32(28, s.HiddenSectors)
	put32(32, s.TotalSectors32)
	put32(36, s.FATSize32)
	put16(40, s.ExtFlags)
	put32(44, s.RootCluster)
	put16(48, s.FSInfoSector)
	put16(50, s.BackupBootSector)
	b[64] = s.DriveNumber
	b[66] = s.BootSignature
	put32(67, s.VolumeID)
	copy(b[71:82], s.VolumeLabel[:])
	copy(b[82:90], s.FSType[:])
	b[510], b[511] = 0x55, 0xaa
	return b
}
