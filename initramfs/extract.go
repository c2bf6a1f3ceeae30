package initramfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Extract unpacks the uncompressed newc archive read from r into the existing
// directory dir (use [Decompress] first for a compressed one). It is meant
// for inspecting untrusted archives, so it is deliberately conservative:
//
//   - All file system access goes through an [os.Root] for dir, so nothing
//     outside dir can be touched.
//   - A name must pass [ValidateName] after stripping leading "./" (as GNU
//     cpio writes them); absolute names and names with ".." are refused. An
//     entry "." is skipped if it is a directory.
//   - No symbolic link is ever followed: an entry whose path goes through a
//     symbolic link (even one pointing inside dir, such as one an earlier
//     entry planted) is an error, and files are created with O_EXCL, so an
//     existing file or symlink at the entry's own path is an error too.
//     Directories that already exist are reused.
//   - Regular files and directories get the entry's permission bits (0777
//     part only: setuid, setgid and sticky are dropped, because the owner is
//     not restored and a set-ID file from an untrusted archive is a hazard).
//     Directory permissions are applied last, so read-only directories can
//     still be filled. Missing parent directories get [DefaultDirPerm].
//   - Owners and mtimes are not restored. Hard links (nlink > 1) are not
//     recreated: each entry becomes its own file.
//   - Device nodes, FIFOs and sockets are skipped, always (os.Root cannot
//     create them, and creating device nodes needs privileges); [Reader]
//     reports them.
//
// On error, Extract removes what it created, so dir is left as it was (a
// directory that existed before and was named by the archive may have had
// its permissions changed).
func Extract(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("initramfs: extract: %w", err)
	}
	defer root.Close()
	x := &extractor{root: root, dirs: make(map[string]bool), perms: make(map[string]uint32)}
	if err := x.run(r); err != nil {
		if cerr := x.cleanup(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("initramfs: extract: clean up: %w", cerr))
		}
		return err
	}
	return nil
}

// extractor holds the state of one Extract call.
type extractor struct {
	root    *os.Root
	created []string          // paths created, in order
	dirs    map[string]bool   // paths known to be real directories
	perms   map[string]uint32 // final permissions of directories
}

// extractName returns the path to extract an archive name to; skip is true
// for the archive root (".").
func extractName(name string) (clean string, skip bool, err error) {
	clean = name
	for strings.HasPrefix(clean, "./") {
		clean = clean[2:]
	}
	if clean == "." || (clean == "" && name != "") {
		return "", true, nil
	}
	if err := ValidateName(clean); err != nil {
		return "", false, err
	}
	return clean, false, nil
}

func (x *extractor) run(r io.Reader) error {
	ar := NewReader(r)
	for {
		e, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, skip, err := extractName(e.Name)
		if err != nil {
			return fmt.Errorf("initramfs: extract %q: %w", e.Name, err)
		}
		if skip {
			if e.Type() != TypeDir {
				return fmt.Errorf("initramfs: extract %q: the archive root must be a directory, not a %s", e.Name, typeName(e.Type()))
			}
			continue
		}
		switch e.Type() {
		case TypeDir, TypeReg, TypeSymlink:
		default:
			continue // device nodes, FIFOs and sockets are not created
		}
		if err := x.parents(name); err != nil {
			return fmt.Errorf("initramfs: extract %q: %w", e.Name, err)
		}
		switch e.Type() {
		case TypeDir:
			err = x.dir(name, e.Perm()&0o777)
		case TypeReg:
			err = x.file(name, e.Perm()&0o777, ar)
		case TypeSymlink:
			err = x.root.Symlink(e.Linkname, name)
			if err == nil {
				x.created = append(x.created, name)
			}
		}
		if err != nil {
			return fmt.Errorf("initramfs: extract %q: %w", e.Name, err)
		}
	}
	return x.finish()
}

// parents makes sure every parent of name is a real directory, creating
// missing ones, and refuses to go through anything else, symlinks included.
func (x *extractor) parents(name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		p := name[:i]
		if x.dirs[p] {
			continue
		}
		if err := x.ensureDir(p); err != nil {
			return fmt.Errorf("parent: %w", err)
		}
		if _, ok := x.perms[p]; !ok {
			x.perms[p] = DefaultDirPerm
		}
	}
	return nil
}

// ensureDir makes p a directory: reuses a real directory, creates a missing
// one (owner-only until finish applies its permissions), refuses anything
// else.
func (x *extractor) ensureDir(p string) error {
	fi, err := x.root.Lstat(p)
	switch {
	case err == nil && fi.IsDir():
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%q is a symlink; refusing to go through it", p)
	case err == nil:
		return fmt.Errorf("%q exists and is not a directory", p)
	case errors.Is(err, fs.ErrNotExist):
		if err := x.root.Mkdir(p, 0o700); err != nil {
			return err
		}
		x.created = append(x.created, p)
	default:
		return err
	}
	x.dirs[p] = true
	return nil
}

// dir handles a directory entry.
func (x *extractor) dir(name string, perm uint32) error {
	if !x.dirs[name] {
		if err := x.ensureDir(name); err != nil {
			return err
		}
	}
	x.perms[name] = perm
	return nil
}

// file creates a regular file with the entry's data.
func (x *extractor) file(name string, perm uint32, ar *Reader) error {
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	x.created = append(x.created, name)
	_, err = io.Copy(f, ar)
	if err == nil {
		err = f.Chmod(fs.FileMode(perm))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// finish applies directory permissions, deepest first, so that a read-only
// directory is locked only after everything inside it exists.
func (x *extractor) finish() error {
	names := make([]string, 0, len(x.perms))
	for n := range x.perms {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range slices.Backward(names) {
		if err := x.root.Chmod(n, fs.FileMode(x.perms[n])); err != nil {
			return fmt.Errorf("initramfs: extract: chmod %q: %w", n, err)
		}
	}
	return nil
}

// cleanup removes what this extraction created, newest first.
func (x *extractor) cleanup() error {
	var errs []error
	// Directories may already be read-only if finish failed part way.
	for _, n := range x.created {
		if x.dirs[n] {
			_ = x.root.Chmod(n, 0o700) // best effort; Remove reports failures
		}
	}
	for _, n := range slices.Backward(x.created) {
		if err := x.root.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
