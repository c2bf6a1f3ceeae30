package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	hostrecipe "github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// guestPort is the app's port in every guest.
const guestPort = 8080

// displayPort is the host port the shown commands use (the run itself
// takes a free port per boot).
const displayPort = 8080

// timeoutFor is the boot timeout of a row.
func timeoutFor(id string) time.Duration {
	switch id {
	case RowDebianKernel:
		return 180 * time.Second
	case RowDebian:
		return 400 * time.Second
	case RowUEFI, RowArm64:
		return 300 * time.Second
	}
	return 90 * time.Second
}

// specWithPort returns the QEMU command of spec with the app's port
// published on host port port (none when port is 0).
func specWithPort(spec vmm.Spec, port int) (string, []string, error) {
	s := spec
	s.Net = &vmm.Net{}
	if port > 0 {
		s.Net.Publish = []vmm.PortMap{{HostPort: port, GuestPort: guestPort}}
	}
	return vmm.QEMUCommand(s)
}

// specPlan is the plan function of a row booted from a vmm.Spec.
func specPlan(id string, spec vmm.Spec, http bool) func(ctx context.Context, i, port int) (bootPlan, func(), error) {
	return func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		if !http {
			port = 0
		}
		bin, args, err := specWithPort(spec, port)
		if err != nil {
			return bootPlan{}, nil, err
		}
		return bootPlan{bin: bin, args: args, port: port, timeout: timeoutFor(id)}, nil, nil
	}
}

// curlCommand is the readiness probe as a shell command.
func curlCommand() string {
	return "until curl -fsS -m 1 http://127.0.0.1:" + strconv.Itoa(displayPort) + "/; do sleep 0.01; done   # the probe: GET / every 10 ms"
}

// kernelInitrdSize sums a kernel and initramfs files on disk and as
// loaded (init_size plus the uncompressed archive).
func kernelInitrdSize(kernel, initrd string) (Size, error) {
	var s Size
	k, err := fileSize(kernel)
	if err != nil {
		return s, err
	}
	i, err := fileSize(initrd)
	if err != nil {
		return s, err
	}
	kl, err := kernelLoadedSize(kernel)
	if err != nil {
		return s, err
	}
	il, err := uncompressedSize(initrd)
	if err != nil {
		return s, err
	}
	s.Disk, s.Loaded = k+i, kl+il
	s.DiskParts = fmt.Sprintf("kernel %s + initramfs %s", bytesize.Format(k), bytesize.Format(i))
	s.LoadedParts = fmt.Sprintf("kernel init_size %s + initramfs %s uncompressed", bytesize.Format(kl), bytesize.Format(il))
	return s, nil
}

// prepTurbo is row 1: the build's kernel and initramfs, booted with the
// exact argv `turbo-image run --dry-run --accel tcg` prints, plus a
// hostfwd for the probe.
func (b *bench) prepTurbo(ctx context.Context, r *Row, hello string, argv []string) (*rowRun, error) {
	return b.prepTurboBuild(ctx, r, helloRecipe, hello, "initramfs.cpio.zst", argv)
}

// prepTurboLZ4 is row 1b: row 1 with an LZ4 initramfs.
func (b *bench) prepTurboLZ4(ctx context.Context, r *Row) (*rowRun, error) {
	dir := filepath.Join(b.tmp, "hello-lz4")
	if _, err := b.buildTurbo(ctx, helloLZ4Recipe, dir, nil, "-q"); err != nil {
		return nil, err
	}
	argv, err := b.dryRun(ctx, dir)
	if err != nil {
		return nil, err
	}
	return b.prepTurboBuild(ctx, r, helloLZ4Recipe, dir, "initramfs.cpio.lz4", argv)
}

// prepTurboPCIe is row 1c: row 1 with microvm's PCIe host bridge on
// (pcie=on, as a disk boot gets it for its watchdog), to see whether the
// kernel's "PCI: Fatal: No config space access function found" goes away
// and what the bridge costs (issue 10, part 6).
func (b *bench) prepTurboPCIe(ctx context.Context, r *Row, hello string, argv []string) (*rowRun, error) {
	pcie, err := WithMachineOption(argv, "pcie=on")
	if err != nil {
		return nil, err
	}
	rr, err := b.prepTurboBuild(ctx, r, helloRecipe, hello, "initramfs.cpio.zst", pcie)
	r.Title = "turbo-image hello, `-M microvm,pcie=on`"
	r.Notes = append(r.Notes, "Row 1's QEMU command with `pcie=on` added to `-machine` (the dry-run prints it without).")
	return rr, err
}

