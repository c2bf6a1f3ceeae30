package kernel

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/kconfig"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// These tests drive Build end to end with a fake `make` (a shell script put
// first on PATH) and a fake compiler, on a gzip tarball of testdata/tree.
// The fake make writes a base .config for "tinyconfig", emulates
// olddefconfig (the last assignment of a symbol wins; SQUASHFS is dropped
// unless MISC_FILESYSTEMS=y), and for "bzImage" prints kbuild-style step
// lines and writes the outputs. Special options steer it:
// CONFIG_FAIL_BUILD=y fails the compile with 40 lines of output,
// CONFIG_SLOW_BUILD=y starts a background sleep and waits (for the
// cancellation test), and CONFIG_SLOW_A_BIT=y sleeps half a second.

const fakeMakeScript = `#!/bin/sh
# Fake make for the kernel package's tests.
for a in "$@"; do
	case "$a" in
	O=*) O="${a#O=}";;
	esac
	target="$a"
done
echo "$target" >> "@LOG@"
case "$target" in
tinyconfig)
	mkdir -p "$O"
	printf 'CONFIG_CC_IS_GCC=y\nCONFIG_EXPERT=y\nCONFIG_BLOCK=y\n# CONFIG_MISC_FILESYSTEMS is not set\n' > "$O/.config"
	echo "#"
	echo "# configuration written to .config"
	;;
olddefconfig)
	awk '
	/^CONFIG_[A-Za-z0-9_]+=/ { n = substr($0, 1, index($0, "=") - 1) }
	/^# CONFIG_[A-Za-z0-9_]+ is not set/ { n = $2 }
	n != "" { if (!(n in v)) order[++k] = n; v[n] = $0; n = "" }
	END {
		for (i = 1; i <= k; i++) {
			n = order[i]
			if (n == "CONFIG_SQUASHFS" && v["CONFIG_MISC_FILESYSTEMS"] != "CONFIG_MISC_FILESYSTEMS=y") { print "# CONFIG_SQUASHFS is not set"; continue }
			print v[n]
		}
	}' "$O/.config" > "$O/.config.new" && mv "$O/.config.new" "$O/.config"
	;;
bzImage)
	if grep -q '^CONFIG_FAIL_BUILD=y' "$O/.config"; then
		i=1
		while [ $i -le 40 ]; do echo "error line $i"; i=$((i+1)); done
		echo "make: *** [Makefile:1] Error 2" >&2
		exit 2
	fi
	if grep -q '^CONFIG_SLOW_BUILD=y' "$O/.config"; then
		sleep 300 &
		echo $! > "@PIDFILE@"
		echo "  CC      slow/start.o"
		wait
	fi
	if grep -q '^CONFIG_SLOW_A_BIT=y' "$O/.config"; then
		sleep 0.5
	fi
	for f in init/main kernel/fork mm/slab fs/open drivers/tty; do echo "  CC      $f.o"; done
	echo "  AR      built-in.a"
	echo "  LD      vmlinux"
	mkdir -p "$O/arch/x86/boot" "$O/include/config"
	printf 'fake bzImage\n' > "$O/arch/x86/boot/bzImage"
	printf '\177ELF fake vmlinux\n' > "$O/vmlinux"
	echo "6.1.0-fake" > "$O/include/config/kernel.release"
	echo "Kernel: arch/x86/boot/bzImage is ready  (#1)"
	;;
*)
	echo "fake make: unknown target $target" >&2
	exit 2
	;;
esac
`

type fakeKernel struct {
	spec    Spec
	makeLog string
	pidFile string
}

