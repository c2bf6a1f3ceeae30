package squashfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	diskfssquashfs "github.com/diskfs/go-diskfs/filesystem/squashfs"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

var compressions = []string{"zstd", "lz4", "gzip", "xz", "none"}

// sampleTree exercises every supported type, special mode bits, owners,
// empty and multi-block files (compressible and not) and a directory too
// large for a basic directory inode.
func sampleTree() []Entry {
	es := []Entry{
		{Path: ".", Mode: fs.ModeDir | 0o755},
		{Path: "bin", Mode: fs.ModeDir | 0o755},
		{Path: "bin/hello", Mode: 0o755, Data: []byte("#!/bin/hello\n")},
		{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Linkname: "hello"},
		{Path: "lib64", Mode: fs.ModeSymlink, Linkname: "/usr/lib"},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/bin/sh\n")},
		{Path: "etc/secret", Mode: 0o600, Data: []byte("s3cret"), UID: 1000, GID: 1001},
		{Path: "usr/bin/suid", Mode: 0o755 | fs.ModeSetuid, Data: []byte("x")},
		{Path: "usr/bin/sgid", Mode: 0o750 | fs.ModeSetgid, Data: []byte("y")},
		{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "var/empty", Mode: fs.ModeDir | 0o700, UID: 65534, GID: 65534},
		{Path: "data/random", Mode: 0o644, Data: patterned(300<<10, 7)},
		{Path: "data/zeros", Mode: 0o644, Data: make([]byte, 200<<10)},
		{Path: "data/empty", Mode: 0o644},
		{Path: "data/exact", Mode: 0o644, Data: bytes.Repeat([]byte("ab"), DefaultBlockSize/2)},
	}
	// 1100 entries with 60-byte names make a listing over 64 KiB.
	for i := 0; i < 1100; i++ {
		es = append(es, Entry{Path: fmt.Sprintf("many/file-%04d-%s", i, strings.Repeat("n", 50)), Mode: 0o644, Data: []byte{byte(i)}})
	}
	return es
}

// lsMode renders a squashfs mode the way ls and unsquashfs -ll do.
func lsMode(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch m.Type() {
	case fs.ModeDir:
		b[0] = 'd'
	case fs.ModeSymlink:
		b[0] = 'l'
		return "lrwxrwxrwx"
	}
	for i := 0; i < 9; i++ {
		if m.Perm()&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit fs.FileMode, pos int, set, unset byte) {
		if m&bit != 0 {
			if b[pos] == '-' {
				b[pos] = unset
			} else {
				b[pos] = set
			}
		}
	}
	special(fs.ModeSetuid, 3, 's', 'S')
	special(fs.ModeSetgid, 6, 's', 'S')
	special(fs.ModeSticky, 9, 't', 'T')
	return string(b)
}

