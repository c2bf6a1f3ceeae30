package ext4fs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
)

// device is the region the file system lives in.
type device struct {
	r    io.ReaderAt
	size int64
}

func (d *device) readAt(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > d.size || off+int64(len(b)) < off {
		return fmt.Errorf("read of %d bytes at %d is outside the %d-byte partition", len(b), off, d.size)
	}
	n, err := d.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read at %d: %w", off, err)
}

// FS is an opened file system, for reading.
type FS struct {
	dev *device
	sb  *Superblock
	gds []GroupDesc
}

// Open reads the superblock and group descriptors of the file system in
// the first size bytes of r.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	d := &device{r: r, size: size}
	b := make([]byte, superblockSize)
	if err := d.readAt(b, superblockOffset); err != nil {
		return nil, fmt.Errorf("ext4: superblock: %w", err)
	}
	sb, err := parseSuperblock(b, size)
	if err != nil {
		return nil, fmt.Errorf("ext4: %w", err)
	}
	gds, _, err := readGroupDescs(d, sb)
	if err != nil {
		return nil, fmt.Errorf("ext4: %w", err)
	}
	return &FS{dev: d, sb: sb, gds: gds}, nil
}

// Superblock returns the decoded superblock.
func (f *FS) Superblock() Superblock { return *f.sb }

// RootInode is the inode number of the root directory.
const RootInode = 2

// Inode reads inode n.
func (f *FS) Inode(n uint32) (*Inode, error) {
	if n == 0 || n > f.sb.InodesCount {
		return nil, fmt.Errorf("inode %d is outside 1..%d", n, f.sb.InodesCount)
	}
	g, i := (n-1)/f.sb.InodesPerGroup, (n-1)%f.sb.InodesPerGroup
	raw := make([]byte, f.sb.InodeSize)
	off := int64(f.gds[g].InodeTable)*f.sb.BlockSize + int64(i)*f.sb.InodeSize
	if err := f.dev.readAt(raw, off); err != nil {
		return nil, fmt.Errorf("inode %d: %w", n, err)
	}
	return parseInode(n, raw, f.sb.ROCompat&roCompatHugeFile != 0), nil
}

// maxDirSize bounds the size of one directory read into memory.
const maxDirSize = 256 << 20

// ReadDir returns the entries of directory in, sorted by name, without
// "." and "..".
func (f *FS) ReadDir(in *Inode) ([]DirEntry, error) {
	if in.Type() != ModeDir {
		return nil, fmt.Errorf("inode %d is not a directory", in.Num)
	}
	if in.Size > maxDirSize {
		return nil, fmt.Errorf("directory inode %d: %d bytes is more than the %d MiB allowed", in.Num, in.Size, maxDirSize>>20)
	}
	ex, err := f.mapping(in)
	if err != nil {
		return nil, fmt.Errorf("directory inode %d: %w", in.Num, err)
	}
	var out []DirEntry
	blk := make([]byte, f.sb.BlockSize)
	filetype := f.sb.Incompat&incompatFiletype != 0
	for _, e := range ex {
		if e.Uninit {
			continue
		}
		for i := uint64(0); i < e.Len; i++ {
			if err := f.dev.readAt(blk, int64(e.Physical+i)*f.sb.BlockSize); err != nil {
				return nil, fmt.Errorf("directory inode %d: %w", in.Num, err)
			}
			if out, err = parseDirBlock(blk, filetype, out); err != nil {
				return nil, fmt.Errorf("directory inode %d, block %d: %w", in.Num, e.Logical+i, err)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("directory inode %d: name %q appears twice", in.Num, out[i].Name)
		}
	}
	return out, nil
}

// Readlink returns the target of symbolic link in.
func (f *FS) Readlink(in *Inode) (string, error) {
	if in.Type() != ModeLink {
		return "", fmt.Errorf("inode %d is not a symbolic link", in.Num)
	}
	if in.Size == 0 || in.Size >= uint64(f.sb.BlockSize) || in.Size > 4095 {
		return "", fmt.Errorf("symbolic link inode %d: target of %d bytes", in.Num, in.Size)
	}
	if in.Size < inBlockLen && in.Flags&(flagExtents|flagInlineData) == 0 {
		return string(in.Block[:in.Size]), nil // a fast symlink: the target is in i_block
	}
	b, err := io.ReadAll(f.mustOpen(in))
	if err != nil {
		return "", fmt.Errorf("symbolic link inode %d: %w", in.Num, err)
	}
	return string(b), nil
}

// Device returns the major and minor number of a device inode.
func (in *Inode) Device() (major, minor uint32) {
	le := binary.LittleEndian
	if old := le.Uint32(in.Block[0:]); old != 0 {
		return old >> 8 & 0xff, old & 0xff
	}
	n := le.Uint32(in.Block[4:])
	return n & 0xfff00 >> 8, n&0xff | n>>12&0xfff00
}

// Xattrs returns the extended attributes of in, sorted by name.
func (f *FS) Xattrs(in *Inode) ([]Xattr, error) {
	x, err := f.xattrs(in)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", in.Num, err)
	}
	return x, nil
}