// WithMachineOption returns a copy of a QEMU argv with opt appended to
// the value of its one -machine argument.
func WithMachineOption(argv []string, opt string) ([]string, error) {
	out := append([]string(nil), argv...)
	at := -1
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "-machine" || out[i] == "-M" {
			if at >= 0 {
				return nil, fmt.Errorf("two -machine arguments (%q, %q)", out[at], out[i+1])
			}
			at = i + 1
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("no -machine argument in %q", strings.Join(argv, " "))
	}
	out[at] += "," + opt
	return out, nil
}

// prepTurboBuild boots a turbo-image build of recipe in dir.
func (b *bench) prepTurboBuild(ctx context.Context, r *Row, recipe, hello, initrd string, argv []string) (*rowRun, error) {
	r.Title = "turbo-image hello"
	if recipe == helloLZ4Recipe {
		r.Title = "turbo-image hello, LZ4 initramfs"
	}
	r.Machine = "microvm"
	r.Boot = "`turbo-image build` of " + recipe + " (recipes/hello with the bench app as its service; kernel tinyconfig + builtin:virt from the builder's kernel cache), booted on `-M microvm` with the argv of `turbo-image run BUILD --dry-run --accel tcg` plus a `hostfwd` of the probe port."
	size, err := kernelInitrdSize(filepath.Join(hello, "kernel"), filepath.Join(hello, initrd))
	if err != nil {
		return nil, err
	}
	r.Size = size
	if d, how, err := kernelBuildTime(b.kernelCache, hello); err == nil {
		r.Build.Kernel, r.Build.KernelHow = d, how
	} else {
		r.Notes = append(r.Notes, "One-time kernel build time unknown: "+firstLine(err.Error(), 160))
	}
	facts, err := kernelFacts(b.kernelCache, hello, hostrecipe.DefaultKernelSource)
	r.Notes = append(r.Notes, facts...)
	if err != nil {
		r.Notes = append(r.Notes, "Kernel figures incomplete: "+firstLine(err.Error(), 160))
	}
	shown, err := AddHostfwd(argv, displayPort, guestPort)
	if err != nil {
		return nil, err
	}
	r.Commands = []string{
		b.vars.command("go", "build", "-o", "bin/turbo-image", "./cmd/turbo-image"),
		b.vars.command("bin/turbo-image", "build", recipe, "-o", hello),
		b.vars.command("bin/turbo-image", "run", hello, "--dry-run", "--accel", "tcg") + "   # prints the QEMU command below, without the hostfwd",
		b.vars.command(shown...) + " &",
		curlCommand(),
	}
	r.Notes = append(r.Notes, "The app's first request is turbo-init's health check (GET /healthz), so BENCH_READY marks the moment the app first served anything; TURBO_READY follows it.")
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		args, err := AddHostfwd(argv[1:], port, guestPort)
		if err != nil {
			return bootPlan{}, nil, err
		}
		return bootPlan{bin: argv[0], args: args, port: port, turboReady: true, timeout: timeoutFor(RowTurbo)}, nil, nil
	}}, nil
}