// expectedListing is what unsquashfs -lln must print for sampleTree, dir
// sizes left out (they are the writer's business).
func expectedListing(es []Entry) []string {
	type ent struct {
		mode     fs.FileMode
		uid, gid int
		size     int
		link     string
	}
	m := map[string]ent{"": {mode: fs.ModeDir | 0o755}}
	for _, e := range es {
		p := e.Path
		if p == "." {
			p = ""
		}
		for d := path.Dir(p); d != "." && p != ""; d = path.Dir(d) {
			if _, ok := m[d]; !ok {
				m[d] = ent{mode: fs.ModeDir | 0o755}
			}
		}
		m[p] = ent{mode: e.Mode, uid: e.UID, gid: e.GID, size: len(e.Data) + len(e.Linkname), link: e.Linkname}
	}
	var out []string
	for p, e := range m {
		name := "squashfs-root"
		if p != "" {
			name += "/" + p
		}
		size := fmt.Sprint(e.size)
		if e.mode.IsDir() {
			size = "*"
		}
		line := fmt.Sprintf("%s %d/%d %s 1970-01-01 00:00 %s", lsMode(e.mode), e.uid, e.gid, size, name)
		if e.link != "" {
			line += " -> " + e.link
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// parseListing normalises unsquashfs -lln output: single spaces, directory
// sizes replaced by "*".
func parseListing(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || !strings.Contains(f[1], "/") {
			continue
		}
		if strings.HasPrefix(f[0], "d") {
			f[2] = "*"
		}
		lines = append(lines, strings.Join(f, " "))
	}
	sort.Strings(lines)
	return lines
}

func TestSquashfsReproducible(t *testing.T) {
	es := sampleTree()
	for _, c := range compressions {
		a, err := Build(es, c)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		shuffled := append([]Entry(nil), es...)
		rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		b, err := Build(shuffled, c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: entry order changed the image", c)
		}
		if got := binary.LittleEndian.Uint32(a[0:]); got != sqMagic {
			t.Errorf("%s: magic %#x", c, got)
		}
		if got := binary.LittleEndian.Uint32(a[8:]); got != 0 {
			t.Errorf("%s: mkfs_time = %d, want 0", c, got)
		}
		if len(a)%4096 != 0 {
			t.Errorf("%s: size %d not padded to 4 KiB", c, len(a))
		}
		if used := binary.LittleEndian.Uint64(a[40:]); used > uint64(len(a)) || used+4096 <= uint64(len(a)) {
			t.Errorf("%s: bytes_used %d for a %d-byte image", c, used, len(a))
		}
	}
}

func TestSquashfsCompressionShrinks(t *testing.T) {
	es := []Entry{{Path: "zeros", Mode: 0o644, Data: make([]byte, 1<<20)}}
	none, err := Build(es, "none")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"zstd", "lz4", "gzip", "xz"} {
		img, err := Build(es, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(img) >= len(none)/10 {
			t.Errorf("%s: %d bytes, uncompressed %d", c, len(img), len(none))
		}
	}
}

func TestSquashfsErrors(t *testing.T) {
	tests := []struct {
		name string
		es   []Entry
		want string
	}{
		{"absolute", []Entry{{Path: "/etc", Mode: fs.ModeDir}}, "relative and clean"},
		{"dotdot", []Entry{{Path: "../x"}}, "relative and clean"},
		{"unclean", []Entry{{Path: "a//b"}}, "relative and clean"},
		{"duplicate", []Entry{{Path: "a"}, {Path: "a"}}, "listed twice"},
		{"file as parent", []Entry{{Path: "a"}, {Path: "a/b"}}, "not a directory"},
		{"file listed after child", []Entry{{Path: "a/b"}, {Path: "a", Mode: 0o644}}, "not a directory"},
		{"symlink without target", []Entry{{Path: "l", Mode: fs.ModeSymlink}}, "needs a link target"},
		{"file with target", []Entry{{Path: "f", Linkname: "x"}}, "no link target"},
		{"dir with data", []Entry{{Path: "d", Mode: fs.ModeDir, Data: []byte("x")}}, "no data"},
		{"device", []Entry{{Path: "null", Mode: fs.ModeDevice | fs.ModeCharDevice}}, "not supported"},
		{"negative uid", []Entry{{Path: "f", UID: -1}}, "out of range"},
		{"root not dir", []Entry{{Path: ".", Mode: 0o644}}, "root must be a directory"},
		{"long name", []Entry{{Path: strings.Repeat("n", 257)}}, "longer than 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.es, "gzip")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Build(nil, "lzo"); err == nil || !strings.Contains(err.Error(), "must be zstd, lz4, gzip, xz or none") {
		t.Errorf("bad compression: %v", err)
	}
	for _, bs := range []int{-1, 1, 2 << 10, 3 << 10, 96 << 10, 2 << 20} {
		if _, err := BuildOptions(nil, Options{Compression: "zstd", BlockSize: bs}); err == nil || !strings.Contains(err.Error(), "power of two") {
			t.Errorf("block size %d: %v", bs, err)
		}
	}
	img, err := Build(nil, "zstd")
	if err != nil || len(img) != 4096 {
		t.Errorf("empty tree: %d bytes, %v", len(img), err)
	}
}

// TestSquashfsUnsquashfs checks the images with squashfs-tools: listing
// (types, modes, owners, sizes, symlink targets, mtime 0) and extraction.
func TestSquashfsUnsquashfs(t *testing.T) {
	tool := testenv.MustHaveTool(t, "unsquashfs", "squashfs-tools")
	es := sampleTree()
	want := expectedListing(es)
	for _, c := range compressions {
		t.Run(c, func(t *testing.T) {
			img, err := Build(es, c)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			p := filepath.Join(dir, "root.sqfs")
			if err := os.WriteFile(p, img, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tool, "-lln", p)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("unsquashfs -lln: %v\n%s", err, out)
			}
			got := parseListing(string(out))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("listing differs:\n%s", diffLines(want, got))
			}
			stat, err := exec.Command(tool, "-s", p).CombinedOutput()
			if err != nil {
				t.Fatalf("unsquashfs -s: %v\n%s", err, stat)
			}
			wantComp := map[string]string{"zstd": "zstd", "lz4": "lz4", "gzip": "gzip", "xz": "xz", "none": "gzip"}[c]
			if !strings.Contains(string(stat), "Compression "+wantComp) || !strings.Contains(string(stat), "Thu Jan  1 00:00:00 1970") {
				t.Errorf("unsquashfs -s:\n%s", stat)
			}
			dest := filepath.Join(dir, "x")
			if out, err := exec.Command(tool, "-n", "-d", dest, p).CombinedOutput(); err != nil {
				t.Fatalf("unsquashfs extract: %v\n%s", err, out)
			}
			for _, e := range es {
				fp := filepath.Join(dest, e.Path)
				switch e.Mode.Type() {
				case fs.ModeSymlink:
					if got, err := os.Readlink(fp); err != nil || got != e.Linkname {
						t.Errorf("%s -> %q, %v", e.Path, got, err)
					}
				case 0:
					if got, err := os.ReadFile(fp); err != nil || !bytes.Equal(got, e.Data) {
						t.Errorf("%s: extracted %d bytes (%v), want %d", e.Path, len(got), err, len(e.Data))
					}
				}
			}
		})
	}
}

func diffLines(want, got []string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, l := range want {
		w[l] = true
	}
	for _, l := range got {
		g[l] = true
	}
	var b strings.Builder
	n := 0
	for _, l := range want {
		if !g[l] && n < 20 {
			fmt.Fprintf(&b, "- %s\n", l)
			n++
		}
	}
	for _, l := range got {
		if !w[l] && n < 40 {
			fmt.Fprintf(&b, "+ %s\n", l)
			n++
		}
	}
	return b.String()
}

// TestSquashfsBlockSizes checks the smallest, a middle and the largest
// block size with squashfs-tools: the superblock's size and log, the
// listing and every file's bytes.
func TestSquashfsBlockSizes(t *testing.T) {
	tool := testenv.MustHaveTool(t, "unsquashfs", "squashfs-tools")
	var es []Entry // sampleTree without the big directory: blocks are about file data
	for _, e := range sampleTree() {
		if !strings.HasPrefix(e.Path, "many/") {
			es = append(es, e)
		}
	}
	want := expectedListing(es)
	for _, bs := range []int{MinBlockSize, 32 << 10, MaxBlockSize} {
		for _, c := range []string{"zstd", "lz4", "none"} {
			t.Run(fmt.Sprintf("%s-%d", c, bs), func(t *testing.T) {
				img, err := BuildOptions(es, Options{Compression: c, BlockSize: bs})
				if err != nil {
					t.Fatal(err)
				}
				if got := binary.LittleEndian.Uint32(img[12:]); got != uint32(bs) {
					t.Errorf("superblock block size %d, want %d", got, bs)
				}
				if got := binary.LittleEndian.Uint16(img[22:]); 1<<got != bs {
					t.Errorf("superblock block log %d for %d", got, bs)
				}
				dir := t.TempDir()
				p := filepath.Join(dir, "root.sqfs")
				if err := os.WriteFile(p, img, 0o644); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(tool, "-lln", p)
				cmd.Env = append(os.Environ(), "TZ=UTC")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("unsquashfs -lln: %v\n%s", err, out)
				}
				if got := parseListing(string(out)); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("listing differs:\n%s", diffLines(want, got))
				}
				dest := filepath.Join(dir, "x")
				if out, err := exec.Command(tool, "-n", "-d", dest, p).CombinedOutput(); err != nil {
					t.Fatalf("unsquashfs extract: %v\n%s", err, out)
				}
				for _, e := range es {
					if e.Mode.Type() != 0 {
						continue
					}
					if got, err := os.ReadFile(filepath.Join(dest, e.Path)); err != nil || !bytes.Equal(got, e.Data) {
						t.Errorf("%s: extracted %d bytes (%v), want %d", e.Path, len(got), err, len(e.Data))
					}
				}
			})
		}
	}
}

