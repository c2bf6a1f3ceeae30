package squashfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Entry is one file, directory or symlink of a squashfs tree.
type Entry struct {
	// Path is slash-separated and relative ("bin/hello"); "." sets the
	// root directory's mode and owner. Missing parent directories are
	// created with mode 0755 and owner 0:0.
	Path string
	// Mode holds the permission bits (including fs.ModeSetuid,
	// fs.ModeSetgid and fs.ModeSticky) and the type: 0 (regular file),
	// fs.ModeDir or fs.ModeSymlink. Symlinks always get 0777, as on Linux.
	Mode fs.FileMode
	// Data is a regular file's content.
	Data []byte
	// Linkname is a symlink's target.
	Linkname string
	// UID and GID are the numeric owner.
	UID, GID int
}

// Squashfs 4.0 constants (Linux include/linux/squashfs_fs.h's on-disk
// format, as documented by squashfs-tools).
const (
	sqMagic = 0x73717368
	// DefaultBlockSize is the data block size Build uses (mksquashfs's
	// default); BuildOptions takes any power of two from MinBlockSize to
	// MaxBlockSize (the format's limits).
	DefaultBlockSize = 128 << 10
	MinBlockSize     = 4 << 10
	MaxBlockSize     = 1 << 20
	sqMetaSize       = 8192
	sqSuperSize      = 96
	sqInvalid        = ^uint64(0)
	sqNoFragment     = 0xffffffff
	sqUncompBlock    = 1 << 24 // data block stored uncompressed
	sqUncompMeta     = 1 << 15 // metadata block stored uncompressed
	sqDirCount       = 256     // entries per directory header
	sqMaxName        = 256
	sqPad            = 4096

	sqFlagUncompInodes = 0x0001
	sqFlagUncompData   = 0x0002
	sqFlagUncompFrags  = 0x0008
	sqFlagNoFragments  = 0x0010
	sqFlagNoXattrs     = 0x0200
	sqFlagCompOpts     = 0x0400
	sqFlagUncompIDs    = 0x0800

	sqCompGzip = 1
	sqCompXZ   = 4
	sqCompLZ4  = 5
	sqCompZstd = 6

	sqTypeDir     = 1
	sqTypeFile    = 2
	sqTypeSymlink = 3
	sqTypeLDir    = 8

	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

// sqCompressor compresses one block; nil means "store uncompressed".
type sqCompressor func([]byte) ([]byte, error)

// newSqCompressor returns the squashfs compression id and compressor for
// name, and the compressor options the image must store (nil for none).
// Each produces output the Linux 6.1 decompressors accept: zlib streams
// for gzip, zstd frames whose window is at most the block size, xz streams
// with CRC32 and a dictionary of exactly the block size (the kernel
// allocates that much when the image stores no compressor options), and
// raw LZ4 blocks (LZ4_decompress_safe) for lz4, whose images must carry
// options (fs/squashfs/lz4_wrapper.c refuses one without them): version 1
// (LZ4_LEGACY) and flag 1 (compressed with LZ4 HC), as mksquashfs writes
// them.
func newSqCompressor(name string, blockSize int) (uint16, sqCompressor, []byte, error) {
	switch name {
	case "gzip":
		var buf bytes.Buffer
		w, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
		if err != nil {
			return 0, nil, nil, err
		}
		return sqCompGzip, func(b []byte) ([]byte, error) {
			buf.Reset()
			w.Reset(&buf)
			if _, err := w.Write(b); err != nil {
				return nil, err
			}
			if err := w.Close(); err != nil {
				return nil, err
			}
			return bytes.Clone(buf.Bytes()), nil
		}, nil, nil
	case "zstd":
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithWindowSize(max(blockSize, zstd.MinWindowSize)),
			zstd.WithEncoderCRC(false),
			zstd.WithEncoderConcurrency(1))
		if err != nil {
			return 0, nil, nil, err
		}
		return sqCompZstd, func(b []byte) ([]byte, error) {
			return enc.EncodeAll(b, nil), nil
		}, nil, nil
	case "lz4":
		opts := binary.LittleEndian.AppendUint32(nil, 1) // LZ4_LEGACY
		opts = binary.LittleEndian.AppendUint32(opts, 1) // LZ4_HC
		return sqCompLZ4, func(b []byte) ([]byte, error) {
			dst := make([]byte, lz4.CompressBlockBound(len(b)))
			n, err := lz4.CompressBlockHC(b, dst, lz4.Level9, nil, nil)
			if err != nil {
				return nil, err
			}
			if n == 0 { // incompressible: the caller stores it raw
				return b, nil
			}
			return dst[:n], nil
		}, opts, nil
	case "xz":
		cfg := xz.WriterConfig{DictCap: blockSize, CheckSum: xz.CRC32}
		if err := cfg.Verify(); err != nil {
			return 0, nil, nil, err
		}
		return sqCompXZ, func(b []byte) ([]byte, error) {
			var buf bytes.Buffer
			w, err := cfg.NewWriter(&buf)
			if err != nil {
				return nil, err
			}
			if _, err := w.Write(b); err != nil {
				return nil, err
			}
			if err := w.Close(); err != nil {
				return nil, err
			}
			return buf.Bytes(), nil
		}, nil, nil
	case "none":
		return sqCompGzip, nil, nil, nil
	default:
		return 0, nil, nil, fmt.Errorf("squashfs compression %q: must be zstd, lz4, gzip, xz or none", name)
	}
}