// DataRange is a range of a file that holds data; the rest are holes.
type DataRange struct{ Offset, Length int64 }

// Open returns a reader of the whole content of regular file (or slow
// symlink) in: Size bytes, holes and unwritten extents as zeros.
func (f *FS) Open(in *Inode) (*FileReader, error) {
	if t := in.Type(); t != ModeFile && t != ModeLink {
		return nil, fmt.Errorf("inode %d is not a regular file", in.Num)
	}
	ex, err := f.mapping(in)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", in.Num, err)
	}
	return &FileReader{fs: f, ex: ex, size: int64(in.Size), num: in.Num}, nil
}

func (f *FS) mustOpen(in *Inode) io.Reader {
	r, err := f.Open(in)
	if err != nil {
		return errReader{err}
	}
	return r
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// FileReader reads a file's content in order.
type FileReader struct {
	fs   *FS
	ex   []Extent
	size int64
	off  int64
	num  uint32
}

// DataRanges lists the parts of the file that hold written data.
func (r *FileReader) DataRanges() []DataRange {
	var out []DataRange
	bs := r.fs.sb.BlockSize
	for _, e := range r.ex {
		if e.Uninit {
			continue
		}
		o, n := int64(e.Logical)*bs, int64(e.Len)*bs
		if o+n > r.size {
			n = r.size - o
		}
		if k := len(out); k > 0 && out[k-1].Offset+out[k-1].Length == o {
			out[k-1].Length += n
			continue
		}
		out = append(out, DataRange{o, n})
	}
	return out
}

// Read implements io.Reader.
func (r *FileReader) Read(b []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if int64(len(b)) > r.size-r.off {
		b = b[:r.size-r.off]
	}
	bs := r.fs.sb.BlockSize
	blk := uint64(r.off / bs)
	// Drop extents that end before the current block.
	for len(r.ex) > 0 && r.ex[0].Logical+r.ex[0].Len <= blk {
		r.ex = r.ex[1:]
	}
	if len(r.ex) == 0 || r.ex[0].Logical > blk || r.ex[0].Uninit {
		// A hole (or unwritten extent) up to the next extent.
		end := r.size
		if len(r.ex) > 0 {
			if r.ex[0].Uninit && r.ex[0].Logical <= blk {
				end = int64(r.ex[0].Logical+r.ex[0].Len) * bs
			} else {
				end = int64(r.ex[0].Logical) * bs
			}
		}
		n := min(int64(len(b)), end-r.off)
		clear(b[:n])
		r.off += n
		return int(n), nil
	}
	e := r.ex[0]
	end := min(int64(e.Logical+e.Len)*bs, r.size)
	n := min(int64(len(b)), end-r.off)
	phys := int64(e.Physical)*bs + (r.off - int64(e.Logical)*bs)
	if err := r.fs.dev.readAt(b[:n], phys); err != nil {
		return 0, fmt.Errorf("inode %d: %w", r.num, err)
	}
	r.off += n
	return int(n), nil
}

// Entry is one file of a walk.
type Entry struct {
	// Path is slash-separated and relative to the root; "." for the root.
	Path  string
	Inode *Inode
	// Xattrs are the extended attributes, sorted by name.
	Xattrs []Xattr
	// Target is a symbolic link's target.
	Target string
	// LinkTo is the Path of an earlier entry of the same inode (a hard
	// link), or "".
	LinkTo string
}

// maxDepth bounds how deep a walk descends.
const maxDepth = 4096

// Walk calls fn for the root and every file below it, depth first, names
// in byte order, so the same file system always gives the same sequence.
// A directory reached twice (a loop), a reserved inode, an inode that is
// not in use or of no known type is an error naming the path.
func (f *FS) Walk(fn func(*Entry) error) error {
	root, err := f.Inode(RootInode)
	if err != nil {
		return fmt.Errorf("ext4: %w", err)
	}
	if root.Type() != ModeDir {
		return errors.New("ext4: the root inode is not a directory")
	}
	w := &walker{f: f, fn: fn, dirs: map[uint32]bool{}, files: map[uint32]string{}}
	return w.visit(".", root, 0)
}

type walker struct {
	f     *FS
	fn    func(*Entry) error
	dirs  map[uint32]bool
	files map[uint32]string
}

func (w *walker) visit(p string, in *Inode, depth int) error {
	f := w.f
	e := &Entry{Path: p, Inode: in}
	if in.Type() == ModeDir && w.dirs[in.Num] {
		return fmt.Errorf("ext4: %s: directory inode %d is reached twice (a loop)", p, in.Num)
	}
	if in.Type() != ModeDir && in.Links > 1 {
		if first, ok := w.files[in.Num]; ok {
			e.LinkTo = first
			return w.fn(e)
		}
		w.files[in.Num] = p
	}
	var err error
	if e.Xattrs, err = f.Xattrs(in); err != nil {
		return fmt.Errorf("ext4: %s: %w", p, err)
	}
	switch in.Type() {
	case ModeLink:
		if e.Target, err = f.Readlink(in); err != nil {
			return fmt.Errorf("ext4: %s: %w", p, err)
		}
	case ModeFile, ModeDir, ModeChar, ModeBlock, ModeFIFO, ModeSocket:
	default:
		return fmt.Errorf("ext4: %s: inode %d has no known file type (mode %#o)", p, in.Num, in.Mode)
	}
	if err := w.fn(e); err != nil {
		return err
	}
	if in.Type() != ModeDir {
		return nil
	}
	w.dirs[in.Num] = true
	if depth >= maxDepth {
		return fmt.Errorf("ext4: %s: directories nested deeper than %d", p, maxDepth)
	}
	ents, err := f.ReadDir(in)
	if err != nil {
		return fmt.Errorf("ext4: %s: %w", p, err)
	}
	for _, de := range ents {
		cp := path.Join(p, de.Name)
		if de.Inode < f.sb.FirstIno && de.Inode != RootInode || de.Inode == RootInode {
			return fmt.Errorf("ext4: %s: entry points to reserved inode %d", cp, de.Inode)
		}
		child, err := f.Inode(de.Inode)
		if err != nil {
			return fmt.Errorf("ext4: %s: %w", cp, err)
		}
		if child.Links == 0 || child.Mode == 0 {
			return fmt.Errorf("ext4: %s: inode %d is not in use", cp, de.Inode)
		}
		if err := w.visit(cp, child, depth+1); err != nil {
			return err
		}
	}
	return nil
}
