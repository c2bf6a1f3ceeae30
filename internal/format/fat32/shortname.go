package fat32

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
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
