// Package atomicfile is the one home of the project's durable-write rule:
// readers, and a disk after a power cut, see either the old content of a
// file or the new, never a mix. The data goes to a temporary file
// ".NAME.tmp-*" in the same directory, is synced, renamed over the target
// (or hard-linked, when an existing target must not be replaced), and the
// directory is synced so the rename itself survives a power cut. This is the
// sequence POSIX leaves to applications (rename(2) is atomic, fsync(2) of the
// directory makes the entry durable); it uses only the standard library, so
// the guest init uses it too.
//
// Directory-sync policy (SyncDir): some file systems cannot fsync a
// directory and say so with EINVAL or ENOTSUP/EOPNOTSUPP (fsync(2):
// "EINVAL: fd is bound to a special file ... which does not support
// synchronization"). Only those are excused; every other error (EIO,
// ENOSPC, EBADF, a directory that cannot be opened) is returned, because
// it means the rename may not be durable.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, writeBytes(data))
}

// WriteFileAll is WriteFile after creating path's missing parent
// directories (mode 0755).
func WriteFileAll(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return WriteFile(path, data, perm)
}

// Create writes data to path like WriteFile, but fails with an error
// wrapping fs.ErrExist if path already exists (keys, for example, are never
// overwritten). A hard link makes the check and the placement one atomic
// step; on file systems without hard links it falls back to
// check-then-rename.
func Create(path string, data []byte, perm os.FileMode) error {
	fill := writeBytes(data)
	return write(path, perm, false, func(f *os.File) error { return fill(f) })
}

// Write atomically replaces path with what fill writes.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) error {
	return write(path, perm, true, func(f *os.File) error { return fill(f) })
}

// WriteFunc atomically replaces path with the file fill prepares; fill gets
// the temporary file itself, for callers that seek, truncate or WriteAt
// (a sparse disk image, for example).
func WriteFunc(path string, perm os.FileMode, fill func(*os.File) error) error {
	return write(path, perm, true, fill)
}

func writeBytes(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

func write(path string, perm os.FileMode, replace bool, fill func(*os.File) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
		// After a rename this is a no-op; after a hard link it drops the
		// temporary name; after a failure it removes the partial file.
		os.Remove(tmp)
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	closed = true
	if err = f.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = placeNoReplace(tmp, path)
	}
	if err != nil {
		return err
	}
	return SyncDir(dir)
}

// placeNoReplace moves tmp to path unless path exists.
func placeNoReplace(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w (refusing to overwrite)", path, fs.ErrExist)
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("%s: %w (refusing to overwrite)", path, fs.ErrExist)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return serr
	}
	return os.Rename(tmp, path)
}

// SyncDir makes renames, links and removals in dir durable. Only a file
// system that cannot sync a directory is excused (see the package comment);
// every other error is returned.
func SyncDir(dir string) error {
	return syncDir(dir, (*os.File).Sync)
}

// syncDir is SyncDir with the fsync call as a parameter, so tests can make
// it fail the ways a real file system does.
func syncDir(dir string, sync func(*os.File) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	defer d.Close()
	if err := sync(d); err != nil && !Unsupported(err) {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// Unsupported reports whether err from fsync of a directory means only
// that the file system cannot sync directories.
func Unsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EOPNOTSUPP) ||
		errors.Is(err, errors.ErrUnsupported)
}
