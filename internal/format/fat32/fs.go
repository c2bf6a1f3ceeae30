package fat32

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// The volume is an io/fs file system; names are matched
// case-insensitively, as FAT does.
var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
)

// FS is an opened FAT32 volume. It reads as an fs.FS (paths as io/fs
// wants them: "loader/entries", "." for the root) and has the writes an
// ESP needs: WriteFile, Rename, Remove, Sync. An FS is not safe for
// concurrent use, and files opened from it hold their content in memory.
type FS struct {
	dev         Device
	writable    bool
	bps         int64 // bytes per sector
	clusterSize int64
	fatOffset   int64 // byte offset of the first FAT
	fatBytes    int64 // size of one FAT
	nfats       int
	activeFAT   int // -1: all FATs are mirrored
	rootCluster uint32
	clusters    uint32 // data clusters: valid numbers are 2..clusters+1
	dataStart   int64
	fat         []byte // raw FAT sectors covering entries 0..clusters+1
	dirty       map[int64]struct{}
	free        uint32
	nextFree    uint32
	fsinfoOff   int64 // -1 when the volume has no usable FSInfo sector
	fsinfo      fsInfo
	infoDirty   bool
}

// Open opens the FAT32 volume of size bytes on dev. Every field of the
// boot sector is checked before it is used, so garbage gives an error, never
// a panic, a hang or a huge allocation. A read-only volume refuses every
// change with fs.ErrPermission.
func Open(dev Device, size int64, writable bool) (*FS, error) {
	if size < bootSectorSize {
		return nil, fmt.Errorf("FAT: volume of %d bytes is too small", size)
	}
	raw := make([]byte, bootSectorSize)
	if err := readFull(dev, raw, 0); err != nil {
		return nil, fmt.Errorf("FAT: reading boot sector: %w", err)
	}
	bs, err := parseBootSector(raw)
	if err != nil {
		return nil, err
	}
	v := &FS{dev: dev, writable: writable, dirty: map[int64]struct{}{}, fsinfoOff: -1, activeFAT: -1}
	v.bps = int64(bs.BytesPerSector)
	switch v.bps {
	case 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("FAT: bad bytes per sector %d", v.bps)
	}
	spc := int64(bs.SectorsPerCluster)
	if spc == 0 || spc&(spc-1) != 0 {
		return nil, fmt.Errorf("FAT: bad sectors per cluster %d", spc)
	}
	v.clusterSize = v.bps * spc
	if v.clusterSize > maxClusterSz {
		return nil, fmt.Errorf("FAT: cluster size %d is larger than 64 KiB", v.clusterSize)
	}
	reserved := int64(bs.ReservedSectors)
	v.nfats = int(bs.NumFATs)
	if reserved < 1 || v.nfats < 1 || v.nfats > 2 {
		return nil, fmt.Errorf("FAT: bad reserved sectors (%d) or FAT count (%d)", reserved, v.nfats)
	}
	if bs.RootEntries != 0 || bs.FATSize16 != 0 {
		return nil, errors.New("FAT: not FAT32 (fixed root directory or 16-bit FAT size)")
	}
	total := bs.totalSectors()
	fatSectors := int64(bs.FATSize32)
	if total == 0 || fatSectors == 0 {
		return nil, errors.New("FAT: zero total sectors or FAT size")
	}
	if total*v.bps > size {
		return nil, fmt.Errorf("FAT: file system of %d bytes does not fit its %d-byte partition", total*v.bps, size)
	}
	meta := reserved + int64(v.nfats)*fatSectors
	if meta >= total {
		return nil, errors.New("FAT: no room for data after the FATs")
	}
	clusters := (total - meta) / spc
	if clusters < 1 || clusters > fatMaxClus {
		return nil, fmt.Errorf("FAT: bad cluster count %d", clusters)
	}
	v.clusters = uint32(clusters)
	v.fatBytes = fatSectors * v.bps
	if v.fatBytes < (clusters+2)*4 {
		return nil, fmt.Errorf("FAT: FAT of %d bytes cannot map %d clusters", v.fatBytes, clusters)
	}
	v.fatOffset = reserved * v.bps
	v.dataStart = meta * v.bps
	if v.activeFAT = bs.activeFAT(); v.activeFAT >= v.nfats {
		return nil, fmt.Errorf("FAT: active FAT %d of %d", v.activeFAT, v.nfats)
	}
	v.rootCluster = bs.RootCluster & fatMask
	if !v.validCluster(v.rootCluster) {
		return nil, fmt.Errorf("FAT: bad root directory cluster %d", v.rootCluster)
	}
	// The FAT: whole sectors covering entries 0..clusters+1.
	fatLen := ((clusters+2)*4 + v.bps - 1) / v.bps * v.bps
	v.fat = make([]byte, fatLen)
	first := v.fatOffset
	if v.activeFAT > 0 {
		first += int64(v.activeFAT) * v.fatBytes
	}
	if err := readFull(dev, v.fat, first); err != nil {
		return nil, fmt.Errorf("FAT: reading FAT: %w", err)
	}
	for c := uint32(2); c <= v.clusters+1; c++ {
		if v.get(c) == 0 {
			v.free++
		}
	}
	v.nextFree = 2
	if fsi := int64(bs.FSInfoSector); fsi >= 1 && fsi < reserved {
		info := make(fsInfo, v.bps)
		if err := readFull(dev, info, fsi*v.bps); err == nil && info.valid() {
			v.fsinfoOff, v.fsinfo = fsi*v.bps, info
			if n := info.nextFree(); v.validCluster(n) {
				v.nextFree = n
			}
			v.infoDirty = info.freeCount() != v.free
		}
	}
	return v, nil
}

