package builder

import (
	"bytes"
	"debug/elf"
	"fmt"
	"strings"
)

// elfMachine maps GOARCH to the ELF machine a binary for it has.
var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// CheckStaticELF reports whether data is a statically linked Linux ELF
// executable for goarch. A dynamic binary is refused with its interpreter
// and needed libraries named, since the appliance has no dynamic loader.
func CheckStaticELF(data []byte, goarch string) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	want, ok := elfMachine[goarch]
	if !ok {
		return fmt.Errorf("unsupported architecture %q", goarch)
	}
	if f.Machine != want {
		return fmt.Errorf("built for %v, the image is %s (%v)", f.Machine, goarch, want)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %v is not an executable", f.Type)
	}
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("reading PT_INTERP: %w", err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	libs, _ := f.ImportedLibraries()
	if interp != "" || len(libs) > 0 {
		msg := "dynamically linked"
		if interp != "" {
			msg += "; interpreter " + interp
		}
		if len(libs) > 0 {
			msg += "; needs " + strings.Join(libs, ", ")
		}
		return fmt.Errorf("%s: the appliance has no dynamic loader or shared libraries; link it statically (for Go: CGO_ENABLED=0)", msg)
	}
	if f.Type == elf.ET_DYN && f.Entry == 0 {
		return fmt.Errorf("ELF is a shared library, not an executable")
	}
	return nil
}
