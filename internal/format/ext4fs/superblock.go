package ext4fs

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Superblock offsets (super.rst).
const (
	superblockOffset = 1024
	superblockSize   = 1024

	sbInodesCount      = 0x00
	sbBlocksCountLo    = 0x04
	sbFreeBlocksLo     = 0x0C
	sbFreeInodes       = 0x10
	sbFirstDataBlock   = 0x14
	sbLogBlockSize     = 0x18
	sbBlocksPerGroup   = 0x20
	sbInodesPerGroup   = 0x28
	sbMagic            = 0x38
	sbState            = 0x3A
	sbRevLevel         = 0x4C
	sbFirstIno         = 0x54
	sbInodeSize        = 0x58
	sbFeatureCompat    = 0x5C
	sbFeatureIncompat  = 0x60
	sbFeatureROCompat  = 0x64
	sbUUID             = 0x68
	sbVolumeName       = 0x78
	sbHashSeed         = 0xEC
	sbDescSize         = 0xFE
	sbMinExtraIsize    = 0x15C
	sbBlocksCountHi    = 0x150
	sbFreeBlocksHi     = 0x158
	sbLogGroupsPerFlex = 0x174

	magicExt = 0xEF53
)

// Feature bits (super.rst, "s_feature_incompat" and friends).
const (
	compatExtAttr = 0x8

	incompatFiletype   = 0x2
	incompatRecover    = 0x4
	incompatJournalDev = 0x8
	incompatMetaBG     = 0x10
	incompatExtents    = 0x40
	incompat64Bit      = 0x80
	incompatMMP        = 0x100
	incompatFlexBG     = 0x200
	incompatEAInode    = 0x400
	incompatDirData    = 0x1000
	incompatCsumSeed   = 0x2000
	incompatLargeDir   = 0x4000
	incompatInlineData = 0x8000
	incompatEncrypt    = 0x10000
	incompatCasefold   = 0x20000

	roCompatGDTCsum  = 0x10
	roCompatHugeFile = 0x8
	roCompatMetaCsum = 0x400
)

// incompatRead are the incompatible features the reader understands.
const incompatRead = incompatFiletype | incompatExtents | incompat64Bit | incompatMMP |
	incompatFlexBG | incompatCsumSeed | incompatLargeDir | incompatCasefold

var incompatNames = []struct {
	bit  uint32
	name string
	why  string
}{
	{incompatRecover, "needs_recovery", "its journal holds changes not yet written (the appliance was not shut down cleanly): boot it once and power it off, or run e2fsck -fy on a copy"},
	{incompatJournalDev, "journal_dev", "it is an external journal, not a file system"},
	{incompatMetaBG, "meta_bg", "its group descriptors are in meta block groups, which this reader does not follow"},
	{incompatEAInode, "ea_inode", "extended attribute values in inodes are not read"},
	{incompatDirData, "dirdata", "directory entries with data are not read"},
	{incompatInlineData, "inline_data", "file data inside inodes is not read"},
	{incompatEncrypt, "encrypt", "encrypted files cannot be exported"},
}

// Superblock is what the reader and the builder use of an ext4 superblock.
type Superblock struct {
	InodesCount    uint32
	BlocksCount    uint64
	FreeBlocks     uint64
	FreeInodes     uint32
	FirstDataBlock uint32
	BlockSize      int64
	BlocksPerGroup uint32
	InodesPerGroup uint32
	FirstIno       uint32
	InodeSize      int64
	DescSize       int64
	Compat         uint32
	Incompat       uint32
	ROCompat       uint32
	UUID           [16]byte
	Label          string
	HashSeed       [16]byte
	MinExtraIsize  uint16
	Groups         uint32
	raw            []byte
}

