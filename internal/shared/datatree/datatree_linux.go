package datatree

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// Options tune Write.
type Options struct {
	// Owner maps a file's owner on this machine to the archive's (nil:
	// unchanged); an error names the file and stops the walk.
	Owner func(rel string, uid, gid uint32) (int, int, error)
	// Progress, if set, hears the bytes of file data written so far.
	Progress func(bytes int64)
}

// Write writes the folder dir as tar members to tw (no global header;
// tw is not closed): "./" first, then depth first with each folder's
// names in byte order. Regular files are read as they are written, one
// 1 MiB buffer at a time, never whole; holes go out as zeros. Folders and
// files are opened with O_NOATIME, so their access times stay as they
// were. A file whose size changes while it is read is an error (the
// caller must keep writers out: see the agent's freeze). Sockets are skipped and named in Skipped.
func Write(ctx context.Context, tw *tar.Writer, dir string, o Options) (Stats, error) {
	var st Stats
	type inode struct{ dev, ino uint64 }
	first := map[inode]string{}
	buf := make([]byte, 1<<20)
	visit := func(p string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		var s unix.Stat_t
		if err := unix.Lstat(p, &s); err != nil {
			return err
		}
		name := "./" + rel
		if rel == "." {
			name = "./"
		}
		h := &tar.Header{Name: name, Format: tar.FormatPAX}
		typ := s.Mode & unix.S_IFMT
		key := inode{uint64(s.Dev), s.Ino}
		if typ != unix.S_IFDIR && s.Nlink > 1 {
			if to, ok := first[key]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, "./"+to
				st.Links++
				return tw.WriteHeader(h)
			}
			first[key] = rel
		}
		h.Mode = int64(s.Mode & 0o7777)
		h.Uid, h.Gid = int(s.Uid), int(s.Gid)
		if o.Owner != nil {
			if h.Uid, h.Gid, err = o.Owner(rel, s.Uid, s.Gid); err != nil {
				return err
			}
		}
		h.ModTime = time.Unix(s.Mtim.Unix())
		h.AccessTime = time.Unix(s.Atim.Unix())
		h.ChangeTime = time.Unix(s.Ctim.Unix())
		switch typ {
		case unix.S_IFDIR:
			h.Typeflag = tar.TypeDir
			if rel != "." {
				h.Name += "/"
			}
			st.Dirs++
		case unix.S_IFREG:
			h.Typeflag, h.Size = tar.TypeReg, s.Size
			st.Files++
		case unix.S_IFLNK:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, t
			st.Symlinks++
		case unix.S_IFCHR, unix.S_IFBLK:
			h.Typeflag = tar.TypeChar
			if typ == unix.S_IFBLK {
				h.Typeflag = tar.TypeBlock
			}
			h.Devmajor, h.Devminor = int64(unix.Major(s.Rdev)), int64(unix.Minor(s.Rdev))
			st.Special++
		case unix.S_IFIFO:
			h.Typeflag = tar.TypeFifo
			st.Special++
		default:
			st.Skipped = append(st.Skipped, rel+" (socket)")
			return nil
		}
		xs, err := Xattrs(p)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if len(xs) > 0 {
			h.PAXRecords = xs
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if typ != unix.S_IFREG {
			return nil
		}
		f, err := openNoAtime(p)
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(tw, ctxio.Reader(ctx, io.LimitReader(f, s.Size)), buf)
		f.Close()
		st.Bytes += n
		if o.Progress != nil {
			o.Progress(st.Bytes)
		}
		if err == nil && n != s.Size {
			err = fmt.Errorf("changed size while it was read (%d of %d bytes)", n, s.Size)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	}
	// Like filepath.WalkDir (each folder's names in byte order), but
	// folders are read with O_NOATIME too.
	var walk func(p string) error
	walk = func(p string) error {
		if err := visit(p); err != nil {
			return err
		}
		var s unix.Stat_t
		if err := unix.Lstat(p, &s); err != nil {
			return err
		}
		if s.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil
		}
		f, err := openNoAtime(p)
		if err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, n := range names {
			if err := walk(filepath.Join(p, n)); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(dir)
	if err == nil {
		err = ctx.Err()
	}
	return st, err
}

// openNoAtime opens p for reading without updating its access time
// (open(2), O_NOATIME), which the archive records: reading must not
// change the source, and two exports of an unchanged tree must match.
// O_NOATIME is allowed to the file's owner and to CAP_FOWNER only
// (EPERM otherwise); then p is opened plainly.
func openNoAtime(p string) (*os.File, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		return os.Open(p)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// Xattrs returns p's extended attributes as SCHILY.xattr records (nil
// when it has none or the file system keeps none).
func Xattrs(p string) (map[string]string, error) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, err
	}
	names := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, names); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range strings.Split(strings.TrimRight(string(names[:sz]), "\x00"), "\x00") {
		if n == "" {
			continue
		}
		vs, err := unix.Lgetxattr(p, n, nil)
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", n, err)
		}
		v := make([]byte, vs)
		if vs, err = unix.Lgetxattr(p, n, v); err != nil {
			return nil, fmt.Errorf("xattr %s: %w", n, err)
		}
		out[XattrPAX+n] = string(v[:vs])
	}
	return out, nil
}
