package ext4fs

import (
	"encoding/binary"
	"fmt"
)

// GroupDesc is one block group descriptor (group_descr.rst).
type GroupDesc struct {
	BlockBitmap uint64
	InodeBitmap uint64
	InodeTable  uint64
	FreeBlocks  uint32
	FreeInodes  uint32
	UsedDirs    uint32
	Flags       uint16
}

// Group descriptor flags.
const (
	bgInodeUninit = 0x1
	bgBlockUninit = 0x2
)

func parseGroupDesc(b []byte) GroupDesc {
	le := binary.LittleEndian
	g := GroupDesc{
		BlockBitmap: uint64(le.Uint32(b[0x00:])),
		InodeBitmap: uint64(le.Uint32(b[0x04:])),
		InodeTable:  uint64(le.Uint32(b[0x08:])),
		FreeBlocks:  uint32(le.Uint16(b[0x0C:])),
		FreeInodes:  uint32(le.Uint16(b[0x0E:])),
		UsedDirs:    uint32(le.Uint16(b[0x10:])),
		Flags:       le.Uint16(b[0x12:]),
	}
	if len(b) >= 64 {
		g.BlockBitmap |= uint64(le.Uint32(b[0x20:])) << 32
		g.InodeBitmap |= uint64(le.Uint32(b[0x24:])) << 32
		g.InodeTable |= uint64(le.Uint32(b[0x28:])) << 32
		g.FreeBlocks |= uint32(le.Uint16(b[0x2C:])) << 16
		g.FreeInodes |= uint32(le.Uint16(b[0x2E:])) << 16
		g.UsedDirs |= uint32(le.Uint16(b[0x30:])) << 16
	}
	return g
}

// putCounts writes the free and used counts of g into descriptor b.
func (g GroupDesc) putCounts(b []byte) {
	le := binary.LittleEndian
	le.PutUint16(b[0x0C:], uint16(g.FreeBlocks))
	le.PutUint16(b[0x0E:], uint16(g.FreeInodes))
	le.PutUint16(b[0x10:], uint16(g.UsedDirs))
	if len(b) >= 64 {
		le.PutUint16(b[0x2C:], uint16(g.FreeBlocks>>16))
		le.PutUint16(b[0x2E:], uint16(g.FreeInodes>>16))
		le.PutUint16(b[0x30:], uint16(g.UsedDirs>>16))
	}
}

// readGroupDescs reads and checks the descriptor table that follows the
// primary superblock.
func readGroupDescs(d *device, s *Superblock) ([]GroupDesc, []byte, error) {
	n := int64(s.Groups) * s.DescSize
	if n > d.size {
		return nil, nil, fmt.Errorf("group descriptors: %d groups do not fit the partition", s.Groups)
	}
	raw := make([]byte, n)
	if err := d.readAt(raw, (int64(s.FirstDataBlock)+1)*s.BlockSize); err != nil {
		return nil, nil, fmt.Errorf("group descriptors: %w", err)
	}
	itBlocks := (uint64(s.InodesPerGroup)*uint64(s.InodeSize) + uint64(s.BlockSize) - 1) / uint64(s.BlockSize)
	gds := make([]GroupDesc, s.Groups)
	for i := range gds {
		g := parseGroupDesc(raw[int64(i)*s.DescSize : int64(i+1)*s.DescSize])
		if g.InodeTable < uint64(s.FirstDataBlock)+1 || g.InodeTable+itBlocks > s.BlocksCount {
			return nil, nil, fmt.Errorf("group %d: inode table at block %d is outside the file system", i, g.InodeTable)
		}
		gds[i] = g
	}
	return gds, raw, nil
}
