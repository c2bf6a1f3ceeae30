package ext4fs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"path"
	"sort"
	"strings"
	"time"
)

// Device is what a Builder reads and writes.
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// Meta is the owner, mode, times and extended attributes of a new file.
type Meta struct {
	// Perm is the permission bits with setuid, setgid and sticky (07777).
	Perm                        uint16
	UID, GID                    uint32
	Atime, Mtime, Ctime, Crtime time.Time
	Xattrs                      []Xattr
}

// NoSpaceError says that what was given to a Builder does not fit.
type NoSpaceError struct {
	BlockSize              int64
	NeedBlocks, HaveBlocks uint64
	NeedInodes, HaveInodes uint64
}

func (e *NoSpaceError) Error() string {
	var parts []string
	if e.NeedBlocks > e.HaveBlocks {
		parts = append(parts, fmt.Sprintf("needs %d KiB of blocks, the file system has %d KiB free",
			e.NeedBlocks*uint64(e.BlockSize)>>10, e.HaveBlocks*uint64(e.BlockSize)>>10))
	}
	if e.NeedInodes > e.HaveInodes {
		parts = append(parts, fmt.Sprintf("needs %d inodes, the file system has %d free", e.NeedInodes, e.HaveInodes))
	}
	return "does not fit: " + strings.Join(parts, "; ")
}

// Builder fills an empty ext4 file system (as ext4img.Create makes it:
// no metadata_csum, no uninit_bg, only the root directory in use). Files
// are added parents first; Finish writes directories, bitmaps, group
// descriptors and the superblock. Data blocks that are all zeros become
// holes. Allocation is sequential and depends only on the calls made, so
// the same calls give the same bytes.
//
// When the file system runs out of blocks or inodes the Builder stops
// writing and keeps counting, so Finish can say how much was needed.
type Builder struct {
	dev       Device
	sb        *Superblock
	gds       []GroupDesc
	gdRaw     []byte
	blockBM   [][]byte
	inodeBM   [][]byte
	nextBlock uint64
	nextInode uint32
	freeB     uint64
	freeI     uint64
	haveB     uint64
	haveI     uint64
	overB     uint64
	overI     uint64
	nodes     map[string]*node
	inodes    map[uint32]*node
	buf       []byte
	err       error
}

type node struct {
	ino      uint32
	raw      []byte
	dir      bool
	links    uint16
	children map[string]*node
	parent   *node
	mode     uint16
}

