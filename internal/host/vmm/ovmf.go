package vmm

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// ovmfCandidates lists OVMF code/vars pairs in order of preference: Debian
// and Ubuntu's 4 MiB build first (its variable store has room for Secure
// Boot keys and more boot entries), then the 2 MiB build, then other
// distributions' layouts. Secure Boot builds are left out: they need SMM and
// enrolled keys.
var ovmfCandidates = []UEFI{
	{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"},     // Debian, Ubuntu
	{Code: "/usr/share/OVMF/OVMF_CODE.fd", Vars: "/usr/share/OVMF/OVMF_VARS.fd"},           // Debian (2 MiB), older Ubuntu
	{Code: "/usr/share/edk2/ovmf/OVMF_CODE.fd", Vars: "/usr/share/edk2/ovmf/OVMF_VARS.fd"}, // Fedora
	{Code: "/usr/share/edk2/x64/OVMF_CODE.4m.fd", Vars: "/usr/share/edk2/x64/OVMF_VARS.4m.fd"},
	{Code: "/usr/share/edk2/x64/OVMF_CODE.fd", Vars: "/usr/share/edk2/x64/OVMF_VARS.fd"},     // Arch
	{Code: "/usr/share/qemu/edk2-x86_64-code.fd", Vars: "/usr/share/qemu/edk2-i386-vars.fd"}, // QEMU's own build
}

// secureBootCandidates lists OVMF builds with Secure Boot (and SMM) in
// order of preference, each with the variable-store template a real
// machine ships: Microsoft's keys enrolled (Debian's .ms.fd, Fedora's
// .secboot.fd). A build signed with one's own db key boots under it only
// once that key is enrolled; a store of one's own is given as Vars.
var secureBootCandidates = []UEFI{
	{Code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", SecureBoot: true},          // Debian, Ubuntu
	{Code: "/usr/share/OVMF/OVMF_CODE.secboot.fd", Vars: "/usr/share/OVMF/OVMF_VARS.ms.fd", SecureBoot: true},                // Debian (2 MiB)
	{Code: "/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd", Vars: "/usr/share/edk2/ovmf/OVMF_VARS.secboot.fd", SecureBoot: true}, // Fedora
	{Code: "/usr/share/edk2/x64/OVMF_CODE.secboot.4m.fd", Vars: "/usr/share/edk2/x64/OVMF_VARS.4m.fd", SecureBoot: true},     // Arch
	{Code: "/usr/share/qemu/edk2-x86_64-secure-code.fd", Vars: "/usr/share/qemu/edk2-i386-vars.fd", SecureBoot: true},        // QEMU's own build
}

// FindSecureBootOVMF locates an OVMF build with Secure Boot and its
// variable-store template (Microsoft's keys enrolled where the
// distribution ships that). As with FindOVMF, give QEMU a copy of Vars.
func FindSecureBootOVMF() (UEFI, error) {
	for _, c := range secureBootCandidates {
		if regularFileExists(c.Code) && regularFileExists(c.Vars) {
			return c, nil
		}
	}
	var tried []string
	for _, c := range secureBootCandidates {
		tried = append(tried, c.Code)
	}
	return UEFI{}, fmt.Errorf("OVMF with Secure Boot not found (Debian/Ubuntu: install the ovmf package; Fedora: edk2-ovmf); looked for %s", strings.Join(tried, ", "))
}

// aavmfCandidates lists AAVMF (edk2's ArmVirtQemu, UEFI for QEMU's arm64
// virt machine) code/vars pairs in order of preference: Debian and
// Ubuntu's qemu-efi-aarch64, then Fedora's edk2-aarch64, then QEMU's own
// build. Each is padded to the 64 MiB the virt machine's flash banks have.
var aavmfCandidates = []UEFI{
	{Code: "/usr/share/AAVMF/AAVMF_CODE.fd", Vars: "/usr/share/AAVMF/AAVMF_VARS.fd"},                                // Debian, Ubuntu
	{Code: "/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw", Vars: "/usr/share/edk2/aarch64/vars-template-pflash.raw"}, // Fedora
	{Code: "/usr/share/qemu/edk2-aarch64-code.fd", Vars: "/usr/share/qemu/edk2-arm-vars.fd"},                        // QEMU's own build
}

// FindUEFI locates the UEFI firmware of a guest arch: OVMF for amd64 (see
// FindOVMF), AAVMF for arm64. The Vars path it returns is the read-only
// template: give QEMU a copy made with CopyVars.
func FindUEFI(goarch string) (UEFI, error) {
	if goarch != "arm64" {
		return FindOVMF()
	}
	return findAAVMF(aavmfCandidates, regularFileExists)
}

func findAAVMF(candidates []UEFI, exists func(string) bool) (UEFI, error) {
	var tried []string
	for _, c := range candidates {
		if exists(c.Code) && exists(c.Vars) {
			return c, nil
		}
		tried = append(tried, c.Code)
	}
	return UEFI{}, fmt.Errorf("AAVMF UEFI firmware for arm64 not found (Debian/Ubuntu: install qemu-efi-aarch64; Fedora: edk2-aarch64); looked for %s", strings.Join(tried, ", "))
}

func regularFileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// FindOVMF locates an OVMF firmware pair (code and variable-store template)
// on the host, preferring Debian's 4 MiB build. The Vars path it returns is
// the read-only template: give QEMU a copy made with CopyVars.
func FindOVMF() (UEFI, error) {
	return findOVMF(ovmfCandidates, regularFileExists)
}

func findOVMF(candidates []UEFI, exists func(string) bool) (UEFI, error) {
	for _, c := range candidates {
		if exists(c.Code) && exists(c.Vars) {
			return c, nil
		}
	}
	var tried []string
	for _, c := range candidates {
		tried = append(tried, c.Code)
	}
	return UEFI{}, fmt.Errorf("OVMF UEFI firmware not found (Debian/Ubuntu: install the ovmf package; Fedora: edk2-ovmf; Arch: edk2-ovmf); looked for %s", strings.Join(tried, ", "))
}

// CopyVars makes the writable per-VM copy of the OVMF variable-store
// template src in dir and returns its path, dir/<base name of src>. An
// existing copy is replaced, so every call starts from the pristine
// template; reuse the returned path to keep variables across boots. The copy
// is written to a temporary file in dir, synced and renamed into place.
func CopyVars(src, dir string) (path string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("copy UEFI vars: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", fmt.Errorf("copy UEFI vars: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("copy UEFI vars: %s is not a regular file", src)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	err = atomicfile.Write(dst, fs.FileMode(0o644), func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("copy UEFI vars %s to %s: %w", src, dir, err)
	}
	return dst, nil
}
