package bootloader

import (
	"strings"
	"testing"
)

func TestParseEntryFileName(t *testing.T) {
	valid := []struct {
		name string
		id   string
		c    Counter
	}{
		{"turbo-1-a+2-1.conf", "turbo-1-a", Counter{true, 2, 1}},
		{"turbo-1-a.conf", "turbo-1-a", Counter{}},
		{"turbo-2-b+3.conf", "turbo-2-b", Counter{true, 3, 0}},
		{"turbo-2-b+0-3.conf", "turbo-2-b", Counter{true, 0, 3}},
		{"turbo-2-b+0.conf", "turbo-2-b", Counter{true, 0, 0}},
		{"a+03-007.conf", "a", Counter{true, 3, 7}}, // leading zeros: read as numbers
		{"a+4-0.conf", "a", Counter{true, 4, 0}},    // explicit -0
		{"a+2147483647-2147483647.conf", "a", Counter{true, MaxCount, MaxCount}},
		{"Fedora_38.x86-64.conf", "Fedora_38.x86-64", Counter{}},
	}
	for _, tc := range valid {
		id, c, err := ParseEntryFileName(tc.name)
		if err != nil || id != tc.id || c != tc.c {
			t.Errorf("ParseEntryFileName(%q) = %q, %+v, %v; want %q, %+v", tc.name, id, c, err, tc.id, tc.c)
		}
	}

	invalid := []struct {
		name     string
		errWant  string
		loaded   bool    // systemd-boot 252 still loads the file
		loaderID string  // ... with this ID
		id       string  // ... and this BLS ID
		c        Counter // ... and this counter
	}{
		{name: "a+.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+.conf", id: "a+"},
		{name: "a+1-.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+1-.conf", id: "a+1-"},
		{name: "a+x.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+x.conf", id: "a+x"},
		{name: "a+-1.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+-1.conf", id: "a+-1"},
		{name: "a+1-2-3.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+1-2-3.conf", id: "a+1-2-3"},
		{name: "a+2147483648.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+2147483648.conf", id: "a+2147483648"},
		{name: "a+1-2147483648.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+1-2147483648.conf", id: "a+1-2147483648"},
		{name: "a+99999999999999999999999.conf", errWant: "malformed boot counter", loaded: true, loaderID: "a+99999999999999999999999.conf", id: "a+99999999999999999999999"},
		{name: "a+3.CONF", errWant: "suffix must be", loaded: true, loaderID: "a+3.conf", id: "a", c: Counter{true, 3, 0}}, // v252-stable ignores the suffix case
		{name: "A.Conf", errWant: "suffix must be", loaded: true, loaderID: "a.conf", id: "A"},
		{name: "a+b+3.conf", errWant: "more than one '+'", loaded: true, loaderID: "a+b+3.conf", id: "a+b", c: Counter{true, 3, 0}},
		{name: "a+1+2.conf", errWant: "more than one '+'", loaded: true, loaderID: "a+1+2.conf", id: "a+1", c: Counter{true, 2, 0}},
		{name: "+3.conf", errWant: "entry ID is empty", loaded: true, loaderID: "+3.conf", id: "", c: Counter{true, 3, 0}},
		{name: "a b.conf", errWant: "not an ASCII letter", loaded: true, loaderID: "a b.conf", id: "a b"},
		{name: "a+1", errWant: "does not end in"},
		{name: "a.txt", errWant: "does not end in"},
		{name: "a", errWant: "does not end in"},
		{name: "conf", errWant: "does not end in"},
		{name: ".a.conf", errWant: "starts with '.'"},
		{name: ".conf", errWant: "starts with '.'"},
		{name: "auto-windows.conf", errWant: "auto-"},
		{name: "", errWant: "empty"},
		{name: "a/b.conf", errWant: "path separator"},
		{name: "a\\b.conf", errWant: "path separator"},
		{name: "a\x00.conf", errWant: "NUL"},
		{name: "a\xff.conf", errWant: "UTF-8"},
	}
	for _, tc := range invalid {
		id, c, err := ParseEntryFileName(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.errWant) {
			t.Errorf("ParseEntryFileName(%q) = %q, %+v, %v; want error containing %q", tc.name, id, c, err, tc.errWant)
		}
		// How the loader reads the same name.
		ln, err := parseLoaderName(tc.name)
		if !tc.loaded {
			if err == nil {
				t.Errorf("parseLoaderName(%q) = %+v; the loader skips this file", tc.name, ln)
			}
			continue
		}
		if err != nil || ln.loaderID != tc.loaderID || ln.id != tc.id || ln.counter != tc.c {
			t.Errorf("parseLoaderName(%q) = %+v, %v; want loaderID %q, id %q, counter %+v", tc.name, ln, err, tc.loaderID, tc.id, tc.c)
		}
	}
}