// NewBuilder opens the empty file system in the first size bytes of dev.
func NewBuilder(dev Device, size int64) (*Builder, error) {
	d := &device{r: dev, size: size}
	raw := make([]byte, superblockSize)
	if err := d.readAt(raw, superblockOffset); err != nil {
		return nil, fmt.Errorf("ext4: superblock: %w", err)
	}
	sb, err := parseSuperblock(raw, size)
	if err != nil {
		return nil, fmt.Errorf("ext4: %w", err)
	}
	if sb.ROCompat&(roCompatGDTCsum|roCompatMetaCsum) != 0 {
		return nil, errors.New("ext4: the builder fills only file systems without checksums (ext4img.Create makes them)")
	}
	if sb.Incompat&(incompatExtents|incompatFiletype) != incompatExtents|incompatFiletype {
		return nil, errors.New("ext4: the builder needs the extent and filetype features")
	}
	if sb.InodeSize < 256 {
		return nil, fmt.Errorf("ext4: the builder needs 256-byte inodes, not %d", sb.InodeSize)
	}
	gds, gdRaw, err := readGroupDescs(d, sb)
	if err != nil {
		return nil, fmt.Errorf("ext4: %w", err)
	}
	b := &Builder{dev: dev, sb: sb, gds: gds, gdRaw: gdRaw, nodes: map[string]*node{}, inodes: map[uint32]*node{}, buf: make([]byte, 1<<20)}
	for g, gd := range gds {
		if gd.Flags&(bgInodeUninit|bgBlockUninit) != 0 {
			return nil, fmt.Errorf("ext4: group %d has uninitialized bitmaps", g)
		}
		bb := make([]byte, sb.BlockSize)
		ib := make([]byte, sb.BlockSize)
		if err := d.readAt(bb, int64(gd.BlockBitmap)*sb.BlockSize); err != nil {
			return nil, fmt.Errorf("ext4: group %d block bitmap: %w", g, err)
		}
		if err := d.readAt(ib, int64(gd.InodeBitmap)*sb.BlockSize); err != nil {
			return nil, fmt.Errorf("ext4: group %d inode bitmap: %w", g, err)
		}
		b.blockBM = append(b.blockBM, bb)
		b.inodeBM = append(b.inodeBM, ib)
	}
	for n := uint64(sb.FirstDataBlock); n < sb.BlocksCount; n++ {
		if !b.blockUsed(n) {
			b.freeB++
		}
	}
	for n := uint32(1); n <= sb.InodesCount; n++ {
		if !b.inodeUsed(n) {
			b.freeI++
		}
	}
	b.nextBlock = uint64(sb.FirstDataBlock)
	b.nextInode = sb.FirstIno
	// The root directory: keep its inode (2), drop its blocks (Finish
	// writes it anew).
	fs := &FS{dev: d, sb: sb, gds: gds}
	root, err := fs.Inode(RootInode)
	if err != nil || root.Type() != ModeDir {
		return nil, fmt.Errorf("ext4: root inode: %v", err)
	}
	ents, err := fs.ReadDir(root)
	if err != nil {
		return nil, err
	}
	if len(ents) != 0 {
		return nil, fmt.Errorf("ext4: the file system is not empty (%s in the root)", ents[0].Name)
	}
	ex, err := fs.mapping(root)
	if err != nil {
		return nil, err
	}
	for _, e := range ex {
		for i := uint64(0); i < e.Len; i++ {
			b.setBlock(e.Physical+i, false)
		}
	}
	b.haveB, b.haveI = b.freeB, b.freeI
	r := &node{ino: RootInode, dir: true, links: 2, children: map[string]*node{}, mode: ModeDir | 0o755}
	r.parent = r
	b.nodes["."] = r
	b.inodes[RootInode] = r
	return b, nil
}

func (b *Builder) blockUsed(n uint64) bool {
	g := b.sb.groupOfBlock(n)
	i := (n - uint64(b.sb.FirstDataBlock)) % uint64(b.sb.BlocksPerGroup)
	return b.blockBM[g][i/8]&(1<<(i%8)) != 0
}

func (b *Builder) setBlock(n uint64, used bool) {
	g := b.sb.groupOfBlock(n)
	i := (n - uint64(b.sb.FirstDataBlock)) % uint64(b.sb.BlocksPerGroup)
	was := b.blockBM[g][i/8]&(1<<(i%8)) != 0
	if used {
		b.blockBM[g][i/8] |= 1 << (i % 8)
		if !was {
			b.freeB--
		}
	} else {
		b.blockBM[g][i/8] &^= 1 << (i % 8)
		if was {
			b.freeB++
		}
	}
}

func (b *Builder) inodeUsed(n uint32) bool {
	g, i := (n-1)/b.sb.InodesPerGroup, (n-1)%b.sb.InodesPerGroup
	return b.inodeBM[g][i/8]&(1<<(i%8)) != 0
}

// allocInode returns a free inode number, or 0 (counted) when none is left.
func (b *Builder) allocInode() uint32 {
	for ; b.nextInode <= b.sb.InodesCount; b.nextInode++ {
		n := b.nextInode
		if !b.inodeUsed(n) {
			g, i := (n-1)/b.sb.InodesPerGroup, (n-1)%b.sb.InodesPerGroup
			b.inodeBM[g][i/8] |= 1 << (i % 8)
			b.freeI--
			b.nextInode++
			return n
		}
	}
	b.overI++
	return 0
}

