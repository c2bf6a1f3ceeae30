package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// bigApp is a third-party Go server the benchmark boots along four paths
// (issue 10): the initramfs, the disk's first boot, a later disk boot, and
// the app-as-init floor. Its recipe folder holds a go.mod that pins the
// module, as a user's would.
type bigApp struct {
	// id is the row ID of its initramfs row; the others add a suffix.
	id string
	// number is the report's row number; the paths add a, b, c, d.
	number string
	// title names the app and its version.
	title string
	// recipe is the recipe's path from the repository root.
	recipe string
	// service is the recipe's service name: its binary is bin/<service>.
	service string
	// probe is the path the host's readiness probe GETs (it must answer
	// 200 once the app serves).
	probe string
	// variants are extra rows that change one lever of the build.
	variants []bigAppVariant
	// diskNote, when set, is a note on the app's disk rows: what in its
	// own start varies from boot to boot, to read the first-against-later
	// ratio by.
	diskNote string
}

// bigAppVariant is a big-app row built from the derived recipe plus
// extra top-level recipe lines (one lever: initramfs compression, the
// slot root's squashfs settings), booted as the initramfs row or as the
// later disk boot, so one run compares the lever against the defaults.
//
// A variant with qemu or cmdline and no extra boots the app's default
// build and changes how `turbo-image run` boots it instead: qemu are QEMU
// arguments appended to run's command (through a --qemu wrapper script,
// see qemuWrapper), cmdline is given to run's --cmdline.
type bigAppVariant struct {
	suffix, letter, title string
	extra                 string
	disk                  bool
	qemu                  []string
	cmdline               string
}

// lever describes what a variant changes, for its row's notes.
func (v bigAppVariant) lever() string {
	var parts []string
	if e := strings.TrimSpace(v.extra); e != "" {
		parts = append(parts, "the derived recipe plus `"+e+"`")
	}
	if len(v.qemu) > 0 {
		parts = append(parts, "the default build, QEMU's command from `turbo-image run` plus `"+strings.Join(v.qemu, " ")+"` (appended by a `--qemu` wrapper script that execs "+vmm.DefaultBinary+`; the extra exec costs about a millisecond)`)
	}
	if v.cmdline != "" {
		parts = append(parts, "the default build, booted with `--cmdline "+v.cmdline+"`")
	}
	return strings.Join(parts, "; ")
}

// tuningVariants are the levers measured on the biggest app (issue 10,
// parts 2 and 3).
var tuningVariants = []bigAppVariant{
	{suffix: "-zstd", letter: "e", title: "initramfs, `compression: zstd` (the default before `auto`)", extra: "compression: zstd\n"},
	{suffix: "-none", letter: "f", title: "initramfs, `compression: none`", extra: "compression: none\n"},
	{suffix: "-disk-zstd", letter: "g", title: "disk, later boot, `root_compression: zstd`, 128KiB blocks (the defaults before issue 10)", extra: "disk: {root_compression: zstd, root_block_size: 128KiB}\n", disk: true},
	{suffix: "-disk-none", letter: "h", title: "disk, later boot, `root_compression: none`", extra: "disk: {root_compression: none}\n", disk: true},
	{suffix: "-disk-lz4-128k", letter: "i", title: "disk, later boot, `root_compression: lz4`, 128KiB blocks (the block-size lever alone)", extra: "disk: {root_compression: lz4, root_block_size: 128KiB}\n", disk: true},
	// QEMU's drive options for the direct disk boot (vmm.QEMUCommand
	// attaches disk0 with QEMU's defaults: cache=writeback, aio=threads,
	// one virtqueue of 256 entries on virtio-blk-device) and the guest's
	// readahead on the slot root's disk. In three runs none of them beat
	// the defaults beyond the min-max spread, so the defaults stayed
	// (README, "Choosing the defaults").
	{suffix: "-disk-cache-none", letter: "j", title: "disk, later boot, drive `cache=none` (O_DIRECT, no host page cache)", disk: true, qemu: []string{"-set", "drive.disk0.cache=none"}},
	{suffix: "-disk-cache-unsafe", letter: "k", title: "disk, later boot, drive `cache=unsafe` (guest flushes ignored)", disk: true, qemu: []string{"-set", "drive.disk0.cache=unsafe"}},
	{suffix: "-disk-io-uring", letter: "l", title: "disk, later boot, drive `aio=io_uring`", disk: true, qemu: []string{"-set", "drive.disk0.aio=io_uring"}},
	{suffix: "-disk-queue-1024", letter: "m", title: "disk, later boot, virtio-blk `queue-size=1024`", disk: true, qemu: []string{"-global", "virtio-blk-device.queue-size=1024"}},
	{suffix: "-disk-ra32", letter: "n", title: "disk, later boot, guest readahead 32 KiB (`turbo.readahead_kb=32`)", disk: true, cmdline: "turbo.readahead_kb=32"},
	{suffix: "-disk-ra2048", letter: "o", title: "disk, later boot, guest readahead 2 MiB (`turbo.readahead_kb=2048`)", disk: true, cmdline: "turbo.readahead_kb=2048"},
}

