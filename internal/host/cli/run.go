package cli

import (
	"context"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/format/vdisk"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// runFlags are the flags of `turbo-image run`.
type runFlags struct {
	publish     stringList
	timeout     time.Duration
	exitOnReady bool
	dryRun      bool
	accel       string
	memory      int
	cpus        int
	maxBoots    int
	cmdline     string
	qemu        string
	tsc         bool
	secureBoot  bool
	uefiVars    string
	boot        string
	vmm         string
	tap         string
	json        bool
	// jail (--vmm jail)
	net    string
	data   string
	hostOS string
	ip4    string
}

// Boot modes of `run`.
const (
	bootInitramfs = "initramfs" // the build's kernel and initramfs, directly
	bootDisk      = "disk"      // turbo direct boot: the host reads the disk's ESP and boots the entry systemd-boot would
	bootUEFI      = "uefi"      // OVMF firmware, then systemd-boot from the disk
	bootUKI       = "uki"       // OVMF firmware starts uki.efi, from a hybrid ISO attached as a disk
	bootISO       = "iso"       // OVMF firmware boots live.iso from a CD-ROM
)

// usesFirmware reports whether a boot mode starts OVMF.
func usesFirmware(mode string) bool { return mode == bootUEFI || mode == bootUKI || mode == bootISO }

// bootTarget is what a build directory (or a bare disk image) offers to
// boot.
type bootTarget struct {
	name, version string
	// arch is the image's GOARCH from its manifest ("" for a bare file:
	// amd64, unless its boot loader says arm64, see bareArch).
	arch    string
	cmdline string
	kernel  string
	initrd  string
	disk    string
	// diskFormat is the disk's virtual disk format (vdisk.Detect: "qcow2",
	// "vmdk", "vhd"), or "" for a raw disk. Such a disk boots only under
	// UEFI: turbo direct boot and trial following read the ESP on the
	// host, which works on raw disks only.
	diskFormat string
	// uki and iso are the build's Unified Kernel Image and hybrid ISO, or
	// a bare one given to run; ukiDisk is the temporary hybrid image run
	// puts the UKI on (see ukiDisk).
	uki, iso, ukiDisk string
}

func loadTarget(ctx context.Context, path string) (*bootTarget, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		switch kind, err := sniffBootFile(path); {
		case err != nil:
			return nil, err
		case kind == bootUKI:
			return &bootTarget{name: filepath.Base(path), uki: path, arch: ukiArch(path)}, nil
		case kind == bootISO:
			return &bootTarget{name: filepath.Base(path), iso: path}, nil
		}
		// A bare disk image: all it offers is the disk.
		format, err := detectDisk(path)
		if err != nil {
			return nil, err
		}
		t := &bootTarget{name: filepath.Base(path), disk: path, diskFormat: format}
		if format == "" {
			t.arch = bareDiskArch(path)
		}
		return t, nil
	}
	// The folder is read as every command reads one (manifest.LoadDir),
	// except that disk.img, which run boots in place (its boot counters
	// move), need only be a regular file.
	d, err := manifest.ReadDir(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := d.VerifyExcept(ctx, builder.DiskFile); err != nil {
		return nil, err
	}
	return targetOf(path, d.Manifest), nil
}

// targetOf is the boot target of the build folder path with manifest m.
func targetOf(path string, m *manifest.Manifest) *bootTarget {
	t := &bootTarget{name: m.Name, version: m.Version, cmdline: m.Cmdline, arch: m.Arch}
	for _, a := range m.Artifacts {
		p := filepath.Join(path, a.Name)
		switch {
		case a.Name == builder.KernelFile:
			t.kernel = p
		case strings.HasPrefix(a.Name, builder.InitramfsPre+"."):
			t.initrd = p
		case a.Name == builder.DiskFile:
			t.disk = p
		case a.Name == builder.UKIFile:
			t.uki = p
		case a.Name == builder.ISOFile:
			t.iso = p
		}
	}
	return t
}

// bareDiskArch tells the arch of a raw disk image without its build
// folder by the boot loader on its ESP: arm64 if it has UEFI's arm64
// removable-media loader EFI/BOOT/BOOTAA64.EFI, else "" (amd64). A disk
// whose ESP cannot be read is left to the boot to report.
func bareDiskArch(path string) string {
	d, err := diskimage.Open(path, false)
	if err != nil {
		return ""
	}
	defer d.Close()
	esp, err := d.ESP()
	if err != nil {
		return ""
	}
	if _, err := esp.Stat("EFI/BOOT/BOOTAA64.EFI"); err == nil {
		return "arm64"
	}
	return ""
}

// ukiArch tells the arch of a bare UKI by its PE machine type.
func ukiArch(path string) string {
	f, err := pe.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if f.Machine == pe.IMAGE_FILE_MACHINE_ARM64 {
		return "arm64"
	}
	return ""
}

// defaultBoot picks the boot mode when --boot is not given: the
// self-contained initramfs when the build has one, else the disk by turbo
// direct boot.
func (t *bootTarget) defaultBoot() string {
	switch {
	case t.initrd != "" && t.kernel != "":
		return bootInitramfs
	case t.disk == "" && t.uki != "":
		return bootUKI
	case t.disk == "" && t.iso != "":
		return bootISO
	}
	if t.diskFormat != "" {
		return bootUEFI
	}
	return bootDisk
}

// detectDisk returns the virtual disk format of the image at path, or ""
// for a raw one.
func detectDisk(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return vdisk.Detect(f, size), nil
}

// planQEMU maps a target and the run flags to a VM spec for one boot. It
// is pure: a disk boot's kernel, initrd and command line come in through
// entry (chosen from the disk's ESP by the caller), a UEFI boot's firmware
// through fw.
func planQEMU(t *bootTarget, f *runFlags, mode string, accel vmm.Accel, tscKHz int, entry *diskBoot, fw *vmm.UEFI) (vmm.Spec, error) {
	spec := vmm.Spec{
		Arch:      t.arch,
		Binary:    f.qemu,
		Accel:     accel,
		CPUs:      f.cpus,
		MemoryMiB: f.memory,
		NoReboot:  true,
		Net:       &vmm.Net{},
	}
	if accel == vmm.AccelTCG {
		spec.TSCkHz = tscKHz
	}
	for _, p := range f.publish {
		pm, err := vmm.ParsePortMap(p)
		if err != nil {
			return vmm.Spec{}, fmt.Errorf("--publish %s: %w", p, err)
		}
		spec.Net.Publish = append(spec.Net.Publish, pm)
	}
	switch mode {
	case bootInitramfs:
		if t.kernel == "" || t.initrd == "" {
			return vmm.Spec{}, fmt.Errorf("%s has no kernel and initramfs to boot; try --boot disk", t.name)
		}
		spec.Machine = directMachine(t)
		spec.Kernel, spec.Initrd = t.kernel, t.initrd
		spec.Cmdline = strings.TrimSpace(t.cmdline + " " + f.cmdline)
	case bootDisk:
		if t.diskFormat != "" {
			return vmm.Spec{}, fmt.Errorf("%s is a %s image: turbo direct boot reads the ESP of raw disks only; boot it with --boot uefi", t.name, t.diskFormat)
		}
		if t.disk == "" || entry == nil {
			return vmm.Spec{}, fmt.Errorf("%s has no disk image", t.name)
		}
		spec.Machine = directMachine(t)
		spec.Kernel, spec.Initrd = entry.kernel, entry.initrd
		spec.Cmdline = strings.TrimSpace(entry.cmdline + " " + f.cmdline)
		spec.Disks = []vmm.Disk{{Path: t.disk}}
		spec.Watchdog = true
	case bootUEFI:
		if t.disk == "" || fw == nil {
			return vmm.Spec{}, fmt.Errorf("%s has no disk image", t.name)
		}
		if f.cmdline != "" {
			return vmm.Spec{}, errors.New("--cmdline cannot reach a UEFI boot: the command line is in the disk's boot entries")
		}
		spec.Machine = uefiMachine(t)
		spec.Firmware = fw
		// QEMU cannot write a stream-optimized VMDK in place (it only
		// appends grains), and the guest writes (boot counters, /data):
		// those writes go to a temporary overlay.
		spec.Disks = []vmm.Disk{{Path: t.disk, Format: vdisk.QEMUFormat(t.diskFormat), Snapshot: t.diskFormat == vdisk.VMDK}}
		spec.Watchdog = true
	case bootUKI, bootISO:
		if f.cmdline != "" {
			return vmm.Spec{}, fmt.Errorf("--cmdline cannot reach a %s boot: the command line is in the UKI", mode)
		}
		if fw == nil {
			return vmm.Spec{}, errors.New("no UEFI firmware")
		}
		spec.Machine = uefiMachine(t)
		spec.Firmware = fw
		if mode == bootISO {
			if t.arch == "arm64" {
				return vmm.Spec{}, errors.New("--boot iso: QEMU's arm64 virt machine has no AHCI CD-ROM here; boot the disk (--boot uefi) or the UKI (--boot uki)")
			}
			if t.iso == "" {
				return vmm.Spec{}, fmt.Errorf("%s has no ISO (outputs: [iso])", t.name)
			}
			spec.Disks = []vmm.Disk{{Path: t.iso, CDROM: true}}
		} else {
			if t.ukiDisk == "" {
				return vmm.Spec{}, fmt.Errorf("%s has no UKI (outputs: [uki])", t.name)
			}
			spec.Disks = []vmm.Disk{{Path: t.ukiDisk, ReadOnly: true}}
		}
	default:
		return vmm.Spec{}, fmt.Errorf("--boot %q: want initramfs, disk, uefi, uki or iso", mode)
	}
	return spec, nil
}

// directMachine is the machine of a direct kernel boot: microvm, or virt
// for arm64.
func directMachine(t *bootTarget) string {
	if t.arch == "arm64" {
		return vmm.MachineVirt
	}
	return vmm.MachineMicrovm
}

// uefiMachine is the machine of a UEFI boot: q35, or virt for arm64.
func uefiMachine(t *bootTarget) string {
	if t.arch == "arm64" {
		return vmm.MachineVirt
	}
	return vmm.MachineQ35
}

func runRun(ctx context.Context, e *Env, args []string) error {
	f := &runFlags{}
	fs := newFlagSet(e, "run", commands()["run"].usage)
	fs.Var(&f.publish, "publish", "forward a host port to the guest: `PORTS` is HOST:GUEST[/udp] or ADDR:HOST:GUEST (repeatable)")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up after this long (0: no limit)")
	fs.BoolVar(&f.exitOnReady, "exit-on-ready", false, "stop the VM and exit 0 once the appliance reports ready")
	fs.BoolVar(&f.json, "json", false, "with --exit-on-ready: print the boot's outcome as JSON (schema "+SchemaRun+", see docs/json.md) on stdout; the console goes to stderr")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the exact VMM command and exit")
	fs.StringVar(&f.boot, "boot", "", "boot `MODE`: initramfs, disk (turbo direct boot of disk.img), uefi (OVMF + systemd-boot), uki (OVMF starts uki.efi) or iso (OVMF boots live.iso from a CD-ROM); default: initramfs if the build has one, else disk (uefi for a qcow2, VMDK or VHD file; uki or iso for a bare uki.efi or live.iso)")
	fs.StringVar(&f.vmm, "vmm", "qemu", "which `VMM`: qemu; jail (no VM: the initramfs in Linux namespaces on this host); or bhyve (with --dry-run: print the bhyve command for a FreeBSD host)")
	fs.StringVar(&f.net, "net", "host", "jail: the `NETWORK`, host (ports bind on the host) or private (own network namespace, joined to the host by pasta; --publish maps ports)")
	fs.StringVar(&f.data, "data", "", "jail: mount host `DIR` at /data (created if missing; it persists)")
	fs.StringVar(&f.hostOS, "os", "linux", "jail with --dry-run: the host `OS`, linux (print the plan) or freebsd (print the jail(8) command)")
	fs.StringVar(&f.ip4, "ip4", "", "jail --os freebsd: the jail's IPv4 `ADDRESS` (ip4.addr; default: inherit the host's)")
	fs.StringVar(&f.tap, "tap", "tap0", "bhyve: the tap `INTERFACE` for the guest's network")
	fs.StringVar(&f.accel, "accel", "", "accelerator `ACCEL`, kvm or tcg (default: $TURBO_ACCEL, else probe KVM and fall back to TCG)")
	fs.IntVar(&f.memory, "memory", 256, "guest memory in `MIB`")
	fs.IntVar(&f.cpus, "cpus", 1, "virtual CPUs")
	fs.IntVar(&f.maxBoots, "max-boots", 1, "boot again after a guest reboot, up to this many boots in all")
	fs.StringVar(&f.cmdline, "cmdline", "", "extra kernel command-line `WORDS` (initramfs and disk boots)")
	fs.StringVar(&f.qemu, "qemu", "", "QEMU `BINARY` (default: "+vmm.DefaultBinary+", or "+vmm.DefaultBinaryArm64+" for an arm64 image)")
	fs.BoolVar(&f.secureBoot, "secure-boot", false, "UEFI boots: OVMF with Secure Boot enforced (SMM on); the firmware boots only binaries signed by a key in the variable store's db (default store: the distribution's, with Microsoft's keys; see --uefi-vars)")
	fs.StringVar(&f.uefiVars, "uefi-vars", "", "UEFI boots: the OVMF variable store `FILE` to start from, e.g. one with your own db key enrolled (copied per run, never written)")
	fs.BoolVar(&f.tsc, "tsc", true, "under TCG, pass the host TSC frequency to the guest (tsc_early_khz; avoids flaky TSC calibration)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one build directory or disk image")
	}
	if f.json && (!f.exitOnReady || f.dryRun) {
		return usagef("--json reports the outcome of --exit-on-ready (and not with --dry-run)")
	}
	if f.maxBoots < 1 {
		return usagef("--max-boots must be at least 1")
	}
	t, err := loadTarget(ctx, pos[0])
	if err != nil {
		return err
	}
	mode := f.boot
	if mode == "" {
		mode = t.defaultBoot()
	}
	switch f.vmm {
	case "qemu":
	case "bhyve":
		if t.arch == "arm64" {
			return errors.New("--vmm bhyve plans amd64 guests only (FreeBSD's bhyve on arm64 hosts takes other flags); run an arm64 image with --vmm qemu")
		}
		return runBhyve(e, t, f, mode)
	case "jail":
		if t.arch != "" && t.arch != runtime.GOARCH && !(f.dryRun && f.hostOS == "freebsd") {
			return fmt.Errorf("--vmm jail runs the image's programs on this host's CPU: this %s image needs a host of that arch; use --vmm qemu", t.arch)
		}
		return runJail(ctx, e, t, f)
	default:
		return usagef("--vmm %q: want qemu, jail or bhyve", f.vmm)
	}
	if f.qemu == "" {
		f.qemu = vmm.BinaryFor(t.arch)
	}
	accel, why, err := chooseAccel(ctx, e, f, t.arch)
	if err != nil {
		return err
	}
	tsc := 0
	if accel == vmm.AccelTCG && f.tsc && !usesFirmware(mode) && t.arch != "arm64" {
		tsc, err = hostTSCkHz(e)
		if err != nil {
			fmt.Fprintf(e.Stderr, "turbo-image: no host TSC frequency (%v); the guest calibrates its own\n", err)
		}
	}
	tmp, err := os.MkdirTemp("", "turbo-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if mode == bootUKI {
		if t.uki == "" {
			return fmt.Errorf("%s has no UKI (outputs: [uki])", t.name)
		}
		if t.ukiDisk, err = ukiDisk(t.uki, tmp); err != nil {
			return err
		}
	}
	var fw *vmm.UEFI
	if (f.secureBoot || f.uefiVars != "") && !usesFirmware(mode) {
		return usagef("--secure-boot and --uefi-vars need a UEFI boot (--boot uefi, uki or iso), not --boot %s", mode)
	}
	if usesFirmware(mode) {
		find := func() (vmm.UEFI, error) { return vmm.FindUEFI(t.arch) }
		if f.secureBoot {
			if t.arch == "arm64" {
				return errors.New("--secure-boot: Secure Boot runs here with OVMF on x86 only")
			}
			find = vmm.FindSecureBootOVMF
		}
		ovmf, err := find()
		if err != nil {
			return err
		}
		template := ovmf.Vars
		if f.uefiVars != "" {
			template = f.uefiVars
		}
		vars, err := vmm.CopyVars(template, tmp)
		if err != nil && f.uefiVars != "" {
			return fmt.Errorf("--uefi-vars: %w", err)
		}
		if err != nil {
			return err
		}
		fw = &vmm.UEFI{Code: ovmf.Code, Vars: vars, SecureBoot: f.secureBoot}
	}
	// next plans one boot. A disk boot reads the ESP before every boot and
	// applies systemd-boot's counter rename, as the real loader would.
	next := func() (string, []string, error) {
		var entry *diskBoot
		if mode == bootDisk && t.diskFormat == "" {
			entry, err = prepareDiskBoot(t.disk, tmp, !f.dryRun)
			if err != nil {
				return "", nil, err
			}
			if !f.dryRun {
				fmt.Fprintf(e.Stderr, "turbo-image: booting entry %s\n", entry.describe())
			}
		}
		spec, err := planQEMU(t, f, mode, accel, tsc, entry, fw)
		if err != nil {
			return "", nil, err
		}
		if !f.dryRun {
			spec.QMP = filepath.Join(tmp, "qmp.sock")
		}
		return vmm.QEMUCommand(spec)
	}
	if f.dryRun {
		bin, qargs, err := next()
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, shellQuote(append([]string{bin}, qargs...)))
		return nil
	}
	fmt.Fprintf(e.Stderr, "turbo-image: booting %s %s (%s boot) with %s (%s)\n", t.name, t.version, mode, accel, why)
	consoleOut := e.Stdout
	if f.json {
		consoleOut = e.Stderr
	}
	watch := &readyWatch{now: time.Now}
	s := &vmm.Session{
		Next: next, Console: consoleOut, Stdin: stdinOrNil(e.Stdin),
		OnLine: watch.line, OnStart: watch.start,
		Log:          func(msg string) { fmt.Fprintf(e.Stderr, "turbo-image: %s\n", msg) },
		QMP:          filepath.Join(tmp, "qmp.sock"),
		GracefulExit: mode != bootInitramfs,
		ExitOnReady:  f.exitOnReady,
		MaxBoots:     f.maxBoots,
		Timeout:      f.timeout,
	}
	var trial *diskTrial
	if f.exitOnReady && (mode == bootDisk || mode == bootUEFI) && t.diskFormat == "" {
		if trial, err = trialOf(t.disk); err != nil {
			return err
		}
	}
	if trial != nil {
		s.Trial = &vmm.TrialWatch{Slot: trial.slot}
		s.MaxBoots = trialBoots(f.maxBoots, trial.left)
		fmt.Fprintf(e.Stderr, "turbo-image: slot %s (version %s) is on trial with %d tries left; following it through up to %d boots\n",
			trial.slot, trial.version, trial.left, s.MaxBoots)
	}
	began := time.Now()
	res, err := s.Run(ctx)
	wall := time.Since(began)
	switch {
	case errors.Is(err, vmm.ErrInterrupted):
		err = exitError{exitInterrupted, err}
	case trial != nil:
		var line string
		line, err = trialExit(trial, res, err)
		fmt.Fprintf(e.Stderr, "turbo-image: %s\n", line)
	}
	if f.json {
		doc := RunJSON{Schema: SchemaRun, Outcome: runOutcome(trial, res, err), ExitCode: exitCode(err),
			Name: t.name, Version: t.version, Boot: mode, Accel: string(accel), Boots: res.Boots,
			Ready: watch.last(), WallMS: wall.Milliseconds()}
		if err != nil {
			doc.Error = err.Error()
		}
		if trial != nil {
			doc.Trial = &RunTrialJSON{Slot: trial.slot, Version: trial.version, TriesLeft: trial.left}
		}
		if werr := writeJSON(e.Stdout, doc); werr != nil && err == nil {
			return werr
		}
	}
	return err
}