// prepDebianKernel is row 2: row 1's initramfs plus Debian's modules on
// Debian's kernel, with row 1's QEMU arguments.
func (b *bench) prepDebianKernel(ctx context.Context, r *Row, hello string, k *debKernel, base vmm.Spec) (*rowRun, error) {
	r.Title = "same initramfs, Debian kernel"
	r.Machine = "microvm"
	initrd := filepath.Join(b.tmp, "debian-kernel-initramfs.cpio.zst")
	list, builtin, added, err := debianInitramfs(k, filepath.Join(hello, "initramfs.cpio.zst"), initrd)
	if err != nil {
		return nil, err
	}
	r.Boot = fmt.Sprintf("Debian's generic kernel %s (%s, `apt-get download`, unpacked with `dpkg-deb -x`, not installed) with a copy of row 1's initramfs that adds %d modules (%s) and `/etc/turbo/modules` listing them in load order (turbo-init loads them with finit_module before it configures the network); same `-M microvm` arguments as row 1.",
		k.Release, k.Version, len(list), bytesize.Format(added))
	if size, err := kernelInitrdSize(k.Vmlinuz, initrd); err == nil {
		r.Size = size
	} else {
		return nil, err
	}
	r.Notes = append(r.Notes, "Modules, in load order (from the package's modules.dep, which `depmod -b` generates since the package ships none): "+strings.Join(list, ", ")+".")
	if len(builtin) > 0 {
		r.Notes = append(r.Notes, "Built into this kernel, so not added: "+strings.Join(builtin, ", ")+".")
	}
	r.Notes = append(r.Notes, "Debian's kernel boots on `-M microvm` here: with acpi=on QEMU describes the virtio-mmio devices in ACPI (LNRO0005), which virtio_mmio binds without virtio_mmio.device= parameters.")
	spec := base
	spec.Kernel, spec.Initrd = k.Vmlinuz, initrd
	_, shown, err := specWithPort(spec, displayPort)
	if err != nil {
		return nil, err
	}
	rel := k.Release
	r.Commands = []string{
		"# row 1's build first (see row 1), then:",
		b.vars.command("apt-get", "download", k.Pkg+"="+k.Version),
		b.vars.command("dpkg-deb", "-x", filepath.Base(k.Deb), "root") + " && " + b.vars.command("depmod", "-b", "root", rel),
		"# copy $W/hello/initramfs.cpio.zst adding root/lib/modules/" + rel + "/{" + strings.Join(relModPaths(list, rel), ",") + "} and /etc/turbo/modules (done in Go by package initramfs: bench/debkernel.go)",
		b.vars.command(append([]string{spec.Binary}, shown...)...) + " &",
		curlCommand(),
	}
	return &rowRun{plan: specPlan(RowDebianKernel, spec, true)}, nil
}

// relModPaths strips /lib/modules/<rel>/ from module paths.
func relModPaths(list []string, rel string) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = strings.TrimPrefix(p, "/lib/modules/"+rel+"/")
	}
	return out
}

// prepURoot is row 3: u-root's init with row 1's app binary as uinit, on
// row 1's kernel.
func (b *bench) prepURoot(ctx context.Context, r *Row, hello string, t *urootTool, app []byte, base vmm.Spec) (*rowRun, error) {
	r.Title = "u-root " + t.version + " init + app"
	r.Machine = "microvm"
	initrd, raw, err := b.urootImage(ctx, t, app)
	if err != nil {
		return nil, err
	}
	r.Boot = "An initramfs made by u-root " + t.version + " (its CLI from the version the repository's go.mod pins, in bb mode with only `cmds/core/init`, no shell), with row 1's app binary as `/bin/uinit` (`-net` makes the app bring up eth0 itself: u-root's init configures no network), on row 1's kernel with row 1's `-M microvm` arguments."
	if size, err := kernelInitrdSize(base.Kernel, initrd); err == nil {
		r.Size = size
	} else {
		return nil, err
	}
	r.Notes = append(r.Notes, fmt.Sprintf("u-root writes an uncompressed cpio (%s); the benchmark compresses it with zstd at turbo-image's settings (package initramfs) so that both rows load a zstd archive; the size columns count the compressed one.", bytesize.Format(raw)))
	spec := base
	spec.Initrd = initrd
	_, shown, err := specWithPort(spec, displayPort)
	if err != nil {
		return nil, err
	}
	appPath := filepath.Join(filepath.Dir(initrd), "benchapp")
	r.Commands = []string{
		"# in a module of its own that requires " + urootModule + " " + t.version + ":",
		b.vars.command("go", "get", urootModule+"@"+t.version, urootInit+"@"+t.version) + " && " + b.vars.command("go", "build", "-o", "u-root", urootModule),
		"# the app: row 1's /bin/hello, taken out of $W/hello/initramfs.cpio.zst",
		"GOAMD64=v1 " + b.vars.command(append([]string{"./u-root"}, urootArgs(appPath, strings.TrimSuffix(initrd, ".zst"))...)...),
		b.vars.command("zstd", "-19", strings.TrimSuffix(initrd, ".zst")) + "   # the benchmark uses package initramfs's zstd settings",
		b.vars.command(append([]string{spec.Binary}, shown...)...) + " &",
		curlCommand(),
	}
	return &rowRun{plan: specPlan(RowURoot, spec, true)}, nil
}