// bigApps are the big-app rows' apps.
var bigApps = []bigApp{
	{id: "caddy", number: "8", title: "Caddy v2.10.2", recipe: "bench/recipes/caddy/recipe.yaml", service: "caddy", probe: "/", variants: tuningVariants},
	{id: "etcd", number: "9", title: "etcd v3.6.16", recipe: "bench/recipes/etcd/recipe.yaml", service: "etcd", probe: "/health",
		diskNote: "etcd's own start holds a random wait, on first and later boots alike (its data directory is in /tmp, empty on every boot): the single member fast-forwards 9 of its 10 election ticks, then waits out raft's randomized election timeout, 1 to 10 ticks drawn anew per boot (its log: `fast-forwarding election ticks` to `starting a new election`); while it waits and until raft settles, /health fails. The bench recipe sets 10 ms ticks (`--heartbeat-interval 10 --election-timeout 100`, a single member has no peers to miss), so the draw spans 10 to 100 ms instead of 100 ms to 1 s, which with 3 boots per row decided the first-against-later ratio (README, Choosing the defaults)."},
}

// The paths of a big app, as suffixes of its row IDs.
const (
	pathInitramfs = ""
	pathDisk1     = "-disk1"
	pathDisk      = "-disk"
	pathFloor     = "-floor"
)

// bigAppPaths are the paths in report order, with their letter.
var bigAppPaths = []struct{ suffix, letter string }{
	{pathInitramfs, "a"}, {pathDisk1, "b"}, {pathDisk, "c"}, {pathFloor, "d"},
}

// bigAppRow returns the app and path of a big-app row ID.
func bigAppRow(id string) (app bigApp, suffix string, ok bool) {
	for _, a := range bigApps {
		for _, p := range bigAppPaths {
			if id == a.id+p.suffix {
				return a, p.suffix, true
			}
		}
	}
	return bigApp{}, "", false
}

// DeriveRecipe turns a big app's recipe into the one the benchmark builds:
// the service's `package:` line becomes `binary: <binary>` (the binary
// built once from the original recipe and cached by content), and the
// `outputs:` line is replaced by outputs. Each line must appear exactly
// once, so a reworded recipe fails loudly instead of being half-edited.
func DeriveRecipe(src []byte, binary string, outputs []string) ([]byte, error) {
	lines := strings.Split(string(src), "\n")
	pkg, out := -1, -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "package:"), strings.HasPrefix(t, "- package:"):
			if pkg >= 0 {
				return nil, fmt.Errorf("line %d: a second package: line (the first is line %d); big-app recipes have one service", i+1, pkg+1)
			}
			pkg = i
		case strings.HasPrefix(l, "outputs:"):
			if out >= 0 {
				return nil, fmt.Errorf("line %d: a second outputs: line (the first is line %d)", i+1, out+1)
			}
			out = i
		}
	}
	if pkg < 0 {
		return nil, errors.New("no package: line (the service must be built from a Go package)")
	}
	if out < 0 {
		return nil, errors.New("no top-level outputs: line")
	}
	if binary == "" || strings.ContainsAny(binary, " \t\n\"'#:") {
		return nil, fmt.Errorf("binary %q: want a plain relative file name", binary)
	}
	if len(outputs) == 0 {
		return nil, errors.New("no outputs")
	}
	l := lines[pkg]
	i := strings.Index(l, "package:")
	lines[pkg] = l[:i] + "binary: " + binary
	lines[out] = "outputs: [" + strings.Join(outputs, ", ") + "]"
	return []byte(strings.Join(lines, "\n")), nil
}