// setupFakeKernel prepares the fake toolchain, the tarball and a spec.
func setupFakeKernel(t *testing.T) fakeKernel {
	t.Helper()
	for _, tool := range []string{"sh", "awk", "grep", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s not found: install coreutils/gawk/grep", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	fk := fakeKernel{makeLog: filepath.Join(dir, "make.log"), pidFile: filepath.Join(dir, "sleep.pid")}
	script := strings.NewReplacer("@LOG@", fk.makeLog, "@PIDFILE@", fk.pidFile).Replace(fakeMakeScript)
	if err := os.WriteFile(filepath.Join(bin, "make"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	var entries []tarEntry
	filepath.WalkDir(kconfigTree, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(kconfigTree, p)
		name := filepath.ToSlash(filepath.Join("linux-fake", rel))
		if d.IsDir() {
			entries = append(entries, tarEntry{name: name + "/", typ: '5', mode: 0o755})
			return nil
		}
		data, _ := os.ReadFile(p)
		entries = append(entries, tarEntry{name: name, typ: '0', mode: 0o644, data: string(data)})
		return nil
	})
	tarball := filepath.Join(dir, "linux-fake.tar.gz")
	os.WriteFile(tarball, compress(t, makeTar(t, entries), compGzip), 0o644)

	fk.spec = Spec{
		Source:    tarball,
		Base:      "tinyconfig",
		Arch:      "amd64",
		CC:        writeFakeCC(t, dir, "gcc (Fake) 12.2.0", "x86_64-linux-gnu"),
		CacheDir:  filepath.Join(dir, "cache"),
		Jobs:      2,
		Fragments: []Fragment{{Name: "virt.config", Data: []byte("CONFIG_BLOCK=y\nCONFIG_MISC_FILESYSTEMS=y\nCONFIG_SQUASHFS=y\n")}},
	}
	return fk
}

func (fk fakeKernel) makeCalls(t *testing.T) []string {
	data, err := os.ReadFile(fk.makeLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

func TestBuildFakeKernel(t *testing.T) {
	fk := setupFakeKernel(t)
	ctx := context.Background()
	var reports []Progress
	spec := fk.spec
	spec.Progress = func(p Progress) { reports = append(reports, p) }

	res, err := Build(ctx, spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if res.Cached || res.Release != "6.1.0-fake" || len(res.Key) != 64 {
		t.Errorf("Result = %+v", res)
	}
	kdir := filepath.Join(spec.CacheDir, "kernels", res.Key)
	want := Result{Image: filepath.Join(kdir, "bzImage"), Vmlinux: filepath.Join(kdir, "vmlinux"), Config: filepath.Join(kdir, "config"),
		Key: res.Key, Release: "6.1.0-fake"}
	if res != want {
		t.Errorf("Result\n got %+v\nwant %+v", res, want)
	}
	if b, _ := os.ReadFile(res.Image); string(b) != "fake bzImage\n" {
		t.Errorf("image = %q", b)
	}
	cfg, _ := os.ReadFile(res.Config)
	if !strings.Contains(string(cfg), "CONFIG_SQUASHFS=y\n") {
		t.Errorf("final config lacks the fragment:\n%s", cfg)
	}
	for _, name := range []string{"bzImage", "vmlinux", "config", "meta.json", "key.txt", "build.log"} {
		fi, err := os.Stat(filepath.Join(kdir, name))
		if err != nil {
			t.Errorf("cache entry: %v", err)
		} else if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable (%v)", name, fi.Mode())
		}
	}
	if key, _ := os.ReadFile(filepath.Join(kdir, "key.txt")); !strings.Contains(string(key), "\nCONFIG_SQUASHFS=y\n") {
		t.Errorf("key.txt = %q", key)
	}
	if log, _ := os.ReadFile(filepath.Join(kdir, "build.log")); !strings.Contains(string(log), "  CC      init/main.o") {
		t.Errorf("build.log lacks make output: %q", log)
	}
	for _, gone := range []string{"tmp/build-" + res.Key, "tmp/out-" + res.Key, "logs/" + res.Key + ".log"} {
		if _, err := os.Stat(filepath.Join(spec.CacheDir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", gone, err)
		}
	}
	if got := fk.makeCalls(t); !reflect.DeepEqual(got, []string{"tinyconfig", "olddefconfig", "bzImage"}) {
		t.Errorf("make targets = %v", got)
	}

	// Progress: stages in order, compile steps counted against the default
	// estimate, no percent above 100.
	var stages []string
	var lastCompile Progress
	for _, p := range reports {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
		if p.Stage == "compile" {
			lastCompile = p
			if p.Total > 0 && p.Done > p.Total {
				t.Errorf("compile progress %d/%d", p.Done, p.Total)
			}
		}
	}
	if !reflect.DeepEqual(stages, []string{"unpack", "config", "compile", "done"}) {
		t.Errorf("stages = %v", stages)
	}
	if lastCompile.Done != 7 || lastCompile.Total != archTable["amd64"].defaultSteps["tinyconfig"] {
		t.Errorf("last compile progress %+v, want 7 steps of the default estimate", lastCompile)
	}

	// Warm: nothing runs, Cached is set, fast.
	reports = nil
	start := time.Now()
	again, err := Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("cached Build took %v", elapsed)
	}
	want.Cached = true
	if again != want {
		t.Errorf("cached Result = %+v, want %+v", again, want)
	}
	if got := fk.makeCalls(t); len(got) != 3 {
		t.Errorf("cached Build ran make: %v", got)
	}
	if len(reports) != 1 || reports[0].Stage != "done" {
		t.Errorf("cached Build reported %v", reports)
	}

	// A new key uses the measured step count as the estimate.
	spec.SourceDateEpoch = 1
	reports = nil
	if _, err := Build(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for _, p := range reports {
		if p.Stage == "compile" && p.Done == 0 && p.Total != 7 {
			t.Errorf("estimate after a 7-step build = %d", p.Total)
		}
	}
}

func TestBuildConcurrentSameKey(t *testing.T) {
	fk := setupFakeKernel(t)
	spec := fk.spec
	spec.Fragments = append(spec.Fragments[:1:1], Fragment{Name: "slow", Data: []byte("CONFIG_SLOW_A_BIT=y\n")})
	var wg sync.WaitGroup
	results := make([]Result, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Build(context.Background(), spec)
		}()
	}
	wg.Wait()
	built := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("Build %d: %v", i, errs[i])
		}
		if !r.Cached {
			built++
		}
		if r.Image != results[0].Image || r.Key != results[0].Key {
			t.Errorf("Build %d returned %+v, Build 0 %+v", i, r, results[0])
		}
	}
	if built != 1 {
		t.Errorf("%d builds ran, want 1", built)
	}
	calls := strings.Join(fk.makeCalls(t), " ")
	if n := strings.Count(calls, "bzImage"); n != 1 {
		t.Errorf("make bzImage ran %d times: %s", n, calls)
	}
	if n := strings.Count(calls, "tinyconfig"); n != 1 {
		t.Errorf("make tinyconfig ran %d times: %s", n, calls)
	}
}

func TestBuildDroppedOptionFailsBeforeCompile(t *testing.T) {
	fk := setupFakeKernel(t)
	spec := fk.spec
	spec.Fragments = []Fragment{{Name: "recipes/kernel/test.config", Data: []byte("# squashfs without its menu\nCONFIG_BLOCK=y\nCONFIG_SQUASHFS=y\n")}}
	_, err := Build(context.Background(), spec)
	var ce *kconfig.CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Build error = %v, want a *CheckError", err)
	}
	want := "CONFIG_SQUASHFS=y (recipes/kernel/test.config:3) was dropped by Kconfig: depends on MISC_FILESYSTEMS && BLOCK; MISC_FILESYSTEMS is not set [fs/squashfs/Kconfig:1]"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error\n got: %v\nwant it to contain: %s", err, want)
	}
	if calls := fk.makeCalls(t); !reflect.DeepEqual(calls, []string{"tinyconfig", "olddefconfig"}) {
		t.Errorf("make targets = %v, want no compile", calls)
	}
	key, _ := cacheKey(context.Background(), spec)
	if _, err := os.Stat(filepath.Join(spec.CacheDir, "kernels", key)); !os.IsNotExist(err) {
		t.Errorf("failed build created a cache entry (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(spec.CacheDir, "tmp", "build-"+key)); !os.IsNotExist(err) {
		t.Errorf("build directory left behind (%v)", err)
	}
}

func TestBuildMakeFailureReportsTail(t *testing.T) {
	fk := setupFakeKernel(t)
	spec := fk.spec
	spec.Fragments = append(spec.Fragments[:1:1], Fragment{Name: "fail", Data: []byte("CONFIG_FAIL_BUILD=y\n")})
	_, err := Build(context.Background(), spec)
	if err == nil {
		t.Fatal("Build succeeded")
	}
	msg := err.Error()
	key, _ := cacheKey(context.Background(), spec)
	logPath := filepath.Join(spec.CacheDir, "logs", key+".log")
	for _, want := range []string{"make bzImage failed", "exit status 2", logPath, "error line 12\n", "error line 40\n", "make: *** [Makefile:1] Error 2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "error line 11\n") {
		t.Errorf("error has more than the last %d lines:\n%s", tailLines, msg)
	}
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), "error line 1\n") {
		t.Errorf("full log %s lacks the first line", logPath)
	}
}

