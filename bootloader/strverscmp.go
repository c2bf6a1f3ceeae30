package bootloader

import "unicode/utf16"

// StrVerCmp compares two version strings the way systemd's
// strverscmp_improved() does (src/fundamental/string-util-fundamental.c,
// v252), returning -1 if a is older than b, 0 if they are equivalent and +1
// if a is newer.
//
// The strings are split into segments, each a run of ASCII digits or of
// ASCII letters, optionally prefixed by one of:
//
//   - '~' pre-release: older than anything else, even the end of the string;
//   - '-' version/release separator: older than '^', '.' and no prefix;
//   - '^' patch release: newer than '-', older than '.' and no prefix;
//   - '.' point release: older than no prefix ("123a" is newer than "123.a").
//
// Every other character (including all non-ASCII ones) is dropped and only
// separates segments. Numeric segments compare by value, ignoring leading
// zeros, and are newer than alphabetic ones; alphabetic segments compare
// byte-wise, and a longer one with the same start is newer. When one string
// runs out, the one with more segments is newer (unless the next one starts
// with '~'). A NUL byte ends a string, as in C.
func StrVerCmp(a, b string) int {
	return strverscmp16(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// at returns s[i], or 0 past the end (C's terminating NUL).
func at(s []uint16, i int) uint16 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isDigit16(c uint16) bool { return c >= '0' && c <= '9' }

func isAlpha16(c uint16) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isVersionChar16(c uint16) bool {
	return isDigit16(c) || isAlpha16(c) || c == '~' || c == '-' || c == '^' || c == '.'
}

// cmpBool is C's CMP() applied to two booleans (false < true).
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpUnits compares two equally long runs of code units (C's strncmp, by sign).
func cmpUnits(a, b []uint16) int {
	for k := range a {
		if a[k] != b[k] {
			return cmpInt(int(a[k]), int(b[k]))
		}
	}
	return 0
}

// strverscmp16 is strverscmp_improved() on UTF-16 code units, the form
// systemd-boot compares file names and values in.
func strverscmp16(a, b []uint16) int {
	i, j := 0, 0
	for {
		for at(a, i) != 0 && !isVersionChar16(at(a, i)) {
			i++
		}
		for at(b, j) != 0 && !isVersionChar16(at(b, j)) {
			j++
		}

		// '~' (pre-release) is older than anything, even the end.
		if at(a, i) == '~' || at(b, j) == '~' {
			if r := cmpBool(at(a, i) != '~', at(b, j) != '~'); r != 0 {
				return r
			}
			i++
			j++
		}

		// When one string ends, the longer one is newer.
		if at(a, i) == 0 || at(b, j) == 0 {
			return cmpInt(int(at(a, i)), int(at(b, j)))
		}

		// The separators, from older to newer: '-', '^', '.', none.
		for _, sep := range [...]uint16{'-', '^', '.'} {
			if at(a, i) == sep || at(b, j) == sep {
				if r := cmpBool(at(a, i) != sep, at(b, j) != sep); r != 0 {
					return r
				}
				i++
				j++
			}
		}

		var ii, jj int
		if isDigit16(at(a, i)) || isDigit16(at(b, j)) {
			for ii = i; isDigit16(at(a, ii)); ii++ {
			}
			for jj = j; isDigit16(at(b, jj)); jj++ {
			}
			// A numeric segment is newer than an alphabetic (or empty) one.
			if r := cmpBool(i != ii, j != jj); r != 0 {
				return r
			}
			for at(a, i) == '0' {
				i++
			}
			for at(b, j) == '0' {
				j++
			}
			if r := cmpInt(ii-i, jj-j); r != 0 {
				return r
			}
			if r := cmpUnits(a[i:ii], b[j:jj]); r != 0 {
				return r
			}
		} else {
			for ii = i; isAlpha16(at(a, ii)); ii++ {
			}
			for jj = j; isAlpha16(at(b, jj)); jj++ {
			}
			n := min(ii-i, jj-j)
			if r := cmpUnits(a[i:i+n], b[j:j+n]); r != 0 {
				return r
			}
			if r := cmpInt(ii-i, jj-j); r != 0 {
				return r
			}
		}
		i, j = ii, jj
	}
}
