package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/host/sbom"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// copyTree copies the hello recipe folder, giving every file mtime.
func copyTree(t *testing.T, src, dst string, mtime time.Time) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		return os.Chtimes(target, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testCache is shared by the tests of this package (the init is compiled
// once); made by TestMain.
var testCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "builder-test-cache-")
	if err != nil {
		panic(err)
	}
	testCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func fakeKernel(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bzImage")
	// Not really a kernel, but it carries the x86 boot protocol's header.
	b := make([]byte, 4096)
	copy(b, "MZ")
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	copy(b[0x202:], "HdrS")
	os.WriteFile(p, b, 0o644)
	return p
}

func sha(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestReproducible builds the hello recipe from two copies in different
// folders, with different file mtimes, into different output folders:
// the initramfs and the manifest must be byte-identical.
func TestReproducible(t *testing.T) {
	cache := testCache
	kernel := fakeKernel(t)
	var outs []string
	for i, mt := range []time.Time{time.Unix(1e9, 0), time.Now()} {
		src := filepath.Join(t.TempDir(), "hello")
		copyTree(t, "../recipes/hello", src, mt)
		withConversions(t, filepath.Join(src, "recipe.yaml"))
		out := filepath.Join(t.TempDir(), "out", "build")
		res, err := Build(context.Background(), Options{Recipe: filepath.Join(src, "recipe.yaml"), Out: out, Kernel: kernel, CacheDir: cache})
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if res.Dir != out {
			t.Fatalf("dir %s", res.Dir)
		}
		outs = append(outs, out)
	}
	for _, name := range []string{"initramfs.cpio.zst", "manifest.json", "kernel", "disk.img", "root.squashfs", "slot-initramfs.cpio.zst",
		"disk.qcow2", "disk.vmdk", "disk.vhd", "uki.efi", "live.iso", "sbom.spdx.json", provenance.FileName} {
		a, b := sha(t, filepath.Join(outs[0], name)), sha(t, filepath.Join(outs[1], name))
		if a != b {
			t.Errorf("%s differs between builds: %s vs %s", name, a, b)
		}
	}
	m, _, err := manifest.Load(outs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(context.Background(), outs[0]); err != nil {
		t.Fatal(err)
	}
	// The provenance (unsigned until `sign`) is about this build: every
	// artifact and manifest.json are its subjects, the recipe an input.
	d, err := manifest.ReadDir(context.Background(), outs[0])
	if err != nil {
		t.Fatal(err)
	}
	env, _, err := provenance.Read(context.Background(), outs[0])
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := provenance.ParseStatement(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := provenance.CheckSubjects(stmt, d); err != nil {
		t.Error(err)
	}
	if len(env.Signatures) != 0 {
		t.Error("build signed its provenance")
	}
	for _, name := range []string{QCOW2File, VMDKFile, VHDFile, UKIFile, ISOFile} {
		if _, ok := m.Artifact(name); !ok {
			t.Errorf("manifest does not list %s", name)
		}
	}
	for _, in := range []string{"recipe", "service:hello", "init", "kernel:prebuilt", "file:/etc/motd", "systemd-stub"} {
		found := false
		for _, f := range m.Inputs {
			found = found || f.Name == in
		}
		if !found {
			t.Errorf("manifest lacks input %q: %+v", in, m.Inputs)
		}
	}
	if m.Toolchain.Go == "" || !strings.HasPrefix(m.Toolchain.Go, "go") {
		t.Errorf("toolchain: %+v", m.Toolchain)
	}
}

// withConversions adds the disk conversions, the UKI and the ISO to a
// recipe's outputs.
func withConversions(t *testing.T, recipeFile string) {
	t.Helper()
	b, err := os.ReadFile(recipeFile)
	if err != nil {
		t.Fatal(err)
	}
	const old = "outputs: [initramfs, disk]\n"
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s: no %q line", recipeFile, old)
	}
	b = bytes.Replace(b, []byte(old), []byte("outputs: [initramfs, disk, qcow2, vmdk, vhd, uki, iso]\n"), 1)
	if err := os.WriteFile(recipeFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestInitramfsLayout checks what the initramfs holds.
func TestInitramfsLayout(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b")
	_, err := Build(context.Background(), Options{Recipe: "../recipes/hello/recipe.yaml", Out: out,
		Kernel: fakeKernel(t), CacheDir: testCache, Version: "2.0.0-rc1", SourceDateEpoch: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, "initramfs.cpio.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, comp, err := initramfs.Decompress(f)
	if err != nil || comp != initramfs.Zstd {
		t.Fatalf("%v %v", comp, err)
	}
	recs, err := initramfs.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]initramfs.Record{}
	for _, rec := range recs {
		byName[rec.Name] = rec
		if rec.MTime != 1700000000 {
			t.Errorf("%s mtime %d, want SOURCE_DATE_EPOCH", rec.Name, rec.MTime)
		}
	}
	for name, want := range map[string]uint32{
		"init": initramfs.TypeReg | 0o755, "bin/hello": initramfs.TypeReg | 0o755,
		"dev/console": initramfs.TypeChar | 0o600, "dev/null": initramfs.TypeChar | 0o666,
		"tmp": initramfs.TypeDir | 0o1777, "etc/motd": initramfs.TypeReg | 0o644,
		"etc/resolv.conf": initramfs.TypeSymlink | 0o777, "etc/turbo/init.json": initramfs.TypeReg | 0o644,
	} {
		rec, ok := byName[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if rec.Mode != want {
			t.Errorf("%s mode %o, want %o", name, rec.Mode, want)
		}
	}
	if c := byName["dev/console"]; c.Major != 5 || c.Minor != 1 {
		t.Errorf("console %d:%d", c.Major, c.Minor)
	}
	if string(byName["etc/motd"].Data) != "turbo-image hello appliance\n" {
		t.Errorf("motd %q", byName["etc/motd"].Data)
	}
	if err := CheckStaticELF(byName["init"].Data, "amd64"); err != nil {
		t.Errorf("init: %v", err)
	}
	cfg, err := initconfig.Parse(byName["etc/turbo/init.json"].Data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != "2.0.0-rc1" || cfg.Services[0].Path != "/bin/hello" || cfg.Network.Address != "10.0.2.15/24" {
		t.Errorf("config %+v", cfg)
	}
	if strings.TrimSpace(string(byName["etc/turbo/build-id"].Data)) != cfg.BuildID {
		t.Error("build-id file and config disagree")
	}
	sb, err := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The init links modules (u-root, x/sys...); hello only the standard
	// library.
	checkSBOMModules(t, sb, "init", byName["init"].Data, 3)
	checkSBOMModules(t, sb, "bin/hello", byName["bin/hello"].Data, 2)
	// The disk slots' init (built with the disk tags) is its own binary,
	// in slot-initramfs: every Go binary of the image is compared.
	sf, err := os.Open(filepath.Join(out, "slot-initramfs.cpio.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	sr, _, err := initramfs.Decompress(sf)
	if err != nil {
		t.Fatal(err)
	}
	srecs, err := initramfs.ReadAll(sr)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rec := range srecs {
		if rec.Name == "init" {
			found = true
			if bytes.Equal(rec.Data, byName["init"].Data) {
				t.Error("the slot init is the initramfs init; the test would compare one binary twice")
			}
			checkSBOMModules(t, sb, "slot init", rec.Data, 3)
		}
	}
	if !found {
		t.Error("slot-initramfs has no init")
	}
}

// checkSBOMModules compares the Go modules the SBOM lists for the binary
// data (found by its sha256) with what `go version -m` prints for it.
func checkSBOMModules(t *testing.T, sbomJSON []byte, name string, data []byte, min int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), path.Base(name))
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "version", "-m", p).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", name, err)
	}
	var want []string
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	_, gover, _ := strings.Cut(lines[0], ": ")
	want = append(want, "stdlib@"+gover)
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && (f[0] == "mod" || f[0] == "dep"):
			v := ""
			if len(f) > 2 {
				v = f[2]
			}
			want = append(want, f[1]+"@"+v)
		case len(f) >= 3 && f[0] == "=>":
			want[len(want)-1] = f[1] + "@" + f[2]
		}
	}
	sort.Strings(want)

	doc, err := sbom.ParseSPDX(sbomJSON)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(data)
	digest := hex.EncodeToString(d[:])
	pkgs := map[common.ElementID]*spdx.Package{}
	var bin *spdx.Package
	for _, pk := range doc.Packages {
		pkgs[pk.PackageSPDXIdentifier] = pk
		for _, c := range pk.PackageChecksums {
			if c.Value == digest {
				bin = pk
			}
		}
	}
	if bin == nil {
		t.Fatalf("the SBOM has no component with the sha256 of %s", name)
	}
	got := []string{bin.PackageName + "@" + bin.PackageVersion}
	for _, r := range doc.Relationships {
		if r.Relationship == "CONTAINS" && r.RefA.ElementRefID == bin.PackageSPDXIdentifier {
			pk := pkgs[r.RefB.ElementRefID]
			got = append(got, pk.PackageName+"@"+pk.PackageVersion)
		}
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: SBOM lists\n%s\ngo version -m says\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(want) < min {
		t.Errorf("%s: only %d modules; the comparison proves little", name, len(want))
	}
}

// TestFailedBuildLeavesNothing: a build that fails (a service that does
// not compile) must not create or replace the output.
func TestFailedBuildLeavesNothing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "hello")
	copyTree(t, "../recipes/hello", src, time.Now())
	out := filepath.Join(t.TempDir(), "build")
	cache := testCache
	kernel := fakeKernel(t)
	if _, err := Build(context.Background(), Options{Recipe: filepath.Join(src, "recipe.yaml"), Out: out, Kernel: kernel, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	before := sha(t, filepath.Join(out, "manifest.json"))
	os.WriteFile(filepath.Join(src, "app", "main.go"), []byte("package main\nfunc main() { syntax error }\n"), 0o644)
	_, err := Build(context.Background(), Options{Recipe: filepath.Join(src, "recipe.yaml"), Out: out, Kernel: kernel, CacheDir: cache, Version: "9"})
	if err == nil || !strings.Contains(err.Error(), "recipe.yaml:17: services[0].package: go build") {
		t.Fatalf("broken service built: %v", err)
	}
	if sha(t, filepath.Join(out, "manifest.json")) != before {
		t.Error("failed build changed the previous output")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("temp files left next to the output: %v", entries)
	}
}

func TestRefusesToReplaceOtherDirectories(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "precious.txt"), []byte("x"), 0o644)
	_, err := Build(context.Background(), Options{Recipe: "../recipes/hello/recipe.yaml", Out: out, Kernel: fakeKernel(t), CacheDir: testCache})
	if err == nil || !strings.Contains(err.Error(), "is not a turbo-image build") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "precious.txt")); err != nil {
		t.Fatal("unrelated file removed")
	}
}

func TestPrebuiltDynamicBinaryRefused(t *testing.T) {
	testenv.MustHaveFile(t, "/bin/ls", "coreutils")
	dir := t.TempDir()
	b, _ := os.ReadFile("/bin/ls")
	os.WriteFile(filepath.Join(dir, "ls"), b, 0o755)
	os.WriteFile(filepath.Join(dir, "recipe.yaml"), []byte("name: dyn\nversion: \"1\"\nkernel: {fragments: [builtin:virt]}\nservices:\n  - name: ls\n    binary: ls\n"), 0o644)
	_, err := Build(context.Background(), Options{Recipe: filepath.Join(dir, "recipe.yaml"), Out: filepath.Join(dir, "out"), Kernel: fakeKernel(t), CacheDir: testCache})
	if err == nil || !strings.Contains(err.Error(), "recipe.yaml:6: services[0].binary") || !strings.Contains(err.Error(), "interpreter /lib64/ld-linux-x86-64.so.2") {
		t.Fatalf("got %v", err)
	}
}

// TestContentTooLarge: a slot root that does not fit its partition fails
// the build, naming the partition and the size it needs.
func TestContentTooLarge(t *testing.T) {
	testenv.MustHaveFile(t, DefaultSystemdBoot, "systemd-boot-efi")
	src := filepath.Join(t.TempDir(), "hello")
	copyTree(t, "../recipes/hello", src, time.Now())
	b, _ := os.ReadFile(filepath.Join(src, "recipe.yaml"))
	os.WriteFile(filepath.Join(src, "recipe.yaml"), append(b, []byte("disk: {root_size: 1MiB}\n")...), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	_, err := Build(context.Background(), Options{Recipe: filepath.Join(src, "recipe.yaml"), Out: out, Kernel: fakeKernel(t), CacheDir: testCache})
	if err == nil || !strings.Contains(err.Error(), "partition turbo-a: content needs") || !strings.Contains(err.Error(), "partition has 1 MiB") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a failed build left its output")
	}
}

func TestDefaultCacheDir(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TURBO_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c"},
		{map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/turbo-image"},
		{map[string]string{"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/turbo-image"},
		{map[string]string{"HOME": "/h"}, "/h/.cache/turbo-image"},
		{map[string]string{}, ""},
	} {
		got, err := DefaultCacheDir(func(k string) string { return tc.env[k] })
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%v: %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}

// Tests that build a real kernel outside the builder use the builder's
// kernel cache, so each kernel is built once per run.
func TestKernelCacheIsTestenv(t *testing.T) {
	t.Setenv("TURBO_KERNEL_CACHE", "")
	for _, env := range [][3]string{ // TURBO_CACHE, XDG_CACHE_HOME, HOME
		{"/somewhere/turbo", "/x", "/h"},
		{"", "/x", "/h"},
		{"", "relative", "/h"},
		{"", "", "/h"},
	} {
		t.Setenv("TURBO_CACHE", env[0])
		t.Setenv("XDG_CACHE_HOME", env[1])
		t.Setenv("HOME", env[2])
		d, err := DefaultCacheDir(os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		if want, got := filepath.Join(d, "kernel"), testenv.KernelCache(t); got != want {
			t.Errorf("%q: testenv.KernelCache %s, builder uses %s", env, got, want)
		}
	}
}

// TestQCOW2CompressedOutput builds hello with outputs disk and
// qcow2-compressed: disk.qcow2 passes qemu-img check, holds what disk.img
// holds (qemu-img compare), and is smaller than the uncompressed qcow2.
func TestQCOW2CompressedOutput(t *testing.T) {
	qimg := testenv.MustHaveTool(t, "qemu-img", "qemu-utils")
	src := filepath.Join(t.TempDir(), "hello")
	copyTree(t, "../recipes/hello", src, time.Unix(1e9, 0))
	rp := filepath.Join(src, "recipe.yaml")
	b, err := os.ReadFile(rp)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("outputs: [initramfs, disk]\n"), []byte("outputs: [disk, qcow2-compressed]\n"), 1)
	if err := os.WriteFile(rp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "build")
	if _, err := Build(context.Background(), Options{Recipe: rp, Out: out, Kernel: fakeKernel(t), CacheDir: testCache}); err != nil {
		t.Fatal(err)
	}
	q, raw := filepath.Join(out, QCOW2File), filepath.Join(out, DiskFile)
	for _, args := range [][]string{{"check", "-f", "qcow2", q}, {"compare", "-f", "raw", "-F", "qcow2", raw, q}} {
		if o, err := exec.Command(qimg, args...).CombinedOutput(); err != nil {
			t.Errorf("qemu-img %v: %v\n%s", args, err, o)
		}
	}
	plain := filepath.Join(t.TempDir(), "plain.qcow2")
	if o, err := exec.Command(qimg, "convert", "-f", "raw", "-O", "qcow2", raw, plain).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, o)
	}
	cs, _ := os.Stat(q)
	ps, _ := os.Stat(plain)
	t.Logf("disk.qcow2 compressed %d bytes, uncompressed (qemu-img convert) %d", cs.Size(), ps.Size())
	if cs.Size() >= ps.Size() {
		t.Errorf("compressed qcow2 (%d bytes) is not smaller than an uncompressed one (%d)", cs.Size(), ps.Size())
	}
}
