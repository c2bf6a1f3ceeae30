package bootloader

import "testing"

// The cases below are the inputs and expected outcomes of systemd's own
// tests of strverscmp_improved (src/test/test-string-util.c, v252: TEST
// strverscmp_improved and strverscmp_improved_rpm).

// TestStrVerCmpOrder checks a list in which every string is newer than all
// strings before it.
func TestStrVerCmpOrder(t *testing.T) {
	versions := []string{
		"~1", "", "ab", "abb", "abc", "0001", "002", "12", "122", "122.9",
		"123~rc1", "123", "123-a", "123-a.1", "123-a1", "123-a1.1", "123-3",
		"123-3.1", "123^patch1", "123^1", "123.a-1", "123.1-1", "123a-1", "124",
	}
	for i, older := range versions {
		if got := StrVerCmp(older, older); got != 0 {
			t.Errorf("StrVerCmp(%q, itself) = %d", older, got)
		}
		for _, newer := range versions[i+1:] {
			checkNewer(t, older, newer)
		}
	}
}

func checkNewer(t *testing.T, older, newer string) {
	t.Helper()
	if got := StrVerCmp(older, newer); got != -1 {
		t.Errorf("StrVerCmp(%q, %q) = %d, want -1", older, newer, got)
	}
	if got := StrVerCmp(newer, older); got != 1 {
		t.Errorf("StrVerCmp(%q, %q) = %d, want 1", newer, older, got)
	}
}

func TestStrVerCmpPairs(t *testing.T) {
	for _, p := range [][2]string{ // older, newer
		{"123.45-67.88", "123.45-67.89"},
		{"123.45-67.89", "123.45-67.89a"},
		{"123.45-67.ab", "123.45-67.89"},
		{"123.45-67.9", "123.45-67.89"},
		{"123.45-67", "123.45-67.89"},
		{"123.45-66.89", "123.45-67.89"},
		{"123.45-9.99", "123.45-67.89"},
		{"123.42-99.99", "123.45-67.89"},
		{"123-99.99", "123.45-67.89"},
		// '~': pre-releases
		{"123~rc1-99.99", "123.45-67.89"},
		{"123~rc1-99.99", "123-45.67.89"},
		{"123~rc1-99.99", "123~rc2-67.89"},
		{"123~rc1-99.99", "123^aa2-67.89"},
		{"123~rc1-99.99", "123aa2-67.89"},
		// '-': version/release separator
		{"123-99.99", "123.45-67.89"},
		{"123-99.99", "123^aa2-67.89"},
		{"123-99.99", "123aa2-67.89"},
		// '^': patch releases
		{"123^45-67.89", "123.45-67.89"},
		{"123^aa1-99.99", "123^aa2-67.89"},
		{"123^aa2-67.89", "123aa2-67.89"},
		// '.': point releases
		{"123.aa2-67.89", "123aa2-67.89"},
		{"123.aa2-67.89", "123.ab2-67.89"},
		// corner cases
		{"123", "123."},
		{"12_3", "123"},
		{"12", "12_3"},
		{"12.3", "12_3"},
		{"123", "123.0"},
		{"123", "123_0"},
		{"123..0", "123.0"},
		{"~", ""},
		// what the project relies on
		{"turbo-9-a.conf", "turbo-10-b.conf"},
		{"turbo-2-a.conf", "turbo-2-b.conf"},
		{"turbo-1-a.conf", "turbo-1.conf"},
		{"turbo-2-b+2-1.conf", "turbo-2-b+3.conf"},
	} {
		checkNewer(t, p[0], p[1])
	}
}

func TestStrVerCmpEqual(t *testing.T) {
	for _, p := range [][2]string{
		{"123_aa2-67.89", "123aa+2-67.89"},
		{"", ""}, {"0_", "0"}, {"_0_", "0"}, {"_0", "0"}, {"0", "0___"},
		{"", "_"}, {"_", ""}, {"_", "_"}, {"~", "~"},
		// non-ASCII characters are dropped, like any unsupported character
		{"1٠١٢٣٤٥٦٧٨٩", "1"},
		{"1๐๑๒๓๔๕๖๗๘๙", "1"},
		{"1.1.α", "1.1.β"}, {"1.1.αα", "1.1.α"}, {"1.1.ββ", "1.1.αα"},
		// a NUL byte ends the string, as in C
		{"1.2\x003", "1.2"},
	} {
		if got := StrVerCmp(p[0], p[1]); got != 0 {
			t.Errorf("StrVerCmp(%q, %q) = %d, want 0", p[0], p[1], got)
		}
		if got := StrVerCmp(p[1], p[0]); got != 0 {
			t.Errorf("StrVerCmp(%q, %q) = %d, want 0", p[1], p[0], got)
		}
	}
}