func (v *FS) checkWritable() error {
	if !v.writable {
		return fmt.Errorf("ESP: %w (opened read-only)", fs.ErrPermission)
	}
	return nil
}

// splitPath splits a path into its components; the root (".") is nil.
// Paths follow io/fs: slash-separated, unrooted, no "." or ".." elements,
// no empty elements (fs.ValidPath).
func splitPath(op, p string) ([]string, error) {
	if !fs.ValidPath(p) {
		return nil, &fs.PathError{Op: op, Path: p, Err: fs.ErrInvalid}
	}
	if p == "." {
		return nil, nil
	}
	return strings.Split(p, "/"), nil
}

// walk returns the directory holding the given path components.
func (v *FS) walk(comps []string, p string) (*fatDir, error) {
	d, err := v.readDir(v.rootCluster)
	if err != nil {
		return nil, fmt.Errorf("ESP %s: %w", p, err)
	}
	// A directory entry naming the cluster of an ancestor makes the tree
	// endless (d, d/d, d/d/d...); such a path is refused.
	onPath := map[uint32]bool{v.rootCluster: true}
	for _, c := range comps {
		i := d.find(c)
		if i < 0 {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		e := d.entries[i]
		if !e.isDir() {
			return nil, fmt.Errorf("ESP %s: %s is not a directory", p, e.name)
		}
		if onPath[e.cluster] {
			return nil, fmt.Errorf("ESP %s: directory %s is its own ancestor (cluster %d): a directory loop", p, e.name, e.cluster)
		}
		onPath[e.cluster] = true
		if d, err = v.readDir(e.cluster); err != nil {
			return nil, fmt.Errorf("ESP %s: %w", p, err)
		}
	}
	return d, nil
}

// lookup finds the entry for path p.
func (v *FS) lookup(p string) (*fatDir, int, error) {
	comps, err := splitPath("open", p)
	if err != nil {
		return nil, 0, err
	}
	if len(comps) == 0 {
		return nil, 0, fmt.Errorf("ESP %q: the root directory has no entry", p)
	}
	d, err := v.walk(comps[:len(comps)-1], p)
	if err != nil {
		return nil, 0, err
	}
	i := d.find(comps[len(comps)-1])
	if i < 0 {
		return nil, 0, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return d, i, nil
}

// fileInfo implements fs.FileInfo and fs.DirEntry for ESP entries.
type fileInfo struct {
	name  string
	size  int64
	dir   bool
	ro    bool
	mtime time.Time
}

func (f *fileInfo) Name() string { return f.name }

func (f *fileInfo) Size() int64 { return f.size }

func (f *fileInfo) ModTime() time.Time { return f.mtime }

func (f *fileInfo) IsDir() bool { return f.dir }

func (f *fileInfo) Sys() any { return nil }

func (f *fileInfo) Type() fs.FileMode { return f.Mode().Type() }

func (f *fileInfo) Info() (fs.FileInfo, error) { return f, nil }

func (f *fileInfo) String() string { return fs.FormatFileInfo(f) }

func (f *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(0o644)
	if f.dir {
		m = fs.ModeDir | 0o755
	}
	if f.ro {
		m &^= 0o222
	}
	return m
}

func dosTime(date, tm uint16) time.Time {
	return time.Date(1980+int(date>>9), time.Month(date>>5&0x0f), int(date&0x1f),
		int(tm>>11), int(tm>>5&0x3f), int(tm&0x1f)*2, 0, time.UTC)
}

func infoOf(e *dirEntry) *fileInfo {
	fi := &fileInfo{name: e.name, dir: e.isDir(), ro: e.attr&attrReadOnly != 0, mtime: dosTime(e.mdate, e.mtime)}
	if !fi.dir {
		fi.size = int64(e.size)
	}
	return fi
}

// ReadDir lists a directory ("." is the root), sorted by name. It
// implements fs.ReadDirFS.
func (v *FS) ReadDir(dir string) ([]fs.DirEntry, error) {
	comps, err := splitPath("readdir", dir)
	if err != nil {
		return nil, err
	}
	d, err := v.walk(comps, dir)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(d.entries))
	for i := range d.entries {
		if !d.entries[i].dot {
			out = append(out, infoOf(&d.entries[i]))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Stat describes a file or directory. It implements fs.StatFS.
func (v *FS) Stat(name string) (fs.FileInfo, error) {
	comps, err := splitPath("stat", name)
	if err != nil {
		return nil, err
	}
	if len(comps) == 0 {
		return &fileInfo{name: ".", dir: true, mtime: dosTime(fatEpochDate, 0)}, nil
	}
	d, i, err := v.lookup(name)
	if err != nil {
		return nil, err
	}
	return infoOf(&d.entries[i]), nil
}

// ReadFile returns a file's contents. It implements fs.ReadFileFS.
func (v *FS) ReadFile(name string) ([]byte, error) {
	d, i, err := v.lookup(name)
	if err != nil {
		return nil, err
	}
	e := d.entries[i]
	if e.isDir() {
		return nil, fmt.Errorf("ESP %s: is a directory", name)
	}
	if e.size == 0 {
		return []byte{}, nil
	}
	ch, err := v.chain(e.cluster)
	if err != nil {
		return nil, fmt.Errorf("ESP %s: %w", name, err)
	}
	need := (int64(e.size) + v.clusterSize - 1) / v.clusterSize
	if int64(len(ch)) < need {
		return nil, fmt.Errorf("ESP %s: size %d needs %d clusters, chain has %d", name, e.size, need, len(ch))
	}
	data := make([]byte, e.size)
	for k := int64(0); k < need; {
		j := k + 1
		for j < need && ch[j] == ch[j-1]+1 {
			j++
		}
		lo, hi := k*v.clusterSize, min(j*v.clusterSize, int64(len(data)))
		if err := readFull(v.dev, data[lo:hi], v.clusterOffset(ch[k])); err != nil {
			return nil, fmt.Errorf("ESP %s: reading: %w", name, err)
		}
		k = j
	}
	return data, nil
}

// Open opens a file or directory for reading. It implements fs.FS. A file's
// content is read whole when it is opened (ESP files are kernels, initrds
// and small text files).
func (v *FS) Open(name string) (fs.File, error) {
	fi, err := v.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		ents, err := v.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &openDir{info: fi, name: name, ents: ents}, nil
	}
	data, err := v.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &openFile{info: fi, Reader: bytes.NewReader(data)}, nil
}

// openFile is a regular file opened by FS.Open.
type openFile struct {
	info fs.FileInfo
	*bytes.Reader
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *openFile) Close() error               { return nil }

// openDir is a directory opened by FS.Open.
type openDir struct {
	info fs.FileInfo
	name string
	ents []fs.DirEntry
	off  int
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Close() error               { return nil }
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