// TestSquashfsGoDiskfsReads cross-checks with go-diskfs's squashfs reader
// (which has no LZ4 decompressor).
func TestSquashfsGoDiskfsReads(t *testing.T) {
	es := sampleTree()
	for _, c := range compressions {
		if c == "lz4" {
			continue
		}
		t.Run(c, func(t *testing.T) {
			img, err := Build(es, c)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "root.sqfs")
			if err := os.WriteFile(p, img, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sq, err := diskfssquashfs.Read(file.New(f, true), int64(len(img)), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Path == "." || strings.HasPrefix(e.Path, "many/") && e.Path[len(e.Path)-1] != '7' {
					continue
				}
				dir, base := path.Split(e.Path)
				dir = strings.TrimSuffix(dir, "/")
				if dir == "" {
					dir = "."
				}
				ents, err := sq.ReadDir(dir)
				if err != nil {
					t.Fatalf("ReadDir(%q): %v", dir, err)
				}
				var found fs.DirEntry
				for _, de := range ents {
					if de.Name() == base {
						found = de
					}
				}
				if found == nil {
					t.Errorf("%s not listed", e.Path)
					continue
				}
				info, _ := found.Info()
				if info.Mode().Perm() != e.Mode.Perm() && e.Mode.Type() != fs.ModeSymlink {
					t.Errorf("%s: mode %v, want %v", e.Path, info.Mode(), e.Mode)
				}
				switch e.Mode.Type() {
				case 0:
					got, err := sq.ReadFile(e.Path)
					if err != nil || !bytes.Equal(got, e.Data) {
						t.Errorf("%s: read %d bytes (%v), want %d", e.Path, len(got), err, len(e.Data))
					}
				case fs.ModeSymlink:
					rl, ok := found.(interface{ Readlink() (string, error) })
					if !ok {
						t.Fatalf("%s: no Readlink", e.Path)
					}
					if got, err := rl.Readlink(); err != nil || got != e.Linkname {
						t.Errorf("%s -> %q (%v), want %q", e.Path, got, err, e.Linkname)
					}
				}
			}
		})
	}
}