// prepDebian is row 4: a minimal Debian system with systemd.
func (b *bench) prepDebian(ctx context.Context, r *Row, k *debKernel, app []byte, base vmm.Spec) (*rowRun, error) {
	r.Title = "minimal Debian 12 + systemd"
	r.Machine = "microvm"
	sys, err := b.debianSystem(ctx, k)
	if err != nil {
		return nil, err
	}
	img, err := b.debianImage(ctx, sys, app)
	if err != nil {
		return nil, err
	}
	r.Boot = fmt.Sprintf("`debootstrap --variant=minbase` of Debian %s with systemd, systemd-networkd (eth0 10.0.2.15/24 via 10.0.2.2, `net.ifnames=0`) and a unit starting the bench app (`-console /dev/console`); kernel %s (the .deb of row 2, installed in the chroot with dpkg -i) and the initrd initramfs-tools made there (MODULES=most, zstd); root file system packed with `mkfs.ext4 -d` (no loop mount) and attached as virtio-blk /dev/vda with `-snapshot`, so every boot starts from the same image; direct kernel boot on `-M microvm`.", debianSuite, k.Release)
	if sys.Built > 0 {
		r.Notes = append(r.Notes, "The Debian tree was built in this run: "+seconds(sys.Built)+" (debootstrap, dpkg -i of the kernel, configuration); later runs take it from the cache.")
	}
	r.Notes = append(r.Notes, "debootstrap from bookworm alone would install the older kernel of the bookworm release; installing row 2's .deb instead gives rows 2 and 4 the same kernel, so the difference between them is the user space (initramfs-tools + systemd vs turbo-init).")
	// Size: vmlinuz + initrd + image.
	var s Size
	kd, err1 := fileSize(sys.Vmlinuz)
	id, err2 := fileSize(sys.Initrd)
	ia, err3 := allocatedSize(img)
	ip, err4 := fileSize(img)
	kl, err5 := kernelLoadedSize(sys.Vmlinuz)
	il, err6 := uncompressedSize(sys.Initrd)
	tb, err7 := treeBytes(sys.Tree)
	for _, e := range []error{err1, err2, err3, err4, err5, err6, err7} {
		if e != nil {
			return nil, e
		}
	}
	s.Disk = kd + id + ia
	s.Loaded = kl + il + tb
	s.DiskParts = fmt.Sprintf("vmlinuz %s + initrd %s + ext4 image %s allocated (%s apparent)", bytesize.Format(kd), bytesize.Format(id), bytesize.Format(ia), bytesize.Format(ip))
	s.LoadedParts = fmt.Sprintf("kernel init_size %s + initrd %s uncompressed + root file system contents %s", bytesize.Format(kl), bytesize.Format(il), bytesize.Format(tb))
	r.Size = s

	spec := base
	spec.Kernel, spec.Initrd, spec.Cmdline = sys.Vmlinuz, sys.Initrd, debianCmdline
	spec.Disks = []vmm.Disk{{Path: img}}
	spec.ExtraArgs = []string{"-snapshot"}
	_, shown, err := specWithPort(spec, displayPort)
	if err != nil {
		return nil, err
	}
	root := sys.Tree
	r.Commands = []string{
		b.vars.command("debootstrap", "--variant=minbase", "--include="+debianIncludes, debianSuite, root, debianMirror),
		b.vars.command("cp", k.Deb, filepath.Join(root, "tmp")) + " && " + b.vars.command("chroot", root, "dpkg", "-i", "/tmp/"+filepath.Base(k.Deb)),
		"# write " + debianFileList() + " (bench/debian.go), then:",
		b.vars.command(append([]string{"chroot", root, "systemctl", "enable"}, debianUnits...)...),
		b.vars.command("install", "-m", "0755", "APP", filepath.Join(root, debianAppPath)) + "   # APP: row 1's /bin/hello",
		b.vars.command("mkfs.ext4", "-q", "-F", "-L", "debian-root", "-d", root, img, "SIZE"),
		b.vars.command(append([]string{spec.Binary}, shown...)...) + " &",
		curlCommand(),
	}
	return &rowRun{plan: specPlan(RowDebian, spec, true)}, nil
}

// debianFileList names the files written into the Debian tree.
func debianFileList() string {
	var names []string
	for _, f := range debianFiles {
		names = append(names, "/"+f.path)
	}
	return strings.Join(names, ", ")
}

