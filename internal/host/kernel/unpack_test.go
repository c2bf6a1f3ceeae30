package kernel

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

type tarEntry struct {
	name, link string
	typ        byte
	mode       int64
	data       string
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.data)),
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeXGlobalHeader {
			hdr = &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "0123abcd"}}
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.data))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t *testing.T, data []byte, comp compression) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch comp {
	case compNone:
		return data
	case compGzip:
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case compZstd:
		w, _ := zstd.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case compXZ, compBzip2:
		tool := map[compression]string{compXZ: "xz", compBzip2: "bzip2"}[comp]
		cmd := exec.Command(tool, "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			testenv.Missing(t, "%s case: %v (install %s)", tool, err, map[compression]string{compXZ: "xz-utils", compBzip2: "bzip2"}[comp])
		}
		return out
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var kernelLikeTar = []tarEntry{
	{typ: tar.TypeXGlobalHeader},
	{name: "linux-6.1.0/", typ: tar.TypeDir, mode: 0o755},
	{name: "linux-6.1.0/Makefile", typ: tar.TypeReg, mode: 0o644, data: "all:\n"},
	{name: "linux-6.1.0/Kconfig", typ: tar.TypeReg, mode: 0o644, data: "config A\n\tbool\n"},
	{name: "linux-6.1.0/scripts/run.sh", typ: tar.TypeReg, mode: 0o755, data: "#!/bin/sh\n"},
	{name: "linux-6.1.0/arch/x86/include/x.h", typ: tar.TypeReg, mode: 0o644, data: "/* x */\n"},
	{name: "linux-6.1.0/include/asm", typ: tar.TypeSymlink, link: "../arch/x86/include"},
	{name: "linux-6.1.0/include/x-copy.h", typ: tar.TypeLink, link: "linux-6.1.0/arch/x86/include/x.h"},
}

func TestPrepareSourceFormats(t *testing.T) {
	for _, comp := range []compression{compNone, compGzip, compZstd, compXZ, compBzip2} {
		t.Run(string(comp), func(t *testing.T) {
			dir := t.TempDir()
			data := compress(t, makeTar(t, kernelLikeTar), comp)
			if got, err := detectCompression(data[:min(len(data), 512)]); err != nil || got != comp {
				t.Fatalf("detectCompression = %v, %v; want %v", got, err, comp)
			}
			tarball := filepath.Join(dir, "linux.tar.any")
			os.WriteFile(tarball, data, 0o644)
			s := Spec{Source: tarball, CacheDir: filepath.Join(dir, "cache"), Arch: "amd64"}
			var reports []Progress
			r := reporter{func(p Progress) { reports = append(reports, p) }}
			tree, err := prepareSource(context.Background(), s, sha256Hex(data), r)
			if err != nil {
				t.Fatalf("prepareSource: %v", err)
			}
			if want := filepath.Join(dir, "cache", "src", sha256Hex(data)); tree != want {
				t.Errorf("tree = %s, want %s (top directory stripped)", tree, want)
			}
			if b, _ := os.ReadFile(filepath.Join(tree, "Makefile")); string(b) != "all:\n" {
				t.Errorf("Makefile = %q", b)
			}
			if fi, err := os.Stat(filepath.Join(tree, "scripts/run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("run.sh mode: %v %v", fi, err)
			}
			if fi, err := os.Stat(filepath.Join(tree, "Kconfig")); err != nil || !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
				t.Errorf("Kconfig mtime not restored: %v %v", fi, err)
			}
			if target, err := os.Readlink(filepath.Join(tree, "include/asm")); err != nil || target != "../arch/x86/include" {
				t.Errorf("symlink = %q, %v", target, err)
			}
			if b, _ := os.ReadFile(filepath.Join(tree, "include/x-copy.h")); string(b) != "/* x */\n" {
				t.Errorf("hard link content = %q", b)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "cache", "tmp")); len(entries) != 0 {
				t.Errorf("tmp not cleaned: %v", entries)
			}
			if len(reports) == 0 || reports[len(reports)-1].Stage != "unpack" {
				t.Errorf("no unpack progress: %v", reports)
			}
			// Second time: already unpacked, nothing reported.
			reports = nil
			if again, err := prepareSource(context.Background(), s, sha256Hex(data), r); err != nil || again != tree || len(reports) != 0 {
				t.Errorf("second prepareSource = %s, %v, %d reports", again, err, len(reports))
			}
		})
	}
}

