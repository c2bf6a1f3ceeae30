package diskimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// ESP is file-level access to the FAT32 EFI System Partition. Paths are
// slash-separated and relative to the ESP root ("loader/loader.conf"; a
// leading "/" is accepted); names are matched case-insensitively, as FAT
// does. An ESP is not safe for concurrent use.
type ESP interface {
	// ReadDir lists a directory ("" or "." is the root), sorted by name.
	ReadDir(dir string) ([]fs.DirEntry, error)
	// Stat describes a file or directory.
	Stat(name string) (fs.FileInfo, error)
	// ReadFile returns a file's contents.
	ReadFile(name string) ([]byte, error)
	// WriteFile creates or replaces a file, creating missing parent
	// directories. A replaced file's directory entry is switched to the new
	// data with a single sector write, after the data is on disk.
	WriteFile(name string, data []byte) error
	// Rename renames a file or directory within its directory. It fails if
	// newname exists (unless it differs from oldname only in case). See the
	// package documentation for when it is a single sector write.
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Sync writes pending FAT updates and flushes the device.
	Sync() error
}

// blockStorage is what the FAT code reads and writes: offsets are relative
// to the start of the volume.
type blockStorage interface {
	io.ReaderAt
	io.WriterAt
}

// FAT32 constants (Microsoft FAT specification).
const (
	fatMask      = 0x0fffffff
	fatEOC       = 0x0fffffff
	fatEOCMin    = 0x0ffffff8
	fatMaxClus   = 0x0ffffff4 // highest allowed data cluster count
	maxDirSlots  = 65536      // a directory holds at most 65536 entries
	fsinfoLead   = 0x41615252
	fsinfoStruct = 0x61417272
	fsinfoTrail  = 0xaa550000
	fsinfoNone   = 0xffffffff
	maxClusterSz = 64 << 10
)

// fatFS is an opened FAT32 volume.
type fatFS struct {
	dev         blockStorage
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
	fsinfo      []byte
	infoDirty   bool
}

var _ ESP = (*fatFS)(nil)