// FloorExec encodes what the app-as-init shim (floorExecC) runs: the
// working directory, the argv and the environment as NUL-terminated
// strings, argv and environment separated by an empty string. Empty or
// NUL-holding strings cannot be encoded and are refused.
func FloorExec(dir string, argv, env []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty argv")
	}
	var b bytes.Buffer
	put := func(what, s string) error {
		if s == "" || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%s %q: empty or holds a NUL", what, s)
		}
		b.WriteString(s)
		b.WriteByte(0)
		return nil
	}
	if dir == "" {
		dir = "/"
	}
	if err := put("dir", dir); err != nil {
		return nil, err
	}
	for _, a := range argv {
		if err := put("argument", a); err != nil {
			return nil, err
		}
	}
	b.WriteByte(0)
	for _, e := range env {
		if !strings.Contains(e, "=") {
			return nil, fmt.Errorf("environment entry %q: no '='", e)
		}
		if err := put("environment entry", e); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// floorExecPath is where the shim reads FloorExec's encoding.
const floorExecPath = "bench/exec"

// floorExecC is the /init of the app-as-init floor: it brings up lo and
// eth0 with the address the bench recipes use (QEMU user networking's
// 10.0.2.15/24 via 10.0.2.2, three ioctls and a route, the least that lets
// the host's probe reach the app), mounts a tmpfs on /tmp as turbo-init
// does (etcd preallocates a 64 MB WAL there, which the initramfs's root
// refused), prints its CLOCK_BOOTTIME and executes the app as PID 1 with
// the argv and environment of /bench/exec. No process is forked: what
// follows is the app alone.
const floorExecC = `// The app-as-init shim of turbo-image's benchmark (bench/bigapp.go).
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void addr(struct sockaddr *sa, const char *ip) {
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	memset(in, 0, sizeof *in);
	in->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &in->sin_addr);
}

static void up(int s, const char *name) {
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
}

static char buf[65536];

int main(void) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
	addr(&ifr.ifr_addr, "10.0.2.15");
	ioctl(s, SIOCSIFADDR, &ifr);
	addr(&ifr.ifr_netmask, "255.255.255.0");
	ioctl(s, SIOCSIFNETMASK, &ifr);
	up(s, "lo");
	up(s, "eth0");
	struct rtentry rt;
	memset(&rt, 0, sizeof rt);
	addr(&rt.rt_dst, "0.0.0.0");
	addr(&rt.rt_genmask, "0.0.0.0");
	addr(&rt.rt_gateway, "10.0.2.2");
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	ioctl(s, SIOCADDRT, &rt);
	close(s);
	mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");

	int fd = open("/bench/exec", O_RDONLY);
	if (fd < 0)
		return 1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0 || buf[n - 1] != 0)
		return 2;
	char *argv[256], *envp[256];
	int argc = 0, envc = 0;
	char *p = buf, *end = buf + n;
	char *dir = p;
	p += strlen(p) + 1;
	while (p < end && *p && argc < 255) {
		argv[argc++] = p;
		p += strlen(p) + 1;
	}
	argv[argc] = 0;
	if (p < end)
		p++;
	while (p < end && *p && envc < 255) {
		envp[envc++] = p;
		p += strlen(p) + 1;
	}
	envp[envc] = 0;
	if (argc == 0 || chdir(dir) != 0)
		return 3;
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	printf("BENCH_EXEC uptime_ms=%lld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	fflush(stdout);
	execve(argv[0], argv, envp);
	return 4;
}
`

// floorShim compiles floorExecC, cached by source and compiler.
func (b *bench) floorShim(ctx context.Context) (bin string, gccArgs []string, err error) {
	cc, _ := runOutput(ctx, "", nil, nil, "gcc", "--version")
	dir := filepath.Join(b.cache, "floor-exec", keyOf("floor-exec v2", floorExecC, firstLine(cc, 200)))
	bin = filepath.Join(dir, "init")
	src := filepath.Join(dir, "init.c")
	gccArgs = []string{"gcc", "-static", "-O2", "-s", "-o", bin, src}
	if _, err := os.Stat(bin); err == nil {
		return bin, gccArgs, nil
	}
	if err := atomicfile.WriteFileAll(src, []byte(floorExecC), 0o644); err != nil {
		return "", nil, err
	}
	tmp := bin + ".tmp"
	args := append([]string{}, gccArgs[1:]...)
	args[len(args)-2] = tmp
	if err := runCmd(ctx, dir, nil, b.verbose(), gccArgs[0], args...); err != nil {
		return "", nil, err
	}
	return bin, gccArgs, os.Rename(tmp, bin)
}

// FloorRecords turns a turbo-image initramfs into the app-as-init floor's:
// the same files without turbo-init, the shim as /init, /bench/exec
// running the service's program with the argv, directory and environment
// turbo-init would give it (PATH and HOME as turbo-init sets them, then
// the recipe's env), and /dev nodes the kernel and the app need before
// anything could mount devtmpfs.
func FloorRecords(recs []initramfs.Record, shim []byte, service string) ([]initramfs.Record, error) {
	var cfg *initconfig.Config
	for _, r := range recs {
		if r.Name == strings.TrimPrefix(initconfig.Path, "/") && r.Type() == initramfs.TypeReg {
			c, err := initconfig.Parse(r.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", initconfig.Path, err)
			}
			cfg = c
		}
	}
	if cfg == nil {
		return nil, fmt.Errorf("the initramfs has no %s", initconfig.Path)
	}
	var svc *initconfig.Service
	for i := range cfg.Services {
		if cfg.Services[i].Name == service {
			svc = &cfg.Services[i]
		}
	}
	if svc == nil {
		return nil, fmt.Errorf("%s names no service %q", initconfig.Path, service)
	}
	if svc.UID != 0 || svc.GID != 0 {
		return nil, fmt.Errorf("service %s runs as %d:%d; the floor shim runs the app as root", service, svc.UID, svc.GID)
	}
	dir := svc.Dir
	if dir == "" {
		dir = "/"
	}
	env := append([]string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin", "HOME=" + dir}, svc.Env...)
	exec, err := FloorExec(dir, append([]string{svc.Path}, svc.Args...), env)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", service, err)
	}
	out := []initramfs.Record{}
	have := map[string]bool{}
	for _, r := range recs {
		if r.Name == "init" {
			continue
		}
		have[r.Name] = true
		out = append(out, r)
	}
	if !have["bench"] {
		out = append(out, initramfs.Dir("bench", 0o755))
	}
	out = append(out, initramfs.File("init", 0o755, shim), initramfs.File(floorExecPath, 0o644, exec))
	if !have["dev"] {
		out = append(out, initramfs.Dir("dev", 0o755))
	}
	for _, d := range []struct {
		name         string
		major, minor uint32
	}{{"dev/console", 5, 1}, {"dev/null", 1, 3}, {"dev/urandom", 1, 9}} {
		if !have[d.name] {
			out = append(out, initramfs.CharDev(d.name, 0o600, d.major, d.minor))
		}
	}
	if !have["tmp"] {
		out = append(out, initramfs.Dir("tmp", 0o1777))
	}
	return out, nil
}

// bigAppBuild is a big app built once per run: its kernel, initramfs and
// disk image.
type bigAppBuild struct {
	app bigApp
	dir string // turbo-image build output
	// cached tells whether the app binary came from the cache.
	cached   bool
	binary   string // the cached app binary
	appBytes int64
	// derived is the recipe the run built (a copy with binary:).
	derived string
}

// appBinary returns the big app's binary, built with `turbo-image build`
// of its recipe as a user would and cached under $C/apps by the content
// of every file of the recipe folder (recipe.yaml, go.mod, go.sum, any
// main package) and the Go version (the module versions go.sum pins
// decide the rest).
func (b *bench) appBinary(ctx context.Context, a bigApp) (path string, cached bool, err error) {
	dir := filepath.Join(b.root, filepath.Dir(a.recipe))
	parts := []string{"bigapp v1", b.goVersion}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		parts = append(parts, rel, string(data))
		return nil
	})
	if err != nil {
		return "", false, err
	}
	key := keyOf(parts...)
	path = filepath.Join(b.cache, "apps", a.id+"-"+key[:16], a.service)
	if _, err := os.Stat(path); err == nil {
		return path, true, nil
	}
	out := filepath.Join(b.tmp, a.id+"-source-build")
	b.logf("building %s from its module (cached afterwards by content)", a.recipe)
	d, err := b.buildTurbo(ctx, a.recipe, out, nil, "-q")
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", a.recipe, err)
	}
	b.logf("%s built in %s", a.recipe, seconds(d))
	initrd, err := buildInitramfs(out, "initramfs")
	if err != nil {
		return "", false, err
	}
	data, err := extractFile(initrd, "bin/"+a.service)
	if err != nil {
		return "", false, err
	}
	if err := atomicfile.WriteFileAll(path, data, 0o755); err != nil {
		return "", false, err
	}
	return path, false, nil
}

