package vmm

import (
	"slices"
	"strings"
	"testing"
)

func splitAll(chunks ...string) []string {
	var got []string
	l := lineSplitter{onLine: func(s string) { got = append(got, s) }}
	for _, c := range chunks {
		l.write([]byte(c))
	}
	l.flush()
	return got
}

func TestLineSplitter(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes)
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"lf", []string{"a\nb\n"}, []string{"a", "b"}},
		{"crlf", []string{"TURBO_READY name=x\r\nnext\r\n"}, []string{"TURBO_READY name=x", "next"}},
		{"split across writes", []string{"TUR", "BO_RE", "ADY\r", "\nx"}, []string{"TURBO_READY", "x"}},
		{"empty lines kept", []string{"\n\r\n\n"}, []string{"", "", ""}},
		{"only one CR stripped", []string{"a\r\r\n"}, []string{"a\r"}},
		{"CR inside a line kept", []string{"a\rb\n"}, []string{"a\rb"}},
		{"unterminated tail delivered at EOF", []string{"a\npartial\r"}, []string{"a", "partial"}},
		{"nothing", nil, nil},
		{"exactly max", []string{long + "\n"}, []string{long}},
		{"over max is chunked", []string{long + "yz\n"}, []string{long, "yz"}},
		{"over max without newline", []string{long, long, "q"}, []string{long, long, "q"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := splitAll(tc.chunks...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines = %.80q, want %.80q", got, tc.want)
			}
		})
	}
}

// TestLineSplitterLongLineSplits cuts long lines at every point around the
// MaxLineBytes boundary and the line end: the lines must not change.
func TestLineSplitterLongLineSplits(t *testing.T) {
	x := strings.Repeat("x", MaxLineBytes)
	inputs := []string{
		x + "\n", x + "\r\n", x + "\r\r\n", x[1:] + "\r\n", x + "y\r\n", x + x + "\r\n",
		x + "\r", x + "\ry\n", x[2:] + "\r\r\r\n",
	}
	for _, in := range inputs {
		whole := splitAll(in)
		for _, back := range []int{1, 2, 3, 4, 5, 6, MaxLineBytes, MaxLineBytes + 1} {
			cut := len(in) - back
			if cut < 0 {
				continue
			}
			if got := splitAll(in[:cut], in[cut:]); !slices.Equal(got, whole) {
				t.Errorf("input %d bytes ending %q cut at %d: %d lines %.40q, whole gives %d lines %.40q",
					len(in), in[len(in)-4:], cut, len(got), got, len(whole), whole)
			}
		}
		for _, l := range whole {
			if len(l) > MaxLineBytes {
				t.Errorf("line of %d bytes", len(l))
			}
		}
	}
	if got := splitAll(x + "\r\n"); len(got) != 1 || got[0] != x {
		t.Errorf("a maximal CRLF line gave %d lines", len(got))
	}
}

// FuzzLineSplitter feeds console bytes in two chunks split at an arbitrary
// point and checks that the split does not change the lines, and that the
// lines put back together give the input when it has no CRs or long lines.
func FuzzLineSplitter(f *testing.F) {
	f.Add([]byte("TURBO_READY name=a version=1 uptime_ms=12\r\n"), uint16(5))
	f.Add([]byte("a\nb\r\n\r\nc"), uint16(0))
	f.Add([]byte("\x1b[2J\x1b[01;01HBdsDxe: loading\r\n"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, at uint16) {
		cut := int(at) % (len(data) + 1)
		whole := splitAll(string(data))
		parts := splitAll(string(data[:cut]), string(data[cut:]))
		if !slices.Equal(whole, parts) {
			t.Fatalf("split at %d changed the lines: %q vs %q", cut, whole, parts)
		}
		for _, l := range whole {
			if len(l) > MaxLineBytes || strings.Contains(l, "\n") {
				t.Fatalf("bad line %q", l)
			}
		}
		if !strings.Contains(string(data), "\r") && len(data) < MaxLineBytes {
			joined := strings.Join(whole, "\n")
			want := strings.TrimSuffix(string(data), "\n")
			if len(data) > 0 && joined != want {
				t.Fatalf("lines %q do not rebuild %q", whole, data)
			}
		}
	})
}
