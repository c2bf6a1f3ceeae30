package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Section names of the UKI specification ("UKI Components").
const (
	SectionLinux   = ".linux"
	SectionOSRel   = ".osrel"
	SectionCmdline = ".cmdline"
	SectionInitrd  = ".initrd"
	SectionUname   = ".uname"
)

// ukiSections are the sections a stub must not already carry: a stub that
// has one is a UKI itself, and a second copy would be ambiguous.
var ukiSections = []string{SectionLinux, SectionOSRel, SectionCmdline, SectionInitrd, SectionUname,
	".splash", ".dtb", ".pcrsig", ".pcrpkey", ".ucode", ".profile"}

// Image is what a UKI is made of.
type Image struct {
	// Stub is the EFI stub, a PE32+ EFI application (linuxx64.efi.stub).
	Stub []byte
	// Linux is the kernel image (an x86 bzImage with the EFI handover
	// entry, or an arm64 Image with its EFI stub).
	Linux []byte
	// Initrd is the initramfs; nil for none.
	Initrd []byte
	// Cmdline is the kernel command line; "" for none.
	Cmdline string
	// OSRelease is the os-release(5) text the boot loader shows; nil for
	// none.
	OSRelease []byte
	// Uname is the kernel release (`uname -r`); "" for none.
	Uname string
}

// PE section characteristics (PE Format, "Section Flags").
const (
	scnCode        = 0x00000020 // IMAGE_SCN_CNT_CODE
	scnInitialized = 0x00000040 // IMAGE_SCN_CNT_INITIALIZED_DATA
	scnExecute     = 0x20000000 // IMAGE_SCN_MEM_EXECUTE
	scnRead        = 0x40000000 // IMAGE_SCN_MEM_READ
)

// Offsets in the headers (PE Format: "COFF File Header", "Optional Header
// Windows-Specific Fields (Image Only)", PE32+ layout).
const (
	offLfanew          = 0x3c // MS-DOS stub: file offset of the PE signature
	coffSize           = 20
	sectionHeaderSize  = 40
	optSizeOfCode      = 4
	optSizeOfInitData  = 8
	optSectionAlign    = 32
	optFileAlign       = 36
	optSizeOfImage     = 56
	optSizeOfHeaders   = 60
	optCheckSum        = 64
	optNumberOfRva     = 108
	optDataDirectories = 112
	dirSecurity        = 4 // the certificate table (Authenticode signatures)
)

// section is one section to append.
type section struct {
	name        string
	data        []byte
	virtualSize uint32
	flags       uint32
}

// sections lists the image's sections in the order they are written: as
// ukify does, the kernel last.
func (im Image) sections() ([]section, error) {
	data := func(name string, b []byte) section {
		return section{name: name, data: b, virtualSize: uint32(len(b)), flags: scnInitialized | scnRead}
	}
	var out []section
	if len(im.OSRelease) > 0 {
		out = append(out, data(SectionOSRel, im.OSRelease))
	}
	if im.Cmdline != "" {
		if strings.ContainsRune(im.Cmdline, 0) {
			return nil, errors.New("uki: the command line holds a NUL byte")
		}
		out = append(out, data(SectionCmdline, []byte(im.Cmdline)))
	}
	if im.Uname != "" {
		out = append(out, data(SectionUname, []byte(im.Uname)))
	}
	if len(im.Initrd) > 0 {
		out = append(out, data(SectionInitrd, im.Initrd))
	}
	if len(im.Linux) == 0 {
		return nil, errors.New("uki: no kernel")
	}
	// The x86 stub of systemd 252 starts the kernel where it lies in the
	// loaded image (EFI handover protocol) and the kernel's own EFI stub
	// decompresses it there unless it must move it: give .linux the memory
	// the kernel asks for (its virtual size, zero-filled by the loader,
	// costs no file bytes). The section is code the firmware must let run.
	out = append(out, section{name: SectionLinux, data: im.Linux, virtualSize: uint32(kernelMemory(im.Linux)),
		flags: scnCode | scnInitialized | scnRead | scnExecute})
	return out, nil
}