// readFull reads exactly len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// writeFull writes b at off.
func writeFull(w io.WriterAt, b []byte, off int64) error {
	n, err := w.WriteAt(b, off)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// openFAT opens the FAT32 volume of size bytes on dev. Every field of the
// boot sector is checked before it is used, so garbage gives an error, never
// a panic, a hang or a huge allocation.
func openFAT(dev blockStorage, size int64, writable bool) (*fatFS, error) {
	bs := make([]byte, 512)
	if size < 512 {
		return nil, fmt.Errorf("FAT: volume of %d bytes is too small", size)
	}
	if err := readFull(dev, bs, 0); err != nil {
		return nil, fmt.Errorf("FAT: reading boot sector: %w", err)
	}
	if bs[510] != 0x55 || bs[511] != 0xaa {
		return nil, errors.New("FAT: no boot sector signature")
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(bs[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(bs[o:])) }
	v := &fatFS{dev: dev, writable: writable, dirty: map[int64]struct{}{}, fsinfoOff: -1, activeFAT: -1}
	v.bps = le16(11)
	switch v.bps {
	case 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("FAT: bad bytes per sector %d", v.bps)
	}
	spc := int64(bs[13])
	if spc == 0 || spc&(spc-1) != 0 {
		return nil, fmt.Errorf("FAT: bad sectors per cluster %d", spc)
	}
	v.clusterSize = v.bps * spc
	if v.clusterSize > maxClusterSz {
		return nil, fmt.Errorf("FAT: cluster size %d is larger than 64 KiB", v.clusterSize)
	}
	reserved := le16(14)
	v.nfats = int(bs[16])
	if reserved < 1 || v.nfats < 1 || v.nfats > 2 {
		return nil, fmt.Errorf("FAT: bad reserved sectors (%d) or FAT count (%d)", reserved, v.nfats)
	}
	if le16(17) != 0 || le16(22) != 0 {
		return nil, errors.New("FAT: not FAT32 (fixed root directory or 16-bit FAT size)")
	}
	total := le16(19)
	if total == 0 {
		total = le32(32)
	}
	fatSectors := le32(36)
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
	if ext := le16(40); ext&0x80 != 0 {
		v.activeFAT = int(ext & 0x0f)
		if v.activeFAT >= v.nfats {
			return nil, fmt.Errorf("FAT: active FAT %d of %d", v.activeFAT, v.nfats)
		}
	}
	v.rootCluster = uint32(le32(44)) & fatMask
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
	if fsi := le16(48); fsi >= 1 && fsi < reserved {
		buf := make([]byte, v.bps)
		if err := readFull(dev, buf, fsi*v.bps); err == nil &&
			binary.LittleEndian.Uint32(buf[0:]) == fsinfoLead &&
			binary.LittleEndian.Uint32(buf[484:]) == fsinfoStruct &&
			binary.LittleEndian.Uint32(buf[508:]) == fsinfoTrail {
			v.fsinfoOff, v.fsinfo = fsi*v.bps, buf
			if n := binary.LittleEndian.Uint32(buf[492:]); v.validCluster(n) {
				v.nextFree = n
			}
			v.infoDirty = binary.LittleEndian.Uint32(buf[488:]) != v.free
		}
	}
	return v, nil
}

func (v *fatFS) validCluster(c uint32) bool { return c >= 2 && c <= v.clusters+1 }

func (v *fatFS) get(c uint32) uint32 {
	return binary.LittleEndian.Uint32(v.fat[4*int64(c):]) & fatMask
}

// set changes a FAT entry, keeping its reserved top 4 bits.
func (v *fatFS) set(c, val uint32) {
	o := 4 * int64(c)
	old := binary.LittleEndian.Uint32(v.fat[o:])
	binary.LittleEndian.PutUint32(v.fat[o:], old&^fatMask|val&fatMask)
	v.dirty[o/v.bps] = struct{}{}
}

func (v *fatFS) clusterOffset(c uint32) int64 {
	return v.dataStart + int64(c-2)*v.clusterSize
}

// chain returns the cluster chain starting at start. Loops, free or
// reserved entries and out-of-range numbers are errors.
func (v *fatFS) chain(start uint32) ([]uint32, error) {
	if !v.validCluster(start) {
		return nil, fmt.Errorf("FAT: bad start cluster %d", start)
	}
	var out []uint32
	for c := start; ; {
		out = append(out, c)
		if uint32(len(out)) > v.clusters {
			return nil, fmt.Errorf("FAT: cluster chain from %d loops", start)
		}
		n := v.get(c)
		if n >= fatEOCMin {
			return out, nil
		}
		if !v.validCluster(n) {
			return nil, fmt.Errorf("FAT: cluster chain from %d has bad link %#x at cluster %d", start, n, c)
		}
		c = n
	}
}

func (v *fatFS) checkWritable() error {
	if !v.writable {
		return fmt.Errorf("ESP: %w (opened read-only)", fs.ErrPermission)
	}
	return nil
}

// alloc allocates n clusters as one chain (first fit from the next-free
// hint), marking them in the in-memory FAT only.
func (v *fatFS) alloc(n int64) ([]uint32, error) {
	if n == 0 {
		return nil, nil
	}
	if n > int64(v.free) {
		return nil, fmt.Errorf("ESP full: need %s, %s free", bytesize.CeilMiB(n*v.clusterSize), bytesize.CeilMiB(int64(v.free)*v.clusterSize))
	}
	out := make([]uint32, 0, n)
	c := v.nextFree
	if !v.validCluster(c) {
		c = 2
	}
	for i := uint32(0); i < v.clusters && int64(len(out)) < n; i++ {
		if v.get(c) == 0 {
			out = append(out, c)
		}
		c++
		if c > v.clusters+1 {
			c = 2
		}
	}
	if int64(len(out)) < n {
		return nil, errors.New("ESP full: free cluster count is wrong")
	}
	for i, cl := range out {
		if i+1 < len(out) {
			v.set(cl, out[i+1])
		} else {
			v.set(cl, fatEOC)
		}
	}
	v.free -= uint32(n)
	v.nextFree = c
	v.infoDirty = true
	return out, nil
}

// release marks the clusters free in the in-memory FAT.
func (v *fatFS) release(chain []uint32) {
	for _, c := range chain {
		v.set(c, 0)
	}
	v.free += uint32(len(chain))
	v.infoDirty = true
}

// flush writes the changed FAT sectors to every FAT copy, then FSInfo.
func (v *fatFS) flush() error {
	if len(v.dirty) > 0 {
		secs := make([]int64, 0, len(v.dirty))
		for s := range v.dirty {
			secs = append(secs, s)
		}
		sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
		for i := 0; i < len(secs); {
			j := i + 1
			for j < len(secs) && secs[j] == secs[j-1]+1 {
				j++
			}
			buf := v.fat[secs[i]*v.bps : (secs[j-1]+1)*v.bps]
			for k := 0; k < v.nfats; k++ {
				if v.activeFAT >= 0 && k != v.activeFAT {
					continue
				}
				if err := writeFull(v.dev, buf, v.fatOffset+int64(k)*v.fatBytes+secs[i]*v.bps); err != nil {
					return fmt.Errorf("ESP: writing FAT: %w", err)
				}
			}
			i = j
		}
		v.dirty = map[int64]struct{}{}
	}
	if v.infoDirty && v.fsinfoOff >= 0 {
		binary.LittleEndian.PutUint32(v.fsinfo[488:], v.free)
		binary.LittleEndian.PutUint32(v.fsinfo[492:], v.nextFree)
		if err := writeFull(v.dev, v.fsinfo, v.fsinfoOff); err != nil {
			return fmt.Errorf("ESP: writing FSInfo: %w", err)
		}
	}
	v.infoDirty = false
	return nil
}

// writeClusters writes data over chain, zero-padding the last cluster.
// Runs of consecutive clusters are written with one call.
func (v *fatFS) writeClusters(chain []uint32, data []byte) error {
	cs := v.clusterSize
	for i := 0; i < len(chain); {
		j := i + 1
		for j < len(chain) && chain[j] == chain[j-1]+1 {
			j++
		}
		lo, hi := int64(i)*cs, int64(j)*cs
		off := v.clusterOffset(chain[i])
		if hi <= int64(len(data)) {
			if err := writeFull(v.dev, data[lo:hi], off); err != nil {
				return fmt.Errorf("ESP: writing data: %w", err)
			}
		} else {
			full := (int64(len(data)) - lo) / cs * cs
			if full > 0 {
				if err := writeFull(v.dev, data[lo:lo+full], off); err != nil {
					return fmt.Errorf("ESP: writing data: %w", err)
				}
			}
			rest := make([]byte, hi-lo-full)
			copy(rest, data[lo+full:])
			if err := writeFull(v.dev, rest, off+full); err != nil {
				return fmt.Errorf("ESP: writing data: %w", err)
			}
		}
		i = j
	}
	return nil
}

// dirEntry is one parsed directory entry.
type dirEntry struct {
	name    string // long name when present and valid, else the 8.3 name
	short   [11]byte
	attr    byte
	cluster uint32
	size    uint32
	mdate   uint16
	mtime   uint16
	first   int // slot of the first LFN entry (== slot without LFN)
	slot    int // slot of the 8.3 entry
	dot     bool
}

func (e *dirEntry) isDir() bool { return e.attr&attrDir != 0 }

// fatDir is a directory read into memory.
type fatDir struct {
	cluster uint32
	chain   []uint32
	buf     []byte
	entries []dirEntry
	end     int // index of the first never-used (0x00) slot
}

func (d *fatDir) slots() int { return len(d.buf) / dirEntrySize }

// readDir reads and parses the directory starting at cluster.
func (v *fatFS) readDir(cluster uint32) (*fatDir, error) {
	ch, err := v.chain(cluster)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	if int64(len(ch))*v.clusterSize > maxDirSlots*dirEntrySize {
		return nil, fmt.Errorf("FAT: directory at cluster %d is larger than 2 MiB", cluster)
	}
	d := &fatDir{cluster: cluster, chain: ch, buf: make([]byte, int64(len(ch))*v.clusterSize)}
	for i := 0; i < len(ch); {
		j := i + 1
		for j < len(ch) && ch[j] == ch[j-1]+1 {
			j++
		}
		if err := readFull(v.dev, d.buf[int64(i)*v.clusterSize:int64(j)*v.clusterSize], v.clusterOffset(ch[i])); err != nil {
			return nil, fmt.Errorf("FAT: reading directory: %w", err)
		}
		i = j
	}
	d.parse()
	return d, nil
}

// parse decodes d.buf into d.entries. Long names are used only when their
// entries are complete, in order and match the 8.3 entry's checksum.
func (d *fatDir) parse() {
	d.entries = d.entries[:0]
	d.end = d.slots()
	var (
		parts    [maxLFNSlots][lfnChars]uint16
		expect   int // next LFN ordinal expected; 0: none pending
		count    int
		sum      byte
		lfnFirst = -1
	)
	reset := func() { expect, count, lfnFirst = 0, 0, -1 }
	for i := 0; i < d.slots(); i++ {
		e := d.buf[i*dirEntrySize : (i+1)*dirEntrySize]
		if e[0] == entryFree {
			d.end = i
			return
		}
		if e[0] == entryDeleted {
			reset()
			continue
		}
		if e[11]&attrLFNMask == attrLFN {
			ord := int(e[0] & 0x1f)
			switch {
			case e[0]&lfnLast != 0 && ord >= 1 && ord <= maxLFNSlots:
				reset()
				count, expect, sum, lfnFirst = ord, ord, e[13], i
			case expect > 0 && ord == expect && e[13] == sum && e[0]&lfnLast == 0:
			default:
				reset()
				continue
			}
			for k, off := range lfnUnitOffsets {
				parts[ord-1][k] = binary.LittleEndian.Uint16(e[off:])
			}
			expect--
			continue
		}
		var short [11]byte
		copy(short[:], e[:11])
		if e[11]&attrVolumeID != 0 {
			reset()
			continue
		}
		ent := dirEntry{
			short:   short,
			attr:    e[11],
			cluster: entryCluster(e) & fatMask,
			size:    binary.LittleEndian.Uint32(e[28:]),
			mtime:   binary.LittleEndian.Uint16(e[22:]),
			mdate:   binary.LittleEndian.Uint16(e[24:]),
			first:   i,
			slot:    i,
		}
		ent.dot = short == packShort(".", "") || short == packShort("..", "")
		ent.name = shortDisplayName(short, e[12])
		if lfnFirst >= 0 && expect == 0 && lfnChecksum(short) == sum && !ent.dot {
			var units []uint16
		collect:
			for k := 0; k < count; k++ {
				for _, u := range parts[k] {
					if u == 0 {
						break collect
					}
					units = append(units, u)
				}
			}
			if long := string(utf16.Decode(units)); len(units) > 0 && checkLongName(long) == nil {
				ent.name, ent.first = long, lfnFirst
			}
		}
		reset()
		d.entries = append(d.entries, ent)
	}
}

// find returns the index of the entry called name, or -1.
func (d *fatDir) find(name string) int {
	for i := range d.entries {
		e := &d.entries[i]
		if e.dot {
			continue
		}
		if strings.EqualFold(e.name, name) || strings.EqualFold(shortDisplayName(e.short, 0), name) {
			return i
		}
	}
	return -1
}

// shortTaken reports whether an entry other than skip uses short.
func (d *fatDir) shortTaken(short [11]byte, skip int) bool {
	for i := range d.entries {
		if i != skip && d.entries[i].short == short {
			return true
		}
	}
	return false
}

// splitPath splits an ESP path into its components; the root is nil.
func splitPath(p string) ([]string, error) {
	p = strings.Trim(p, "/")
	if p == "" || p == "." {
		return nil, nil
	}
	c := path.Clean(p)
	parts := strings.Split(c, "/")
	for _, s := range parts {
		if s == ".." || s == "." {
			return nil, fmt.Errorf("ESP path %q: %q is not allowed", p, s)
		}
	}
	return parts, nil
}

// walk returns the directory holding the given path components.
func (v *fatFS) walk(comps []string, p string) (*fatDir, error) {
	d, err := v.readDir(v.rootCluster)
	if err != nil {
		return nil, fmt.Errorf("ESP %s: %w", p, err)
	}
	for _, c := range comps {
		i := d.find(c)
		if i < 0 {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		e := d.entries[i]
		if !e.isDir() {
			return nil, fmt.Errorf("ESP %s: %s is not a directory", p, e.name)
		}
		if d, err = v.readDir(e.cluster); err != nil {
			return nil, fmt.Errorf("ESP %s: %w", p, err)
		}
	}
	return d, nil
}

// lookup finds the entry for path p.
func (v *fatFS) lookup(p string) (*fatDir, int, error) {
	comps, err := splitPath(p)
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

func (f *fileInfo) Name() string               { return f.name }
func (f *fileInfo) Size() int64                { return f.size }
func (f *fileInfo) ModTime() time.Time         { return f.mtime }
func (f *fileInfo) IsDir() bool                { return f.dir }
func (f *fileInfo) Sys() any                   { return nil }
func (f *fileInfo) Type() fs.FileMode          { return f.Mode().Type() }
func (f *fileInfo) Info() (fs.FileInfo, error) { return f, nil }
func (f *fileInfo) String() string             { return fs.FormatFileInfo(f) }
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

// ReadDir implements ESP.
func (v *fatFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	comps, err := splitPath(dir)
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

// Stat implements ESP.
func (v *fatFS) Stat(name string) (fs.FileInfo, error) {
	comps, err := splitPath(name)
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

// ReadFile implements ESP.
func (v *fatFS) ReadFile(name string) ([]byte, error) {
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

// sectorRange returns the byte range of the sectors of d holding slots
// [from, to).
func (d *fatDir) sectorRange(bps int64, from, to int) (int64, int64) {
	lo := int64(from*dirEntrySize) / bps * bps
	hi := (int64(to*dirEntrySize) + bps - 1) / bps * bps
	return lo, hi
}

// writeDirBytes writes d.buf[lo:hi] (whole sectors) to disk.
func (v *fatFS) writeDirBytes(d *fatDir, lo, hi int64) error {
	for s := lo; s < hi; s += v.bps {
		off := v.clusterOffset(d.chain[s/v.clusterSize]) + s%v.clusterSize
		if err := writeFull(v.dev, d.buf[s:s+v.bps], off); err != nil {
			return fmt.Errorf("ESP: writing directory: %w", err)
		}
	}
	return nil
}

// writeSlots writes the sectors of d holding slots [from, to).
func (v *fatFS) writeSlots(d *fatDir, from, to int) error {
	lo, hi := d.sectorRange(v.bps, from, to)
	return v.writeDirBytes(d, lo, hi)
}

// findFree finds n consecutive free slots; a run of at most a sector's
// worth of slots never straddles a sector boundary, so that writing it (and
// later renaming it) is a single sector write. free reports whether a slot
// is free.
func findFree(total, n, perSector int, free func(int) bool) int {
	run := 0
	for i := 0; i < total; i++ {
		if !free(i) {
			run = 0
			continue
		}
		if n <= perSector && i%perSector == 0 {
			run = 0
		}
		run++
		if run == n {
			return i - n + 1
		}
	}
	return -1
}

// extendDir adds a zeroed cluster to d.
func (v *fatFS) extendDir(d *fatDir) error {
	if d.slots()+int(v.clusterSize/dirEntrySize) > maxDirSlots {
		return errors.New("ESP: directory is full (65536 entries)")
	}
	ch, err := v.alloc(1)
	if err != nil {
		return err
	}
	zero := make([]byte, v.clusterSize)
	if err := writeFull(v.dev, zero, v.clusterOffset(ch[0])); err != nil {
		return fmt.Errorf("ESP: zeroing directory cluster: %w", err)
	}
	v.set(d.chain[len(d.chain)-1], ch[0])
	if err := v.flush(); err != nil {
		return err
	}
	d.chain = append(d.chain, ch[0])
	d.buf = append(d.buf, zero...)
	return nil
}

// insertSet writes a new entry set into d and re-parses it.
func (v *fatFS) insertSet(d *fatDir, set []byte) error {
	n := len(set) / dirEntrySize
	per := int(v.bps / dirEntrySize)
	var pos int
	for {
		pos = findFree(d.slots(), n, per, func(i int) bool {
			return i >= d.end || d.buf[i*dirEntrySize] == entryDeleted
		})
		if pos >= 0 {
			break
		}
		if err := v.extendDir(d); err != nil {
			return err
		}
	}
	// Slots between the old end marker and pos become deleted entries, and
	// the slot after the set ends the directory again, so that nothing
	// beyond the set is read as an entry. These are written before the set.
	var pre [][2]int
	if pos > d.end {
		for i := d.end; i < pos; i++ {
			clear(d.buf[i*dirEntrySize : (i+1)*dirEntrySize])
			d.buf[i*dirEntrySize] = entryDeleted
		}
		pre = append(pre, [2]int{d.end, pos})
	}
	after := pos + n
	if after >= d.end && after < d.slots() && d.buf[after*dirEntrySize] != entryFree {
		clear(d.buf[after*dirEntrySize : (after+1)*dirEntrySize])
		pre = append(pre, [2]int{after, after + 1})
	}
	copy(d.buf[pos*dirEntrySize:], set)
	setLo, setHi := d.sectorRange(v.bps, pos, pos+n)
	for _, r := range pre {
		lo, hi := d.sectorRange(v.bps, r[0], r[1])
		// Sectors shared with the set are written together with it.
		if lo >= setLo && hi <= setHi {
			continue
		}
		if err := v.writeDirBytes(d, lo, hi); err != nil {
			return err
		}
	}
	if err := v.writeDirBytes(d, setLo, setHi); err != nil {
		return err
	}
	d.parse()
	return nil
}

// newEntrySet builds the entries for a new entry called name in d.
func newEntrySet(d *fatDir, name string, skip int, sfn [dirEntrySize]byte) ([]byte, error) {
	if err := checkLongName(name); err != nil {
		return nil, err
	}
	alias, needLFN, err := shortAlias(name, func(s [11]byte) bool { return d.shortTaken(s, skip) })
	if err != nil {
		return nil, err
	}
	return encodeEntrySet(name, alias, needLFN, sfn), nil
}

// mkdirAll returns the directory for comps, creating missing directories.
func (v *fatFS) mkdirAll(comps []string, p string) (*fatDir, error) {
	d, err := v.readDir(v.rootCluster)
	if err != nil {
		return nil, fmt.Errorf("ESP %s: %w", p, err)
	}
	for _, c := range comps {
		i := d.find(c)
		if i >= 0 {
			e := d.entries[i]
			if !e.isDir() {
				return nil, fmt.Errorf("ESP %s: %s is not a directory", p, e.name)
			}
			if d, err = v.readDir(e.cluster); err != nil {
				return nil, fmt.Errorf("ESP %s: %w", p, err)
			}
			continue
		}
		ch, err := v.alloc(1)
		if err != nil {
			return nil, fmt.Errorf("ESP %s: %w", p, err)
		}
		parent := d.cluster
		if parent == v.rootCluster {
			parent = 0 // ".." of a first-level directory points at cluster 0
		}
		body := make([]byte, v.clusterSize)
		dot := newShortEntry(attrDir, ch[0], 0)
		dotName, dotdotName := packShort(".", ""), packShort("..", "")
		copy(dot[:11], dotName[:])
		dotdot := newShortEntry(attrDir, parent, 0)
		copy(dotdot[:11], dotdotName[:])
		copy(body, dot[:])
		copy(body[dirEntrySize:], dotdot[:])
		if err := writeFull(v.dev, body, v.clusterOffset(ch[0])); err != nil {
			return nil, fmt.Errorf("ESP %s: writing directory: %w", p, err)
		}
		if err := v.flush(); err != nil {
			return nil, err
		}
		set, err := newEntrySet(d, c, -1, newShortEntry(attrDir, ch[0], 0))
		if err == nil {
			err = v.insertSet(d, set)
		}
		if err != nil {
			return nil, v.undoAlloc(ch, fmt.Errorf("ESP %s: %w", p, err))
		}
		if d, err = v.readDir(ch[0]); err != nil {
			return nil, fmt.Errorf("ESP %s: %w", p, err)
		}
	}
	return d, nil
}

// WriteFile implements ESP.
func (v *fatFS) WriteFile(name string, data []byte) error {
	if err := v.checkWritable(); err != nil {
		return err
	}
	comps, err := splitPath(name)
	if err != nil {
		return err
	}
	if len(comps) == 0 {
		return fmt.Errorf("ESP %q: not a file name", name)
	}
	base := comps[len(comps)-1]
	if err := checkLongName(base); err != nil {
		return fmt.Errorf("ESP %s: %w", name, err)
	}
	if int64(len(data)) > 0xffffffff {
		return fmt.Errorf("ESP %s: %s is too large for FAT (4 GiB - 1 byte at most)", name, bytesize.CeilMiB(int64(len(data))))
	}
	d, err := v.mkdirAll(comps[:len(comps)-1], name)
	if err != nil {
		return err
	}
	i := d.find(base)
	var old []uint32
	if i >= 0 {
		e := d.entries[i]
		if e.isDir() {
			return fmt.Errorf("ESP %s: is a directory", name)
		}
		if e.cluster != 0 {
			// A broken old chain is not freed, but is no reason to fail.
			old, _ = v.chain(e.cluster)
		}
	}
	ch, err := v.alloc((int64(len(data)) + v.clusterSize - 1) / v.clusterSize)
	if err != nil {
		return fmt.Errorf("ESP %s: %w", name, err)
	}
	var first uint32
	if len(ch) > 0 {
		first = ch[0]
	}
	if err := v.writeClusters(ch, data); err != nil {
		return fmt.Errorf("ESP %s: %w", name, err)
	}
	if err := v.flush(); err != nil {
		return err
	}
	if i >= 0 {
		// Replace: point the existing entry at the new data (one sector),
		// then free the old chain.
		e := d.entries[i]
		raw := d.buf[e.slot*dirEntrySize : (e.slot+1)*dirEntrySize]
		setEntryCluster(raw, first)
		binary.LittleEndian.PutUint32(raw[28:], uint32(len(data)))
		if err := v.writeSlots(d, e.slot, e.slot+1); err != nil {
			return err
		}
		v.release(old)
		return v.flush()
	}
	set, err := newEntrySet(d, base, -1, newShortEntry(attrArchive, first, uint32(len(data))))
	if err == nil {
		err = v.insertSet(d, set)
	}
	if err != nil {
		return v.undoAlloc(ch, fmt.Errorf("ESP %s: %w", name, err))
	}
	return nil
}

// undoAlloc frees a chain that no directory entry references after a
// failure, and returns err.
func (v *fatFS) undoAlloc(ch []uint32, err error) error {
	v.release(ch)
	if ferr := v.flush(); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// Remove implements ESP.
func (v *fatFS) Remove(name string) error {
	if err := v.checkWritable(); err != nil {
		return err
	}
	d, i, err := v.lookup(name)
	if err != nil {
		return err
	}
	e := d.entries[i]
	var ch []uint32
	if e.cluster != 0 {
		if ch, err = v.chain(e.cluster); err != nil {
			return fmt.Errorf("ESP %s: %w", name, err)
		}
	}
	if e.isDir() {
		sub, err := v.readDir(e.cluster)
		if err != nil {
			return fmt.Errorf("ESP %s: %w", name, err)
		}
		for _, se := range sub.entries {
			if !se.dot {
				return fmt.Errorf("ESP %s: directory not empty", name)
			}
		}
	}
	for s := e.first; s <= e.slot; s++ {
		d.buf[s*dirEntrySize] = entryDeleted
	}
	if err := v.writeSlots(d, e.first, e.slot+1); err != nil {
		return err
	}
	v.release(ch)
	return v.flush()
}

// Rename implements ESP.
func (v *fatFS) Rename(oldname, newname string) error {
	if err := v.checkWritable(); err != nil {
		return err
	}
	oc, err := splitPath(oldname)
	if err != nil {
		return err
	}
	nc, err := splitPath(newname)
	if err != nil {
		return err
	}
	if len(oc) == 0 || len(nc) == 0 {
		return errors.New("ESP: cannot rename the root directory")
	}
	if !strings.EqualFold(path.Join(oc[:len(oc)-1]...), path.Join(nc[:len(nc)-1]...)) {
		return fmt.Errorf("ESP rename %s -> %s: only renames within one directory are supported", oldname, newname)
	}
	d, i, err := v.lookup(oldname)
	if err != nil {
		return err
	}
	newBase := nc[len(nc)-1]
	if err := checkLongName(newBase); err != nil {
		return fmt.Errorf("ESP rename %s: %w", oldname, err)
	}
	if j := d.find(newBase); j >= 0 && j != i {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	e := d.entries[i]
	var sfn [dirEntrySize]byte
	copy(sfn[:], d.buf[e.slot*dirEntrySize:])
	set, err := newEntrySet(d, newBase, i, sfn)
	if err != nil {
		return fmt.Errorf("ESP rename %s: %w", oldname, err)
	}
	n := len(set) / dirEntrySize
	oldN := e.slot - e.first + 1
	start := -1
	switch {
	case n <= oldN:
		start = e.slot - n + 1
	case e.first-(n-oldN) >= 0:
		s := e.first - (n - oldN)
		ok := true
		for k := s; k < e.first; k++ {
			ok = ok && d.buf[k*dirEntrySize] == entryDeleted
		}
		if ok {
			start = s
		}
	}
	if start >= 0 {
		// In place: the new set ends at the 8.3 entry's slot, leftover slots
		// in front of it become deleted. One sector when the set fits one.
		lo := min(start, e.first)
		for k := lo; k < start; k++ {
			d.buf[k*dirEntrySize] = entryDeleted
		}
		copy(d.buf[start*dirEntrySize:], set)
		if err := v.writeSlots(d, lo, e.slot+1); err != nil {
			return err
		}
		d.parse()
		return nil
	}
	// Elsewhere: write the new set first, then delete the old one. A power
	// cut in between leaves both names pointing at the same data.
	if err := v.insertSet(d, set); err != nil {
		return fmt.Errorf("ESP rename %s: %w", oldname, err)
	}
	for s := e.first; s <= e.slot; s++ {
		d.buf[s*dirEntrySize] = entryDeleted
	}
	if err := v.writeSlots(d, e.first, e.slot+1); err != nil {
		return err
	}
	d.parse()
	return nil
}

// Sync implements ESP.
func (v *fatFS) Sync() error {
	if !v.writable {
		return nil
	}
	if err := v.flush(); err != nil {
		return err
	}
	if s, ok := v.dev.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("ESP: sync: %w", err)
		}
	}
	return nil
}