// prepFloor is row 5: row 1's kernel with the static C init.
func (b *bench) prepFloor(ctx context.Context, r *Row, hello string, base vmm.Spec) (*rowRun, error) {
	r.Title = "floor: same kernel, trivial C init"
	r.Machine = "microvm"
	initrd, gccArgs, err := b.floorImage(ctx)
	if err != nil {
		return nil, err
	}
	r.Boot = "Row 1's kernel and `-M microvm` arguments with an initramfs holding only a static C init (glibc, `gcc -static`) that prints its CLOCK_BOOTTIME in ms, drains the UART and ends QEMU by writing to isa-debug-exit (I/O port 0xf4 through /dev/port). No init can be ready earlier. Host wall is QEMU start to its console line."
	if size, err := kernelInitrdSize(base.Kernel, initrd); err == nil {
		r.Size = size
	} else {
		return nil, err
	}
	spec := base
	spec.Initrd = initrd
	spec.DebugExit = true
	_, shown, err := specWithPort(spec, 0)
	if err != nil {
		return nil, err
	}
	r.Commands = []string{
		"# the C source is floorC in bench/floor.go",
		b.vars.command(gccArgs...),
		"# pack init, /dev/console (c 5 1) and /dev/port (c 1 4) into a zstd newc archive (package initramfs)",
		b.vars.command(append([]string{spec.Binary}, shown...)...) + "   # prints BENCH_FLOOR uptime_ms=N, exits with status 33",
	}
	rr := &rowRun{plan: specPlan(RowFloor, spec, false)}
	return rr, nil
}

// prepDisk is row 6: the disk image booted by `turbo-image run --boot
// disk` (turbo direct boot on microvm) or `--boot uefi` (OVMF and
// systemd-boot on q35), a fresh copy of disk.img per boot.
func (b *bench) prepDisk(ctx context.Context, r *Row, build, mode string) (*rowRun, error) {
	disk := filepath.Join(build, "disk.img")
	alloc, err := allocatedSize(disk)
	if err != nil {
		return nil, err
	}
	apparent, _ := fileSize(disk)
	kl, err := kernelLoadedSize(filepath.Join(build, "kernel"))
	if err != nil {
		return nil, err
	}
	sl, err := uncompressedSize(filepath.Join(build, "slot-initramfs.cpio.zst"))
	if err != nil {
		return nil, err
	}
	sq, err := fileSize(filepath.Join(build, "root.squashfs"))
	if err != nil {
		return nil, err
	}
	r.Size = Size{Disk: alloc, Loaded: kl + sl + sq,
		DiskParts:   fmt.Sprintf("disk.img %s allocated (%s apparent: ESP, two root slots, data)", bytesize.Format(alloc), bytesize.Format(apparent)),
		LoadedParts: fmt.Sprintf("kernel init_size %s + slot initramfs %s uncompressed + root.squashfs %s", bytesize.Format(kl), bytesize.Format(sl), bytesize.Format(sq))}
	switch mode {
	case "disk":
		r.Title = "disk.img, turbo direct boot"
		r.Machine = "microvm + i6300esb"
		r.Boot = "bench/recipes/hello-disk (row 1's recipe with `outputs: [initramfs, disk]`): `turbo-image run disk.img --boot disk` reads the ESP, picks slot a's entry as systemd-boot would, and boots its kernel and slot initramfs directly on `-M microvm` with the disk attached (the init mounts the squashfs root and /data)."
	default:
		r.Title = "disk.img, UEFI (OVMF + systemd-boot)"
		r.Machine = "q35 + OVMF"
		r.Boot = "The same disk.img booted by `turbo-image run disk.img --boot uefi`: OVMF firmware on `-M q35`, then systemd-boot from the ESP, then slot a."
	}
	r.Notes = append(r.Notes, "Host wall is measured from starting `turbo-image run` (it reads the ESP, measures the TSC for disk boots, copies the OVMF variables) rather than from QEMU's start, which happens inside it.")
	r.Commands = []string{
		b.vars.command("bin/turbo-image", "build", helloDiskRecipe, "-o", build),
		b.vars.command("cp", "--sparse=always", disk, filepath.Join(b.tmp, "boot.img")) + "   # a fresh copy per boot: booting renames boot-counter files on the ESP",
		b.vars.command("bin/turbo-image", "run", filepath.Join(b.tmp, "boot.img"), "--boot", mode, "--publish", "127.0.0.1:"+strconv.Itoa(displayPort)+":"+strconv.Itoa(guestPort), "--accel", "tcg") + " &",
		curlCommand(),
	}
	id := RowDisk
	if mode == "uefi" {
		id = RowUEFI
	}
	turbo := b.turbo
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		cp := filepath.Join(b.tmp, fmt.Sprintf("%s-boot-%d.img", mode, i+1))
		if err := copySparse(ctx, disk, cp); err != nil {
			return bootPlan{}, nil, err
		}
		args := []string{"run", cp, "--boot", mode, "--publish", "127.0.0.1:" + strconv.Itoa(port) + ":" + strconv.Itoa(guestPort), "--accel", "tcg"}
		return bootPlan{bin: turbo, args: args, port: port, turboReady: true, timeout: timeoutFor(id), stopGrace: 30 * time.Second},
			func() { os.Remove(cp) }, nil
	}}, nil
}