// kernelMemory is the memory an x86 bzImage needs from its first byte:
// the real-mode setup ((setup_sects+1)*512, setup_sects 0 meaning 4) plus
// init_size, the linear memory the kernel needs to decompress and start
// (Documentation/arch/x86/boot.rst, setup header fields at 0x1F1 and
// 0x260, boot protocol 2.10 and later). Anything else (an arm64 Image) is
// its length.
func kernelMemory(k []byte) int64 {
	n := int64(len(k))
	if len(k) < 0x264 || string(k[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(k[0x206:]) < 0x020a {
		return n
	}
	setup := int64(k[0x1f1])
	if setup == 0 {
		setup = 4
	}
	need := (setup+1)*512 + int64(binary.LittleEndian.Uint32(k[0x260:]))
	return max(n, need)
}

func alignUp(v, a int64) int64 { return (v + a - 1) / a * a }

// Build returns the UKI of im: the stub with the image's sections added.
//
// Following the PE format: the new section headers go into the free
// space after the stub's section table (the headers, SizeOfHeaders, are
// not grown; a stub without room is refused). Each section's data starts
// at the end of the previous one's raw data, aligned to FileAlignment,
// and SizeOfRawData is its length rounded up to FileAlignment, zero
// padded. Sections are adjacent in memory in ascending order: each
// VirtualAddress is the end of the previous section (or the stub's
// SizeOfImage) rounded up to SectionAlignment; VirtualSize is the exact
// length, which is what systemd-stub reads as the section's size.
// SizeOfImage, NumberOfSections, SizeOfCode and SizeOfInitializedData
// are updated and the image checksum recomputed. The stub's COFF symbol
// table, which "should be zero for an image" (PE Format) and would sit
// in the middle of the new file, and its certificate table, whose
// signature no longer covers the result, are dropped; sign the UKI
// itself.
func Build(im Image) ([]byte, error) {
	secs, err := im.sections()
	if err != nil {
		return nil, err
	}
	f, err := pe.NewFile(bytes.NewReader(im.Stub))
	if err != nil {
		return nil, fmt.Errorf("uki: stub: %w", err)
	}
	defer f.Close()
	opt, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return nil, errors.New("uki: stub: not a PE32+ image")
	}
	if opt.Subsystem != pe.IMAGE_SUBSYSTEM_EFI_APPLICATION {
		return nil, fmt.Errorf("uki: stub: subsystem %d, not an EFI application", opt.Subsystem)
	}
	for _, s := range f.Sections {
		for _, n := range ukiSections {
			if s.Name == n {
				return nil, fmt.Errorf("uki: stub already has a %s section (is it a UKI?)", n)
			}
		}
	}
	fileAlign, secAlign := int64(opt.FileAlignment), int64(opt.SectionAlignment)
	if fileAlign < 512 || fileAlign&(fileAlign-1) != 0 || secAlign < fileAlign || secAlign&(secAlign-1) != 0 {
		return nil, fmt.Errorf("uki: stub: FileAlignment %d / SectionAlignment %d: want powers of two, 512 <= FileAlignment <= SectionAlignment (PE Format)", fileAlign, secAlign)
	}

	stub := im.Stub
	peOff := int64(binary.LittleEndian.Uint32(stub[offLfanew:]))
	coff := peOff + 4
	optOff := coff + coffSize
	tableOff := optOff + int64(f.FileHeader.SizeOfOptionalHeader)
	nOld := int64(len(f.Sections))
	tableEnd := tableOff + (nOld+int64(len(secs)))*sectionHeaderSize

	// The end of the stub's headers and sections, in the file and in
	// memory.
	firstRaw, rawEnd := int64(opt.SizeOfHeaders), int64(0)
	virtEnd := int64(opt.SizeOfImage)
	for _, s := range f.Sections {
		if s.Size > 0 {
			firstRaw = min(firstRaw, int64(s.Offset))
			rawEnd = max(rawEnd, int64(s.Offset)+int64(s.Size))
		}
		virtEnd = max(virtEnd, int64(s.VirtualAddress)+int64(s.VirtualSize))
	}
	if tableEnd > firstRaw {
		return nil, fmt.Errorf("uki: stub: no room for %d more section headers (table ends at %#x, headers at %#x)", len(secs), tableEnd, firstRaw)
	}
	if rawEnd > int64(len(stub)) {
		return nil, errors.New("uki: stub: a section lies past the end of the file")
	}
	rawEnd = alignUp(max(rawEnd, int64(opt.SizeOfHeaders)), fileAlign)

	// Lay the sections out.
	type placed struct {
		section
		va, raw, rawSize int64
	}
	var ps []placed
	va, raw := alignUp(virtEnd, secAlign), rawEnd
	var addCode, addData int64
	for _, s := range secs {
		p := placed{section: s, va: va, raw: raw, rawSize: alignUp(int64(len(s.data)), fileAlign)}
		ps = append(ps, p)
		if s.flags&scnCode != 0 {
			addCode += p.rawSize
		} else {
			addData += p.rawSize
		}
		va = alignUp(va+int64(s.virtualSize), secAlign)
		raw += p.rawSize
	}
	if va > 1<<32-1 || raw > 1<<32-1 {
		return nil, fmt.Errorf("uki: %d bytes in memory, %d in the file: past what PE32+ can address (4 GiB)", va, raw)
	}

	out := make([]byte, raw)
	copy(out, stub[:min(int64(len(stub)), rawEnd)])
	le := binary.LittleEndian
	// COFF header: section count, no symbol table.
	le.PutUint16(out[coff+2:], uint16(nOld+int64(len(secs))))
	le.PutUint32(out[coff+8:], 0)
	le.PutUint32(out[coff+12:], 0)
	// Optional header.
	le.PutUint32(out[optOff+optSizeOfCode:], uint32(int64(opt.SizeOfCode)+addCode))
	le.PutUint32(out[optOff+optSizeOfInitData:], uint32(int64(opt.SizeOfInitializedData)+addData))
	le.PutUint32(out[optOff+optSizeOfImage:], uint32(va))
	if opt.NumberOfRvaAndSizes > dirSecurity {
		d := optOff + optDataDirectories + dirSecurity*8
		le.PutUint64(out[d:], 0)
	}
	// Section headers.
	for i, p := range ps {
		h := out[tableOff+(nOld+int64(i))*sectionHeaderSize:][:sectionHeaderSize]
		clear(h)
		copy(h[:8], p.name)
		le.PutUint32(h[8:], p.virtualSize)
		le.PutUint32(h[12:], uint32(p.va))
		le.PutUint32(h[16:], uint32(p.rawSize))
		le.PutUint32(h[20:], uint32(p.raw))
		le.PutUint32(h[36:], p.flags)
		copy(out[p.raw:], p.data)
	}
	le.PutUint32(out[optOff+optCheckSum:], Checksum(out, optOff+optCheckSum))
	return out, nil
}

// Checksum is the PE image checksum (the algorithm of imagehlp's
// CheckSumMappedFile, which the PE Format names for the CheckSum field):
// the file as 16-bit little-endian words summed with the carry folded
// back, the 4-byte CheckSum field at sumOff counted as zero, plus the
// file's length.
func Checksum(b []byte, sumOff int64) uint32 {
	var sum uint64
	for i := int64(0); i < int64(len(b)); i += 2 {
		var w uint64
		if i >= sumOff && i < sumOff+4 {
			w = 0
		} else if i+1 < int64(len(b)) {
			w = uint64(b[i]) | uint64(b[i+1])<<8
		} else {
			w = uint64(b[i])
		}
		sum += w
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(b))
}
