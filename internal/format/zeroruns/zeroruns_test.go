package zeroruns

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {1, 0, 0, 2}, make([]byte, 70000), append(make([]byte, 300), 9), {0, 0, 0xff, 0}} {
		if got := Decode(Encode(b), 1<<20); !bytes.Equal(got, b) {
			t.Errorf("round trip of %d bytes gave %d", len(b), len(got))
		}
	}
}

func TestEncodeIsShort(t *testing.T) {
	if got := Encode(make([]byte, 1<<16)); !bytes.Equal(got, []byte{0, 0xff, 0xff}) {
		t.Errorf("64 KiB of zeros encode as %x", got)
	}
}

func TestDecodeIsBounded(t *testing.T) {
	if got := Decode([]byte{0, 0xff, 0xff, 0, 0xff, 0xff}, 1000); len(got) != 1000 {
		t.Errorf("decoded %d bytes, want the bound 1000", len(got))
	}
	if got := Decode([]byte{7, 0}, 100); !bytes.Equal(got, []byte{7, 0}) {
		t.Errorf("a cut-off run decodes as %x", got)
	}
}