// buildBigApp builds a big app's derived recipe (cached binary, outputs
// initramfs and disk), plus extra recipe lines for a variant (suffix
// names its directories).
func (b *bench) buildBigApp(ctx context.Context, a bigApp, suffix, extra string) (*bigAppBuild, error) {
	bin, cached, err := b.appBinary(ctx, a)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(b.root, a.recipe))
	if err != nil {
		return nil, err
	}
	rec, err := DeriveRecipe(src, a.service, []string{"initramfs", "disk"})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.recipe, err)
	}
	rec = append(rec, extra...)
	rdir := filepath.Join(b.tmp, a.id+suffix+"-recipe")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Link(bin, filepath.Join(rdir, a.service)); err != nil {
		data, rerr := os.ReadFile(bin)
		if rerr != nil {
			return nil, rerr
		}
		if err := atomicfile.WriteFileAll(filepath.Join(rdir, a.service), data, 0o755); err != nil {
			return nil, err
		}
	}
	derived := filepath.Join(rdir, "recipe.yaml")
	if err := atomicfile.WriteFileAll(derived, rec, 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(b.tmp, a.id+suffix)
	d, err := b.buildTurbo(ctx, derived, out, nil, "-q")
	if err != nil {
		return nil, err
	}
	b.logf("%s: image build took %s", a.id+suffix, seconds(d))
	n, _ := fileSize(bin)
	return &bigAppBuild{app: a, dir: out, cached: cached, binary: bin, appBytes: n, derived: derived}, nil
}