// allocRun returns up to n free blocks starting at the returned block, or
// count 0 (and the blocks are counted as missing) when none is left.
func (b *Builder) allocRun(n uint64) (uint64, uint64) {
	for ; b.nextBlock < b.sb.BlocksCount; b.nextBlock++ {
		if b.blockUsed(b.nextBlock) {
			continue
		}
		start := b.nextBlock
		var k uint64
		for k < n && b.nextBlock < b.sb.BlocksCount && !b.blockUsed(b.nextBlock) {
			b.setBlock(b.nextBlock, true)
			b.nextBlock++
			k++
		}
		return start, k
	}
	b.overB += n
	return 0, 0
}

func (b *Builder) full() bool { return b.overB > 0 || b.overI > 0 }

// lookupParent checks p and returns its parent directory and base name.
func (b *Builder) lookupParent(p string) (*node, string, error) {
	if p == "." || p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") {
		return nil, "", fmt.Errorf("%q is not a clean relative path", p)
	}
	if _, ok := b.nodes[p]; ok {
		return nil, "", fmt.Errorf("%s: already exists", p)
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	parent, ok := b.nodes[dir]
	if !ok {
		return nil, "", fmt.Errorf("%s: parent directory %s was not created first", p, dir)
	}
	if !parent.dir {
		return nil, "", fmt.Errorf("%s: parent %s is not a directory", p, dir)
	}
	if len(base) > 255 {
		return nil, "", fmt.Errorf("%s: name longer than 255 bytes", p)
	}
	return parent, base, nil
}

func (b *Builder) add(p string, mode uint16) (*node, error) {
	if b.err != nil {
		return nil, b.err
	}
	parent, base, err := b.lookupParent(p)
	if err != nil {
		return nil, err
	}
	if mode&modeType == ModeDir && parent.links >= 65000 {
		return nil, fmt.Errorf("%s: more than 64998 folders in one folder (the file system has no dir_nlink)", p)
	}
	n := &node{ino: b.allocInode(), mode: mode, links: 1, parent: parent}
	if mode&modeType == ModeDir {
		n.dir, n.links, n.children = true, 2, map[string]*node{}
		parent.links++
	}
	parent.children[base] = n
	b.nodes[p] = n
	if n.ino != 0 {
		b.inodes[n.ino] = n
	}
	return n, nil
}

// Mkdir adds a directory; "." sets the root directory's metadata.
func (b *Builder) Mkdir(p string, m Meta) error {
	if p == "." {
		return b.setMeta(b.nodes["."], m, 0, nil)
	}
	n, err := b.add(p, ModeDir|m.Perm&0o7777)
	if err != nil {
		return err
	}
	return b.setMeta(n, m, 0, nil)
}

// SetMeta sets the metadata of a folder added before (or of the root, ".").
func (b *Builder) SetMeta(p string, m Meta) error {
	n, ok := b.nodes[p]
	if !ok || !n.dir {
		return fmt.Errorf("%s: not a folder added before", p)
	}
	return b.setMeta(n, m, 0, nil)
}

// Symlink adds a symbolic link to target.
func (b *Builder) Symlink(p, target string, m Meta) error {
	if target == "" || len(target) >= int(b.sb.BlockSize) || len(target) > 4095 || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("%s: symlink target of %d bytes", p, len(target))
	}
	n, err := b.add(p, ModeLink|0o777)
	if err != nil {
		return err
	}
	if len(target) < inBlockLen {
		var blk [inBlockLen]byte
		copy(blk[:], target)
		return b.setMeta(n, m, uint64(len(target)), &inodeData{block: blk, fast: true})
	}
	d, err := b.writeData(bytes.NewReader([]byte(target)), int64(len(target)), false)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return b.setMeta(n, m, uint64(len(target)), d)
}

// Mknod adds a device node (ModeChar, ModeBlock), FIFO or socket.
func (b *Builder) Mknod(p string, typ uint16, major, minor uint32, m Meta) error {
	switch typ {
	case ModeChar, ModeBlock, ModeFIFO, ModeSocket:
	default:
		return fmt.Errorf("%s: type %#o is not a special file", p, typ)
	}
	n, err := b.add(p, typ|m.Perm&0o7777)
	if err != nil {
		return err
	}
	d := &inodeData{fast: true}
	le := binary.LittleEndian
	if major < 256 && minor < 256 {
		le.PutUint32(d.block[0:], major<<8|minor)
	} else {
		le.PutUint32(d.block[4:], minor&0xff|major<<8|(minor&^0xff)<<12)
	}
	return b.setMeta(n, m, 0, d)
}