// sqNode is a node of the tree being written.
type sqNode struct {
	name     string
	mode     uint16 // S_IFMT | permissions
	data     []byte
	link     string
	uid, gid uint32
	children []*sqNode
	byName   map[string]*sqNode
	explicit bool

	ino         uint32
	ref         uint64 // inode reference: metadata block << 16 | offset
	blocksStart uint64
	blockSizes  []uint32
}

func (n *sqNode) isDir() bool { return n.mode&0o170000 == sIFDIR }

func (n *sqNode) sqType() uint16 {
	switch n.mode & 0o170000 {
	case sIFDIR:
		return sqTypeDir
	case sIFLNK:
		return sqTypeSymlink
	default:
		return sqTypeFile
	}
}

func newDirNode(name string) *sqNode {
	return &sqNode{name: name, mode: sIFDIR | 0o755, byName: map[string]*sqNode{}}
}

// sqMode converts an fs.FileMode to the squashfs inode mode.
func sqMode(m fs.FileMode) (uint16, error) {
	perm := uint16(m.Perm())
	if m&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	switch m.Type() {
	case 0:
		return sIFREG | perm, nil
	case fs.ModeDir:
		return sIFDIR | perm, nil
	case fs.ModeSymlink:
		return sIFLNK | 0o777, nil
	default:
		return 0, fmt.Errorf("file type %v is not supported (regular files, directories and symlinks only)", m.Type())
	}
}

// buildSqTree checks the entries and assembles the tree.
func buildSqTree(entries []Entry) (*sqNode, error) {
	root := newDirNode("")
	var errs []error
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, e := range sorted {
		if err := addSqEntry(root, e); err != nil {
			errs = append(errs, fmt.Errorf("squashfs entry %q: %w", e.Path, err))
		}
	}
	return root, errors.Join(errs...)
}

