package vmm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Accel is a QEMU accelerator.
type Accel string

// The accelerators QEMUCommand accepts.
const (
	// AccelKVM runs the guest on the host CPU through /dev/kvm.
	AccelKVM Accel = "kvm"
	// AccelTCG emulates the guest CPU in software (QEMU's Tiny Code Generator).
	AccelTCG Accel = "tcg"
)

// ParseAccel accepts "kvm" or "tcg" (the values of TURBO_ACCEL).
func ParseAccel(s string) (Accel, error) {
	switch a := Accel(s); a {
	case AccelKVM, AccelTCG:
		return a, nil
	}
	return "", fmt.Errorf("accelerator %q: want kvm or tcg", s)
}

// Machine types QEMUCommand supports.
const (
	// MachineMicrovm is QEMU's minimal, fast-booting machine for direct
	// kernel boots: no PCI (unless a watchdog needs it), virtio-mmio devices,
	// ACPI only for power-off.
	MachineMicrovm = "microvm"
	// MachineQ35 is QEMU's modern PC, used for UEFI boots and wherever
	// microvm cannot serve.
	MachineQ35 = "q35"
	// MachineVirt is QEMU's arm64 virtual platform (docs/system/arm/virt):
	// PL011 UART, PSCI, a generic ECAM PCIe host bridge and a device tree.
	// It serves arm64 direct kernel boots and UEFI (AAVMF) boots alike.
	MachineVirt = "virt"
)

// DefaultBinary is the QEMU binary QEMUCommand uses when Spec.Binary is
// empty and the guest is amd64; DefaultBinaryArm64 for an arm64 guest.
const (
	DefaultBinary      = "qemu-system-x86_64"
	DefaultBinaryArm64 = "qemu-system-aarch64"
)

// BinaryFor is the default QEMU binary for a guest of goarch ("" is
// amd64).
func BinaryFor(goarch string) string {
	if goarch == "arm64" {
		return DefaultBinaryArm64
	}
	return DefaultBinary
}

// Defaults for Spec fields left zero.
const (
	DefaultCPUs      = 1
	DefaultMemoryMiB = 256
)

// TCGCPU is the -cpu model used under TCG. QEMU's own TCG default, qemu64,
// was measured here (QEMU 7.2, Linux 6.1 on microvm) to boot as fast as "max"
// or faster and is what the TSC timing in docs/design.md was measured with.
// Guest user space must therefore be built for x86-64-v1 (Go's default
// GOAMD64=v1): qemu64 has no SSSE3/SSE4/AVX.
const TCGCPU = "qemu64"

// TCGCPUArm64 is the -cpu model of an arm64 guest under TCG. QEMU's virt
// machine has no usable default (cortex-a15, a 32-bit CPU), and "max"
// enables every emulated extension, among them pointer authentication
// with the QARMA cipher, which TCG computes in software on every signed
// return. Measured here (QEMU 7.2, hello to ready, three boots each):
// guest uptime 978-1146 ms with cortex-a57, 1259-1467 ms with max (README,
// arm64). Guest user space is built for ARMv8.0 (GOARM64=v8.0), which
// cortex-a57 runs.
const TCGCPUArm64 = "cortex-a57"

// maxCmdline is the kernel's COMMAND_LINE_SIZE (2048 on x86 and arm64)
// minus its NUL.
const maxCmdline = 2047

// UEFI names the two OVMF flash images of a UEFI boot.
type UEFI struct {
	// Code is the firmware code image, mapped read-only.
	Code string
	// Vars is the variable store; QEMU writes to it, so it must be a
	// per-VM copy (see CopyVars), never the distribution's template.
	Vars string
	// SecureBoot runs a Secure Boot build of OVMF (Code from
	// FindSecureBootOVMF) as it requires: q35 with SMM on and the flash
	// writable only from SMM (-global cfi.pflash01 secure=on), so the
	// guest cannot rewrite the enrolled keys (OVMF's README, "SMM support").
	// Whether a binary boots is then the firmware's check of its signature
	// against the db in Vars.
	SecureBoot bool
}