// runBhyve prints the bhyve command for the build's disk image or ISO
// (bhyve runs on FreeBSD hosts only). bhyve boots under UEFI a raw disk
// (virtio-blk) or an ISO (ahci-cd); it reads no qcow2, VMDK or VHD, and
// its firmware cannot be handed a bare UKI file.
func runBhyve(e *Env, t *bootTarget, f *runFlags, mode string) error {
	if !f.dryRun {
		return errors.New("bhyve runs on FreeBSD hosts; use --dry-run to print the command to run there (see the README)")
	}
	spec := vmm.BhyveSpec{CPUs: f.cpus, MemoryMiB: f.memory, Tap: f.tap}
	switch {
	case mode == bootISO || t.disk == "" && t.iso != "":
		if t.iso == "" {
			return fmt.Errorf("%s has no ISO (outputs: [iso])", t.name)
		}
		spec.CD = t.iso
	case mode == bootUKI || t.disk == "" && t.uki != "":
		return fmt.Errorf("%s: bhyve cannot start a bare UKI file; build the iso output and give live.iso (bhyve boots it from an AHCI CD-ROM), or the disk", t.name)
	case t.disk == "":
		return fmt.Errorf("%s has no disk image or ISO; bhyve boots a disk or an ISO under UEFI", t.name)
	case t.diskFormat != "":
		// bhyve's block backends read raw files and devices only.
		return fmt.Errorf("%s is a %s image: bhyve takes raw disks only (and ISOs); give the build's disk.img", t.name, t.diskFormat)
	default:
		spec.Disk = t.disk
	}
	name := t.name
	if len(name) > 31 {
		name = name[:31]
	}
	spec.Name = name
	argv, err := vmm.BhyveCommand(spec)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, shellQuote(argv))
	return nil
}