func addSqEntry(root *sqNode, e Entry) error {
	mode, err := sqMode(e.Mode)
	if err != nil {
		return err
	}
	if e.UID < 0 || e.GID < 0 || int64(e.UID) > 0xffffffff || int64(e.GID) > 0xffffffff {
		return fmt.Errorf("owner %d:%d out of range", e.UID, e.GID)
	}
	switch mode & 0o170000 {
	case sIFDIR:
		if len(e.Data) > 0 || e.Linkname != "" {
			return errors.New("a directory has no data or link target")
		}
	case sIFLNK:
		if e.Linkname == "" || len(e.Data) > 0 {
			return errors.New("a symlink needs a link target and no data")
		}
		if len(e.Linkname) > 4095 || strings.IndexByte(e.Linkname, 0) >= 0 {
			return errors.New("link target is longer than 4095 bytes or contains NUL")
		}
	default:
		if e.Linkname != "" {
			return errors.New("a regular file has no link target")
		}
		if int64(len(e.Data)) > 0xffffffff {
			return errors.New("file is 4 GiB or larger")
		}
	}
	p := e.Path
	if p == "" || p == "." {
		if mode&0o170000 != sIFDIR {
			return errors.New("the root must be a directory")
		}
		if root.explicit {
			return errors.New("listed twice")
		}
		root.mode, root.uid, root.gid, root.explicit = mode, uint32(e.UID), uint32(e.GID), true
		return nil
	}
	if strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return errors.New("path must be relative and clean")
	}
	comps := strings.Split(p, "/")
	dir := root
	for _, c := range comps[:len(comps)-1] {
		next, ok := dir.byName[c]
		if !ok {
			next = newDirNode(c)
			dir.byName[c] = next
			dir.children = append(dir.children, next)
		} else if !next.isDir() {
			return fmt.Errorf("parent %q is not a directory", c)
		}
		dir = next
	}
	name := comps[len(comps)-1]
	if len(name) > sqMaxName || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("name %q is longer than %d bytes or contains NUL", name, sqMaxName)
	}
	// Entries come sorted by path, so a directory's own entry always comes
	// before its children's and an existing node is a duplicate.
	if _, ok := dir.byName[name]; ok {
		return errors.New("listed twice")
	}
	n := &sqNode{name: name}
	if mode&0o170000 == sIFDIR {
		n.byName = map[string]*sqNode{}
	}
	dir.byName[name] = n
	dir.children = append(dir.children, n)
	n.mode, n.data, n.link, n.uid, n.gid, n.explicit = mode, e.Data, e.Linkname, uint32(e.UID), uint32(e.GID), true
	return nil
}

// sortTree sorts every directory's children by name, byte-wise, as
// squashfs directory lookups require.
func sortTree(n *sqNode) {
	sort.Slice(n.children, func(i, j int) bool { return n.children[i].name < n.children[j].name })
	for _, c := range n.children {
		if c.isDir() {
			sortTree(c)
		}
	}
}

// metaWriter accumulates a metadata table: 8 KiB blocks, each compressed
// when that makes it smaller, behind a 2-byte length header.
type metaWriter struct {
	comp sqCompressor
	out  []byte
	cur  []byte
	err  error
}

// ref returns where the next byte will be: (block start << 16) | offset.
func (m *metaWriter) ref() uint64 { return uint64(len(m.out))<<16 | uint64(len(m.cur)) }

func (m *metaWriter) write(b []byte) {
	m.cur = append(m.cur, b...)
	for len(m.cur) >= sqMetaSize {
		m.block(m.cur[:sqMetaSize])
		m.cur = append([]byte(nil), m.cur[sqMetaSize:]...)
	}
}

func (m *metaWriter) block(b []byte) {
	var hdr [2]byte
	data := b
	binary.LittleEndian.PutUint16(hdr[:], uint16(len(b))|sqUncompMeta)
	if m.comp != nil {
		c, err := m.comp(b)
		if err != nil && m.err == nil {
			m.err = err
		}
		if err == nil && len(c) < len(b) {
			data = c
			binary.LittleEndian.PutUint16(hdr[:], uint16(len(c)))
		}
	}
	m.out = append(m.out, hdr[:]...)
	m.out = append(m.out, data...)
}

func (m *metaWriter) finish() ([]byte, error) {
	if len(m.cur) > 0 {
		m.block(m.cur)
		m.cur = nil
	}
	return m.out, m.err
}

// sqBuilder holds the state of one Build call.
type sqBuilder struct {
	comp      sqCompressor
	blockSize int
	img       []byte
	inodes    metaWriter
	dirs      metaWriter
	ids       map[uint32]uint16
	count     uint32
}

func (b *sqBuilder) idIndex(id uint32) uint16 { return b.ids[id] }