// Disk is a virtio block device.
type Disk struct {
	// Path is the image file.
	Path string
	// ReadOnly attaches the image read-only.
	ReadOnly bool
	// Snapshot sends the guest's writes to a temporary overlay that QEMU
	// drops at exit (snapshot=on): the file is never written. For formats
	// QEMU reads but cannot write in place, like a stream-optimized VMDK
	// (block/vmdk.c writes compressed grains only by appending).
	Snapshot bool
	// Format is QEMU's block driver for the image: "raw" (default),
	// "qcow2", "vmdk" or "vpc" (VHD). QEMU cannot probe a fixed VHD (it has
	// no header, only a footer), so the format is always named.
	Format string
	// CDROM attaches the image as a read-only CD-ROM (an ISO 9660 file)
	// on q35's AHCI controller instead of a virtio disk: UEFI boots it
	// through its El Torito catalog.
	CDROM bool
}

// Net is QEMU user-mode (slirp) networking: the guest gets 10.0.2.15 by
// DHCP and reaches out through the host; Publish forwards host ports in.
type Net struct {
	// Publish lists the host ports forwarded to GuestAddr.
	Publish []PortMap
}

// Spec describes one QEMU virtual machine. Zero values take the defaults
// documented per field; QEMUCommand validates the rest.
type Spec struct {
	// Arch is the guest's GOARCH: "amd64" (default) or "arm64".
	Arch string
	// Binary is the QEMU executable (default BinaryFor(Arch)).
	Binary string
	// Machine is MachineMicrovm or MachineQ35 for amd64, MachineVirt for
	// arm64. Empty means microvm for an amd64 direct kernel boot, q35 for
	// an amd64 UEFI boot, virt for arm64. microvm cannot boot UEFI.
	Machine string
	// Accel is AccelKVM or AccelTCG (required; see ChooseAccel).
	Accel Accel
	// CPUs is the number of virtual CPUs (default 1).
	CPUs int
	// MemoryMiB is the guest RAM in MiB (default 256).
	MemoryMiB int
	// Kernel is a bzImage or a PVH-capable vmlinux ELF (amd64), or an
	// arm64 Image, for a direct kernel boot. Exactly one of Kernel and Firmware must be set.
	Kernel string
	// Initrd is the initramfs of a direct kernel boot (optional).
	Initrd string
	// Cmdline is the kernel command line of a direct kernel boot.
	Cmdline string
	// Firmware selects a UEFI boot from the disks (q35 or virt): OVMF for
	// amd64, AAVMF for arm64.
	Firmware *UEFI
	// Disks are attached as virtio-blk devices in order: the guest sees
	// Disks[0] as /dev/vda. On q35 with UEFI they get bootindex 0, 1, ...
	Disks []Disk
	// Net adds a virtio-net device on user-mode networking when not nil.
	Net *Net
	// Watchdog adds an i6300esb watchdog whose expiry resets the guest (and,
	// with NoReboot, ends QEMU). It is a PCI device: on microvm this turns on
	// microvm's PCIe host bridge (pcie=on), measured to work with QEMU 7.2
	// and Linux 6.1. The bridge is not free under TCG: hello booted 4-22%
	// slower to ready with it (bench row 1c, README "Choosing the
	// defaults"), so only the boots that arm the watchdog get it.
	Watchdog bool
	// NoReboot makes a guest reset end QEMU (-no-reboot).
	NoReboot bool
	// DebugExit adds isa-debug-exit at I/O port 0xf4: a guest write of v
	// ends QEMU with exit status (v<<1)|1 (see DebugExitValue).
	DebugExit bool
	// TSCkHz, when > 0 on a TCG direct kernel boot, appends
	// tsc_early_khz=TSCkHz to the kernel command line (unless Cmdline
	// already sets it), so the guest skips TSC calibration (see HostTSCkHz).
	// It is ignored under KVM (kvmclock), for UEFI boots and for arm64
	// (whose generic timer reports its own frequency).
	TSCkHz int
	// Serial is where the guest's first serial port goes: "stdio" (default,
	// QEMU's stdout, which Start reads), "file:PATH" or "null".
	Serial string
	// NoRNG leaves out the virtio-rng device. By default one is added: it
	// feeds the guest kernel's entropy pool at boot, which was measured here
	// to save ~1 s for the first blocking getrandom(2) (e.g. Go's crypto/rand).
	NoRNG bool
	// QMP, if set, is the path of a Unix socket on which QEMU serves its
	// machine protocol (see QMPPowerdown): the way to press the virtual
	// power button for an orderly guest shutdown.
	QMP string
	// ExtraArgs are appended verbatim after everything else.
	ExtraArgs []string
}