// TestStrVerCmpRPM is the rpmvercmp table as systemd adapted it (three
// cases are reversed from rpm on purpose, marked in systemd's test).
func TestStrVerCmpRPM(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0", "1.0", 1},
		{"2.0.1", "2.0.1", 0}, {"2.0", "2.0.1", -1}, {"2.0.1", "2.0", 1},
		{"2.0.1a", "2.0.1a", 0}, {"2.0.1a", "2.0.1", 1}, {"2.0.1", "2.0.1a", -1},
		{"5.5p1", "5.5p1", 0}, {"5.5p1", "5.5p2", -1}, {"5.5p2", "5.5p1", 1},
		{"5.5p10", "5.5p10", 0}, {"5.5p1", "5.5p10", -1}, {"5.5p10", "5.5p1", 1},
		{"10xyz", "10.1xyz", 1}, {"10.1xyz", "10xyz", -1},
		{"xyz10", "xyz10", 0}, {"xyz10", "xyz10.1", -1}, {"xyz10.1", "xyz10", 1},
		{"xyz.4", "xyz.4", 0}, {"xyz.4", "8", -1}, {"8", "xyz.4", 1},
		{"xyz.4", "2", -1}, {"2", "xyz.4", 1},
		{"5.5p2", "5.6p1", -1}, {"5.6p1", "5.5p2", 1},
		{"5.6p1", "6.5p1", -1}, {"6.5p1", "5.6p1", 1},
		{"6.0.rc1", "6.0", 1}, {"6.0", "6.0.rc1", -1},
		{"10b2", "10a1", 1}, {"10a2", "10b2", -1},
		{"1.0aa", "1.0aa", 0}, {"1.0a", "1.0aa", -1}, {"1.0aa", "1.0a", 1},
		{"10.0001", "10.0001", 0}, {"10.0001", "10.1", 0}, {"10.1", "10.0001", 0},
		{"10.0001", "10.0039", -1}, {"10.0039", "10.0001", 1},
		{"4.999.9", "5.0", -1}, {"5.0", "4.999.9", 1},
		{"20101121", "20101121", 0}, {"20101121", "20101122", -1}, {"20101122", "20101121", 1},
		{"2_0", "2_0", 0}, {"2.0", "2_0", -1}, {"2_0", "2.0", 1},
		{"a", "a", 0}, {"a+", "a+", 0}, {"a+", "a_", 0}, {"a_", "a+", 0},
		{"+a", "+a", 0}, {"+a", "_a", 0}, {"_a", "+a", 0},
		{"+_", "+_", 0}, {"_+", "+_", 0}, {"_+", "_+", 0}, {"+", "_", 0}, {"_", "+", 0},
		{"1.0~rc1", "1.0~rc1", 0}, {"1.0~rc1", "1.0", -1}, {"1.0", "1.0~rc1", 1},
		{"1.0~rc1", "1.0~rc2", -1}, {"1.0~rc2", "1.0~rc1", 1},
		{"1.0~rc1~git123", "1.0~rc1~git123", 0}, {"1.0~rc1~git123", "1.0~rc1", -1}, {"1.0~rc1", "1.0~rc1~git123", 1},
		{"1.0^", "1.0^", 0}, {"1.0^", "1.0", 1}, {"1.0", "1.0^", -1},
		{"1.0^git1", "1.0^git1", 0}, {"1.0^git1", "1.0", 1}, {"1.0", "1.0^git1", -1},
		{"1.0^git1", "1.0^git2", -1}, {"1.0^git2", "1.0^git1", 1},
		{"1.0^git1", "1.01", -1}, {"1.01", "1.0^git1", 1},
		{"1.0^20160101", "1.0^20160101", 0}, {"1.0^20160101", "1.0.1", -1}, {"1.0.1", "1.0^20160101", 1},
		{"1.0^20160101^git1", "1.0^20160101^git1", 0},
		{"1.0^20160102", "1.0^20160101^git1", 1}, {"1.0^20160101^git1", "1.0^20160102", -1},
		{"1.0~rc1^git1", "1.0~rc1^git1", 0}, {"1.0~rc1^git1", "1.0~rc1", 1}, {"1.0~rc1", "1.0~rc1^git1", -1},
		{"1.0^git1~pre", "1.0^git1~pre", 0}, {"1.0^git1", "1.0^git1~pre", 1}, {"1.0^git1~pre", "1.0^git1", -1},
		{"1b.fc17", "1b.fc17", 0}, {"1b.fc17", "1.fc17", 1}, {"1.fc17", "1b.fc17", -1},
		{"1g.fc17", "1g.fc17", 0}, {"1g.fc17", "1.fc17", 1}, {"1.fc17", "1g.fc17", -1},
	} {
		if got := StrVerCmp(tc.a, tc.b); got != tc.want {
			t.Errorf("StrVerCmp(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
