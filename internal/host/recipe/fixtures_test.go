package recipe

import (
	"debug/elf"
	"debug/pe"
	"encoding/binary"
)

// Hand-made minimal programs for tests and the corpus: small enough to
// check in, and each made exactly as its format's specification says (see
// binaries.go), so the checks are tested against the rule, not against
// whatever one toolchain emits.

// minimalELF returns a 64-bit little-endian ELF executable for machine:
// the ELF header and one PT_LOAD program header, plus a PT_INTERP naming
// interp when interp is not "" (a dynamically linked program).
func minimalELF(machine elf.Machine, interp string) []byte {
	const ehsize, phsize = 64, 56
	nph := 1
	if interp != "" {
		nph = 2
	}
	b := make([]byte, ehsize+nph*phsize)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(machine))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], 0x400078) // entry
	le.PutUint64(b[32:], ehsize)   // phoff
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], uint16(nph))
	ph := b[ehsize:]
	le.PutUint32(ph[0:], uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_X))
	le.PutUint64(ph[16:], 0x400000) // vaddr
	le.PutUint64(ph[24:], 0x400000) // paddr
	le.PutUint64(ph[32:], uint64(len(b)))
	le.PutUint64(ph[40:], uint64(len(b)))
	le.PutUint64(ph[48:], 0x1000)
	if interp != "" {
		off := len(b)
		b = append(b, append([]byte(interp), 0)...)
		ph = b[ehsize+phsize:]
		le.PutUint32(ph[0:], uint32(elf.PT_INTERP))
		le.PutUint32(ph[4:], uint32(elf.PF_R))
		le.PutUint64(ph[8:], uint64(off))
		le.PutUint64(ph[32:], uint64(len(interp)+1))
		le.PutUint64(ph[40:], uint64(len(interp)+1))
		le.PutUint64(ph[48:], 1)
	}
	return b
}

// minimalPE returns a PE32+ image with no sections for machine and
// subsystem (pe.IMAGE_SUBSYSTEM_EFI_APPLICATION for a boot loader).
func minimalPE(machine, subsystem uint16) []byte {
	const peOff, optSize = 0x40, 240
	b := make([]byte, peOff+4+20+optSize)
	copy(b, "MZ")
	le := binary.LittleEndian
	le.PutUint32(b[0x3c:], peOff)
	copy(b[peOff:], "PE\x00\x00")
	coff := b[peOff+4:]
	le.PutUint16(coff[0:], machine)
	le.PutUint16(coff[16:], optSize)
	le.PutUint16(coff[18:], pe.IMAGE_FILE_EXECUTABLE_IMAGE)
	opt := coff[20:]
	le.PutUint16(opt[0:], 0x20b) // PE32+
	le.PutUint16(opt[68:], subsystem)
	le.PutUint32(opt[108:], 16) // NumberOfRvaAndSizes
	return b
}

// fakeBzImage returns 1 KiB carrying the x86 boot protocol's signatures.
func fakeBzImage() []byte {
	b := make([]byte, 1024)
	copy(b, "MZ")
	binary.LittleEndian.PutUint16(b[0x1fe:], 0xaa55)
	copy(b[0x202:], "HdrS")
	return b
}

// fakeArm64Image returns 1 KiB carrying the arm64 Image magic.
func fakeArm64Image() []byte {
	b := make([]byte, 1024)
	copy(b[0x38:], "ARM\x64")
	return b
}
