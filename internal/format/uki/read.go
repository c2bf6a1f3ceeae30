package uki

import (
	"bytes"
	"debug/pe"
	"errors"
	"fmt"
)

// Section is one PE section of a UKI as Parse reads it.
type Section struct {
	Name        string
	VirtualSize uint32 // bytes in memory: what systemd-stub takes as the section's length
	Offset      uint32 // file offset of the raw data
	// Data is the section's content: its raw data cut to VirtualSize (a
	// section whose VirtualSize exceeds its raw data, .linux, gets the
	// raw data).
	Data []byte
}

// File is a parsed UKI.
type File struct {
	Machine  uint16
	Sections []Section
}

// Section returns the named section, if present.
func (f *File) Section(name string) (Section, bool) {
	for _, s := range f.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// IsUKI reports whether f has the one section every UKI has, .linux.
func (f *File) IsUKI() bool {
	_, ok := f.Section(SectionLinux)
	return ok
}

// Parse reads a PE image and its sections. It never reads outside b:
// a section whose raw data lies past the end of the file is an error.
func Parse(b []byte) (*File, error) {
	if !bytes.HasPrefix(b, []byte("MZ")) {
		return nil, errors.New("not a PE image (no \"MZ\" header)")
	}
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a valid PE image: %w", err)
	}
	defer f.Close()
	if _, ok := f.OptionalHeader.(*pe.OptionalHeader64); !ok {
		return nil, errors.New("not a PE32+ image")
	}
	out := &File{Machine: f.Machine}
	for _, s := range f.Sections {
		end := uint64(s.Offset) + uint64(s.Size)
		if end > uint64(len(b)) {
			return nil, fmt.Errorf("section %q: raw data %#x..%#x lies past the end of the file (%#x)", s.Name, s.Offset, end, len(b))
		}
		data := b[s.Offset:end]
		if s.VirtualSize < s.Size {
			data = data[:s.VirtualSize]
		}
		out.Sections = append(out.Sections, Section{Name: s.Name, VirtualSize: s.VirtualSize, Offset: s.Offset, Data: data})
	}
	return out, nil
}
