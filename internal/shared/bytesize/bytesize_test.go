package bytesize

import "testing"

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
