// Package testenv tells tests what the machine offers, in the manner of Go's
// own internal/testenv (MustHaveExec, MustHaveGoBuild): a test states what
// it needs with one call, and a machine that lacks it decides the outcome.
//
// On a developer machine a missing requirement skips the test with a line
// starting "SKIP:" that names the Debian package to install. In CI, where
// .ci/run exports TURBO_CI=1, the same requirement fails the test instead
// (t.Fatalf), because a CI run that silently skips its QEMU or kernel tests
// proves nothing. Only conditions no CI machine can be asked to provide
// (another architecture, hardware without a feature) use SkipUnsupported,
// which skips everywhere; an explicit -short request uses SkipIfShort.
//
// The package imports no other package of the module, so every package's
// internal tests can use it; constants that mirror a library default
// (QEMU, KernelSource) are checked against it by that library's tests.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CIVar is the environment variable that marks a CI run; "1" turns every
// missing requirement into a failure.
const CIVar = "TURBO_CI"

// QEMU is the emulator the VM tests run (vmm.DefaultBinary), from the
// Debian package qemu-system-x86.
const QEMU = "qemu-system-x86_64"

// KernelSource is the kernel tarball of the Debian package
// linux-source-6.1 (recipe.DefaultKernelSource).
const KernelSource = "/usr/src/linux-source-6.1.tar.xz"

// kernelTools are the programs a kernel build runs, with their Debian
// packages (Documentation/process/changes.rst lists the minimal set).
var kernelTools = [][2]string{
	{"gcc", "build-essential"},
	{"make", "build-essential"},
	{"xz", "xz-utils"},
	{"flex", "flex"},
	{"bison", "bison"},
	{"bc", "bc"},
}

// InCI reports whether this is a CI run (TURBO_CI=1).
func InCI() bool { return os.Getenv(CIVar) == "1" }

// Missing reports that something the test needs is absent: it fails the
// test in CI and skips it elsewhere. The message should say what is
// missing and how to install it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("MISSING (%s=1, so this fails instead of skipping): %s", CIVar, msg)
	}
	t.Skipf("SKIP: %s (with %s=1 this is a failure)", msg, CIVar)
}

// SkipUnsupported skips the test everywhere, CI included, for a condition
// no machine can be asked to provide (another architecture, a CPU without
// a feature). Use Missing for anything an install would fix.
func SkipUnsupported(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skipf("SKIP (unsupported here): "+format, args...)
}

// SkipIfShort skips a slow test when go test runs with -short, which is an
// explicit request and so is honoured in CI too.
func SkipIfShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("SKIP: -short: %s; run without -short", what)
	}
}

// LookTool finds a program on PATH or, as root's PATH would, in /usr/sbin
// and /sbin.
func LookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		c := filepath.Join(dir, name)
		if st, serr := os.Stat(c); serr == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return c, nil
		}
	}
	return "", err
}

// MustHaveTool returns the path of an outside program, or skips (fails in
// CI) naming the Debian package that provides it.
func MustHaveTool(t testing.TB, name, debPkg string) string {
	t.Helper()
	p, err := LookTool(name)
	if err != nil {
		Missing(t, "%s not found on PATH: install the Debian package %s (make test does)", name, debPkg)
	}
	return p
}

// MustHaveFile checks that a file exists, or skips (fails in CI) naming
// the Debian package that provides it.
func MustHaveFile(t testing.TB, path, debPkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s missing: install the Debian package %s (make test does)", path, debPkg)
	}
}

// MustHaveQEMU returns the path of qemu-system-x86_64.
func MustHaveQEMU(t testing.TB) string {
	t.Helper()
	return MustHaveTool(t, QEMU, "qemu-system-x86")
}

// MustHaveKernelSource returns the Debian kernel tarball after checking it
// and the tools a kernel build needs.
func MustHaveKernelSource(t testing.TB) string {
	t.Helper()
	MustHaveFile(t, KernelSource, "linux-source-6.1")
	var missing []string
	for _, tp := range kernelTools {
		if _, err := LookTool(tp[0]); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%s)", tp[0], tp[1]))
		}
	}
	if len(missing) > 0 {
		Missing(t, "a kernel build needs %s: install them and libelf-dev libssl-dev (make test does)", strings.Join(missing, ", "))
	}
	return KernelSource
}

// KernelCache is the kernel cache directory the builder uses, so that a
// test finds the kernel another test or `make demo` built instead of
// building it again: $TURBO_KERNEL_CACHE, else builder.DefaultCacheDir's
// rule plus "kernel" ($TURBO_CACHE, else an absolute $XDG_CACHE_HOME/
// turbo-image, else $HOME/.cache/turbo-image). The Makefile exports both
// variables the same way; a builder test keeps the two rules equal.
func KernelCache(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("TURBO_KERNEL_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("TURBO_CACHE"); d != "" {
		return filepath.Join(d, "kernel")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "turbo-image", "kernel")
	}
	h := os.Getenv("HOME")
	if h == "" {
		Missing(t, "no cache directory: set TURBO_KERNEL_CACHE, TURBO_CACHE or HOME")
	}
	return filepath.Join(h, ".cache", "turbo-image", "kernel")
}

// MustBeRoot checks that the test runs as root (loop devices, mounts).
// CI runs as root.
func MustBeRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "%s needs root", why)
	}
}
