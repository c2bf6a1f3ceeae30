package vmm

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DefaultBhyveBootROM is where FreeBSD's edk2-bhyve package installs the
// combined UEFI firmware image.
const DefaultBhyveBootROM = "/usr/local/share/uefi-firmware/BHYVE_UEFI.fd"

// BhyveSpec describes a UEFI bhyve guest booting a turbo-image disk.
//
// Nothing bhyve-related was run while writing this package (the build host
// is Linux); the argv follows the FreeBSD bhyve(8) manual page and
// usr.sbin/bhyve in the FreeBSD source tree.
type BhyveSpec struct {
	// Name is the VM name (also /dev/vmm/NAME): at most 31 letters, digits,
	// '.', '_' and '-', starting with a letter or digit.
	Name string
	// CPUs is the number of virtual CPUs (default 1).
	CPUs int
	// MemoryMiB is the guest RAM in MiB (default 256).
	MemoryMiB int
	// Disk is the disk image (virtio-blk, PCI slot 2): a raw file or
	// device, the only disk format bhyve's block backends read.
	Disk string
	// CD is an ISO 9660 image attached instead of Disk as an ATAPI CD-ROM
	// on an AHCI controller (ahci-cd, PCI slot 2), which bhyve's UEFI
	// firmware boots through its El Torito catalog. Exactly one of Disk
	// and CD is set.
	CD string
	// BootROM is the UEFI firmware (default DefaultBhyveBootROM).
	BootROM string
	// BootVars is an optional per-VM copy of the UEFI variable store
	// (BHYVE_UEFI_VARS.fd) used with a code-only BootROM
	// (BHYVE_UEFI_CODE.fd); bhyve writes guest changes to it.
	BootVars string
	// Tap is the host tap(4) or vmnet(4) interface for virtio-net (PCI slot
	// 3), e.g. "tap0". Empty means no network device.
	Tap string
	// NoRNG leaves out the virtio-rnd entropy device (PCI slot 4).
	NoRNG bool
}

var (
	bhyveNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$`)
	bhyveTapRE  = regexp.MustCompile(`^(tap|vmnet)[0-9]+$`)
)

// BhyveCommand validates s and returns the full bhyve argv (argv[0] is
// "bhyve"). It is pure. The flags, per bhyve(8):
//
//	-c N -m NM   vCPUs and memory
//	-A           ACPI tables: needed by Linux guests on FreeBSD 13, accepted
//	             as a no-op (tables always built) on 14 and later
//	-H           yield the host CPU when the guest halts (else 100% CPU)
//	-w           ignore unimplemented MSRs, which Linux probes
//	-u           the RTC keeps UTC, as Linux expects
//	-D           destroy the VM instance on guest power-off (FreeBSD >= 13)
//	-s 0,hostbridge  -s 2,virtio-blk,DISK (or -s 2,ahci-cd,ISO)  -s 3,virtio-net,TAP
//	-s 4,virtio-rnd  -s 31,lpc   PCI slots; the LPC bridge carries com1 and
//	             the boot ROM
//	-l com1,stdio    serial console on bhyve's stdin/stdout
//	-l bootrom,ROM[,VARS]
//
// bhyve's exit status says how the guest ended: 0 reboot, 1 power-off,
// 2 halt, 3 triple fault, 4 error. After a reboot (status 0) the VM instance
// still exists; run BhyveDestroyCommand before starting it again.
func BhyveCommand(s BhyveSpec) ([]string, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !bhyveNameRE.MatchString(s.Name) {
		bad("name %q: want 1-31 of A-Z a-z 0-9 . _ -, starting with a letter or digit", s.Name)
	}
	cpus, mem := resources(s.CPUs, s.MemoryMiB, bad)
	// bhyve splits device options on commas, with no escape.
	media, dev, what := s.Disk, "virtio-blk", "disk"
	switch {
	case s.Disk != "" && s.CD != "":
		bad("disk %q and CD %q: give one", s.Disk, s.CD)
	case s.CD != "":
		media, dev, what = s.CD, "ahci-cd", "CD"
	}
	if media == "" || strings.Contains(media, ",") {
		bad("%s %q: path is empty or contains a comma", what, media)
	}
	rom := s.BootROM
	if rom == "" {
		rom = DefaultBhyveBootROM
	}
	if strings.Contains(rom, ",") {
		bad("boot ROM %q: path contains a comma", rom)
	}
	if strings.Contains(s.BootVars, ",") {
		bad("boot vars %q: path contains a comma", s.BootVars)
	}
	if s.Tap != "" && !bhyveTapRE.MatchString(s.Tap) {
		bad("tap %q: want tapN or vmnetN", s.Tap)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bhyve spec: %w", errors.Join(errs...))
	}
	args := []string{"bhyve",
		"-c", strconv.Itoa(cpus),
		"-m", strconv.Itoa(mem) + "M",
		"-A", "-H", "-w", "-u", "-D",
		"-s", "0,hostbridge",
		"-s", "2," + dev + "," + media,
	}
	if s.Tap != "" {
		args = append(args, "-s", "3,virtio-net,"+s.Tap)
	}
	if !s.NoRNG {
		args = append(args, "-s", "4,virtio-rnd")
	}
	bootrom := "bootrom," + rom
	if s.BootVars != "" {
		bootrom += "," + s.BootVars
	}
	args = append(args, "-s", "31,lpc", "-l", "com1,stdio", "-l", bootrom, s.Name)
	return args, nil
}

// BhyveDestroyCommand returns the bhyvectl(8) argv that destroys the VM
// instance name (needed after a guest reboot, or after bhyve was killed).
func BhyveDestroyCommand(name string) ([]string, error) {
	if !bhyveNameRE.MatchString(name) {
		return nil, fmt.Errorf("bhyve name %q: want 1-31 of A-Z a-z 0-9 . _ -, starting with a letter or digit", name)
	}
	return []string{"bhyvectl", "--destroy", "--vm=" + name}, nil
}
