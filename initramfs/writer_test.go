package initramfs

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// Regenerate testdata/golden.cpio with: go test ./initramfs -run TestGolden -update
var update = flag.Bool("update", false, "rewrite testdata/golden.cpio")

const goldenPath = "testdata/golden.cpio"

// expectedGolden is the golden archive encoded by hand (see newc in
// helpers_test.go): sorted names, implicit parents dev/ and etc/ with 0755,
// inodes 1..n, nlink 2 for directories, owners 0, one mtime.
func expectedGolden() []byte {
	const mt = 1700000000
	var n newc
	n.entry(rawFields{ino: 1, mode: 0o40755, nlink: 2, mtime: mt}, "bin", nil)
	n.entry(rawFields{ino: 2, mode: 0o100755, nlink: 1, mtime: mt}, "bin/hello", []byte("#!/bin/sh\necho hello\n"))
	n.entry(rawFields{ino: 3, mode: 0o40755, nlink: 2, mtime: mt}, "dev", nil)
	n.entry(rawFields{ino: 4, mode: 0o20600, nlink: 1, mtime: mt, rmaj: 5, rmin: 1}, "dev/console", nil)
	n.entry(rawFields{ino: 5, mode: 0o20666, nlink: 1, mtime: mt, rmaj: 1, rmin: 3}, "dev/null", nil)
	n.entry(rawFields{ino: 6, mode: 0o40755, nlink: 2, mtime: mt}, "etc", nil)
	n.entry(rawFields{ino: 7, mode: 0o100644, nlink: 1, mtime: mt}, "etc/hostname", []byte("turbo\n"))
	n.entry(rawFields{ino: 8, mode: 0o120777, nlink: 1, mtime: mt}, "init", []byte("bin/hello"))
	n.entry(rawFields{ino: 9, mode: 0o41777, nlink: 2, mtime: mt}, "tmp", nil)
	return n.trailer()
}