// bigAppCommands are the build commands every big-app row shares.
func (b *bench) bigAppCommands(bb *bigAppBuild) []string {
	a := bb.app
	return []string{
		b.vars.command("bin/turbo-image", "build", a.recipe, "-o", filepath.Join(b.tmp, a.id+"-source-build")) + "   # once: the app from its module (go.mod pins it); its bin/" + a.service + " is cached by recipe, go.mod, go.sum and Go version",
		"# " + b.vars.word(bb.derived) + ": the recipe with `binary: " + a.service + "` (the cached binary) and `outputs: [initramfs, disk]`",
		b.vars.command("bin/turbo-image", "build", bb.derived, "-o", bb.dir),
	}
}

// prepBigInitramfs is a big app's initramfs row.
func (b *bench) prepBigInitramfs(ctx context.Context, r *Row, bb *bigAppBuild) (*rowRun, error) {
	a := bb.app
	r.Title = a.title + ", initramfs"
	r.Machine = "microvm"
	initrd, err := buildInitramfs(bb.dir, "initramfs")
	if err != nil {
		return nil, err
	}
	r.Boot = fmt.Sprintf("`turbo-image build` of %s (the app built from its module, %s stripped; the default `compression: auto` made it %s), booted with the argv of `turbo-image run BUILD --dry-run --accel tcg` plus a `hostfwd` of the probe port. Guest uptime at ready is turbo-init's TURBO_READY (the app's first healthy check); the app's own start is from turbo.debug's `service started` to `service healthy` lines.", a.recipe, bytesize.Format(bb.appBytes), filepath.Base(initrd))
	size, err := kernelInitrdSize(filepath.Join(bb.dir, "kernel"), initrd)
	if err != nil {
		return nil, err
	}
	r.Size = size
	argv, err := b.dryRun(ctx, bb.dir)
	if err != nil {
		return nil, err
	}
	shown, err := AddHostfwd(argv, displayPort, guestPort)
	if err != nil {
		return nil, err
	}
	r.Commands = append(b.bigAppCommands(bb),
		b.vars.command(shown...)+" &",
		bigCurl(a))
	if bb.cached {
		r.Notes = append(r.Notes, "The app binary came from the benchmark's cache ("+b.vars.word(bb.binary)+").")
	}
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		args, err := AddHostfwd(argv[1:], port, guestPort)
		if err != nil {
			return bootPlan{}, nil, err
		}
		return bootPlan{bin: argv[0], args: args, port: port, turboReady: true, path: a.probe, noMarker: true, timeout: 180 * time.Second}, nil, nil
	}}, nil
}

