package recipe

import (
	"bytes"
	"debug/elf"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// This file checks the programs a recipe names (services' binaries, the
// kernel, the boot loader) by their content, so a wrong file is refused
// with the other recipe problems instead of failing (or worse, building)
// later. The rules follow the formats' own specifications:
//   - ELF: the System V ABI (as read by Go's debug/elf); a static
//     executable has no PT_INTERP and no DT_NEEDED entries.
//   - PE/COFF: Microsoft's PE format specification (as read by debug/pe);
//     an EFI application has subsystem IMAGE_SUBSYSTEM_EFI_APPLICATION (10)
//     and the machine type of its architecture (UEFI specification, 2.3).
//   - x86 bzImage: the Linux x86 boot protocol
//     (Documentation/arch/x86/boot.rst): 0xAA55 at 0x1FE and "HdrS" at
//     0x202.
//   - arm64 Image: Documentation/arch/arm64/booting.rst: the magic
//     "ARM\x64" at offset 0x38.

// elfMachine maps an arch to the ELF machine a binary for it has.
var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// machineName names an ELF machine by its Go arch when it has one:
// "arm64 (EM_AARCH64)", else as debug/elf does ("EM_RISCV").
func machineName(m elf.Machine) string {
	for arch, em := range elfMachine {
		if em == m {
			return fmt.Sprintf("%s (%v)", arch, m)
		}
	}
	return m.String()
}

// CheckStaticELF reports whether data is a statically linked Linux ELF
// executable for arch ("amd64" or "arm64"). A script, a dynamic binary or
// a binary for another machine is refused with what it is.
func CheckStaticELF(data []byte, arch string) error {
	if bytes.HasPrefix(data, []byte("#!")) {
		line, _, _ := strings.Cut(string(data[:min(len(data), 80)]), "\n")
		return fmt.Errorf("is a script (%s), not an ELF executable; the appliance runs static executables only", quoteShort(line))
	}
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return errors.New("is not an ELF executable (no ELF header)")
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("is not a valid ELF executable: %w", err)
	}
	defer f.Close()
	want, ok := elfMachine[arch]
	if !ok {
		return fmt.Errorf("unsupported architecture %q", arch)
	}
	if f.Machine != want {
		return fmt.Errorf("is built for %s, but the image is %s (%v)", machineName(f.Machine), arch, want)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("is an ELF %v, not an executable", f.Type)
	}
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, min(p.Filesz, 4096))
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("is a damaged ELF file (PT_INTERP: %v)", err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	libs, _ := f.ImportedLibraries()
	if interp != "" || len(libs) > 0 {
		msg := "is dynamically linked"
		if interp != "" {
			msg += "; interpreter " + plain(interp)
		}
		if len(libs) > 0 {
			msg += "; needs " + strings.Join(libs, ", ")
		}
		return fmt.Errorf("%s: the appliance has no dynamic loader or shared libraries; link it statically (for Go: CGO_ENABLED=0)", msg)
	}
	if f.Type == elf.ET_DYN && f.Entry == 0 {
		return errors.New("is a shared library, not an executable")
	}
	return nil
}

// peMachine maps an arch to the PE machine type of its EFI binaries.
var peMachine = map[string]uint16{
	"amd64": pe.IMAGE_FILE_MACHINE_AMD64,
	"arm64": pe.IMAGE_FILE_MACHINE_ARM64,
}

// CheckEFIApp reports whether data is a UEFI application (a PE image with
// the EFI application subsystem) for arch, as a boot loader must be.
func CheckEFIApp(data []byte, arch string) error {
	if !bytes.HasPrefix(data, []byte("MZ")) {
		return errors.New("is not an EFI application (no PE/COFF \"MZ\" header)")
	}
	f, err := pe.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("is not a valid EFI application: %w", err)
	}
	defer f.Close()
	var subsystem uint16
	switch h := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		subsystem = h.Subsystem
	case *pe.OptionalHeader32:
		subsystem = h.Subsystem
	default:
		return errors.New("is a PE file without an optional header, not an EFI application")
	}
	if subsystem != pe.IMAGE_SUBSYSTEM_EFI_APPLICATION {
		return fmt.Errorf("is a PE file of subsystem %d, not an EFI application (%d)", subsystem, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION)
	}
	if want := peMachine[arch]; f.Machine != want {
		return fmt.Errorf("is an EFI application for machine %#x, but the image is %s (%#x)", f.Machine, arch, want)
	}
	return nil
}

// CheckKernelImage reports whether data is a Linux kernel image the arch
// boots: an x86 bzImage for amd64, an arm64 Image for arm64.
func CheckKernelImage(data []byte, arch string) error {
	isBz := len(data) >= 0x206 && binary.LittleEndian.Uint16(data[0x1fe:]) == 0xaa55 && string(data[0x202:0x206]) == "HdrS"
	isArm := len(data) >= 0x40 && string(data[0x38:0x3c]) == "ARM\x64"
	switch {
	case arch == "amd64" && isBz, arch == "arm64" && isArm:
		return nil
	case isBz:
		return fmt.Errorf("is an x86 bzImage, but the image is %s", arch)
	case isArm:
		return fmt.Errorf("is an arm64 Image, but the image is %s", arch)
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		return errors.New("is gzip-compressed; give the uncompressed kernel Image")
	case bytes.HasPrefix(data, []byte(elf.ELFMAG)):
		return errors.New("is an ELF file (vmlinux?), not a bootable kernel image; give arch/x86/boot/bzImage or arch/arm64/boot/Image")
	case arch == "arm64":
		return errors.New("is not an arm64 Linux kernel Image (no \"ARM\\x64\" magic at offset 0x38)")
	default:
		return errors.New("is not an x86 Linux bzImage (no boot-protocol header \"HdrS\" at offset 0x202)")
	}
}

// plain returns s as is when it is printable, else quoted, so a message
// stays one line.
func plain(s string) string {
	if hasControl(s) || len(s) > 200 {
		return quoteShort(s)
	}
	return s
}
