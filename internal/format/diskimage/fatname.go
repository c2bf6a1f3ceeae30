package diskimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
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

// shortNameChars are the characters allowed in an 8.3 name besides A-Z and
// 0-9 (bytes >= 0x80 are allowed by the specification but never generated).
const shortNameChars = "!#$%&'()-@^_`{}~"

func validShortChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(shortNameChars, c) >= 0
}

// checkLongName reports why name cannot be a FAT long file name, if it
// cannot.
func checkLongName(name string) error {
	switch {
	case name == "":
		return errors.New("empty file name")
	case name == "." || name == "..":
		return fmt.Errorf("file name %q is reserved", name)
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return fmt.Errorf("file name %q ends with a dot or space", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"*/:<>?\|`, r) || r == 0xfffd {
			return fmt.Errorf("file name %q contains %q, not allowed on FAT", name, r)
		}
	}
	if n := len(utf16.Encode([]rune(name))); n > maxLFNUnits {
		return fmt.Errorf("file name %q is %d UTF-16 units long, FAT allows %d", name, n, maxLFNUnits)
	}
	return nil
}

// shortBasis splits name into an upper-case 8.3 basis (base up to 8, ext up
// to 3 characters). exact reports that name is literally that 8.3 name;
// caseOnly that it differs from it only in letter case.
func shortBasis(name string) (base, ext string, exact, caseOnly bool) {
	lossy := false
	s := name
	if t := strings.TrimLeft(s, "."); t != s {
		lossy = true
		s = t
	}
	rawBase, rawExt := s, ""
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		rawBase, rawExt = s[:i], s[i+1:]
	}
	conv := func(in string, limit int) string {
		var b strings.Builder
		for _, r := range in {
			if r == ' ' || r == '.' {
				lossy = true
				continue
			}
			if r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			if r > 0x7f || !validShortChar(byte(r)) {
				r = '_'
				lossy = true
			}
			b.WriteRune(r)
		}
		out := b.String()
		if len(out) > limit {
			out = out[:limit]
			lossy = true
		}
		return out
	}
	base = conv(rawBase, 8)
	ext = conv(rawExt, 3)
	if base == "" {
		base = "_"
		lossy = true
	}
	formed := base
	if ext != "" {
		formed += "." + ext
	}
	exact = !lossy && name == formed
	caseOnly = !lossy && strings.ToUpper(name) == formed
	return base, ext, exact, caseOnly
}

// packShort packs base and ext into the 11-byte on-disk form.
func packShort(base, ext string) [11]byte {
	var out [11]byte
	for i := range out {
		out[i] = ' '
	}
	copy(out[:8], base)
	copy(out[8:], ext)
	return out
}

// shortAlias chooses the 8.3 name for a new entry called name. taken
// reports whether an 11-byte short name is already used in the directory.
// needLFN is false only when name is itself a valid upper-case 8.3 name.
func shortAlias(name string, taken func([11]byte) bool) (alias [11]byte, needLFN bool, err error) {
	base, ext, exact, caseOnly := shortBasis(name)
	if exact || caseOnly {
		alias = packShort(base, ext)
		if !taken(alias) {
			return alias, !exact, nil
		}
	}
	for n := 1; n < 1000000; n++ {
		tail := "~" + strconv.Itoa(n)
		b := base
		if len(b) > 8-len(tail) {
			b = b[:8-len(tail)]
		}
		alias = packShort(b+tail, ext)
		if !taken(alias) {
			return alias, true, nil
		}
	}
	return alias, true, fmt.Errorf("no free 8.3 alias for %q", name)
}

// lfnChecksum is the checksum of an 8.3 name stored in every LFN entry.
func lfnChecksum(short [11]byte) byte {
	var sum byte
	for _, c := range short {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
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

// shortDisplayName renders an on-disk 8.3 name, honouring the lower-case
// flags Windows NT and Linux set in DIR_NTRes.
func shortDisplayName(short [11]byte, ntres byte) string {
	b := short
	if b[0] == 0x05 {
		b[0] = entryDeleted
	}
	conv := func(p []byte, lower bool) string {
		p = []byte(strings.TrimRight(string(p), " "))
		rs := make([]rune, 0, len(p))
		for _, c := range p {
			if lower && c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			rs = append(rs, rune(c)) // bytes >= 0x80 read as Latin-1
		}
		return string(rs)
	}
	base := conv(b[:8], ntres&ntLowerBase != 0)
	ext := conv(b[8:], ntres&ntLowerExt != 0)
	if ext == "" {
		return base
	}
	return base + "." + ext
}