// prepBigDisk is a big app's disk row: first boot (a fresh copy of
// disk.img per boot) or a later boot (a copy of a disk that was booted
// once to TURBO_READY and powered off).
//
// v's qemu and cmdline change how run boots it (zero for the default).
func (b *bench) prepBigDisk(ctx context.Context, r *Row, bb *bigAppBuild, later bool, v bigAppVariant) (*rowRun, error) {
	a := bb.app
	var runExtra []string
	if len(v.qemu) > 0 {
		w, err := b.qemuWrapper(r.ID, v.qemu)
		if err != nil {
			return nil, err
		}
		runExtra = append(runExtra, "--qemu", w)
	}
	if v.cmdline != "" {
		runExtra = append(runExtra, "--cmdline", v.cmdline)
	}
	disk := filepath.Join(bb.dir, "disk.img")
	alloc, err := allocatedSize(disk)
	if err != nil {
		return nil, err
	}
	sq, err := fileSize(filepath.Join(bb.dir, "root.squashfs"))
	if err != nil {
		return nil, err
	}
	kl, err := kernelLoadedSize(filepath.Join(bb.dir, "kernel"))
	if err != nil {
		return nil, err
	}
	slot, err := buildInitramfs(bb.dir, "slot-initramfs")
	if err != nil {
		return nil, err
	}
	sl, err := uncompressedSize(slot)
	if err != nil {
		return nil, err
	}
	r.Size = Size{Disk: alloc, Loaded: kl + sl + sq,
		DiskParts:   fmt.Sprintf("disk.img %s allocated", bytesize.Format(alloc)),
		LoadedParts: fmt.Sprintf("kernel init_size %s + slot initramfs %s uncompressed + root.squashfs %s (read on demand)", bytesize.Format(kl), bytesize.Format(sl), bytesize.Format(sq))}
	r.Machine = "microvm"
	src := disk
	if later {
		r.Title = a.title + ", disk, later boot"
		r.Boot = "The same build's disk.img by `turbo-image run --boot disk` (turbo direct boot: slot a's kernel and slot initramfs, the squashfs root and /data on virtio-blk), booted once to TURBO_READY and powered off (ACPI) before the run; each measured boot starts from a copy of that disk."
		src = filepath.Join(b.tmp, r.ID+"-booted.img")
		if err := copySparse(ctx, disk, src); err != nil {
			return nil, err
		}
		b.logf("%s: booting the disk once (the later-boot rows start from it)", r.ID)
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := append([]string{"run", src, "--boot", "disk", "--publish", "127.0.0.1:" + strconv.Itoa(port) + ":" + strconv.Itoa(guestPort), "--accel", "tcg"}, runExtra...)
		if _, err := bootOnce(ctx, bootPlan{bin: b.turbo, args: args, port: port, turboReady: true, path: a.probe, noMarker: true, timeout: 240 * time.Second, stopGrace: 40 * time.Second}); err != nil {
			return nil, fmt.Errorf("first boot of the later-boot disk: %w", err)
		}
	} else {
		r.Title = a.title + ", disk, first boot"
		r.Boot = "The same build's disk.img by `turbo-image run --boot disk`, a fresh copy per boot (blank /data as built, slot a never booted)."
	}
	r.Notes = append(r.Notes, "Host wall is measured from starting `turbo-image run` (it reads the ESP and measures the TSC) rather than from QEMU's start.")
	if a.diskNote != "" {
		r.Notes = append(r.Notes, a.diskNote)
	}
	r.Commands = append(b.bigAppCommands(bb),
		b.vars.command("cp", "--sparse=always", src, filepath.Join(b.tmp, "boot.img")),
		b.vars.command(append([]string{"bin/turbo-image", "run", filepath.Join(b.tmp, "boot.img"), "--boot", "disk", "--publish", "127.0.0.1:" + strconv.Itoa(displayPort) + ":" + strconv.Itoa(guestPort), "--accel", "tcg"}, runExtra...)...)+" &",
		bigCurl(a))
	turbo, id := b.turbo, r.ID
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		cp := filepath.Join(b.tmp, fmt.Sprintf("%s-boot-%d.img", id, i+1))
		if err := copySparse(ctx, src, cp); err != nil {
			return bootPlan{}, nil, err
		}
		args := append([]string{"run", cp, "--boot", "disk", "--publish", "127.0.0.1:" + strconv.Itoa(port) + ":" + strconv.Itoa(guestPort), "--accel", "tcg"}, runExtra...)
		return bootPlan{bin: turbo, args: args, port: port, turboReady: true, path: a.probe, noMarker: true, timeout: 240 * time.Second, stopGrace: 30 * time.Second},
			func() { os.Remove(cp) }, nil
	}}, nil
}

