package uki

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzParse feeds Parse hostile PE images: it must return an error or
// sections whose data lies inside the input, never panic or read past it.
// Seeds: a UKI, a stub, and mutations of both (truncated, a section
// pointing past the end, a huge section count, a PE offset out of the
// file, not PE32+).
func FuzzParse(f *testing.F) {
	stub := fakeStub(1, 0x400)
	uki, err := Build(testImage(stub))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uki)
	f.Add(stub)
	f.Add(uki[:len(uki)/2])
	f.Add([]byte("MZ"))
	past := bytes.Clone(uki)
	binary.LittleEndian.PutUint32(past[0x44+20+240+16:], 0x7fff0000) // .text SizeOfRawData
	f.Add(past)
	many := bytes.Clone(uki)
	binary.LittleEndian.PutUint16(many[0x44+2:], 0xffff)
	f.Add(many)
	lfanew := bytes.Clone(uki)
	binary.LittleEndian.PutUint32(lfanew[0x3c:], 0xfffffff0)
	f.Add(lfanew)
	pe32 := bytes.Clone(uki)
	binary.LittleEndian.PutUint16(pe32[0x44+20:], 0x10b)
	f.Add(pe32)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := Parse(b)
		if err != nil {
			return
		}
		for _, s := range u.Sections {
			if uint64(s.Offset)+uint64(len(s.Data)) > uint64(len(b)) {
				t.Fatalf("section %q data beyond the input", s.Name)
			}
		}
	})
}