// QEMUCommand validates s and returns the QEMU binary and its exact argument
// list (without argv[0]). It is pure: it reads no files and runs nothing. The
// argument order is fixed, so equal specs give equal argv.
func QEMUCommand(s Spec) (bin string, args []string, err error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	arch := s.Arch
	switch arch {
	case "":
		arch = "amd64"
	case "amd64", "arm64":
	default:
		bad("arch %q: want amd64 or arm64", s.Arch)
	}
	bin = s.Binary
	if bin == "" {
		bin = BinaryFor(arch)
	}
	if _, err := ParseAccel(string(s.Accel)); err != nil {
		bad("accel: %v", err)
	}
	direct := s.Kernel != ""
	switch {
	case direct && s.Firmware != nil:
		bad("kernel and firmware are both set: choose a direct kernel boot or a UEFI boot")
	case !direct && s.Firmware == nil:
		bad("nothing to boot: set kernel (direct boot) or firmware (UEFI)")
	}
	if !direct && (s.Initrd != "" || s.Cmdline != "") {
		bad("initrd and cmdline need a kernel (a UEFI boot takes them from the disk)")
	}
	machine := s.Machine
	switch {
	case machine != "":
	case arch == "arm64":
		machine = MachineVirt
	case s.Firmware != nil:
		machine = MachineQ35
	default:
		machine = MachineMicrovm
	}
	switch {
	case arch == "arm64" && machine != MachineVirt:
		bad("machine %q: an arm64 guest needs %s", machine, MachineVirt)
	case arch == "arm64":
	case machine == MachineMicrovm:
		if s.Firmware != nil {
			bad("machine microvm cannot boot UEFI firmware: use q35")
		}
	case machine == MachineQ35:
	default:
		bad("machine %q: want %s or %s for an amd64 guest", machine, MachineMicrovm, MachineQ35)
	}
	if s.Firmware != nil && s.Firmware.SecureBoot && (arch != "amd64" || machine != MachineQ35) {
		bad("secure boot: runs here with OVMF on q35 only (an %s guest on %s)", arch, machine)
	}
	if arch == "arm64" && s.DebugExit {
		bad("debug exit: isa-debug-exit is an x86 I/O-port device; an arm64 guest has none")
	}
	if s.Firmware != nil {
		if s.Firmware.Code == "" {
			bad("firmware: code image path is empty")
		}
		if s.Firmware.Vars == "" {
			bad("firmware: vars image path is empty (make a per-VM copy with CopyVars)")
		}
		for _, c := range append(append(ovmfCandidates[:len(ovmfCandidates):len(ovmfCandidates)], aavmfCandidates...), secureBootCandidates...) {
			if s.Firmware.Vars == c.Vars {
				bad("firmware: vars %s is the distribution's template, which QEMU would modify: use a per-VM copy (CopyVars)", c.Vars)
			}
		}
	}
	cpus, mem := resources(s.CPUs, s.MemoryMiB, bad)
	if s.TSCkHz < 0 || s.TSCkHz > 0 && (s.TSCkHz < 1000 || s.TSCkHz > 100_000_000) {
		bad("tsc kHz %d: want 0 (unset) or 1000-100000000", s.TSCkHz)
	}
	cmdline := s.Cmdline
	if direct && arch == "amd64" && s.Accel == AccelTCG && s.TSCkHz > 0 && !hasParam(cmdline, "tsc_early_khz") {
		cmdline = addParam(cmdline, "tsc_early_khz="+strconv.Itoa(s.TSCkHz))
	}
	if strings.ContainsAny(cmdline, "\x00\n\r") {
		bad("cmdline contains a NUL or line break")
	}
	if len(cmdline) > maxCmdline {
		bad("cmdline is %d bytes, the kernel takes at most %d", len(cmdline), maxCmdline)
	}
	serial := s.Serial
	if serial == "" {
		serial = "stdio"
	}
	switch {
	case serial == "stdio", serial == "null":
	case strings.HasPrefix(serial, "file:"):
		if p := strings.TrimPrefix(serial, "file:"); p == "" || strings.Contains(p, ",") {
			bad("serial %q: file path is empty or contains a comma", serial)
		}
	default:
		bad("serial %q: want stdio, null or file:PATH", serial)
	}
	for i, d := range s.Disks {
		if d.Path == "" {
			bad("disk[%d]: path is empty", i)
		}
		switch d.Format {
		case "", "raw", "qcow2", "vmdk", "vpc":
		default:
			bad("disk[%d] %s: format %q: want raw, qcow2, vmdk or vpc", i, d.Path, d.Format)
		}
		if d.CDROM && machine != MachineQ35 {
			bad("disk[%d] %s: a CD-ROM needs the q35 machine (%s has no AHCI controller)", i, d.Path, machine)
		}
	}
	var publish []PortMap
	if s.Net != nil {
		var err error
		if publish, err = checkPublish(s.Net.Publish); err != nil {
			bad("net: %v", err)
		}
	}
	if len(errs) > 0 {
		return "", nil, fmt.Errorf("qemu spec: %w", errors.Join(errs...))
	}

	// Device flavour: virtio-mmio on microvm, PCI on q35 and virt (AAVMF
	// boots from virtio-pci disks; one flavour for both arm64 boots).
	blkDev, netDev, rngDev := "virtio-blk-pci", "virtio-net-pci", "virtio-rng-pci"
	if machine == MachineMicrovm {
		blkDev, netDev, rngDev = "virtio-blk-device", "virtio-net-device", "virtio-rng-device"
	}

	args = []string{"-nodefaults", "-no-user-config", "-display", "none"}
	m := machine
	if machine == MachineMicrovm {
		// acpi=on: power-off goes through microvm's ACPI GED (also the
		// QEMU default, spelled out because the init relies on it).
		// x-option-roms=off: qboot loads the kernel from fw_cfg itself, the
		// linuxboot/pvh option ROMs are not needed (bzImage and PVH
		// vmlinux both measured to boot). rtc stays at QEMU's default (on
		// under TCG): rtc=off was measured to add ~1.1 s under TCG.
		m += ",acpi=on,x-option-roms=off"
		if s.Watchdog {
			m += ",pcie=on"
		}
	}
	if machine == MachineVirt {
		// acpi=off: QEMU then offers AAVMF no ACPI tables, and AAVMF hands
		// the kernel QEMU's device tree instead (edk2 ArmVirtPkg's
		// PlatformHasAcpiDtDxe picks ACPI whenever fw_cfg has
		// etc/table-loader). The shipped arm64 fragment has no ACPI: with
		// ACPI on, its EFI stub "generated an empty DTB" and the kernel
		// found no console and no devices (measured: a silent hang).
		m += ",acpi=off"
	}
	if s.Firmware != nil && s.Firmware.SecureBoot {
		m += ",smm=on"
	}
	args = append(args, "-machine", m, "-accel", string(s.Accel))
	switch {
	case s.Accel == AccelKVM:
		args = append(args, "-cpu", "host")
	case arch == "arm64":
		args = append(args, "-cpu", TCGCPUArm64)
	default:
		args = append(args, "-cpu", TCGCPU)
	}
	args = append(args, "-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(mem))
	if s.Firmware != nil {
		if s.Firmware.SecureBoot {
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+optEscape(s.Firmware.Code),
			"-drive", "if=pflash,format=raw,unit=1,file="+optEscape(s.Firmware.Vars))
	}
	if direct {
		args = append(args, "-kernel", s.Kernel)
		if s.Initrd != "" {
			args = append(args, "-initrd", s.Initrd)
		}
		if cmdline != "" {
			args = append(args, "-append", cmdline)
		}
	}
	args = append(args, "-serial", serial)
	for i, d := range s.Disks {
		format := d.Format
		if format == "" {
			format = "raw"
		}
		id := "disk" + strconv.Itoa(i)
		drive := "file=" + optEscape(d.Path) + ",format=" + format + ",if=none,id=" + id
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		if d.Snapshot {
			drive += ",snapshot=on"
		}
		dev := blkDev + ",drive=" + id
		if d.CDROM {
			drive += ",media=cdrom,readonly=on"
			dev = "ide-cd,bus=ide." + strconv.Itoa(i) + ",drive=" + id
		}
		if s.Firmware != nil {
			dev += ",bootindex=" + strconv.Itoa(i)
		}
		args = append(args, "-drive", drive, "-device", dev)
	}
	if s.Net != nil {
		nd := "user,id=net0"
		for _, p := range publish {
			nd += ",hostfwd=" + p.hostfwd()
		}
		dev := netDev + ",netdev=net0"
		if machine != MachineMicrovm {
			// No iPXE option ROM: nothing here boots from the network, and
			// without it OVMF neither loads the driver nor tries PXE
			// (AAVMF has its own virtio-net driver; the ROM is x86 code).
			dev += ",romfile="
		}
		args = append(args, "-netdev", nd, "-device", dev)
	}
	if !s.NoRNG {
		args = append(args, "-device", rngDev)
	}
	if s.Watchdog {
		args = append(args, "-device", "i6300esb", "-watchdog-action", "reset")
	}
	if s.DebugExit {
		args = append(args, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	}
	if s.NoReboot {
		args = append(args, "-no-reboot")
	}
	if s.QMP != "" {
		args = append(args, "-qmp", "unix:"+optEscape(s.QMP)+",server=on,wait=off")
	}
	args = append(args, s.ExtraArgs...)
	return bin, args, nil
}

// DebugExitValue decodes a QEMU exit status caused by isa-debug-exit: the
// guest wrote v, QEMU exited with (v<<1)|1. ok is false for even statuses,
// which isa-debug-exit cannot produce.
func DebugExitValue(exitCode int) (v int, ok bool) {
	if exitCode <= 0 || exitCode&1 == 0 {
		return 0, false
	}
	return exitCode >> 1, true
}

// optEscape doubles commas so that a path survives QEMU's key=value,...
// option parser.
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// addParam adds a kernel parameter to cmdline: at the end, or before the
// "--" that starts the init's arguments, so that it stays a kernel parameter.
func addParam(cmdline, param string) string {
	if i := dashDash(cmdline); i >= 0 {
		return strings.TrimLeft(strings.TrimRight(cmdline[:i], " \t")+" "+param+" "+cmdline[i:], " \t")
	}
	return strings.TrimSpace(strings.TrimRight(cmdline, " \t") + " " + param)
}

// dashDash returns the byte offset of the first standalone "--" word of
// cmdline, or -1.
func dashDash(cmdline string) int {
	for i := 0; i < len(cmdline); {
		for i < len(cmdline) && (cmdline[i] == ' ' || cmdline[i] == '\t') {
			i++
		}
		j := i
		for j < len(cmdline) && cmdline[j] != ' ' && cmdline[j] != '\t' {
			j++
		}
		if cmdline[i:j] == "--" {
			return i
		}
		i = j
	}
	return -1
}

// hasParam reports whether the kernel command line sets name (as name or
// name=value), looking at whitespace-separated words before any "--".
func hasParam(cmdline, name string) bool {
	for _, w := range strings.Fields(cmdline) {
		if w == "--" {
			return false
		}
		if w == name || strings.HasPrefix(w, name+"=") {
			return true
		}
	}
	return false
}

// resources applies the defaults to a VM's CPU count and memory size and
// checks their ranges (shared by QEMU and bhyve).
func resources(cpus, memMiB int, bad func(string, ...any)) (int, int) {
	if cpus == 0 {
		cpus = DefaultCPUs
	}
	if cpus < 1 || cpus > 255 {
		bad("cpus %d: want 1-255", cpus)
	}
	if memMiB == 0 {
		memMiB = DefaultMemoryMiB
	}
	if memMiB < 16 || memMiB > 1<<20 {
		bad("memory %d MiB: want 16-1048576", memMiB)
	}
	return cpus, memMiB
}
