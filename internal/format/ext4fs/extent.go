package ext4fs

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Extent maps Len blocks of a file, from file block Logical, to Physical.
// An uninitialized extent (allocated, never written: fallocate) reads as
// zeros.
type Extent struct {
	Logical  uint64
	Physical uint64
	Len      uint64
	Uninit   bool
}

const (
	extentMagic    = 0xF30A
	extentMaxDepth = 5
	// extentInitMax is the longest initialized extent; longer lengths
	// mark an uninitialized extent of len-32768 blocks (ifork.rst).
	extentInitMax = 32768
)

// mapping returns the extents of the inode's data, sorted, not
// overlapping, inside the file system and below the file's size in
// blocks, from its extent tree or its block map.
func (f *FS) mapping(in *Inode) ([]Extent, error) {
	if in.Flags&flagInlineData != 0 {
		return nil, errors.New("inline data is not supported")
	}
	limit := (in.Size + uint64(f.sb.BlockSize) - 1) / uint64(f.sb.BlockSize)
	var ex []Extent
	var err error
	if in.Flags&flagExtents != 0 {
		budget := int64(min(limit, f.sb.BlocksCount)) + 16 // nodes visited: each is a block of its own
		ex, err = f.extentNode(in.Block[:], extentMaxDepth+1, &budget, nil)
	} else {
		ex, err = f.blockMap(in, limit)
	}
	if err != nil {
		return nil, err
	}
	var next uint64
	for i, e := range ex {
		if e.Len == 0 {
			return nil, fmt.Errorf("extent %d is empty", i)
		}
		if e.Logical < next {
			return nil, fmt.Errorf("extent %d (file block %d) overlaps or is out of order", i, e.Logical)
		}
		if e.Physical < uint64(f.sb.FirstDataBlock) || e.Physical+e.Len > f.sb.BlocksCount || e.Physical+e.Len < e.Physical {
			return nil, fmt.Errorf("extent %d (blocks %d+%d) is outside the file system", i, e.Physical, e.Len)
		}
		next = e.Logical + e.Len
	}
	// Blocks past the size (preallocated with KEEP_SIZE) are not data.
	for len(ex) > 0 && ex[len(ex)-1].Logical >= limit {
		ex = ex[:len(ex)-1]
	}
	if n := len(ex); n > 0 && ex[n-1].Logical+ex[n-1].Len > limit {
		ex[n-1].Len = limit - ex[n-1].Logical
	}
	return ex, nil
}

// extentNode walks one node of an extent tree (ifork.rst, "Extent Tree").
func (f *FS) extentNode(b []byte, maxDepth int, budget *int64, out []Extent) ([]Extent, error) {
	le := binary.LittleEndian
	if *budget--; *budget < 0 {
		return nil, errors.New("extent tree has more nodes than the file has blocks")
	}
	if len(b) < 12 || le.Uint16(b) != extentMagic {
		return nil, errors.New("extent tree node has no 0xF30A magic")
	}
	entries, max, depth := int(le.Uint16(b[2:])), int(le.Uint16(b[4:])), int(le.Uint16(b[6:]))
	if entries > max || 12+12*max > len(b) {
		return nil, fmt.Errorf("extent tree node: %d entries, room for %d", entries, max)
	}
	if depth >= maxDepth {
		return nil, fmt.Errorf("extent tree depth %d: deeper than its parent allows", depth)
	}
	for i := 0; i < entries; i++ {
		e := b[12+12*i : 24+12*i]
		if depth == 0 {
			n := uint64(le.Uint16(e[4:]))
			x := Extent{Logical: uint64(le.Uint32(e)), Physical: uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))}
			if n > extentInitMax {
				n -= extentInitMax
				x.Uninit = true
			}
			x.Len = n
			out = append(out, x)
			continue
		}
		child := uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32
		if child < uint64(f.sb.FirstDataBlock) || child >= f.sb.BlocksCount {
			return nil, fmt.Errorf("extent index points to block %d, outside the file system", child)
		}
		blk := make([]byte, f.sb.BlockSize)
		if err := f.dev.readAt(blk, int64(child)*f.sb.BlockSize); err != nil {
			return nil, err
		}
		var err error
		if out, err = f.extentNode(blk, depth, budget, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// blockMap reads the ext2/3 direct and indirect block pointers (ifork.rst,
// "Direct/Indirect Block Addressing") of a file of limit blocks.
func (f *FS) blockMap(in *Inode, limit uint64) ([]Extent, error) {
	le := binary.LittleEndian
	per := uint64(f.sb.BlockSize / 4)
	var out []Extent
	add := func(logical, phys uint64) {
		if phys == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Logical+out[n-1].Len == logical && out[n-1].Physical+out[n-1].Len == phys {
			out[n-1].Len++
			return
		}
		out = append(out, Extent{Logical: logical, Physical: phys, Len: 1})
	}
	for i := uint64(0); i < 12 && i < limit; i++ {
		add(i, uint64(le.Uint32(in.Block[4*i:])))
	}
	budget := f.sb.BlocksCount // indirect blocks read: each is a block of its own
	var walk func(blk uint64, level int, first uint64) error
	walk = func(blk uint64, level int, first uint64) error {
		if blk == 0 || first >= limit {
			return nil
		}
		if budget == 0 {
			return errors.New("block map reads more indirect blocks than the file system has")
		}
		budget--
		if blk < uint64(f.sb.FirstDataBlock) || blk >= f.sb.BlocksCount {
			return fmt.Errorf("indirect block %d is outside the file system", blk)
		}
		b := make([]byte, f.sb.BlockSize)
		if err := f.dev.readAt(b, int64(blk)*f.sb.BlockSize); err != nil {
			return err
		}
		span := uint64(1)
		for l := 0; l < level; l++ {
			span *= per
		}
		for i := uint64(0); i < per; i++ {
			p := uint64(le.Uint32(b[4*i:]))
			at := first + i*span
			if at >= limit {
				break
			}
			if level == 0 {
				add(at, p)
			} else if err := walk(p, level-1, at); err != nil {
				return err
			}
		}
		return nil
	}
	first := uint64(12)
	for level := 0; level < 3; level++ {
		if err := walk(uint64(le.Uint32(in.Block[4*(12+level):])), level, first); err != nil {
			return nil, err
		}
		span := uint64(1)
		for l := 0; l <= level; l++ {
			span *= per
		}
		first += span
	}
	return out, nil
}
