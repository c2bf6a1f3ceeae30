package bootloader

import (
	"strings"
	"testing"
	"unicode/utf16"
)

// TestMatch uses the cases of systemd's test of efi_fnmatch
// (src/boot/efi/test-efi-string.c, v252), which systemd also checks against
// glibc's fnmatch(), plus cases for the syntax efi_fnmatch does not share.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, id string
		want        bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"aBc", "abc", false},
		{"b", "a", false},
		{"b", "", false},
		{"abc", "a", false},
		{"a?c", "azc", true},
		{"???", "?.9", true},
		{"1?", "1", false},
		{"***", "", true},
		{"*", "123", true},
		{"**", "abcd", true},
		{"*b*", "abcd", true},
		{"abc*d", "abc", false},
		{"start*end", "startend", true},
		{"start*end", "startendend", true},
		{"start*end", "startenddne", false},
		{"start*end", "startendstartend", true},
		{"start*end", "starten", false},
		{"*.conf", "arch.conf", true},
		{"debian-*.conf", "debian-wheezy.conf", true},
		{"debian-*.*", "debian-wheezy.efi", true},
		{"ab*cde", "abzcd", false},
		{`\*\a\[`, "*a[", true},
		{"[abc] [abc] [abc]", "a b c", true},
		{"abc]", "abc]", true},
		{"[abc]", "z", false},
		{"[abc", "a", false},
		{"[][!] [][!] [][!]", "[ ] !", true},
		{"[]-] []-]", "] -", true},
		{`[1\]] [1\]]`, "1 ]", true},
		{`[$-\+]`, "&", true},
		{"[1-3A-C] [1-3A-C]", "2 B", true},
		{"[3-5] [3-5] [3-5]", "3 4 5", true},
		{"[f-h] [f-h] [f-h]", "f g h", true},
		{"[a-c-f] [a-c-f] [a-c-f] [a-c-f] [a-c-f]", "a b c - f", true},
		{"[a-c-f]", "e", false},
		{"[--0] [--0] [--0]", "- . 0", true},
		{"[+--] [+--] [+--]", "+ , -", true},
		{"[f-l]", "m", false},
		{"[b]", "z-a", false},
		{`[a\-z]`, "b", false},
		{"?a*b[.-0]c", "/a/b/c", true},
		{"debian-*-*-*.*", "debian-jessie-2018-06-17-kernel-image-5.10.0-16-amd64.efi", true},
		{"a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*u*v*w*x*y*z*",
			"aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmmnnnnooooppppqqqqrrrrssssttttuuuuvvvvwwwwxxxxyyyy", false},
		{"a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*u*v*w*x*y*z*",
			"aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmmnnnnooooppppqqqqrrrrssssttttuuuuvvvvwwwwxxxxyyyyzzzz!!!!", true},
		// no negation: '!' and '^' are members
		{"[!a]", "b", false},
		{"[!a]", "!", true},
		{"[^a]", "^", true},
		// trailing escape never matches
		{`a\`, `a\`, false},
		// '?' is one UTF-16 unit: a character outside the BMP is two
		{"?", "é", true},
		{"?", "😀", false},
		{"??", "😀", true},
		// the project's defaults against v252 IDs
		{"turbo-*", "turbo-2-b+3.conf", true},
		{"turbo-2-b*", "turbo-2-b+0-3.conf", true},
		{"turbo-2-b", "turbo-2-b+3.conf", false},
		{"turbo-2-b.conf", "turbo-2-b+3.conf", false},
		{"turbo-2-b.conf", "turbo-2-b.conf", true},
	} {
		if got := Match(tc.pattern, tc.id); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.id, got, tc.want)
		}
	}
}

// refMatch is a plain dynamic-programming glob matcher for patterns made of
// literals, '?', '*' and '\' escapes (no sets): the fnmatch semantics the
// single-pass efi_fnmatch algorithm must agree with.
func refMatch(pattern, id string) bool {
	p, h := utf16.Encode([]rune(pattern)), utf16.Encode([]rune(id))
	// Tokenize the pattern: kind 0 literal, 1 '?', 2 '*'; a trailing '\'
	// can never match.
	type tok struct {
		kind int
		c    uint16
	}
	var toks []tok
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*':
			toks = append(toks, tok{kind: 2})
		case '?':
			toks = append(toks, tok{kind: 1})
		case '\\':
			if i+1 == len(p) {
				return false
			}
			i++
			toks = append(toks, tok{c: p[i]})
		default:
			toks = append(toks, tok{c: p[i]})
		}
	}
	// m[j] reports whether the tokens so far match h[:j].
	m := make([]bool, len(h)+1)
	m[0] = true
	for _, tk := range toks {
		next := make([]bool, len(h)+1)
		for j := 0; j <= len(h); j++ {
			switch tk.kind {
			case 2:
				next[j] = m[j] || (j > 0 && next[j-1])
			case 1:
				next[j] = j > 0 && m[j-1]
			default:
				next[j] = j > 0 && m[j-1] && h[j-1] == tk.c
			}
		}
		m = next
	}
	return m[len(h)]
}

func FuzzMatch(f *testing.F) {
	f.Add("start*end", "startendstartend")
	f.Add("a*b*c", "aXbYbZc")
	f.Add("*?*", "x")
	f.Add(`\**`, "*x")
	f.Add("turbo-*", "turbo-2-b+3.conf")
	f.Add("[a-c]*", "b")
	f.Fuzz(func(t *testing.T, pattern, id string) {
		got := Match(pattern, id)
		if strings.ContainsRune(pattern, '[') || strings.ContainsRune(pattern, 0) || strings.ContainsRune(id, 0) {
			return // sets are covered by TestMatch; NUL ends C strings
		}
		if want := refMatch(pattern, id); got != want {
			t.Errorf("Match(%q, %q) = %v, reference glob says %v", pattern, id, got, want)
		}
	})
}
