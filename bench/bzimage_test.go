package main

import (
	"encoding/binary"
	"strings"
	"testing"
)

// bzHeader builds the start of a bzImage with the given protocol version
// and init_size.
func bzHeader(version uint16, initSize uint32) []byte {
	h := make([]byte, 0x400)
	binary.LittleEndian.PutUint16(h[0x1fe:], 0xaa55)
	copy(h[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(h[0x206:], version)
	binary.LittleEndian.PutUint32(h[0x260:], initSize)
	return h
}

func TestKernelInitSize(t *testing.T) {
	tests := []struct {
		name    string
		hdr     []byte
		want    uint32
		errText string
	}{
		{"protocol 2.15", bzHeader(0x020f, 14_884_864), 14_884_864, ""},
		{"protocol 2.10", bzHeader(0x020a, 4096), 4096, ""},
		{"exactly the header", bzHeader(0x020f, 7)[:minHeaderLen], 7, ""},
		{"too old", bzHeader(0x0209, 4096), 0, "has no init_size"},
		{"zero", bzHeader(0x020f, 0), 0, "init_size is 0"},
		{"short", bzHeader(0x020f, 1)[:0x263], 0, "need"},
		{"not a bzImage", make([]byte, 0x400), 0, "not an x86 bzImage"},
		{"ELF", append([]byte("\x7fELF"), make([]byte, 0x400)...), 0, "not an x86 bzImage"},
	}
	for _, tt := range tests {
		got, err := KernelInitSize(tt.hdr)
		if tt.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.errText)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
}

func FuzzKernelInitSize(f *testing.F) {
	f.Add(bzHeader(0x020f, 14_884_864))
	f.Add(bzHeader(0x0209, 1))
	f.Add([]byte("HdrS"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		n, err := KernelInitSize(hdr)
		if err == nil && (n == 0 || len(hdr) < minHeaderLen || string(hdr[0x202:0x206]) != "HdrS") {
			t.Fatalf("accepted a bad header: %d", n)
		}
	})
}