// prepBigFloor is a big app's app-as-init floor: the same kernel, the
// same files, no turbo-init: the shim brings eth0 up and executes the app
// as PID 1 from an uncompressed initramfs.
func (b *bench) prepBigFloor(ctx context.Context, r *Row, bb *bigAppBuild, base vmm.Spec) (*rowRun, error) {
	a := bb.app
	r.Title = a.title + ", app as init (floor)"
	r.Machine = "microvm"
	shimBin, gccArgs, err := b.floorShim(ctx)
	if err != nil {
		return nil, err
	}
	shim, err := os.ReadFile(shimBin)
	if err != nil {
		return nil, err
	}
	built, err := buildInitramfs(bb.dir, "initramfs")
	if err != nil {
		return nil, err
	}
	recs, err := readInitramfs(built)
	if err != nil {
		return nil, err
	}
	frecs, err := FloorRecords(recs, shim, a.service)
	if err != nil {
		return nil, err
	}
	initrd := filepath.Join(b.tmp, a.id+"-floor.cpio")
	var raw bytes.Buffer
	if err := initramfs.WriteArchive(&raw, frecs, initramfs.Options{}); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFileAll(initrd, raw.Bytes(), 0o644); err != nil {
		return nil, err
	}
	kernel := filepath.Join(bb.dir, "kernel")
	size, err := kernelInitrdSize(kernel, initrd)
	if err != nil {
		return nil, err
	}
	r.Size = size
	r.Boot = "The same kernel and `-M microvm` arguments (without the recipe's turbo.debug) with an uncompressed initramfs holding the build's files without turbo-init: /init is a static C shim (floorExecC in bench/bigapp.go) that sets eth0 to 10.0.2.15/24 via 10.0.2.2 with ioctls, mounts a tmpfs on /tmp (as turbo-init does), prints BENCH_EXEC with its uptime and executes the app as PID 1 with the service's argv and environment. Nothing else runs: this is what the app costs by itself. Guest uptime at ready is not known (the app prints no marker); host wall is QEMU's start to the first HTTP 200."
	spec := base
	spec.Kernel, spec.Initrd = kernel, initrd
	_, shown, err := specWithPort(spec, displayPort)
	if err != nil {
		return nil, err
	}
	r.Commands = append(b.bigAppCommands(bb),
		"# the C source is floorExecC in bench/bigapp.go",
		b.vars.command(gccArgs...),
		"# "+b.vars.word(initrd)+": the build's initramfs records without /init, plus the shim as /init, /bench/exec (argv, env) and /dev nodes, uncompressed (package initramfs)",
		b.vars.command(append([]string{spec.Binary}, shown...)...)+" &",
		bigCurl(a))
	return &rowRun{plan: func(ctx context.Context, i, port int) (bootPlan, func(), error) {
		bin, args, err := specWithPort(spec, port)
		if err != nil {
			return bootPlan{}, nil, err
		}
		return bootPlan{bin: bin, args: args, port: port, path: a.probe, noMarker: true, timeout: 180 * time.Second}, nil, nil
	}}, nil
}

// qemuWrapper writes an executable script for `turbo-image run --qemu`
// that runs vmm.DefaultBinary with run's arguments followed by extra, so
// a row measures a QEMU option the way run would pass it.
func (b *bench) qemuWrapper(id string, extra []string) (string, error) {
	var sb strings.Builder
	sb.WriteString("#!/bin/sh\n# " + id + ": turbo-image run's QEMU command plus a lever (bench/bigapp.go)\nexec " + vmm.DefaultBinary + " \"$@\"")
	for _, a := range extra {
		if strings.ContainsAny(a, "'\n") {
			return "", fmt.Errorf("QEMU argument %q: holds a quote or a line break", a)
		}
		sb.WriteString(" '" + a + "'")
	}
	sb.WriteString("\n")
	p := filepath.Join(b.tmp, id+"-qemu.sh")
	return p, atomicfile.WriteFileAll(p, []byte(sb.String()), 0o755)
}

// bigCurl is the readiness probe of a big app as a shell command.
func bigCurl(a bigApp) string {
	return strings.Replace(curlCommand(), "/; do", a.probe+"; do", 1)
}