func writeGolden(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteArchive(&buf, goldenRecords(), goldenOpts); err != nil {
		t.Fatalf("WriteArchive: %v", err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	got := writeGolden(t)
	if *update {
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (regenerate with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("WriteArchive output differs from %s (regenerate with -update if intended)\ngot:\n%q\nwant:\n%q", goldenPath, got, want)
	}
	if hand := expectedGolden(); !bytes.Equal(got, hand) {
		t.Errorf("WriteArchive output differs from the hand-made encoding\ngot:\n%q\nwant:\n%q", got, hand)
	}
	if len(got)%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", len(got))
	}
}

// TestGoldenSystemCpio checks the golden archive with GNU cpio, which
// must list every entry and show the device numbers of the nodes.
func TestGoldenSystemCpio(t *testing.T) {
	cpioBin := testenv.MustHaveTool(t, "cpio", "cpio")
	cmd := exec.Command(cpioBin, "-it", "--verbose", "--quiet", "--numeric-uid-gid")
	cmd.Stdin = bytes.NewReader(writeGolden(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -it: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	wantNames := []string{"bin", "bin/hello", "dev", "dev/console", "dev/null", "etc", "etc/hostname", "init -> bin/hello", "tmp"}
	if len(lines) != len(wantNames) {
		t.Fatalf("cpio listed %d entries, want %d:\n%s", len(lines), len(wantNames), out)
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, " "+wantNames[i]) {
			t.Errorf("line %d = %q, want it to end with %q", i, l, wantNames[i])
		}
	}
	devices := map[string]*regexp.Regexp{
		"dev/console": regexp.MustCompile(`^crw------- +1 +0 +0 +5, +1 .* dev/console$`),
		"dev/null":    regexp.MustCompile(`^crw-rw-rw- +1 +0 +0 +1, +3 .* dev/null$`),
		"tmp":         regexp.MustCompile(`^drwxrwxrwt +2 +0 +0 .* tmp$`),
		"init":        regexp.MustCompile(`^lrwxrwxrwx +1 +0 +0 +9 .* init -> bin/hello$`),
	}
	for name, re := range devices {
		found := false
		for _, l := range lines {
			if re.MatchString(l) {
				found = true
			}
		}
		if !found {
			t.Errorf("cpio listing has no line for %s matching %s:\n%s", name, re, out)
		}
	}
}

func TestReproducible(t *testing.T) {
	want := writeGolden(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		recs := goldenRecords()
		rng.Shuffle(len(recs), func(a, b int) { recs[a], recs[b] = recs[b], recs[a] })
		for j := range recs {
			recs[j].MTime = rng.Int64N(1 << 32)
			recs[j].UID = rng.IntN(70000)
			recs[j].GID = rng.IntN(70000)
		}
		var buf bytes.Buffer
		if err := WriteArchive(&buf, recs, goldenOpts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("permutation %d (%v) gave different bytes", i, names(recs))
		}
	}
}

func TestKeepOwners(t *testing.T) {
	recs := []Record{File("a", 0o644, []byte("x")), Dir("d", 0o755)}
	recs[0].UID, recs[0].GID = 1000, 1001
	recs[1].UID, recs[1].GID = 7, 8
	for _, keep := range []bool{false, true} {
		var buf bytes.Buffer
		if err := WriteArchive(&buf, recs, Options{KeepOwners: keep}); err != nil {
			t.Fatal(err)
		}
		got, err := List(&buf)
		if err != nil {
			t.Fatal(err)
		}
		want := [][2]int{{0, 0}, {0, 0}}
		if keep {
			want = [][2]int{{1000, 1001}, {7, 8}}
		}
		for i, e := range got {
			if [2]int{e.UID, e.GID} != want[i] {
				t.Errorf("keep=%v %s: owner %d:%d, want %d:%d", keep, e.Name, e.UID, e.GID, want[i][0], want[i][1])
			}
		}
	}
}

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name    string
		in      []Record
		want    []string // names in output order
		wantErr []string // substrings of the error
	}{
		{
			name: "parents added and sorted byte-wise",
			in:   []Record{File("a/b/c", 0o644, nil), File("a-b", 0o644, nil), Dir("a", 0o700)},
			want: []string{"a", "a-b", "a/b", "a/b/c"},
		},
		{name: "empty input", in: nil, want: []string{}},
		{name: "duplicate", in: []Record{Dir("x", 0o755), File("x", 0o644, nil)}, wantErr: []string{`"x": duplicate name`}},
		{
			name:    "parent is a symlink",
			in:      []Record{Symlink("lib", "usr/lib"), File("lib/libc.so", 0o644, nil)},
			wantErr: []string{`parent "lib" is a symlink`},
		},
		{
			name:    "parent is a file",
			in:      []Record{File("f", 0o644, nil), File("f/g", 0o644, nil)},
			wantErr: []string{`parent "f" is a regular file`},
		},
		{
			name:    "all bad names reported together",
			in:      []Record{File("../x", 0o644, nil), File("/etc/passwd", 0o644, nil), File("", 0o644, nil), Dir(".", 0o755), File("a//b", 0o644, nil)},
			wantErr: []string{`".."`, "absolute", "empty name", `"." is not allowed`, "not clean"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize(tt.in, Options{MTime: 5})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotNames := names(got)
			if strings.Join(gotNames, ",") != strings.Join(tt.want, ",") {
				t.Errorf("names = %q, want %q", gotNames, tt.want)
			}
			for _, r := range got {
				if r.MTime != 5 {
					t.Errorf("%s mtime %d, want 5", r.Name, r.MTime)
				}
			}
		})
	}
}

func TestCanonicalizeDoesNotModifyInput(t *testing.T) {
	in := []Record{File("b", 0o644, nil), File("a", 0o644, nil)}
	in[0].UID = 9
	if _, err := Canonicalize(in, Options{MTime: 3}); err != nil {
		t.Fatal(err)
	}
	if in[0].Name != "b" || in[0].UID != 9 || in[0].MTime != 0 {
		t.Errorf("input modified: %v", describe(in[0]))
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", MaxNameLen+1)
	tests := []struct {
		name string
		r    Record
		want string // substring of the error; "" for valid
	}{
		{"file", File("a", 0o644, []byte("x")), ""},
		{"setuid file", File("a", 0o4755, nil), ""},
		{"max name", File(strings.Repeat("a", MaxNameLen), 0o644, nil), ""},
		{"long name", File(long, 0o644, nil), "more than"},
		{"NUL in name", File("a\x00b", 0o644, nil), "NUL"},
		{"trailer name", File("TRAILER!!!", 0o644, nil), "reserved"},
		{"trailing slash", Dir("a/", 0o755), "not clean"},
		{"dot element", File("a/./b", 0o644, nil), "not clean"},
		{"dotdot inside", File("a/../b", 0o644, nil), "not clean"},
		{"dotdot", File("..", 0o644, nil), `".."`},
		{"no type", Record{Name: "a", Mode: 0o644}, "no known file type"},
		{"extra mode bits", Record{Name: "a", Mode: TypeReg | 0o644 | 0o200000}, "beyond"},
		{"dir with data", Record{Name: "a", Mode: TypeDir | 0o755, Data: []byte{}}, "has data"},
		{"symlink empty", Symlink("a", ""), "empty target"},
		{"symlink too long", Symlink("a", strings.Repeat("x", MaxLinkLen+1)), "more than"},
		{"symlink NUL", Symlink("a", "x\x00"), "NUL"},
		{"file with link", Record{Name: "a", Mode: TypeReg | 0o644, Linkname: "b"}, "link target"},
		{"file with dev", Record{Name: "a", Mode: TypeReg | 0o644, Major: 1}, "device number"},
		{"dev max", CharDev("a", 0o600, MaxMajor, MaxMinor), ""},
		{"dev major too big", BlockDev("a", 0o600, MaxMajor+1, 0), "out of range"},
		{"dev minor too big", CharDev("a", 0o600, 0, MaxMinor+1), "out of range"},
		{"negative uid", Record{Name: "a", Mode: TypeDir | 0o755, UID: -1}, "32 bits"},
		{"negative mtime", Record{Name: "a", Mode: TypeDir | 0o755, MTime: -1}, "mtime"},
		{"fifo", Record{Name: "a", Mode: TypeFifo | 0o644}, ""},
		{"socket", Record{Name: "a", Mode: TypeSocket | 0o755}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("no error, want one mentioning %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestWriterRejectsWithoutWriting(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteRecord(File("../etc/passwd", 0o644, nil)); err == nil {
		t.Fatal("bad name accepted")
	}
	if buf.Len() != 0 {
		t.Errorf("rejected record wrote %d bytes", buf.Len())
	}
	if err := WriteArchive(&buf, []Record{File("ok", 0o644, nil), File("/abs", 0o644, nil)}, Options{}); err == nil {
		t.Fatal("WriteArchive accepted an absolute name")
	}
	if buf.Len() != 0 {
		t.Errorf("failed WriteArchive wrote %d bytes", buf.Len())
	}
	if err := WriteArchive(&buf, nil, Options{MTime: -1}); err == nil {
		t.Error("negative Options.MTime accepted")
	}
}

// TestWriterKeepsOrderAndInodes checks the low-level Writer: records in
// the order given, inodes 1..n across library-written and hand-written
// (device) headers, and padding after a device between two files.
func TestWriterKeepsOrderAndInodes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	recs := []Record{
		File("z", 0o644, []byte("abc")), // 3 bytes: 1 byte of padding follows
		BlockDev("dev/vda", 0o660, 254, 0),
		File("a", 0o600, []byte("hello")),
		{Name: "p", Mode: TypeFifo | 0o600},
	}
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(File("late", 0o644, nil)); err == nil {
		t.Error("WriteRecord after Close succeeded")
	}
	var n newc
	n.entry(rawFields{ino: 1, mode: 0o100644, nlink: 1}, "z", []byte("abc"))
	n.entry(rawFields{ino: 2, mode: 0o60660, nlink: 1, rmaj: 254}, "dev/vda", nil)
	n.entry(rawFields{ino: 3, mode: 0o100600, nlink: 1}, "a", []byte("hello"))
	n.entry(rawFields{ino: 4, mode: 0o10600, nlink: 1}, "p", nil)
	if want := n.trailer(); !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after < len(p) {
		n := max(f.after, 0)
		f.after = 0
		return n, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriterIOErrorIsSticky(t *testing.T) {
	for _, after := range []int{0, 50, 120, 200, 300} {
		w := NewWriter(&failWriter{after: after})
		var firstErr error
		for _, r := range []Record{File("a", 0o644, bytes.Repeat([]byte("x"), 100)), CharDev("c", 0o600, 5, 1), Dir("d", 0o755)} {
			if err := w.WriteRecord(r); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		cerr := w.Close()
		if firstErr == nil && cerr == nil {
			t.Errorf("after=%d: no error from a failing writer", after)
		}
		if firstErr != nil && !strings.Contains(cerr.Error(), "disk full") {
			t.Errorf("after=%d: Close returned %v, want the sticky error", after, cerr)
		}
	}
}

func TestGoldenFileIsReadable(t *testing.T) {
	// Guards against a golden file regenerated from broken code.
	b, err := os.ReadFile(filepath.Clean(goldenPath))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Canonicalize(goldenRecords(), goldenOpts)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, recs, want)
}
