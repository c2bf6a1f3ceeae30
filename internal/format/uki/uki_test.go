package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

const debianStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// fakeStub is a minimal PE32+ EFI application: MS-DOS header, PE
// signature at 0x40, COFF header, PE32+ optional header with 16 data
// directories, nsec .text sections of 0x100 bytes, SizeOfHeaders
// headerSize, FileAlignment 0x200 and SectionAlignment 0x1000, and a
// trailing COFF symbol table (which Build must drop).
func fakeStub(nsec int, headerSize uint32) []byte {
	le := binary.LittleEndian
	b := make([]byte, int(headerSize)+nsec*0x200+64)
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	coff := 0x44
	le.PutUint16(b[coff:], pe.IMAGE_FILE_MACHINE_AMD64)
	le.PutUint16(b[coff+2:], uint16(nsec))
	le.PutUint32(b[coff+8:], headerSize+uint32(nsec)*0x200) // symbol table
	le.PutUint32(b[coff+12:], 2)
	le.PutUint16(b[coff+16:], 240)
	le.PutUint16(b[coff+18:], 0x206)
	opt := coff + 20
	le.PutUint16(b[opt:], 0x20b)
	le.PutUint32(b[opt+4:], uint32(nsec)*0x200)
	le.PutUint32(b[opt+16:], 0x1000)
	le.PutUint32(b[opt+32:], 0x1000)
	le.PutUint32(b[opt+36:], 0x200)
	le.PutUint32(b[opt+56:], 0x1000+uint32(nsec)*0x1000)
	le.PutUint32(b[opt+60:], headerSize)
	le.PutUint16(b[opt+68:], pe.IMAGE_SUBSYSTEM_EFI_APPLICATION)
	le.PutUint32(b[opt+108:], 16)
	le.PutUint64(b[opt+112+4*8:], 0x0000_0040_0000_0800) // a certificate table entry
	for i := 0; i < nsec; i++ {
		h := b[opt+240+i*40:]
		copy(h, ".text")
		le.PutUint32(h[8:], 0x100)
		le.PutUint32(h[12:], 0x1000+uint32(i)*0x1000)
		le.PutUint32(h[16:], 0x200)
		le.PutUint32(h[20:], headerSize+uint32(i)*0x200)
		le.PutUint32(h[36:], scnCode|scnRead|scnExecute)
		for j := 0; j < 0x100; j++ {
			b[int(headerSize)+i*0x200+j] = byte(0x90 + i)
		}
	}
	return b
}

