package kernel

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Spec describes a kernel to build.
type Spec struct {
	// Source is a kernel source tarball (.tar, .tar.xz, .tar.gz, .tar.zst,
	// .tar.bz2; detected by content) or an unpacked, clean source tree.
	Source string
	// Base is the make target producing the base configuration:
	// "tinyconfig" or "defconfig".
	Base string
	// Fragments are applied on top of the base configuration, in order;
	// later fragments override earlier ones.
	Fragments []Fragment
	// Arch is the GOARCH of the kernel: "amd64" (ARCH=x86_64, bzImage and
	// vmlinux) or "arm64" (ARCH=arm64, Image; cross-built with
	// aarch64-linux-gnu-gcc on amd64 and booted by qemu-tests). Empty means the
	// host's GOARCH.
	Arch string
	// CacheDir is the root of the cache, e.g.
	// $XDG_CACHE_HOME/turbo-image/kernel. Required.
	CacheDir string
	// Jobs is make's -j; 0 means runtime.NumCPU(). Not part of the key.
	Jobs int
	// CC is the C compiler, default "gcc". A cross compiler named
	// "<prefix>-gcc" also sets CROSS_COMPILE="<prefix>-". Required when
	// Arch differs from the host's GOARCH.
	CC string
	// SourceDateEpoch is the build time recorded in the kernel (uname -v,
	// built-in initramfs mtimes), in seconds since 1970; 0 means 1970-01-01.
	// Callers usually pass $SOURCE_DATE_EPOCH. Part of the key.
	SourceDateEpoch int64
	// Progress, if set, receives progress reports. Calls never overlap
	// (some come from the goroutine copying make's output) and must return
	// quickly: make blocks while its output is not consumed.
	Progress func(Progress)
}

// Progress is a progress report of Build.
type Progress struct {
	// Stage is "wait" (another process builds the same key), "unpack",
	// "config", "compile" or "done".
	Stage string
	// Line is the current file (unpack) or make output line.
	Line string
	// Done and Total measure the stage: KiB of tarball read during
	// "unpack", build steps (kbuild's "CC", "LD", "AR"... lines) during
	// "compile". Total is an estimate during "compile" (see the package
	// documentation); both are 0 when unknown.
	Done, Total int
}

// Result is a built (or cached) kernel.
type Result struct {
	// Image is the boot image in the cache (bzImage on amd64, Image on
	// arm64). Cached files are read-only and never rewritten.
	Image string
	// Vmlinux is the uncompressed ELF kernel in the cache, for PVH direct
	// boot; "" if not kept.
	Vmlinux string
	// Config is the final .config.
	Config string
	// Key is the hex cache key.
	Key string
	// Cached is true when nothing was built.
	Cached bool
	// Release is the kernel release, e.g. "6.1.192".
	Release string
}

// archInfo maps a GOARCH to kbuild's names.
type archInfo struct {
	arch          string // ARCH=
	srcArch       string // SRCARCH (directory under arch/)
	target        string // make target of the boot image
	image         string // path of the image in the build directory
	machinePrefix string // prefix of `$CC -dumpmachine` for this arch
	defaultSteps  map[string]int
}

// archTable is immutable. defaultSteps are measured counts of kbuild step
// lines for the project's virt.config fragment (see the package doc).
var archTable = map[string]archInfo{
	"amd64": {
		arch: "x86_64", srcArch: "x86", target: "bzImage", image: "arch/x86/boot/bzImage",
		machinePrefix: "x86_64",
		defaultSteps:  map[string]int{"tinyconfig": 1990, "defconfig": 3500},
	},
	"arm64": {
		arch: "arm64", srcArch: "arm64", target: "Image", image: "arch/arm64/boot/Image",
		machinePrefix: "aarch64",
		defaultSteps:  map[string]int{"tinyconfig": 1600, "defconfig": 6000},
	},
}

// bases lists the supported base configuration targets.
var bases = map[string]bool{"tinyconfig": true, "defconfig": true}