// parseSuperblock decodes and checks the superblock b (1024 bytes) of a
// file system in a region of devSize bytes.
func parseSuperblock(b []byte, devSize int64) (*Superblock, error) {
	le := binary.LittleEndian
	if len(b) < superblockSize || le.Uint16(b[sbMagic:]) != magicExt {
		return nil, fmt.Errorf("no ext2/3/4 superblock (magic at byte %d is not 0xEF53)", superblockOffset+sbMagic)
	}
	s := &Superblock{
		InodesCount:    le.Uint32(b[sbInodesCount:]),
		BlocksCount:    uint64(le.Uint32(b[sbBlocksCountLo:])),
		FreeBlocks:     uint64(le.Uint32(b[sbFreeBlocksLo:])),
		FreeInodes:     le.Uint32(b[sbFreeInodes:]),
		FirstDataBlock: le.Uint32(b[sbFirstDataBlock:]),
		BlocksPerGroup: le.Uint32(b[sbBlocksPerGroup:]),
		InodesPerGroup: le.Uint32(b[sbInodesPerGroup:]),
		Compat:         le.Uint32(b[sbFeatureCompat:]),
		Incompat:       le.Uint32(b[sbFeatureIncompat:]),
		ROCompat:       le.Uint32(b[sbFeatureROCompat:]),
		FirstIno:       11,
		InodeSize:      128,
		DescSize:       32,
		raw:            append([]byte(nil), b[:superblockSize]...),
	}
	copy(s.UUID[:], b[sbUUID:sbUUID+16])
	copy(s.HashSeed[:], b[sbHashSeed:sbHashSeed+16])
	s.Label = strings.TrimRight(string(b[sbVolumeName:sbVolumeName+16]), "\x00")
	logBS := le.Uint32(b[sbLogBlockSize:])
	if logBS > 6 {
		return nil, fmt.Errorf("superblock: block size 2^(10+%d) is larger than 64 KiB", logBS)
	}
	s.BlockSize = 1024 << logBS
	if le.Uint32(b[sbRevLevel:]) >= 1 {
		s.FirstIno = le.Uint32(b[sbFirstIno:])
		s.InodeSize = int64(le.Uint16(b[sbInodeSize:]))
		s.MinExtraIsize = le.Uint16(b[sbMinExtraIsize:])
	}
	if s.Incompat&incompat64Bit != 0 {
		s.BlocksCount |= uint64(le.Uint32(b[sbBlocksCountHi:])) << 32
		s.FreeBlocks |= uint64(le.Uint32(b[sbFreeBlocksHi:])) << 32
		s.DescSize = int64(le.Uint16(b[sbDescSize:]))
		if s.DescSize < 64 || s.DescSize > 1024 || s.DescSize&(s.DescSize-1) != 0 {
			return nil, fmt.Errorf("superblock: group descriptor size %d (64bit needs a power of two from 64 to 1024)", s.DescSize)
		}
	}
	for _, f := range incompatNames {
		if s.Incompat&f.bit != 0 {
			return nil, fmt.Errorf("superblock: feature %s: %s", f.name, f.why)
		}
	}
	if unknown := s.Incompat &^ incompatRead; unknown != 0 {
		return nil, fmt.Errorf("superblock: unknown incompatible features %#x", unknown)
	}
	switch {
	case s.InodeSize < 128 || s.InodeSize > s.BlockSize || s.InodeSize&(s.InodeSize-1) != 0:
		return nil, fmt.Errorf("superblock: inode size %d (need a power of two from 128 to the block size)", s.InodeSize)
	case s.BlocksPerGroup == 0 || int64(s.BlocksPerGroup) > 8*s.BlockSize:
		return nil, fmt.Errorf("superblock: %d blocks per group (at most %d with %d-byte blocks)", s.BlocksPerGroup, 8*s.BlockSize, s.BlockSize)
	case s.InodesPerGroup == 0 || int64(s.InodesPerGroup) > 8*s.BlockSize:
		return nil, fmt.Errorf("superblock: %d inodes per group", s.InodesPerGroup)
	case s.BlocksCount == 0 || s.BlocksCount > uint64(devSize/s.BlockSize):
		return nil, fmt.Errorf("superblock: %d blocks of %d bytes do not fit the %d-byte partition", s.BlocksCount, s.BlockSize, devSize)
	case uint64(s.FirstDataBlock) >= s.BlocksCount || (s.BlockSize == 1024) != (s.FirstDataBlock == 1):
		return nil, fmt.Errorf("superblock: first data block %d with %d-byte blocks", s.FirstDataBlock, s.BlockSize)
	case s.FirstIno < 11 || s.FirstIno > s.InodesCount:
		return nil, fmt.Errorf("superblock: first inode %d of %d", s.FirstIno, s.InodesCount)
	}
	groups := (s.BlocksCount - uint64(s.FirstDataBlock) + uint64(s.BlocksPerGroup) - 1) / uint64(s.BlocksPerGroup)
	if groups == 0 || groups > 1<<32-1 || uint64(s.InodesCount) != groups*uint64(s.InodesPerGroup) {
		return nil, fmt.Errorf("superblock: %d inodes is not %d groups of %d", s.InodesCount, groups, s.InodesPerGroup)
	}
	s.Groups = uint32(groups)
	return s, nil
}

// groupOfBlock is the group holding block n.
func (s *Superblock) groupOfBlock(n uint64) uint32 {
	return uint32((n - uint64(s.FirstDataBlock)) / uint64(s.BlocksPerGroup))
}