// bzImage is a fake x86 kernel with a setup header (boot protocol 2.15)
// asking for initSize bytes.
func bzImage(n int, initSize uint32) []byte {
	k := bytes.Repeat([]byte{0xcc}, n)
	k[0x1f1] = 1 // setup_sects
	binary.LittleEndian.PutUint16(k[0x1fe:], 0xaa55)
	copy(k[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(k[0x206:], 0x020f)
	binary.LittleEndian.PutUint32(k[0x260:], initSize)
	return k
}

func testImage(stub []byte) Image {
	return Image{
		Stub:      stub,
		Linux:     bzImage(5000, 0x8000),
		Initrd:    bytes.Repeat([]byte("initrd"), 300),
		Cmdline:   "console=ttyS0 panic=1",
		OSRelease: []byte("NAME=\"hello\"\nID=turbo-image\n"),
		Uname:     "6.1.0-turbo",
	}
}

// checkLayout checks the PE rules Build promises, on any output.
func checkLayout(t *testing.T, stub, out []byte, im Image) {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("debug/pe cannot read the UKI: %v", err)
	}
	defer f.Close()
	opt := f.OptionalHeader.(*pe.OptionalHeader64)
	if f.FileHeader.PointerToSymbolTable != 0 || f.FileHeader.NumberOfSymbols != 0 {
		t.Errorf("symbol table kept: %#x, %d", f.FileHeader.PointerToSymbolTable, f.FileHeader.NumberOfSymbols)
	}
	if d := opt.DataDirectory[dirSecurity]; d.VirtualAddress != 0 || d.Size != 0 {
		t.Errorf("certificate table kept: %+v", d)
	}
	prevEnd := uint32(0)
	for i, s := range f.Sections {
		if i > 0 && s.VirtualAddress < prevEnd {
			t.Errorf("section %s at %#x overlaps the previous one (ends %#x)", s.Name, s.VirtualAddress, prevEnd)
		}
		if s.VirtualAddress%opt.SectionAlignment != 0 && i >= len(f.Sections)-5 {
			t.Errorf("section %s VA %#x not aligned to %#x", s.Name, s.VirtualAddress, opt.SectionAlignment)
		}
		if s.Offset%opt.FileAlignment != 0 || s.Size%opt.FileAlignment != 0 {
			t.Errorf("section %s raw %#x+%#x not aligned to %#x", s.Name, s.Offset, s.Size, opt.FileAlignment)
		}
		prevEnd = s.VirtualAddress + s.VirtualSize
	}
	if opt.SizeOfImage < prevEnd || opt.SizeOfImage%opt.SectionAlignment != 0 {
		t.Errorf("SizeOfImage %#x: want >= %#x and aligned", opt.SizeOfImage, prevEnd)
	}
	last := f.Sections[len(f.Sections)-1]
	if last.Name != SectionLinux {
		t.Errorf("last section %s, want .linux", last.Name)
	}
	if want := uint32(kernelMemory(im.Linux)); last.VirtualSize != want {
		t.Errorf(".linux virtual size %#x, want %#x", last.VirtualSize, want)
	}
	if int64(len(out)) != int64(last.Offset)+int64(last.Size) {
		t.Errorf("file is %d bytes, last section ends at %d", len(out), last.Offset+last.Size)
	}
	if got, want := binary.LittleEndian.Uint32(out[checksumOffset(t, out):]), Checksum(out, int64(checksumOffset(t, out))); got != want {
		t.Errorf("CheckSum %#x, want %#x", got, want)
	}
	// The stub's own sections are there, byte for byte.
	sf, _ := pe.NewFile(bytes.NewReader(stub))
	for i, s := range sf.Sections {
		a, _ := s.Data()
		b, _ := f.Sections[i].Data()
		if s.Name != f.Sections[i].Name || !bytes.Equal(a, b) || s.VirtualAddress != f.Sections[i].VirtualAddress {
			t.Errorf("stub section %d (%s) changed", i, s.Name)
		}
	}
	// Parse reads back what went in.
	u, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want []byte
	}{{SectionOSRel, im.OSRelease}, {SectionCmdline, []byte(im.Cmdline)}, {SectionUname, []byte(im.Uname)}, {SectionInitrd, im.Initrd}} {
		s, ok := u.Section(c.name)
		if !ok || !bytes.Equal(s.Data, c.want) {
			t.Errorf("section %s: %v, %q; want %q", c.name, ok, trunc(s.Data), trunc(c.want))
		}
	}
	s, _ := u.Section(SectionLinux)
	if !bytes.HasPrefix(s.Data, im.Linux) || !u.IsUKI() {
		t.Errorf(".linux does not hold the kernel")
	}
}

func trunc(b []byte) []byte { return b[:min(len(b), 40)] }

func checksumOffset(t *testing.T, b []byte) int {
	return int(binary.LittleEndian.Uint32(b[0x3c:])) + 4 + 20 + optCheckSum
}

func TestBuildFakeStub(t *testing.T) {
	stub := fakeStub(2, 0x400)
	im := testImage(stub)
	out, err := Build(im)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, stub, out, im)
	again, _ := Build(im)
	if !bytes.Equal(out, again) {
		t.Error("two builds differ")
	}
	// The first new section follows the stub's last (VA 0x2000+0x100 ->
	// 0x3000; raw 0x400+2*0x200 = 0x800).
	u, _ := Parse(out)
	if s := u.Sections[2]; s.Name != SectionOSRel || s.Offset != 0x800 {
		t.Errorf("first new section %s at %#x, want .osrel at 0x800", s.Name, s.Offset)
	}
}

