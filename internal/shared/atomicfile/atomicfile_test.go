package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "two" || st.Mode().Perm() != 0o644 {
		t.Fatalf("%q %v", b, st.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left: %v", entries)
	}
}

func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	WriteFile(p, []byte("old"), 0o644)
	err := Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("error lost")
	}
	b, _ := os.ReadFile(p)
	entries, _ := os.ReadDir(dir)
	if string(b) != "old" || len(entries) != 1 {
		t.Fatalf("content %q, entries %v", b, entries)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such"), nil, 0o644); err == nil {
		t.Fatal("missing directory accepted")
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	if err := Create(target, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Create(target, []byte("two"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: %v", err)
	}
	if err := WriteFile(target, []byte("three"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "three" {
		t.Errorf("content %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestWriteFileAllMakesParents(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b", "f")
	if err := WriteFileAll(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "x" {
		t.Errorf("content %q", b)
	}
}

func TestWriteFuncSparse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	err := WriteFunc(p, 0o644, func(f *os.File) error {
		if err := f.Truncate(1 << 20); err != nil {
			return err
		}
		_, err := f.WriteAt([]byte("end"), 1<<20-3)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Size() != 1<<20 {
		t.Errorf("size %d", st.Size())
	}
}

// TestSyncDirPolicy pins the one directory-sync policy: only "this file
// system cannot sync a directory" is excused, everything else is returned.
func TestSyncDirPolicy(t *testing.T) {
	dir := t.TempDir()
	pathErr := func(e error) error { return &fs.PathError{Op: "sync", Path: dir, Err: e} }
	for _, tc := range []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"ok", nil, false},
		{"EINVAL", pathErr(syscall.EINVAL), false},
		{"ENOTSUP", pathErr(syscall.ENOTSUP), false},
		{"EOPNOTSUPP", pathErr(syscall.EOPNOTSUPP), false},
		{"ErrUnsupported", fmt.Errorf("x: %w", errors.ErrUnsupported), false},
		{"EIO", pathErr(syscall.EIO), true},
		{"ENOSPC", pathErr(syscall.ENOSPC), true},
		{"EBADF", pathErr(syscall.EBADF), true},
		{"EROFS", pathErr(syscall.EROFS), true},
		{"plain", errors.New("disk on fire"), true},
	} {
		err := syncDir(dir, func(*os.File) error { return tc.err })
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: syncDir = %v, want error %v", tc.name, err, tc.wantErr)
		}
		if tc.wantErr && err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v does not wrap the cause", tc.name, err)
		}
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory: %v", err)
	}
	if err := SyncDir(dir); err != nil {
		t.Errorf("SyncDir of a real directory: %v", err)
	}
}
