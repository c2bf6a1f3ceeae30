package initramfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func archiveOf(t *testing.T, recs ...Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteArchive(&buf, recs, Options{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawArchive writes records in the given order with the low-level Writer
// (no sorting, no parents, no duplicate check).
func rawArchive(t *testing.T, recs ...Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tree lists dir as "path mode [-> target | contents]" lines.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := rel + " " + fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	in := archiveOf(t,
		File("bin/hello", 0o755, []byte("hi")),
		File("etc/secret", 0o640, []byte("s3cret")),
		File("usr/bin/su", 0o4755, []byte("setuid")),
		File("empty", 0o600, nil),
		Symlink("init", "bin/hello"),
		Symlink("abs", "/etc/passwd"), // created, never followed
		Dir("ro", 0o555),
		File("ro/inside", 0o444, []byte("r")),
		Dir("tmp", 0o1777),
		CharDev("dev/console", 0o600, 5, 1),
		Record{Name: "run/fifo", Mode: TypeFifo | 0o600},
	)
	if err := Extract(bytes.NewReader(in), dir); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"abs Lrwxrwxrwx -> /etc/passwd",
		"bin drwxr-xr-x",
		"bin/hello -rwxr-xr-x hi",
		"dev drwxr-xr-x", // the parent is created; the device node is not
		"empty -rw------- ",
		"etc drwxr-xr-x",
		"etc/secret -rw-r----- s3cret",
		"init Lrwxrwxrwx -> bin/hello",
		"ro dr-xr-xr-x",
		"ro/inside -r--r--r-- r",
		"run drwxr-xr-x",
		"tmp drwxrwxrwx", // sticky dropped
		"usr drwxr-xr-x",
		"usr/bin drwxr-xr-x",
		"usr/bin/su -rwxr-xr-x setuid", // setuid dropped
	}
	got := tree(t, dir)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("extracted tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	os.Chmod(filepath.Join(dir, "ro"), 0o755) // let t.TempDir clean up as non-root
}

func TestExtractGNUStyleNames(t *testing.T) {
	var n newc
	n.entry(rawFields{mode: 0o40755, nlink: 2}, ".", nil)
	n.entry(rawFields{mode: 0o40700, nlink: 2}, "./d", nil)
	n.entry(rawFields{mode: 0o100644, nlink: 1}, "./d/f", []byte("x"))
	dir := t.TempDir()
	if err := Extract(bytes.NewReader(n.trailer()), dir); err != nil {
		t.Fatal(err)
	}
	want := []string{"d drwx------", "d/f -rw-r--r-- x"}
	if got := tree(t, dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExtractRefuses(t *testing.T) {
	outside := t.TempDir() // a directory an attacker would like to write to
	raw := func(name string, mode uint32, body string) []byte {
		var n newc
		n.entry(rawFields{mode: mode, nlink: 1}, name, []byte(body))
		return n.trailer()
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{
			"write through absolute symlink",
			rawArchive(t, Symlink("x", outside), File("x/pwned", 0o644, []byte("evil"))),
			"symlink",
		},
		{
			"symlink to /etc then x/passwd",
			rawArchive(t, Symlink("x", "/etc"), File("x/passwd", 0o644, []byte("root::0:0::/:/bin/sh\n"))),
			"symlink",
		},
		{
			"write through relative symlink escaping",
			rawArchive(t, Symlink("x", "../../../../../../"+outside), File("x/pwned", 0o644, []byte("evil"))),
			"symlink",
		},
		{
			"write through symlink inside the tree",
			rawArchive(t, Dir("real", 0o755), Symlink("x", "real"), File("x/f", 0o644, []byte("f"))),
			"symlink",
		},
		{
			"mkdir through symlink",
			rawArchive(t, Symlink("x", outside), Dir("x/d", 0o755)),
			"symlink",
		},
		{
			"overwrite a symlink with a file",
			rawArchive(t, Symlink("x", outside+"/pwned"), File("x", 0o644, []byte("evil"))),
			"exists",
		},
		{
			"duplicate file",
			rawArchive(t, File("f", 0o644, []byte("1")), File("f", 0o644, []byte("2"))),
			"exists",
		},
		{"file over directory", rawArchive(t, Dir("d", 0o755), File("d", 0o644, nil)), "exists"},
		{"dot-dot name", raw("../pwned", 0o100644, "evil"), `".."`},
		{"dot-dot inside name", raw("a/../../pwned", 0o100644, "evil"), "not clean"},
		{"absolute name", raw(outside+"/pwned", 0o100644, "evil"), "absolute"},
		{"dot-slash dot-dot", raw("./../pwned", 0o100644, "evil"), `".."`},
		{"root as file", raw(".", 0o100644, "evil"), "archive root"},
		{"corrupt archive", []byte("070701zzzz"), "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Extract(bytes.NewReader(tt.in), dir)
			if err == nil {
				t.Fatalf("Extract succeeded, want an error mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if got := tree(t, outside); len(got) != 0 {
				t.Errorf("files appeared outside the destination: %q", got)
			}
			if got := tree(t, dir); len(got) != 0 {
				t.Errorf("failed extraction left files behind: %q", got)
			}
		})
	}
}

// TestExtractKeepsExistingFiles checks that cleanup after an error removes
// only what Extract created.
func TestExtractKeepsExistingFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	in := rawArchive(t, File("shared/new", 0o644, []byte("n")), File("mine", 0o644, []byte("x")))
	err := Extract(bytes.NewReader(in), dir)
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("err = %v, want an 'exists' error", err)
	}
	want := []string{"mine -rw-r--r-- keep", "shared drwxr-xr-x"}
	if got := tree(t, dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after failed extraction: %q, want %q", got, want)
	}
}

func TestExtractTruncatedCleansUp(t *testing.T) {
	in := archiveOf(t, Dir("a", 0o755), File("a/b", 0o644, bytes.Repeat([]byte("x"), 1000)))
	dir := t.TempDir()
	err := Extract(bytes.NewReader(in[:len(in)-500]), dir)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want ErrUnexpectedEOF", err)
	}
	if got := tree(t, dir); len(got) != 0 {
		t.Errorf("left behind: %q", got)
	}
}

func TestExtractMissingDir(t *testing.T) {
	err := Extract(bytes.NewReader(expectedGolden()), filepath.Join(t.TempDir(), "nope"))
	if err == nil {
		t.Error("Extract into a missing directory succeeded")
	}
}