func TestBuildOptionalSections(t *testing.T) {
	out, err := Build(Image{Stub: fakeStub(1, 0x400), Linux: []byte("not a bzImage, an arm64 Image maybe")})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := Parse(out)
	var names []string
	for _, s := range u.Sections {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != ".text .linux" {
		t.Errorf("sections %q, want only .text .linux", got)
	}
	if s, _ := u.Section(SectionLinux); int(s.VirtualSize) != len("not a bzImage, an arm64 Image maybe") {
		t.Errorf(".linux of a non-bzImage: virtual size %d, want its length", s.VirtualSize)
	}
}

func TestBuildRefuses(t *testing.T) {
	good := fakeStub(1, 0x400)
	uki, err := Build(testImage(good))
	if err != nil {
		t.Fatal(err)
	}
	notEFI := fakeStub(1, 0x400)
	binary.LittleEndian.PutUint16(notEFI[0x44+20+68:], 3) // console subsystem
	for _, c := range []struct {
		name string
		im   Image
		want string
	}{
		{"no kernel", Image{Stub: good}, "no kernel"},
		{"not PE", Image{Stub: []byte("#!/bin/sh\n"), Linux: []byte{1}}, "stub"},
		{"already a UKI", Image{Stub: uki, Linux: []byte{1}}, "already has a .osrel section"},
		{"no header room", Image{Stub: fakeStub(4, 0x200), Linux: []byte{1}}, "no room"},
		{"not EFI", Image{Stub: notEFI, Linux: []byte{1}}, "not an EFI application"},
		{"NUL in cmdline", Image{Stub: good, Linux: []byte{1}, Cmdline: "a\x00b"}, "NUL"},
	} {
		_, err := Build(c.im)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestKernelMemory(t *testing.T) {
	for _, c := range []struct {
		name string
		k    []byte
		want int64
	}{
		{"init_size beyond the file", bzImage(0x1000, 0x10000), 2*512 + 0x10000},
		{"file beyond init_size", bzImage(0x20000, 0x100), 0x20000},
		{"setup_sects 0 means 4", func() []byte { k := bzImage(0x1000, 0x10000); k[0x1f1] = 0; return k }(), 5*512 + 0x10000},
		{"protocol before 2.10", func() []byte {
			k := bzImage(0x1000, 0x10000)
			binary.LittleEndian.PutUint16(k[0x206:], 0x0209)
			return k
		}(), 0x1000},
		{"no setup header", make([]byte, 0x1000), 0x1000},
		{"short", []byte{1, 2, 3}, 3},
	} {
		if got := kernelMemory(c.k); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
}

// TestDebianStub builds on Debian's systemd-stub: its own checksum is
// what Checksum computes, the result is laid out by the rules, and
// objdump (binutils' PE reader) lists the sections where Build put them.
func TestDebianStub(t *testing.T) {
	testenv.MustHaveFile(t, debianStub, "systemd-boot-efi")
	stub, err := os.ReadFile(debianStub)
	if err != nil {
		t.Fatal(err)
	}
	off := checksumOffset(t, stub)
	if got, want := Checksum(stub, int64(off)), binary.LittleEndian.Uint32(stub[off:]); got != want {
		t.Errorf("Checksum of Debian's stub %#x, its header says %#x", got, want)
	}
	im := testImage(stub)
	out, err := Build(im)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, stub, out, im)
	objdump := testenv.MustHaveTool(t, "objdump", "binutils")
	p := t.TempDir() + "/uki.efi"
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := exec.Command(objdump, "-h", p).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, o)
	}
	for _, s := range []string{".osrel", ".cmdline", ".uname", ".initrd", ".linux", "pei-x86-64"} {
		if !strings.Contains(string(o), s) {
			t.Errorf("objdump -h does not list %s:\n%s", s, o)
		}
	}
}