// Link adds p as another name of the earlier file existing.
func (b *Builder) Link(p, existing string) error {
	if b.err != nil {
		return b.err
	}
	old, ok := b.nodes[existing]
	if !ok {
		return fmt.Errorf("%s: hard link to %s, which was not added before", p, existing)
	}
	if old.dir {
		return fmt.Errorf("%s: hard link to directory %s", p, existing)
	}
	parent, base, err := b.lookupParent(p)
	if err != nil {
		return err
	}
	if old.links == 65000 {
		return fmt.Errorf("%s: %s has 65000 links already", p, existing)
	}
	old.links++
	parent.children[base] = old
	b.nodes[p] = old
	return nil
}

// WriteFile adds a regular file of size bytes read from r.
func (b *Builder) WriteFile(p string, m Meta, r io.Reader, size int64) error {
	n, err := b.add(p, ModeFile|m.Perm&0o7777)
	if err != nil {
		return err
	}
	d, err := b.writeData(r, size, true)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return b.setMeta(n, m, uint64(size), d)
}

// inodeData is what an inode's i_block holds and how many blocks it uses.
type inodeData struct {
	block  [inBlockLen]byte
	blocks uint64 // file system blocks, tree blocks included
	fast   bool   // i_block holds the data itself (fast symlink, device)
}