// normalize validates a spec and fills in defaults.
func normalize(s Spec) (Spec, error) {
	if s.Source == "" {
		return s, fmt.Errorf("kernel spec: Source is empty (want a kernel tarball or source tree)")
	}
	if s.CacheDir == "" {
		return s, fmt.Errorf("kernel spec: CacheDir is empty")
	}
	var err error
	if s.Source, err = filepath.Abs(s.Source); err != nil {
		return s, fmt.Errorf("kernel spec: Source: %w", err)
	}
	if s.CacheDir, err = filepath.Abs(s.CacheDir); err != nil {
		return s, fmt.Errorf("kernel spec: CacheDir: %w", err)
	}
	if !bases[s.Base] {
		return s, fmt.Errorf("kernel spec: Base %q: want one of %s", s.Base, strings.Join(sortedKeys(bases), ", "))
	}
	if s.Arch == "" {
		s.Arch = runtime.GOARCH
	}
	if _, ok := archTable[s.Arch]; !ok {
		return s, fmt.Errorf("kernel spec: Arch %q: want one of %s", s.Arch, strings.Join(sortedKeys(archTable), ", "))
	}
	if s.CC == "" {
		if s.Arch != runtime.GOARCH {
			return s, fmt.Errorf("kernel spec: building for %s on a %s host needs Spec.CC set to a cross compiler (e.g. %s-linux-gnu-gcc)",
				s.Arch, runtime.GOARCH, archTable[s.Arch].machinePrefix)
		}
		s.CC = "gcc"
	}
	if strings.TrimSpace(s.CC) == "" || strings.ContainsAny(s.CC, "\n\r") {
		return s, fmt.Errorf("kernel spec: CC %q is not a command", s.CC)
	}
	if s.Jobs < 0 {
		return s, fmt.Errorf("kernel spec: Jobs %d is negative", s.Jobs)
	}
	if s.Jobs == 0 {
		s.Jobs = runtime.NumCPU()
	}
	if s.SourceDateEpoch < 0 {
		return s, fmt.Errorf("kernel spec: SourceDateEpoch %d is negative", s.SourceDateEpoch)
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kbuildTimestamp formats the epoch the way `date` prints it, which is
// what kbuild expects in KBUILD_BUILD_TIMESTAMP (and what
// usr/gen_initramfs.sh parses back with `date -d`).
func kbuildTimestamp(epoch int64) string {
	return time.Unix(epoch, 0).UTC().Format("Mon Jan _2 15:04:05 UTC 2006")
}

// makeEnv builds make's environment from the caller's: only PATH and
// TMPDIR are kept (variables such as ARCH, CROSS_COMPILE, KCFLAGS,
// KBUILD_*, MAKEFLAGS or LOCALVERSION would change the result without
// changing the key), and the reproducibility variables of
// Documentation/kbuild/reproducible-builds.rst are set.
func makeEnv(environ []string, epoch int64) []string {
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "TMPDIR" {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	return append(env,
		"LC_ALL=C",
		"LANG=C",
		"KBUILD_BUILD_TIMESTAMP="+kbuildTimestamp(epoch),
		"KBUILD_BUILD_USER=turbo-image",
		"KBUILD_BUILD_HOST=turbo-image",
		"KBUILD_BUILD_VERSION=1",
		"LOCALVERSION=",
	)
}

// makePlan holds what every make invocation of one build shares.
type makePlan struct {
	srcTree string
	objDir  string
	arch    archInfo
	cc      string
	jobs    int
}

// args returns make's argument list for targets (make itself is argv[0]).
func (p makePlan) args(targets ...string) []string {
	a := []string{"make", "-C", p.srcTree, "O=" + p.objDir, "ARCH=" + p.arch.arch, "CC=" + p.cc}
	if cross := crossCompilePrefix(p.cc); cross != "" {
		a = append(a, "CROSS_COMPILE="+cross)
	}
	a = append(a, fmt.Sprintf("-j%d", p.jobs))
	return append(a, targets...)
}