// buildTimes measures cold and warm builds of the same app with
// turbo-image and with u-root (each a fresh GOCACHE; turbo-image also a
// fresh cache directory whose kernel cache is the shared one).
func (b *bench) buildTimes(ctx context.Context, turboRun, urootRun *rowRun, t *urootTool, hello string) error {
	dir := filepath.Join(b.tmp, "buildtime")
	recipe, err := b.timingModule(dir)
	if err != nil {
		return err
	}
	cold := filepath.Join(dir, "turbo-cache")
	if err := os.MkdirAll(cold, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(b.kernelCache, filepath.Join(cold, "kernel")); err != nil {
		return err
	}
	gcT, gcU := filepath.Join(dir, "gocache-turbo"), filepath.Join(dir, "gocache-uroot")
	out := filepath.Join(dir, "out")
	appBin, cpio := filepath.Join(dir, "app.bin"), filepath.Join(dir, "uroot.cpio")
	doTurbo := turboRun != nil && turboRun.row.Err == ""
	doURoot := urootRun != nil && urootRun.row.Err == "" && t != nil

	turboBuild := func() (time.Duration, error) {
		return b.buildTurbo(ctx, recipe, out, []string{"GOCACHE=" + gcT}, "--cache", cold, "-q")
	}
	urootBuild := func() (time.Duration, error) {
		d1, err := b.goBuildApp(ctx, dir, "./app", appBin, gcU)
		if err != nil {
			return 0, err
		}
		d2, err := b.runURoot(ctx, t, appBin, cpio, gcU)
		return d1 + d2, err
	}
	if doTurbo {
		b.logf("build time: turbo-image cold (fresh cache and GOCACHE, kernel cache reused)")
		d, err := turboBuild()
		if err != nil {
			return err
		}
		turboRun.row.Build.Cold = d
		b.logf("build time: turbo-image cold %s", seconds(d))
	}
	if doURoot {
		b.logf("build time: u-root cold (fresh GOCACHE)")
		d, err := urootBuild()
		if err != nil {
			return err
		}
		urootRun.row.Build.Cold = d
		b.logf("build time: u-root cold %s", seconds(d))
	}
	if err := editApp(dir, 1); err != nil {
		return err
	}
	if doTurbo {
		d, err := turboBuild()
		if err != nil {
			return err
		}
		turboRun.row.Build.Warm = d
		b.logf("build time: turbo-image warm (after an app edit) %s", seconds(d))
	}
	if doURoot {
		d, err := urootBuild()
		if err != nil {
			return err
		}
		urootRun.row.Build.Warm = d
		b.logf("build time: u-root warm (after an app edit) %s", seconds(d))
	}
	setup := "# build times: a module in $W/buildtime with a copy of bench/app (app/) and of the bench recipe naming ./app (go.mod requires golang.org/x/sys as the repository does)"
	edit := "printf '" + strings.ReplaceAll(strings.ReplaceAll(appEdit, "\n", `\n`), "%d", "1") + "' >> $W/buildtime/app/main.go   # the warm build follows a real source change"
	if doTurbo {
		tb := "GOCACHE=$W/buildtime/gocache-turbo " + b.vars.command("bin/turbo-image", "build", recipe, "-o", out, "--cache", cold, "-q")
		turboRun.row.Commands = append(turboRun.row.Commands, setup,
			b.vars.command("mkdir", cold)+" && "+b.vars.command("ln", "-s", b.kernelCache, filepath.Join(cold, "kernel"))+"   # cold: fresh turbo cache and GOCACHE, kernel cache reused",
			tb+"   # cold", edit, tb+"   # warm")
	}
	if doURoot {
		ab := "(cd $W/buildtime && GOCACHE=$W/buildtime/gocache-uroot " + strings.Join(goTargetEnvShown(), " ") + " " + b.vars.command(append([]string{"go"}, appBuildArgs("./app", appBin)...)...) + ")"
		ub := "GOCACHE=$W/buildtime/gocache-uroot GOAMD64=v1 " + b.vars.command(append([]string{"./u-root"}, urootArgs(appBin, cpio)...)...)
		urootRun.row.Commands = append(urootRun.row.Commands, setup,
			ab+" && "+ub+"   # cold (fresh GOCACHE)", edit, ab+" && "+ub+"   # warm")
		urootRun.row.Notes = append(urootRun.row.Notes, "u-root's build time is `go build` of the app plus the u-root CLI run (which compiles its init); building the CLI itself is set-up, not counted.")
	}
	if doTurbo {
		turboRun.row.Notes = append(turboRun.row.Notes, "Build times use a copy of the app in a module of its own so that the warm build can follow a real source edit (a new variable and init function appended to main.go) without touching the repository; the recipe is the bench recipe with `package: ./app`.")
	}
	return nil
}

// goTargetEnvShown is goTargetEnv as shell assignments (without the GOFLAGS
// removal).
func goTargetEnvShown() []string {
	var out []string
	for _, e := range goTargetEnv {
		if strings.Contains(e, "=") {
			out = append(out, e)
		}
	}
	return out
}

// globalNotes are the report's closing notes.
func globalNotes(b *bench, took time.Duration) []string {
	return []string{
		"Commands: run them from the repository root with `W=$(mktemp -d)` (work files of the run), `C=${TURBO_CACHE:-~/.cache/turbo-image}/bench` (the benchmark's cache) and `TURBO_CACHE=${TURBO_CACHE:-~/.cache/turbo-image}`; the benchmark forwards a free host port per boot where the commands show 8080.",
		"All boots use TCG (this machine's KVM does not work; `vmm.ChooseAccel` picks TCG), `-cpu qemu64`, 1 vCPU and 256 MiB, and `-no-reboot`; each boot's QEMU is stopped (Process.Stop) once ready.",
		"TCG timings depend heavily on the host's load: compare rows of the same run, not runs of different days.",
		"This run took " + took.Round(time.Second).String() + ".",
	}
}

// prepJail is row 7: row 1's build run by `turbo-image run --vmm jail`:
// the same initramfs and init in Linux namespaces, no kernel. It takes a
// private network (pasta) so that every boot can publish a free port.
func (b *bench) prepJail(ctx context.Context, r *Row, hello string) (*rowRun, error) {
	r.Title = "turbo-image hello in a jail (no VM)"
	r.Machine = "jail"
	r.Boot = "row 1's build, run by `turbo-image run BUILD --vmm jail --net private --publish PORT:8080`: the initramfs unpacked once (cached by digest), turbo-init as PID 1 of new user, PID, mount, UTS, IPC and network namespaces, pasta for the port. Host wall is the runner's start to the first HTTP 200; the guest column is TURBO_READY's uptime, counted from the jail's start."
	size, err := fileSize(filepath.Join(hello, "initramfs.cpio.zst"))
	if err != nil {
		return nil, err
	}
	r.Size = Size{Disk: size, DiskParts: "initramfs " + bytesize.Format(size) + " (no kernel)"}
	if _, err := exec.LookPath("pasta"); err != nil {
		return nil, fmt.Errorf("the jail row needs pasta (Debian passt): %w", err)
	}
	r.Commands = []string{
		b.vars.command("bin/turbo-image", "run", hello, "--vmm", "jail", "--net", "private", "--publish", strconv.Itoa(displayPort)+":"+strconv.Itoa(guestPort)) + " &",
		curlCommand(),
	}
	r.Notes = append(r.Notes, "The first run of a build unpacks its initramfs into the cache (about 50 ms for hello); every boot measured here finds it there.",
		"The jail's uptime starts when the runner starts the jail, after it has read the build folder; QEMU's counts from the guest kernel's start.")
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		args := []string{"run", hello, "--vmm", "jail", "--net", "private", "--publish", strconv.Itoa(port) + ":" + strconv.Itoa(guestPort)}
		return bootPlan{bin: b.turbo, args: args, port: port, turboReady: true, jailClock: true, timeout: timeoutFor(RowJail), stopGrace: 20 * time.Second}, nil, nil
	}}, nil
}