func TestBuildCancelKillsProcessGroup(t *testing.T) {
	fk := setupFakeKernel(t)
	spec := fk.spec
	spec.Fragments = append(spec.Fragments[:1:1], Fragment{Name: "slow", Data: []byte("CONFIG_SLOW_BUILD=y\n")})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec.Progress = func(p Progress) {
		if p.Stage == "compile" && p.Done >= 1 {
			cancel()
		}
	}
	start := time.Now()
	_, err := Build(ctx, spec)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build = %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 20*time.Second {
		t.Errorf("cancellation took %v", elapsed)
	}
	data, err := os.ReadFile(fk.pidFile)
	if err != nil {
		t.Fatalf("the fake make never started its child: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	// The grandchild (sleep 300) must be gone (or a zombie awaiting reaping).
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("make's child %d still runs after cancellation: %s", pid, stat)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	key, _ := cacheKey(context.Background(), spec)
	if _, err := os.Stat(filepath.Join(spec.CacheDir, "tmp", "build-"+key)); !os.IsNotExist(err) {
		t.Errorf("build directory left behind (%v)", err)
	}
}

func TestNormalize(t *testing.T) {
	good := Spec{Source: "/src.tar.xz", Base: "tinyconfig", Arch: "amd64", CacheDir: "/cache"}
	s, err := normalize(good)
	if err != nil {
		t.Fatal(err)
	}
	if s.CC != "gcc" || s.Jobs < 1 {
		t.Errorf("defaults not applied: %+v", s)
	}
	tests := []struct {
		name   string
		change func(*Spec)
		want   string
	}{
		{"no source", func(s *Spec) { s.Source = "" }, "Source is empty"},
		{"no cache", func(s *Spec) { s.CacheDir = "" }, "CacheDir is empty"},
		{"bad base", func(s *Spec) { s.Base = "allyesconfig" }, `Base "allyesconfig": want one of defconfig, tinyconfig`},
		{"bad arch", func(s *Spec) { s.Arch = "riscv64" }, `Arch "riscv64": want one of amd64, arm64`},
		{"negative jobs", func(s *Spec) { s.Jobs = -1 }, "Jobs -1"},
		{"blank cc", func(s *Spec) { s.CC = "  " }, "is not a command"},
		{"negative epoch", func(s *Spec) { s.SourceDateEpoch = -5 }, "SourceDateEpoch"},
	}
	for _, tt := range tests {
		s := good
		tt.change(&s)
		if _, err := normalize(s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestMakePlanArgs(t *testing.T) {
	tests := []struct {
		cc   string
		arch string
		want []string
	}{
		{"gcc", "amd64", []string{"make", "-C", "/src", "O=/obj", "ARCH=x86_64", "CC=gcc", "-j3", "bzImage"}},
		{"aarch64-linux-gnu-gcc", "arm64", []string{"make", "-C", "/src", "O=/obj", "ARCH=arm64", "CC=aarch64-linux-gnu-gcc", "CROSS_COMPILE=aarch64-linux-gnu-", "-j3", "bzImage"}},
		{"ccache /opt/x/bin/x86_64-linux-gnu-gcc", "amd64", []string{"make", "-C", "/src", "O=/obj", "ARCH=x86_64", "CC=ccache /opt/x/bin/x86_64-linux-gnu-gcc", "CROSS_COMPILE=/opt/x/bin/x86_64-linux-gnu-", "-j3", "bzImage"}},
	}
	for _, tt := range tests {
		p := makePlan{srcTree: "/src", objDir: "/obj", arch: archTable[tt.arch], cc: tt.cc, jobs: 3}
		if got := p.args("bzImage"); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("args(%s)\n got %q\nwant %q", tt.cc, got, tt.want)
		}
	}
}

func TestCrossCompilePrefix(t *testing.T) {
	for cc, want := range map[string]string{
		"gcc":                           "",
		"cc":                            "",
		"clang":                         "",
		"aarch64-linux-gnu-gcc":         "aarch64-linux-gnu-",
		"/usr/bin/x86_64-linux-gnu-gcc": "/usr/bin/x86_64-linux-gnu-",
		"ccache gcc":                    "",
		"":                              "",
	} {
		if got := crossCompilePrefix(cc); got != want {
			t.Errorf("crossCompilePrefix(%q) = %q, want %q", cc, got, want)
		}
	}
}

func TestMakeEnv(t *testing.T) {
	in := []string{"PATH=/usr/bin", "ARCH=arm", "CROSS_COMPILE=x-", "KBUILD_BUILD_USER=me", "MAKEFLAGS=-j99", "TMPDIR=/t", "HOME=/root", "LOCALVERSION=-dirty", "KCFLAGS=-O0"}
	want := []string{"PATH=/usr/bin", "TMPDIR=/t", "LC_ALL=C", "LANG=C",
		"KBUILD_BUILD_TIMESTAMP=Tue Nov 14 22:13:20 UTC 2023", "KBUILD_BUILD_USER=turbo-image", "KBUILD_BUILD_HOST=turbo-image",
		"KBUILD_BUILD_VERSION=1", "LOCALVERSION="}
	if got := makeEnv(in, 1700000000); !reflect.DeepEqual(got, want) {
		t.Errorf("makeEnv\n got %q\nwant %q", got, want)
	}
	if got := kbuildTimestamp(0); got != "Thu Jan  1 00:00:00 UTC 1970" {
		t.Errorf("kbuildTimestamp(0) = %q", got)
	}
}

func TestStepLine(t *testing.T) {
	for line, want := range map[string]bool{
		"  CC      init/main.o":                        true,
		"  LD [M]  fs/foo.ko":                          true,
		"  HOSTCC  scripts/basic/fixdep":               true,
		"  AR      built-in.a":                         true,
		"  GEN     Makefile":                           true,
		"make[1]: Entering directory":                  false,
		"init/main.c:1: error: x":                      false,
		"  123 | int x;":                               false,
		"Kernel: arch/x86/boot/bzImage is ready  (#1)": false,
		"#": false,
	} {
		if got := stepLine.MatchString(line); got != want {
			t.Errorf("stepLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestBuildFromTree(t *testing.T) {
	fk := setupFakeKernel(t)
	tree := filepath.Join(t.TempDir(), "linux")
	files := map[string]string{}
	filepath.WalkDir(kconfigTree, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(kconfigTree, p)
			files[rel] = string(data)
		}
		return nil
	})
	writeTree(t, tree, files)
	spec := fk.spec
	spec.Source = tree
	res, err := Build(context.Background(), spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if res.Cached || res.Release != "6.1.0-fake" {
		t.Errorf("Result = %+v", res)
	}
	if entries, _ := os.ReadDir(filepath.Join(spec.CacheDir, "src")); len(entries) != 0 {
		t.Errorf("a tree source was copied into the cache: %v", entries)
	}
	again, err := Build(context.Background(), spec)
	if err != nil || !again.Cached || again.Key != res.Key {
		t.Errorf("second Build = %+v, %v", again, err)
	}
	// Editing the tree makes a new key.
	os.WriteFile(filepath.Join(tree, "Makefile"), []byte("# edited\n"), 0o644)
	third, err := Build(context.Background(), spec)
	if err != nil || third.Cached || third.Key == res.Key {
		t.Errorf("Build after editing the tree = %+v, %v", third, err)
	}
}

// kconfigTree is a fake kernel source tree (Kconfig files, a Makefile and
// scripts) shared with the Kconfig engine's tests.
const kconfigTree = "../../format/kconfig/testdata/tree"
