package manifest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// goodDir writes a build folder matching sample().
func goodDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{FileName: b, "kernel": []byte("k"), "initramfs.cpio.zst": []byte("i")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoadDirRefusesNonRegular: a FIFO or a symlink (to /dev/zero, or to a
// good copy) in place of an artifact or the manifest is refused at once,
// naming what it is, instead of blocking or reading forever (issue 9,
// defect 3).
func TestLoadDirRefusesNonRegular(t *testing.T) {
	cases := []struct {
		name, file, want string
		make             func(p string) error
	}{
		{"fifo artifact", "kernel", "named pipe", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"fifo manifest", FileName, "named pipe", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"symlink to /dev/zero", "initramfs.cpio.zst", "symlink", func(p string) error { return os.Symlink("/dev/zero", p) }},
		{"symlink manifest to /dev/zero", FileName, "symlink", func(p string) error { return os.Symlink("/dev/zero", p) }},
		{"symlink to a good copy", "kernel", "symlink", func(p string) error {
			good := p + ".real"
			if err := os.WriteFile(good, []byte("k"), 0o644); err != nil {
				return err
			}
			return os.Symlink(good, p)
		}},
		{"directory", "kernel", "directory", func(p string) error { return os.Mkdir(p, 0o755) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := goodDir(t)
			p := filepath.Join(dir, c.file)
			os.Remove(p)
			if err := c.make(p); err != nil {
				t.Fatal(err)
			}
			_, err := LoadDir(context.Background(), dir)
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
				t.Fatalf("got %v, want %v naming %s as %s", err, ErrNotRegular, c.file, c.want)
			}
		})
	}
}

// TestLoadDirWholeFolder: any artifact that does not match is refused,
// not only the ones a command uses (issue 9, defect 13); sizes are
// compared before hashing.
func TestLoadDirWholeFolder(t *testing.T) {
	dir := goodDir(t)
	if _, err := LoadDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "initramfs.cpio.zst"), []byte("I"), 0o644)
	if _, err := LoadDir(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "artifact initramfs.cpio.zst: sha256") {
		t.Fatalf("changed byte: %v", err)
	}
	// A huge sparse file of the wrong size is refused without reading it.
	f, _ := os.Create(filepath.Join(dir, "initramfs.cpio.zst"))
	f.Truncate(1 << 40)
	f.Close()
	if _, err := LoadDir(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "1099511627776 bytes, manifest says 1") {
		t.Fatalf("sparse: %v", err)
	}
	os.Remove(filepath.Join(dir, "initramfs.cpio.zst"))
	if _, err := LoadDir(context.Background(), dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

// TestLoadDirCancel: a cancelled context stops the reads.
func TestLoadDirCancel(t *testing.T) {
	dir := goodDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadDir(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestVerifyExcept: a mutable artifact may differ but must still be a
// regular file; the others must match.
func TestVerifyExcept(t *testing.T) {
	dir := goodDir(t)
	d, err := ReadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "kernel"), []byte("changed"), 0o644)
	if err := d.VerifyExcept(context.Background(), "kernel"); err != nil {
		t.Fatal(err)
	}
	if err := d.VerifyExcept(context.Background(), "initramfs.cpio.zst"); err == nil || !strings.Contains(err.Error(), "artifact kernel") {
		t.Fatalf("changed kernel: %v", err)
	}
	os.Remove(filepath.Join(dir, "kernel"))
	syscall.Mkfifo(filepath.Join(dir, "kernel"), 0o644)
	if err := d.VerifyExcept(context.Background(), "kernel"); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("fifo kernel: %v", err)
	}
}