// prepJailHost is row 7d: row 1's build run by `turbo-image run --vmm
// jail` as a user starts it by default, on the host's network: the app
// binds its own port (8080) on the host, so that port must be free.
func (b *bench) prepJailHost(ctx context.Context, r *Row, hello string) (*rowRun, error) {
	r.Title = "turbo-image hello in a jail (no VM), host network"
	r.Machine = "jail"
	r.Boot = "row 1's build, run by `turbo-image run BUILD --vmm jail` (the default: the host's network; the app binds port 8080 on the host): as row 7 without the network namespace and pasta. Host wall is the runner's start to the first HTTP 200 on 127.0.0.1:8080."
	size, err := fileSize(filepath.Join(hello, "initramfs.cpio.zst"))
	if err != nil {
		return nil, err
	}
	r.Size = Size{Disk: size, DiskParts: "initramfs " + bytesize.Format(size) + " (no kernel)"}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", guestPort))
	if err != nil {
		return nil, fmt.Errorf("the host-network jail row binds the app's own port on the host, and %d is busy: %w", guestPort, err)
	}
	l.Close()
	r.Commands = []string{
		b.vars.command("bin/turbo-image", "run", hello, "--vmm", "jail") + " &",
		curlCommand(),
	}
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		return bootPlan{bin: b.turbo, args: []string{"run", hello, "--vmm", "jail"}, port: guestPort, turboReady: true, jailClock: true, timeout: timeoutFor(RowJail), stopGrace: 20 * time.Second}, nil, nil
	}}, nil
}