// writeData copies size bytes of r into new blocks (zero blocks become
// holes when sparse) and builds the extent tree.
func (b *Builder) writeData(r io.Reader, size int64, sparse bool) (*inodeData, error) {
	bs := b.sb.BlockSize
	var ex []Extent
	var logical uint64
	for left := size; left > 0; {
		chunk := b.buf[:min(int64(len(b.buf)), left)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		left -= int64(len(chunk))
		// Pad the last block with zeros.
		if rem := int64(len(chunk)) % bs; rem != 0 {
			chunk = b.buf[:int64(len(chunk))+bs-rem]
			clear(chunk[len(chunk)-int(bs-rem):])
		}
		nblk := uint64(int64(len(chunk)) / bs)
		for i := uint64(0); i < nblk; {
			blk := chunk[int64(i)*bs : int64(i+1)*bs]
			if sparse && allZero(blk) {
				i++
				continue
			}
			// A run of data blocks.
			j := i + 1
			for j < nblk && !(sparse && allZero(chunk[int64(j)*bs:int64(j+1)*bs])) {
				j++
			}
			for i < j {
				start, got := b.allocRun(j - i)
				if got == 0 {
					i = j // counted as missing; keep reading to count the rest
					break
				}
				if _, err := b.dev.WriteAt(chunk[int64(i)*bs:int64(i+got)*bs], int64(start)*bs); err != nil {
					return nil, err
				}
				ex = appendExtent(ex, logical+i, start, got)
				i += got
			}
		}
		logical += nblk
	}
	d := &inodeData{}
	for _, e := range ex {
		d.blocks += e.Len
	}
	tree, treeBlocks, err := b.extentTree(ex)
	if err != nil {
		return nil, err
	}
	d.block = tree
	d.blocks += treeBlocks
	return d, nil
}

func appendExtent(ex []Extent, logical, phys, n uint64) []Extent {
	for n > 0 {
		if k := len(ex); k > 0 {
			last := &ex[k-1]
			if last.Logical+last.Len == logical && last.Physical+last.Len == phys && last.Len < extentInitMax {
				add := min(n, extentInitMax-last.Len)
				last.Len += add
				logical, phys, n = logical+add, phys+add, n-add
				continue
			}
		}
		add := min(n, extentInitMax)
		ex = append(ex, Extent{Logical: logical, Physical: phys, Len: add})
		logical, phys, n = logical+add, phys+add, n-add
	}
	return ex
}

// extentTree lays out the extents: in i_block when they fit (4), else in
// leaf blocks under index nodes, as deep as needed (ifork.rst).
func (b *Builder) extentTree(ex []Extent) ([inBlockLen]byte, uint64, error) {
	le := binary.LittleEndian
	var root [inBlockLen]byte
	perBlock := int((b.sb.BlockSize - 12) / 12)
	type entry struct {
		first uint64
		raw   [12]byte
	}
	level := make([]entry, len(ex))
	for i, e := range ex {
		level[i].first = e.Logical
		le.PutUint32(level[i].raw[0:], uint32(e.Logical))
		le.PutUint16(level[i].raw[4:], uint16(e.Len))
		le.PutUint16(level[i].raw[6:], uint16(e.Physical>>32))
		le.PutUint32(level[i].raw[8:], uint32(e.Physical))
	}
	var treeBlocks uint64
	depth := 0
	for len(level) > 4 {
		var up []entry
		for i := 0; i < len(level); i += perBlock {
			part := level[i:min(i+perBlock, len(level))]
			blk := make([]byte, b.sb.BlockSize)
			le.PutUint16(blk[0:], extentMagic)
			le.PutUint16(blk[2:], uint16(len(part)))
			le.PutUint16(blk[4:], uint16(perBlock))
			le.PutUint16(blk[6:], uint16(depth))
			for k, e := range part {
				copy(blk[12+12*k:], e.raw[:])
			}
			start, got := b.allocRun(1)
			treeBlocks++
			if got == 1 {
				if _, err := b.dev.WriteAt(blk, int64(start)*b.sb.BlockSize); err != nil {
					return root, 0, err
				}
			}
			var idx entry
			idx.first = part[0].first
			le.PutUint32(idx.raw[0:], uint32(part[0].first))
			le.PutUint32(idx.raw[4:], uint32(start))
			le.PutUint16(idx.raw[8:], uint16(start>>32))
			up = append(up, idx)
		}
		level = up
		depth++
		if depth > extentMaxDepth {
			return root, 0, errors.New("extent tree deeper than 5")
		}
	}
	le.PutUint16(root[0:], extentMagic)
	le.PutUint16(root[2:], uint16(len(level)))
	le.PutUint16(root[4:], 4)
	le.PutUint16(root[6:], uint16(depth))
	for k, e := range level {
		copy(root[12+12*k:], e.raw[:])
	}
	return root, treeBlocks, nil
}

const (
	extraIsize  = 32
	xattrInode0 = 128 + extraIsize
)

// setMeta builds n's inode (not yet its link count; Finish sets that).
func (b *Builder) setMeta(n *node, m Meta, size uint64, d *inodeData) error {
	le := binary.LittleEndian
	raw := make([]byte, b.sb.InodeSize)
	mode := n.mode&modeType | m.Perm&0o7777
	if n.mode&modeType == ModeLink {
		mode = ModeLink | 0o777
	}
	n.mode = mode
	le.PutUint16(raw[inMode:], mode)
	le.PutUint16(raw[inUIDLo:], uint16(m.UID))
	le.PutUint16(raw[inUIDHi:], uint16(m.UID>>16))
	le.PutUint16(raw[inGIDLo:], uint16(m.GID))
	le.PutUint16(raw[inGIDHi:], uint16(m.GID>>16))
	le.PutUint32(raw[inSizeLo:], uint32(size))
	le.PutUint32(raw[inSizeHi:], uint32(size>>32))
	le.PutUint16(raw[inExtraIsize:], extraIsize)
	crtime := m.Crtime
	if crtime.IsZero() {
		crtime = m.Ctime
	}
	for _, t := range []struct {
		secs, extra int
		t           time.Time
	}{{inAtime, inAtimeExtra, m.Atime}, {inCtime, inCtimeExtra, m.Ctime}, {inMtime, inMtimeExtra, m.Mtime}, {inCrtime, inCrtimeExtr, crtime}} {
		if t.t.IsZero() {
			continue
		}
		s, x := encodeTime(t.t)
		le.PutUint32(raw[t.secs:], s)
		le.PutUint32(raw[t.extra:], x)
	}
	var blocks uint64
	if d != nil {
		copy(raw[inBlock:], d.block[:])
		if !d.fast {
			le.PutUint32(raw[inFlags:], flagExtents)
		}
		blocks = d.blocks
	}
	if len(m.Xattrs) > 0 {
		xs, err := toDiskXattrs(m.Xattrs)
		if err != nil {
			return err
		}
		area := raw[xattrInode0:]
		if layoutXattrs(area, 4, 4, xs) {
			le.PutUint32(area, xattrMagic)
		} else {
			clear(area)
			blk := make([]byte, b.sb.BlockSize)
			if !layoutXattrs(blk, xattrBlockHdr, 0, xs) {
				return fmt.Errorf("extended attributes of %d bytes do not fit one %d-byte block", xattrBytes(xs), b.sb.BlockSize)
			}
			le.PutUint32(blk[0:], xattrMagic)
			le.PutUint32(blk[4:], 1) // h_refcount
			le.PutUint32(blk[8:], 1) // h_blocks
			var h uint32
			for off := xattrBlockHdr; le.Uint32(blk[off:]) != 0; off += (xattrEntryFixed + int(blk[off]) + 3) &^ 3 {
				h = h<<16 ^ h>>16 ^ le.Uint32(blk[off+12:])
			}
			le.PutUint32(blk[16:], h)
			start, got := b.allocRun(1)
			blocks++
			if got == 1 {
				if _, err := b.dev.WriteAt(blk, int64(start)*b.sb.BlockSize); err != nil {
					return err
				}
			}
			le.PutUint32(raw[inFileACLLo:], uint32(start))
			le.PutUint16(raw[inFileACLHi:], uint16(start>>32))
		}
	}
	sectors := blocks * uint64(b.sb.BlockSize/512)
	if sectors >= 1<<48 {
		return errors.New("file too large")
	}
	le.PutUint32(raw[inBlocksLo:], uint32(sectors))
	le.PutUint16(raw[inBlocksHi:], uint16(sectors>>32))
	n.raw = raw
	return nil
}

func xattrBytes(xs []diskXattr) int {
	n := 0
	for _, x := range xs {
		n += x.entrySize() + x.valueSize()
	}
	return n
}

// Finish writes the directories, the inodes, the bitmaps, the group
// descriptors and the superblock. It returns a *NoSpaceError when the
// files did not fit; nothing else is written then.
func (b *Builder) Finish() error {
	if b.err != nil {
		return b.err
	}
	// Directories, in inode order.
	var dirs []*node
	for _, n := range b.inodes {
		if n.dir {
			dirs = append(dirs, n)
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].ino < dirs[j].ino })
	for _, d := range dirs {
		if err := b.writeDir(d); err != nil {
			return err
		}
	}
	if b.full() {
		return &NoSpaceError{BlockSize: b.sb.BlockSize,
			NeedBlocks: b.haveB - b.freeB + b.overB, HaveBlocks: b.haveB,
			NeedInodes: b.haveI - b.freeI + b.overI, HaveInodes: b.haveI}
	}
	// Inodes, one inode table block at a time.
	le := binary.LittleEndian
	nums := make([]uint32, 0, len(b.inodes))
	for ino, n := range b.inodes {
		le.PutUint16(n.raw[inLinks:], n.links)
		nums = append(nums, ino)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	for _, ino := range nums {
		g, i := (ino-1)/b.sb.InodesPerGroup, (ino-1)%b.sb.InodesPerGroup
		off := int64(b.gds[g].InodeTable)*b.sb.BlockSize + int64(i)*b.sb.InodeSize
		if _, err := b.dev.WriteAt(b.inodes[ino].raw, off); err != nil {
			return err
		}
	}
	// Bitmaps and counts.
	var freeBlocks, freeInodes uint64
	for g := range b.gds {
		gd := &b.gds[g]
		first := uint64(b.sb.FirstDataBlock) + uint64(g)*uint64(b.sb.BlocksPerGroup)
		n := min(uint64(b.sb.BlocksPerGroup), b.sb.BlocksCount-first)
		gd.FreeBlocks = uint32(n) - uint32(ones(b.blockBM[g], n))
		gd.FreeInodes = b.sb.InodesPerGroup - uint32(ones(b.inodeBM[g], uint64(b.sb.InodesPerGroup)))
		gd.UsedDirs = 0
		freeBlocks += uint64(gd.FreeBlocks)
		freeInodes += uint64(gd.FreeInodes)
		if _, err := b.dev.WriteAt(b.blockBM[g], int64(gd.BlockBitmap)*b.sb.BlockSize); err != nil {
			return err
		}
		if _, err := b.dev.WriteAt(b.inodeBM[g], int64(gd.InodeBitmap)*b.sb.BlockSize); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		b.gds[(d.ino-1)/b.sb.InodesPerGroup].UsedDirs++
	}
	for g, gd := range b.gds {
		gd.putCounts(b.gdRaw[int64(g)*b.sb.DescSize : int64(g+1)*b.sb.DescSize])
	}
	if _, err := b.dev.WriteAt(b.gdRaw, (int64(b.sb.FirstDataBlock)+1)*b.sb.BlockSize); err != nil {
		return err
	}
	sb := b.sb.raw
	le.PutUint32(sb[sbFreeBlocksLo:], uint32(freeBlocks))
	if b.sb.Incompat&incompat64Bit != 0 {
		le.PutUint32(sb[sbFreeBlocksHi:], uint32(freeBlocks>>32))
	}
	le.PutUint32(sb[sbFreeInodes:], uint32(freeInodes))
	_, err := b.dev.WriteAt(sb, superblockOffset)
	return err
}

func ones(bm []byte, n uint64) int {
	c := 0
	for i := uint64(0); i < n/8; i++ {
		c += bits.OnesCount8(bm[i])
	}
	for i := n / 8 * 8; i < n; i++ {
		if bm[i/8]&(1<<(i%8)) != 0 {
			c++
		}
	}
	return c
}

// writeDir writes directory d's blocks: "." and ".." first, then its
// entries by name, each block's last record spanning to its end.
func (b *Builder) writeDir(d *node) error {
	names := make([]string, 0, len(d.children))
	for name := range d.children {
		names = append(names, name)
	}
	sort.Strings(names)
	bs := int(b.sb.BlockSize)
	var data []byte
	blk := make([]byte, bs)
	off, last := 0, -1
	put := func(ino uint32, name string, ft uint8) {
		need := dirEntrySize(len(name))
		if off+need > bs {
			// Stretch the last record to the block's end.
			binary.LittleEndian.PutUint16(blk[last+4:], uint16(bs-last))
			data = append(data, blk...)
			blk = make([]byte, bs)
			off = 0
		}
		putDirEntry(blk[off:], ino, need, name, ft)
		last = off
		off += need
	}
	put(d.ino, ".", ftDir)
	put(d.parent.ino, "..", ftDir)
	for _, name := range names {
		c := d.children[name]
		put(c.ino, name, fileTypeOf(c.mode))
	}
	binary.LittleEndian.PutUint16(blk[last+4:], uint16(bs-last))
	data = append(data, blk...)
	dd, err := b.writeData(bytes.NewReader(data), int64(len(data)), false)
	if err != nil {
		return err
	}
	if d.raw == nil {
		if err := b.setMeta(d, Meta{Perm: d.mode & 0o7777}, 0, nil); err != nil {
			return err
		}
	}
	le := binary.LittleEndian
	copy(d.raw[inBlock:], dd.block[:])
	le.PutUint32(d.raw[inFlags:], flagExtents)
	le.PutUint32(d.raw[inSizeLo:], uint32(len(data)))
	sectors := uint64(le.Uint32(d.raw[inBlocksLo:])) + dd.blocks*uint64(bs/512) // plus an xattr block
	le.PutUint32(d.raw[inBlocksLo:], uint32(sectors))
	le.PutUint16(d.raw[inBlocksHi:], uint16(sectors>>32))
	return nil
}

var zeroBlock = make([]byte, 64<<10)

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
