package fat32

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Directory entry layout (Microsoft FAT specification, "Directory
// Structure" and "Long File Name Implementation").
const (
	dirEntrySize = 32

	attrReadOnly = 0x01
	attrHidden   = 0x02
	attrSystem   = 0x04
	attrVolumeID = 0x08
	attrDir      = 0x10
	attrArchive  = 0x20
	attrLFN      = attrReadOnly | attrHidden | attrSystem | attrVolumeID
	attrLFNMask  = 0x3f

	entryFree    = 0x00 // this and every following entry is free
	entryDeleted = 0xe5

	lfnLast     = 0x40 // ordinal flag of the last (first on disk) LFN entry
	lfnChars    = 13   // UTF-16 units per LFN entry
	maxLFNSlots = 20   // 255 units
	maxLFNUnits = 255

	ntLowerBase = 0x08 // DIR_NTRes: base name is lower case
	ntLowerExt  = 0x10 // DIR_NTRes: extension is lower case

	// fatEpochDate is 1980-01-01 as a FAT date; every timestamp this package
	// writes is 1980-01-01 00:00:00.
	fatEpochDate = 1<<5 | 1
)

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
func (v *FS) readDir(cluster uint32) (*fatDir, error) {
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

// sectorRange returns the byte range of the sectors of d holding slots
// [from, to).
func (d *fatDir) sectorRange(bps int64, from, to int) (int64, int64) {
	lo := int64(from*dirEntrySize) / bps * bps
	hi := (int64(to*dirEntrySize) + bps - 1) / bps * bps
	return lo, hi
}

// writeDirBytes writes d.buf[lo:hi] (whole sectors) to disk.
func (v *FS) writeDirBytes(d *fatDir, lo, hi int64) error {
	for s := lo; s < hi; s += v.bps {
		off := v.clusterOffset(d.chain[s/v.clusterSize]) + s%v.clusterSize
		if err := writeFull(v.dev, d.buf[s:s+v.bps], off); err != nil {
			return fmt.Errorf("ESP: writing directory: %w", err)
		}
	}
	return nil
}

// writeSlots writes the sectors of d holding slots [from, to).
func (v *FS) writeSlots(d *fatDir, from, to int) error {
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
func (v *FS) extendDir(d *fatDir) error {
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
func (v *FS) insertSet(d *fatDir, set []byte) error {
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

// lfnSlotCount is the number of LFN entries for name.
func lfnSlotCount(name string) int {
	n := len(utf16.Encode([]rune(name)))
	return (n + lfnChars - 1) / lfnChars
}

// entrySetSlots is the number of 32-byte entries a new entry called name
// takes (LFN entries plus the 8.3 entry), assuming its alias is free.
func entrySetSlots(name string) int {
	_, _, exact, _ := shortBasis(name)
	if exact {
		return 1
	}
	return lfnSlotCount(name) + 1
}

// lfnUnitOffsets are the byte offsets of the 13 UTF-16 units in an LFN
// entry.
var lfnUnitOffsets = [lfnChars]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}

// encodeEntrySet returns the on-disk entries for name: its LFN entries (if
// needLFN) followed by sfn, whose name field is set to alias.
func encodeEntrySet(name string, alias [11]byte, needLFN bool, sfn [dirEntrySize]byte) []byte {
	copy(sfn[0:11], alias[:])
	sfn[12] &^= ntLowerBase | ntLowerExt
	if !needLFN {
		return sfn[:]
	}
	units := utf16.Encode([]rune(name))
	n := (len(units) + lfnChars - 1) / lfnChars
	sum := lfnChecksum(alias)
	out := make([]byte, 0, (n+1)*dirEntrySize)
	for ord := n; ord >= 1; ord-- {
		var e [dirEntrySize]byte
		e[0] = byte(ord)
		if ord == n {
			e[0] |= lfnLast
		}
		e[11] = attrLFN
		e[13] = sum
		for i, off := range lfnUnitOffsets {
			k := (ord-1)*lfnChars + i
			var u uint16
			switch {
			case k < len(units):
				u = units[k]
			case k == len(units):
				u = 0
			default:
				u = 0xffff
			}
			binary.LittleEndian.PutUint16(e[off:], u)
		}
		out = append(out, e[:]...)
	}
	return append(out, sfn[:]...)
}

// newShortEntry returns an 8.3 entry with the given attributes, first
// cluster and size, and every timestamp at the FAT epoch.
func newShortEntry(attr byte, cluster, size uint32) [dirEntrySize]byte {
	var e [dirEntrySize]byte
	for i := 0; i < 11; i++ {
		e[i] = ' '
	}
	e[11] = attr
	binary.LittleEndian.PutUint16(e[16:], fatEpochDate) // creation date
	binary.LittleEndian.PutUint16(e[18:], fatEpochDate) // access date
	binary.LittleEndian.PutUint16(e[24:], fatEpochDate) // write date
	setEntryCluster(e[:], cluster)
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

func setEntryCluster(e []byte, cluster uint32) {
	binary.LittleEndian.PutUint16(e[20:], uint16(cluster>>16))
	binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
}

func entryCluster(e []byte) uint32 {
	return uint32(binary.LittleEndian.Uint16(e[20:]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:]))
}