// prepArm64 is row 10: the bench hello built for arm64 on this host and
// booted by `turbo-image run` (qemu-system-aarch64 -M virt under TCG).
// TCG translates every arm64 instruction to x86, so the row says how fast
// an arm64 image boots here, run after run, and nothing about arm64
// hardware: no target compares it with the x86 rows.
func (b *bench) prepArm64(ctx context.Context, r *Row) (*rowRun, error) {
	dir := filepath.Join(b.tmp, "hello-arm64")
	b.logf("building %s", helloArm64)
	d, err := b.buildTurbo(ctx, helloArm64, dir, nil, "-q")
	if err != nil {
		return nil, err
	}
	b.logf("arm64 build took %s", seconds(d))
	r.Title = "turbo-image hello, arm64 (TCG)"
	r.Machine = "virt, cortex-a57 (qemu-system-aarch64)"
	r.Boot = "`turbo-image build` of " + helloArm64 + " (row 1's recipe with `arch: arm64`: kernel cross-compiled from the same source with builtin:virt for arm64, Go with GOARCH=arm64), booted by `turbo-image run BUILD --accel tcg` on `-M virt`: direct kernel boot of the Image and the initramfs."
	k, err := fileSize(filepath.Join(dir, "kernel"))
	if err != nil {
		return nil, err
	}
	i, err := fileSize(filepath.Join(dir, "initramfs.cpio.zst"))
	if err != nil {
		return nil, err
	}
	il, err := uncompressedSize(filepath.Join(dir, "initramfs.cpio.zst"))
	if err != nil {
		return nil, err
	}
	// An arm64 Image is loaded as is (no decompressor), so its file size
	// is what it takes in memory before its own BSS.
	r.Size = Size{Disk: k + i, Loaded: k + il,
		DiskParts:   fmt.Sprintf("kernel Image %s + initramfs %s", bytesize.Format(k), bytesize.Format(i)),
		LoadedParts: fmt.Sprintf("kernel Image %s + initramfs %s uncompressed", bytesize.Format(k), bytesize.Format(il))}
	if kd, how, err := kernelBuildTime(b.kernelCache, dir); err == nil {
		r.Build.Kernel, r.Build.KernelHow = kd, how
	} else {
		r.Notes = append(r.Notes, "One-time kernel build time unknown: "+firstLine(err.Error(), 160))
	}
	r.Notes = append(r.Notes, "TCG emulates arm64 on this x86 host: compare this row only with itself (earlier runs), never with the x86 rows.",
		"Host wall is measured from starting `turbo-image run` rather than from QEMU's start, which happens inside it.")
	r.Commands = []string{
		b.vars.command("bin/turbo-image", "build", helloArm64, "-o", dir),
		b.vars.command("bin/turbo-image", "run", dir, "--publish", "127.0.0.1:"+strconv.Itoa(displayPort)+":"+strconv.Itoa(guestPort), "--accel", "tcg") + " &",
		curlCommand(),
	}
	turbo := b.turbo
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		args := []string{"run", dir, "--publish", "127.0.0.1:" + strconv.Itoa(port) + ":" + strconv.Itoa(guestPort), "--accel", "tcg"}
		return bootPlan{bin: turbo, args: args, port: port, turboReady: true, timeout: timeoutFor(RowArm64), stopGrace: 30 * time.Second}, nil, nil
	}}, nil
}
