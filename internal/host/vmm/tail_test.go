package vmm

import (
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	lines := &Tail{MaxLines: 3}
	for _, l := range []string{"one", "two", "three", "four", "five"} {
		lines.Line(l)
	}
	if got := lines.String(); got != "three\nfour\nfive" {
		t.Errorf("line tail %q", got)
	}
	lines.Write([]byte("six\nsev"))
	if got := lines.String(); got != "five\nsix\nsev" {
		t.Errorf("line tail with a partial line %q", got)
	}
	bytesT := &Tail{MaxBytes: 8}
	bytesT.Write([]byte("0123456789"))
	bytesT.Write([]byte("ab"))
	if got := bytesT.String(); got != "456789ab" {
		t.Errorf("byte tail %q", got)
	}
	both := &Tail{MaxLines: 2, MaxBytes: 10}
	both.Write([]byte(strings.Repeat("x", 20) + "\nshort\n"))
	if got := both.String(); got != "xxx\nshort" {
		t.Errorf("both limits %q", got)
	}
	none := &Tail{}
	none.Write([]byte("a\nb\nc"))
	if got := none.String(); got != "a\nb\nc" {
		t.Errorf("no limits %q", got)
	}
}