// writeData appends n's blocks to the image.
func (b *sqBuilder) writeData(n *sqNode) error {
	n.blocksStart = uint64(len(b.img))
	for off := 0; off < len(n.data); off += b.blockSize {
		raw := n.data[off:min(off+b.blockSize, len(n.data))]
		out, size := raw, uint32(len(raw))|sqUncompBlock
		if b.comp != nil {
			c, err := b.comp(raw)
			if err != nil {
				return fmt.Errorf("compressing %s: %w", n.name, err)
			}
			if len(c) < len(raw) {
				out, size = c, uint32(len(c))
			}
		}
		b.img = append(b.img, out...)
		n.blockSizes = append(n.blockSizes, size)
	}
	if uint64(len(b.img)) > 0xffffffff {
		return errors.New("file data is larger than 4 GiB")
	}
	return nil
}

// dataPass writes file data in tree order.
func (b *sqBuilder) dataPass(n *sqNode) error {
	for _, c := range n.children {
		var err error
		switch {
		case c.isDir():
			err = b.dataPass(c)
		case c.sqType() == sqTypeFile:
			err = b.writeData(c)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// number assigns inode numbers in the order inodes are written: children
// before their directory (so every directory knows its parent's number).
func (b *sqBuilder) number(n *sqNode) {
	for _, c := range n.children {
		if c.isDir() {
			b.number(c)
		} else {
			b.count++
			c.ino = b.count
		}
	}
	b.count++
	n.ino = b.count
}

func (b *sqBuilder) header(n *sqNode, typ uint16) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint16(h[0:], typ)
	// Permission bits only: the type is the inode type, and Linux rejects
	// inodes whose mode carries S_IFMT bits (mksquashfs stores mode&07777).
	binary.LittleEndian.PutUint16(h[2:], n.mode&0o7777)
	binary.LittleEndian.PutUint16(h[4:], b.idIndex(n.uid))
	binary.LittleEndian.PutUint16(h[6:], b.idIndex(n.gid))
	// h[8:12] mtime stays 0.
	binary.LittleEndian.PutUint32(h[12:], n.ino)
	return h
}

// writeLeaf writes the inode of a file or symlink.
func (b *sqBuilder) writeLeaf(n *sqNode) {
	n.ref = b.inodes.ref()
	switch n.sqType() {
	case sqTypeSymlink:
		in := b.header(n, sqTypeSymlink)
		in = binary.LittleEndian.AppendUint32(in, 1) // nlink
		in = binary.LittleEndian.AppendUint32(in, uint32(len(n.link)))
		in = append(in, n.link...)
		b.inodes.write(in)
	default:
		in := b.header(n, sqTypeFile)
		in = binary.LittleEndian.AppendUint32(in, uint32(n.blocksStart))
		in = binary.LittleEndian.AppendUint32(in, sqNoFragment)
		in = binary.LittleEndian.AppendUint32(in, 0) // fragment offset
		in = binary.LittleEndian.AppendUint32(in, uint32(len(n.data)))
		for _, s := range n.blockSizes {
			in = binary.LittleEndian.AppendUint32(in, s)
		}
		b.inodes.write(in)
	}
}

// writeDir writes n's subtree, then n's directory listing and inode.
func (b *sqBuilder) writeDir(n *sqNode, parentIno uint32) {
	subdirs := uint32(0)
	for _, c := range n.children {
		if c.isDir() {
			b.writeDir(c, n.ino)
			subdirs++
		} else {
			b.writeLeaf(c)
		}
	}
	dirRef := b.dirs.ref()
	var listing []byte
	for i := 0; i < len(n.children); {
		first := n.children[i]
		blk := first.ref >> 16
		j := i
		for j < len(n.children) && j-i < sqDirCount && n.children[j].ref>>16 == blk {
			if d := int64(n.children[j].ino) - int64(first.ino); d < -32768 || d > 32767 {
				break
			}
			j++
		}
		listing = binary.LittleEndian.AppendUint32(listing, uint32(j-i-1))
		listing = binary.LittleEndian.AppendUint32(listing, uint32(blk))
		listing = binary.LittleEndian.AppendUint32(listing, first.ino)
		for _, c := range n.children[i:j] {
			listing = binary.LittleEndian.AppendUint16(listing, uint16(c.ref&0xffff))
			listing = binary.LittleEndian.AppendUint16(listing, uint16(int16(int64(c.ino)-int64(first.ino))))
			listing = binary.LittleEndian.AppendUint16(listing, c.sqType())
			listing = binary.LittleEndian.AppendUint16(listing, uint16(len(c.name)-1))
			listing = append(listing, c.name...)
		}
		i = j
	}
	b.dirs.write(listing)
	size := uint32(len(listing)) + 3 // "." and ".." count as 3 bytes
	n.ref = b.inodes.ref()
	if size <= 0xffff {
		in := b.header(n, sqTypeDir)
		in = binary.LittleEndian.AppendUint32(in, uint32(dirRef>>16))
		in = binary.LittleEndian.AppendUint32(in, 2+subdirs)
		in = binary.LittleEndian.AppendUint16(in, uint16(size))
		in = binary.LittleEndian.AppendUint16(in, uint16(dirRef&0xffff))
		in = binary.LittleEndian.AppendUint32(in, parentIno)
		b.inodes.write(in)
		return
	}
	in := b.header(n, sqTypeLDir)
	in = binary.LittleEndian.AppendUint32(in, 2+subdirs)
	in = binary.LittleEndian.AppendUint32(in, size)
	in = binary.LittleEndian.AppendUint32(in, uint32(dirRef>>16))
	in = binary.LittleEndian.AppendUint32(in, parentIno)
	in = binary.LittleEndian.AppendUint16(in, 0) // no directory index
	in = binary.LittleEndian.AppendUint16(in, uint16(dirRef&0xffff))
	in = binary.LittleEndian.AppendUint32(in, 0xffffffff) // no xattrs
	b.inodes.write(in)
}

func collectIDs(n *sqNode, set map[uint32]bool) {
	set[n.uid], set[n.gid] = true, true
	for _, c := range n.children {
		collectIDs(c, set)
	}
}

// Options are BuildOptions' settings.
type Options struct {
	// Compression is "zstd", "lz4", "gzip", "xz" or "none".
	Compression string
	// BlockSize is the data block size: a power of two from MinBlockSize
	// to MaxBlockSize; 0 means DefaultBlockSize.
	BlockSize int
}

// Build builds a squashfs 4.0 image of entries with DefaultBlockSize
// blocks; compression is "zstd", "lz4", "gzip", "xz" or "none" (see
// BuildOptions).
func Build(entries []Entry, compression string) ([]byte, error) {
	return BuildOptions(entries, Options{Compression: compression})
}

// BuildOptions builds a squashfs 4.0 image of entries. The result depends only on the arguments:
// entries are sorted, every timestamp (inodes and the superblock's
// mkfs_time) is 0 and owners are the entries' UID and GID. Files are stored
// without fragments (each file's tail is its own short block) and the image
// is padded to 4 KiB. There is no NFS export table and there are no xattrs.
func BuildOptions(entries []Entry, o Options) ([]byte, error) {
	bs := o.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("squashfs block size %d: must be a power of two from %d to %d", bs, MinBlockSize, MaxBlockSize)
	}
	id, comp, compOpts, err := newSqCompressor(o.Compression, bs)
	if err != nil {
		return nil, err
	}
	root, err := buildSqTree(entries)
	if err != nil {
		return nil, err
	}
	sortTree(root)
	b := &sqBuilder{comp: comp, blockSize: bs, img: make([]byte, sqSuperSize), inodes: metaWriter{comp: comp}, dirs: metaWriter{comp: comp}}
	if compOpts != nil {
		// The compressor options: one uncompressed metadata block right
		// after the superblock.
		b.img = binary.LittleEndian.AppendUint16(b.img, uint16(len(compOpts))|sqUncompMeta)
		b.img = append(b.img, compOpts...)
	}
	idset := map[uint32]bool{}
	collectIDs(root, idset)
	if len(idset) > 65536 {
		return nil, errors.New("squashfs: more than 65536 distinct owners")
	}
	idList := make([]uint32, 0, len(idset))
	for v := range idset {
		idList = append(idList, v)
	}
	sort.Slice(idList, func(i, j int) bool { return idList[i] < idList[j] })
	b.ids = map[uint32]uint16{}
	for i, v := range idList {
		b.ids[v] = uint16(i)
	}
	if err := b.dataPass(root); err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	b.number(root)
	b.writeDir(root, b.count+1)
	inodeTable, err := b.inodes.finish()
	if err != nil {
		return nil, fmt.Errorf("squashfs: compressing inodes: %w", err)
	}
	dirTable, err := b.dirs.finish()
	if err != nil {
		return nil, fmt.Errorf("squashfs: compressing directories: %w", err)
	}
	inodeStart := uint64(len(b.img))
	b.img = append(b.img, inodeTable...)
	dirStart := uint64(len(b.img))
	b.img = append(b.img, dirTable...)

	// ID table: the IDs in metadata blocks, then the index of those blocks.
	idMeta := metaWriter{comp: comp}
	var idIndex []byte
	for i, v := range idList {
		if i%(sqMetaSize/4) == 0 {
			idIndex = binary.LittleEndian.AppendUint64(idIndex, uint64(len(b.img))+idMeta.ref()>>16)
		}
		idMeta.write(binary.LittleEndian.AppendUint32(nil, v))
	}
	idBlocks, err := idMeta.finish()
	if err != nil {
		return nil, fmt.Errorf("squashfs: compressing ids: %w", err)
	}
	fragStart := uint64(len(b.img))
	b.img = append(b.img, idBlocks...)
	idStart := uint64(len(b.img))
	b.img = append(b.img, idIndex...)
	used := uint64(len(b.img))
	if pad := len(b.img) % sqPad; pad != 0 {
		b.img = append(b.img, make([]byte, sqPad-pad)...)
	}

	flags := uint16(sqFlagNoFragments | sqFlagNoXattrs)
	if compOpts != nil {
		flags |= sqFlagCompOpts
	}
	if comp == nil {
		flags |= sqFlagUncompInodes | sqFlagUncompData | sqFlagUncompFrags | sqFlagUncompIDs
	}
	sb := b.img[:sqSuperSize]
	binary.LittleEndian.PutUint32(sb[0:], sqMagic)
	binary.LittleEndian.PutUint32(sb[4:], b.count)
	binary.LittleEndian.PutUint32(sb[8:], 0) // mkfs_time
	binary.LittleEndian.PutUint32(sb[12:], uint32(bs))
	binary.LittleEndian.PutUint32(sb[16:], 0) // fragments
	binary.LittleEndian.PutUint16(sb[20:], id)
	binary.LittleEndian.PutUint16(sb[22:], uint16(bits.TrailingZeros(uint(bs))))
	binary.LittleEndian.PutUint16(sb[24:], flags)
	binary.LittleEndian.PutUint16(sb[26:], uint16(len(idList)))
	binary.LittleEndian.PutUint16(sb[28:], 4) // version 4.0
	binary.LittleEndian.PutUint16(sb[30:], 0)
	binary.LittleEndian.PutUint64(sb[32:], root.ref)
	binary.LittleEndian.PutUint64(sb[40:], used)
	binary.LittleEndian.PutUint64(sb[48:], idStart)
	binary.LittleEndian.PutUint64(sb[56:], sqInvalid) // xattr id table
	binary.LittleEndian.PutUint64(sb[64:], inodeStart)
	binary.LittleEndian.PutUint64(sb[72:], dirStart)
	binary.LittleEndian.PutUint64(sb[80:], fragStart) // empty fragment table
	binary.LittleEndian.PutUint64(sb[88:], sqInvalid) // export table
	return b.img, nil
}
