package turboinit

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	c := ParseCmdline(`console=ttyS0 quiet turbo.slot=b panic=1 foo="a b" turbo.entry=turbo-2-b` + "\n")
	if c.Slot != "b" || c.Entry != "turbo-2-b" || c.Params["foo"] != "a b" || c.Params["panic"] != "1" {
		t.Fatalf("%+v", c)
	}
	if _, ok := c.Params["quiet"]; !ok {
		t.Fatal("flag quiet missing")
	}
	if ParseCmdline("").Slot != "" {
		t.Fatal("empty cmdline has a slot")
	}
}

func TestParseReadahead(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"128", 128, true}, {"0", 0, true}, {"65536", 65536, true},
		{"65537", 0, false}, {"-1", 0, false}, {"", 0, false}, {"1M", 0, false},
		{" 64", 0, false}, {"+64", 0, false}, {"0x40", 0, false}, {"99999999999999999999", 0, false},
	} {
		got, err := parseReadahead(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseReadahead(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), readaheadParam) {
			t.Errorf("parseReadahead(%q) error %q does not name %s", tt.in, err, readaheadParam)
		}
	}
}

func FuzzParseReadahead(f *testing.F) {
	for _, s := range []string{"128", "0", "65537", "-0", "1e3", "\x00", "０", "٣", "+1", " 1", "18446744073709551617"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseReadahead(s)
		if err != nil {
			return
		}
		if n < 0 || n > maxReadaheadKB {
			t.Fatalf("parseReadahead(%q) = %d, out of range", s, n)
		}
		if back, _ := parseReadahead(strconv.Itoa(n)); back != n {
			t.Fatalf("parseReadahead(%q) = %d does not round-trip", s, n)
		}
	})
}