func TestEntryFileName(t *testing.T) {
	for _, tc := range []struct {
		id   string
		c    Counter
		want string
	}{
		{"turbo-1-a", Counter{}, "turbo-1-a.conf"},
		{"turbo-1-a", Counter{true, 3, 0}, "turbo-1-a+3.conf"},
		{"turbo-1-a", Counter{true, 2, 1}, "turbo-1-a+2-1.conf"},
		{"turbo-1-a", Counter{true, 0, 3}, "turbo-1-a+0-3.conf"},
		{"turbo-1-a", Counter{true, 0, 0}, "turbo-1-a+0.conf"},
		{"turbo-1-a", Counter{Set: false, Left: 3, Done: 1}, "turbo-1-a.conf"},
	} {
		if got := EntryFileName(tc.id, tc.c); got != tc.want {
			t.Errorf("EntryFileName(%q, %+v) = %q, want %q", tc.id, tc.c, got, tc.want)
		}
	}
}

func TestCounterAfterAttempt(t *testing.T) {
	// The walkthrough of docs/AUTOMATIC_BOOT_ASSESSMENT.md, plus what v252
	// does when it boots the entry once more.
	want := []string{"x+3.conf", "x+2-1.conf", "x+1-2.conf", "x+0-3.conf", "x+0-4.conf", "x+0-5.conf"}
	c := Counter{Set: true, Left: 3}
	for i, w := range want {
		if got := EntryFileName("x", c); got != w {
			t.Fatalf("step %d: %q, want %q", i, got, w)
		}
		if wantBad := i >= 3; c.Bad() != wantBad {
			t.Errorf("step %d: Bad() = %v, want %v", i, c.Bad(), wantBad)
		}
		next, ok := c.AfterAttempt()
		if !ok {
			t.Fatalf("step %d: AfterAttempt reports no rename for %+v", i, c)
		}
		c = next
	}

	if got, ok := (Counter{}).AfterAttempt(); ok || got != (Counter{}) {
		t.Errorf("uncounted AfterAttempt = %+v, %v; want no rename", got, ok)
	}
	// "+4-0" and "+4" are the same counter.
	if got, _ := (Counter{true, 4, 0}).AfterAttempt(); got != (Counter{true, 3, 1}) {
		t.Errorf("+4-0 -> %+v, want +3-1", got)
	}
	// Saturation at INT_MAX tries done.
	if got, ok := (Counter{true, 0, MaxCount}).AfterAttempt(); !ok || got != (Counter{true, 0, MaxCount}) {
		t.Errorf("+0-MAX -> %+v, %v; want +0-MAX", got, ok)
	}
	if got, _ := (Counter{true, MaxCount, 0}).AfterAttempt(); got != (Counter{true, MaxCount - 1, 1}) {
		t.Errorf("+MAX -> %+v", got)
	}
}

func TestCounterBlessAndBad(t *testing.T) {
	for _, tc := range []struct {
		c            Counter
		blessed, bad string // file names for ID "x"
	}{
		{Counter{true, 2, 1}, "x.conf", "x+0-1.conf"},
		{Counter{true, 0, 3}, "x.conf", "x+0-3.conf"},
		{Counter{true, 3, 0}, "x.conf", "x+0.conf"}, // bless-boot writes "+0" when done is 0
		{Counter{}, "x.conf", "x.conf"},             // bless-boot refuses uncounted boots
	} {
		if got := EntryFileName("x", tc.c.Blessed()); got != tc.blessed {
			t.Errorf("%+v blessed: %q, want %q", tc.c, got, tc.blessed)
		}
		if got := EntryFileName("x", tc.c.MarkedBad()); got != tc.bad {
			t.Errorf("%+v marked bad: %q, want %q", tc.c, got, tc.bad)
		}
	}
	if !(Counter{true, 0, 3}).MarkedBad().Bad() || (Counter{}).MarkedBad().Bad() {
		t.Error("MarkedBad().Bad() wrong")
	}
	for _, tc := range []struct {
		c   Counter
		bad bool
	}{
		{Counter{}, false},
		{Counter{Set: false, Left: 0}, false},
		{Counter{true, 0, 0}, true},
		{Counter{true, 0, 7}, true},
		{Counter{true, 1, 7}, false},
	} {
		if tc.c.Bad() != tc.bad {
			t.Errorf("%+v.Bad() = %v", tc.c, !tc.bad)
		}
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"turbo-1-a", "a", "A.b_c-9", strings.Repeat("a", 228)} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "a+b", "a b", "a/b", "é", ".a", "auto-a", strings.Repeat("a", 229)} {
		if err := ValidateID(id); err == nil {
			t.Errorf("ValidateID(%q) = nil, want error", id)
		}
	}
}
