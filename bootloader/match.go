package bootloader

import "unicode/utf16"

// Match reports whether id matches the glob pattern the way systemd-boot's
// efi_fnmatch() does (src/boot/efi/efi-string.c, v252). It is what the loader
// uses for `default` in loader.conf. Supported syntax:
//
//   - '*' matches any run of characters, including none and including '/';
//   - '?' matches exactly one character;
//   - '[...]' matches one character of the set; a ']' right after '[' is a
//     member; "x-y" is a range unless '-' is first or last; ranges do not
//     chain ("[a-c-f]" is "[-abcf]"); there is no negation ('!' and '^' are
//     plain members) and no named classes; an unterminated set never matches;
//   - '\' makes the next character literal (inside sets too); a trailing
//     '\' never matches.
//
// Matching is case-sensitive and on UTF-16 code units (one '?' is one unit);
// SelectDefault lowercases both sides first, as the loader does. The
// algorithm needs no backtracking, so its run time is linear in
// len(pattern)*len(id).
func Match(pattern, id string) bool {
	return fnmatch16(utf16.Encode([]rune(pattern)), utf16.Encode([]rune(id)))
}

// fnmatchPrefix matches the pattern p at the start of h up to the end of the
// pattern (then h must be at its end too) or up to the first '*'. On
// reaching a '*' it returns true with starTail set to the pattern after the
// run of '*' and hayTail to the rest of h.
func fnmatchPrefix(p, h []uint16) (ok, star bool, starTail, hayTail []uint16) {
	for pi, hi := 0, 0; ; pi, hi = pi+1, hi+1 {
		switch at(p, pi) {
		case 0:
			return at(h, hi) == 0, false, nil, nil
		case '\\':
			pi++
			if at(p, pi) == 0 || at(p, pi) != at(h, hi) {
				return false, false, nil, nil
			}
		case '?':
			if at(h, hi) == 0 {
				return false, false, nil, nil
			}
		case '*':
			for at(p, pi) == '*' {
				pi++
			}
			return true, true, p[pi:], h[hi:]
		case '[':
			c := at(h, hi)
			if c == 0 {
				return false, false, nil, nil
			}
			first, canRange, matched := true, true, false
			for ; ; first = false {
				pi++
				if at(p, pi) == 0 {
					return false, false, nil, nil
				}
				if at(p, pi) == '\\' {
					pi++
					if at(p, pi) == 0 {
						return false, false, nil, nil
					}
					if at(p, pi) == c {
						matched = true
					}
					canRange = true
					continue
				}
				if at(p, pi) == ']' && !first {
					break
				}
				if at(p, pi) == '-' && canRange && !first && at(p, pi+1) != ']' {
					low := at(p, pi-1)
					pi++
					if at(p, pi) == '\\' {
						pi++
					}
					if at(p, pi) == 0 {
						return false, false, nil, nil
					}
					if low <= c && c <= at(p, pi) {
						matched = true
					}
					canRange = false
					continue
				}
				if at(p, pi) == c {
					matched = true
				}
				canRange = true
			}
			if !matched {
				return false, false, nil, nil
			}
		default:
			if at(p, pi) != at(h, hi) {
				return false, false, nil, nil
			}
		}
	}
}

// fnmatch16 is efi_fnmatch(): the pattern is a chain of simple patterns
// joined by '*'. The first must match at the start of the haystack, each
// later one at its leftmost position, and the last one at the very end.
func fnmatch16(pattern, hay []uint16) bool {
	for first := true; ; {
		ok, star, pTail, hTail := fnmatchPrefix(pattern, hay)
		if first {
			if !ok {
				return false
			}
			if !star {
				return true
			}
			first = false
		}
		if star {
			pattern, hay = pTail, hTail
			continue
		}
		if ok || at(hay, 0) == 0 {
			return ok
		}
		hay = hay[1:]
	}
}