// KVM runs guests of the host's own arch only: for another arch (an arm64
// image on an amd64 host) the choice is TCG, and --accel kvm is refused.
// TURBO_ACCEL=kvm, a setting for every run of a machine, gives way.
func chooseAccel(ctx context.Context, e *Env, f *runFlags, arch string) (vmm.Accel, string, error) {
	if arch != "" && arch != runtime.GOARCH {
		if f.accel == string(vmm.AccelKVM) {
			return "", "", fmt.Errorf("--accel kvm: KVM cannot run this %s image on a %s host; use --accel tcg", arch, runtime.GOARCH)
		}
		if f.accel == "" || e.Getenv("TURBO_ACCEL") == string(vmm.AccelKVM) {
			return vmm.AccelTCG, fmt.Sprintf("KVM cannot run an %s image on this %s host", arch, runtime.GOARCH), nil
		}
	}
	choice := f.accel
	why := "--accel"
	if choice == "" {
		choice = e.Getenv("TURBO_ACCEL")
		why = "TURBO_ACCEL"
	}
	if choice != "" {
		a, err := vmm.ParseAccel(choice)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", why, err)
		}
		return a, why + "=" + choice, nil
	}
	a, reason := vmm.ChooseAccel(ctx, f.qemu, "")
	return a, reason, nil
}

// stdinOrNil passes the process's stdin to the guest console only when it
// is a terminal (someone may type); a pipe or /dev/null would just hold a
// reader goroutine. Other readers (tests) pass through.
func stdinOrNil(r io.Reader) io.Reader {
	if f, ok := r.(*os.File); ok && f == os.Stdin {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return r
		}
		return nil
	}
	return r
}

// shellQuote renders argv as a shell command line.
func shellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// hostTSCkHz is the host's TSC frequency for tsc_early_khz=: measured once
// per host boot (about 80 ms) and kept in the cache directory, keyed by
// the kernel's boot id (vmm.CachedTSCkHz), so later runs start QEMU that
// much sooner. Without a cache directory or a boot id it is measured.
func hostTSCkHz(e *Env) (int, error) {
	cache, err := builder.DefaultCacheDir(e.Getenv)
	if err != nil {
		return vmm.HostTSCkHz()
	}
	id, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	khz, _, err := vmm.CachedTSCkHz(filepath.Join(cache, "host-tsc"), strings.TrimSpace(string(id)), vmm.HostTSCkHz)
	return khz, err
}
