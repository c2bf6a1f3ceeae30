package bytesize

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {5 << 20, "5.0 MiB"}, {5<<20 + 700<<10, "5.7 MiB"}, {3 << 30, "3.0 GiB"},
	} {
		if got := Format(tt.n); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestCeilMiB(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{64 * MiB, "64 MiB"},
		{0, "0 MiB"},
		{MiB + 1, "1.1 MiB"},
		{70*MiB + MiB/5, "70.2 MiB"},
		{70*MiB + MiB/5 + 1, "70.3 MiB"},
		{2*MiB - 1, "2 MiB"},
		{512, "0.1 MiB"},
	} {
		if got := CeilMiB(tt.n); got != tt.want {
			t.Errorf("CeilMiB(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil}, {"4096", 4096, nil}, {"64MiB", 64 * MiB, nil}, {"1KiB", KiB, nil}, {"3GiB", 3 * GiB, nil},
		{"007MiB", 7 * MiB, nil},
		{"", 0, ErrSyntax}, {"MiB", 0, ErrSyntax}, {"64 MiB", 0, ErrSyntax}, {"64MB", 0, ErrSyntax}, {"64mib", 0, ErrSyntax},
		{"-1", 0, ErrSyntax}, {"+1", 0, ErrSyntax}, {"1.5GiB", 0, ErrSyntax}, {"0x10", 0, ErrSyntax}, {"1_000", 0, ErrSyntax},
		{"٣MiB", 0, ErrSyntax}, {"64MiB\n", 0, ErrSyntax}, {"64KiBMiB", 0, ErrSyntax},
		{"4294967297GiB", 0, ErrRange}, {"4294967296GiB", 1 << 62, nil}, {"99999999999999999999", 0, ErrRange}, {"4611686018427387905", 0, ErrRange},
		{"4611686018427387904", 1 << 62, nil}, {"4194304GiB", 1 << 52, nil},
	} {
		got, err := Parse(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"64MiB", "0", "1GiB", "-1", "9223372036854775807", "4611686018427387904KiB", "1 KiB", "１MiB", "64MiB\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("Parse(%q) = %d with error %v", s, v, err)
			}
			return
		}
		if v < 0 || v > MaxParse {
			t.Fatalf("Parse(%q) = %d, outside 0..2^62", s, v)
		}
		// What parses is digits and a unit: it shows again as such.
		for _, u := range []string{"GiB", "MiB", "KiB", ""} {
			if strings.HasSuffix(s, u) {
				if back, err := Parse(strconv.FormatInt(v/units[u], 10) + u); err != nil || back != v {
					t.Fatalf("Parse(%q) = %d, but it does not round trip: %d, %v", s, v, back, err)
				}
				break
			}
		}
	})
}