func TestUnpackRejects(t *testing.T) {
	ok := tarEntry{name: "Makefile", typ: tar.TypeReg, mode: 0o644, data: "x"}
	tests := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"dotdot", []tarEntry{ok, {name: "../evil", typ: tar.TypeReg, data: "x"}}, "leaves the tree"},
		{"nested dotdot", []tarEntry{{name: "a/../../evil", typ: tar.TypeReg, data: "x"}}, "leaves the tree"},
		{"absolute", []tarEntry{{name: "/tmp/evil", typ: tar.TypeReg, data: "x"}}, "leaves the tree"},
		{"symlink escape", []tarEntry{{name: "a/l", typ: tar.TypeSymlink, link: "../../etc"}}, "leaves the tree"},
		{"absolute symlink", []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}}, "leaves the tree"},
		{"through symlink", []tarEntry{{name: "d/", typ: tar.TypeDir, mode: 0o755}, {name: "l", typ: tar.TypeSymlink, link: "d"}, {name: "l/f", typ: tar.TypeReg, data: "x"}}, "goes through symbolic link"},
		{"overwrite symlink", []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "Makefile"}, {name: "l", typ: tar.TypeReg, data: "x"}}, "already a symbolic link"},
		{"symlink chain escape", []tarEntry{{name: "a/", typ: tar.TypeDir}, {name: "b", typ: tar.TypeSymlink, link: "a/up/.."}, {name: "a/up", typ: tar.TypeSymlink, link: ".."}}, "outside the tree"},
		{"hard link escape", []tarEntry{{name: "h", typ: tar.TypeLink, link: "../outside"}}, "leaves the tree"},
		{"duplicate file", []tarEntry{ok, ok}, "exists"},
		{"device", []tarEntry{{name: "dev", typ: tar.TypeChar}}, "unsupported tar entry type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := makeTar(t, tt.entries)
			tarball := filepath.Join(dir, "x.tar")
			os.WriteFile(tarball, data, 0o644)
			dst := filepath.Join(dir, "out", "tree")
			err := unpackTarball(context.Background(), tarball, dst, sha256Hex(data), func(Progress) {})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("unpackTarball error = %v, want %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 {
				t.Errorf("something was written next to the tree: %v", entries)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "out")); len(entries) != 1 {
				t.Errorf("something was written outside the tree: %v", entries)
			}
		})
	}
}

func TestUnpackDetectsChangedTarball(t *testing.T) {
	dir := t.TempDir()
	data := makeTar(t, kernelLikeTar)
	tarball := filepath.Join(dir, "x.tar")
	os.WriteFile(tarball, data, 0o644)
	err := unpackTarball(context.Background(), tarball, filepath.Join(dir, "t"), strings.Repeat("0", 64), func(Progress) {})
	if err == nil || !strings.Contains(err.Error(), "changed while it was unpacked") {
		t.Errorf("error = %v", err)
	}
}

func TestPrepareSourceRejectsNonKernel(t *testing.T) {
	dir := t.TempDir()
	data := makeTar(t, []tarEntry{{name: "pkg/README", typ: tar.TypeReg, data: "hi"}})
	tarball := filepath.Join(dir, "x.tar")
	os.WriteFile(tarball, data, 0o644)
	s := Spec{Source: tarball, CacheDir: filepath.Join(dir, "cache"), Arch: "amd64"}
	_, err := prepareSource(context.Background(), s, sha256Hex(data), reporter{})
	if err == nil || !strings.Contains(err.Error(), "not a Linux source tarball") {
		t.Errorf("error = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache", "src", sha256Hex(data))); !os.IsNotExist(err) {
		t.Errorf("a non-kernel archive reached src/: %v", err)
	}
}

func TestCheckCleanTree(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Makefile": "", "Kconfig": ""})
	if err := checkCleanTree(dir, "x86"); err != nil {
		t.Fatalf("clean tree rejected: %v", err)
	}
	for _, p := range []string{".config", "include/config/auto.conf", "arch/x86/include/generated/asm/x.h"} {
		d := t.TempDir()
		writeTree(t, d, map[string]string{"Makefile": "", "Kconfig": "", p: ""})
		if err := checkCleanTree(d, "x86"); err == nil || !strings.Contains(err.Error(), "make mrproper") {
			t.Errorf("tree with %s: error = %v", p, err)
		}
	}
	if err := checkCleanTree(t.TempDir(), "x86"); err == nil {
		t.Error("empty directory accepted as a kernel tree")
	}
}

func TestDetectCompressionUnknown(t *testing.T) {
	for _, head := range [][]byte{nil, []byte("PK\x03\x04"), bytes.Repeat([]byte{0}, 600)} {
		if c, err := detectCompression(head); err == nil {
			t.Errorf("detectCompression(%q) = %v, want error", head[:min(len(head), 8)], c)
		}
	}
}

// FuzzUnpackTar feeds arbitrary tar streams to the extractor and checks
// that nothing is ever created outside the destination.
func FuzzUnpackTar(f *testing.F) {
	f.Add(makeTar(f, kernelLikeTar))
	f.Add(makeTar(f, []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "."}, {name: "l/../x", typ: tar.TypeReg, data: "x"}}))
	f.Add(makeTar(f, []tarEntry{{name: "a/", typ: tar.TypeDir}, {name: "a/b", typ: tar.TypeSymlink, link: ".."}, {name: "a/b/c", typ: tar.TypeReg}}))
	f.Add(makeTar(f, []tarEntry{{name: "h", typ: tar.TypeLink, link: "h"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		tarball := filepath.Join(dir, "in.tar")
		if err := os.WriteFile(tarball, data, 0o644); err != nil {
			t.Fatal(err)
		}
		outer := filepath.Join(dir, "outer")
		dst := filepath.Join(outer, "tree")
		_ = unpackTarball(context.Background(), tarball, dst, sha256Hex(data), func(Progress) {})
		entries, _ := os.ReadDir(dir)
		if len(entries) > 2 {
			t.Fatalf("entries next to the input: %v", entries)
		}
		if entries, _ := os.ReadDir(outer); len(entries) > 1 {
			t.Fatalf("entries outside the tree: %v", entries)
		}
		// Every symlink inside must resolve inside the tree.
		root, _ := filepath.EvalSymlinks(dst)
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeSymlink != 0 {
				resolved, err := filepath.EvalSymlinks(p)
				if err != nil {
					return nil // dangling
				}
				if rel, _ := filepath.Rel(root, resolved); rel != "." && !filepath.IsLocal(rel) {
					t.Fatalf("symlink %s resolves to %s, outside the tree", p, resolved)
				}
			}
			return nil
		})
	})
}
