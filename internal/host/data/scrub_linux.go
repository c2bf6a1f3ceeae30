package data

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/host/jail"
)

// ScrubSpec is what Scrub needs: the archive, the build's unpacked image
// and its scrub program, and where the result goes.
type ScrubSpec struct {
	// Archive is the input archive.
	Archive io.Reader
	// Out is the output archive's path; it is written beside, then
	// renamed, and only when the program exits 0.
	Out string
	// Root is the build's unpacked initramfs (jail.Unpack, root-owned
	// shifted into jail.DefaultRangeBase).
	Root string
	// Argv is the recipe's data.scrub, User the (uid, gid) it runs as.
	Argv []string
	User jail.User
	// Hostname of the jail.
	Hostname string
	// TempDir holds the private copy of /data ("" for os.TempDir()).
	TempDir string
	// Jail configures the jail run (Self, Console).
	Jail jail.Options
}

// ErrScrubFailed is wrapped by Scrub's error when the program did not exit 0.
var ErrScrubFailed = errors.New("scrub program failed")

// Scrub unpacks the archive into a private folder, runs the build's scrub
// program on it in a jail with /data = that folder and no network, and,
// if the program exits 0, exports the folder to spec.Out with the input's
// source records and TURBO.data.scrubbed set. Otherwise no output is
// written. The folder is removed in every case. It needs root: the
// program runs as a service user, which only a root-started jail maps,
// and owners are carried back through the jail's id range.
func Scrub(ctx context.Context, spec ScrubSpec) (Source, Stats, error) {
	if os.Geteuid() != 0 {
		return Source{}, Stats{}, errors.New("data scrub needs root: the scrub program runs as its service user in a root-started jail (a rootless jail maps only your own id, and would lose the files' owners)")
	}
	if len(spec.Argv) == 0 {
		return Source{}, Stats{}, errors.New("the build names no scrub program (recipe field data.scrub)")
	}
	tmp, err := os.MkdirTemp(spec.TempDir, "turbo-scrub-")
	if err != nil {
		return Source{}, Stats{}, err
	}
	defer os.RemoveAll(tmp)
	// The jail's ids (jail.DefaultRangeBase+) must reach the folder
	// below: traversable, not listable.
	if err := os.Chmod(tmp, 0o711); err != nil {
		return Source{}, Stats{}, err
	}
	dir := filepath.Join(tmp, "data")
	src, _, err := ImportFolder(ctx, spec.Archive, dir, ImportOptions{})
	if err != nil {
		return src, Stats{}, err
	}
	user := spec.User
	plan, err := jail.NewPlan(jail.Spec{
		Root: spec.Root, Argv: spec.Argv, User: &user, Hostname: spec.Hostname,
		Net: jail.NetNone, Data: dir, HostUID: 0, HostGID: 0,
	})
	if err != nil {
		return src, Stats{}, err
	}
	if err := jail.PrepareData(plan); err != nil {
		return src, Stats{}, err
	}
	st, err := jail.Run(ctx, plan, spec.Jail)
	if err != nil {
		return src, Stats{}, fmt.Errorf("scrub program %s: %w", spec.Argv[0], err)
	}
	if st.Code != 0 || st.Signal != "" {
		return src, Stats{}, fmt.Errorf("%w: %s %s; no archive written", ErrScrubFailed, spec.Argv[0], st)
	}
	out := src
	out.Scrubbed = strings.Join(spec.Argv, " ")
	stats, err := writeFile(spec.Out, func(w io.Writer) (Stats, error) {
		return ExportFolder(ctx, dir, out, jail.DefaultRangeBase, w)
	})
	return out, stats, err
}

// writeFile writes path through a temporary file beside it, renamed into
// place only when fn succeeded.
func writeFile(path string, fn func(w io.Writer) (Stats, error)) (Stats, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return Stats{}, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	st, err := fn(f)
	if err != nil {
		return st, err
	}
	if err := f.Chmod(0o644); err != nil {
		return st, err
	}
	if err := f.Sync(); err != nil {
		return st, err
	}
	if err := f.Close(); err != nil {
		return st, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return st, err
	}
	ok = true
	return st, nil
}

// ExportFolder writes the folder dir as an archive, as Export does for an
// ext4 file system: root first, depth first, names in byte order. Owners
// on the host are shifted down by shift (a root-started jail's range:
// host id shift+N is N in the archive); an owner outside the range is an
// error naming the file. Sockets are skipped.
func ExportFolder(ctx context.Context, dir string, src Source, shift int, w io.Writer) (Stats, error) {
	var st Stats
	if err := src.Check(); err != nil {
		return st, err
	}
	zw, err := newZstdWriter(w)
	if err != nil {
		return st, err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: globalHeaderName, PAXRecords: src.records(), Format: tar.FormatPAX}); err != nil {
		return st, fmt.Errorf("archive: %w", err)
	}
	type inode struct{ dev, ino uint64 }
	first := map[inode]string{}
	buf := make([]byte, 1<<20)
	unshift := func(p string, id uint32) (int, error) {
		n := int(id) - shift
		if n < 0 || n >= jail.DefaultRangeSize {
			return 0, fmt.Errorf("%s: owner %d is outside the jail's id range %d-%d", p, id, shift, shift+jail.DefaultRangeSize-1)
		}
		return n, nil
	}
	// WalkDir visits each folder's entries in lexical (byte) order.
	err = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
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
		if h.Uid, err = unshift(rel, s.Uid); err != nil {
			return err
		}
		if h.Gid, err = unshift(rel, s.Gid); err != nil {
			return err
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
		xs, err := listXattrs(p)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if len(xs) > 0 {
			h.PAXRecords = xs
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if typ == unix.S_IFREG {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			n, err := io.CopyBuffer(tw, ctxReader{ctx, io.LimitReader(f, s.Size)}, buf)
			f.Close()
			st.Bytes += n
			if err == nil && n != s.Size {
				err = fmt.Errorf("%s changed size while it was read", rel)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	return st, zw.Close()
}

// listXattrs returns p's extended attributes as SCHILY.xattr records.
func listXattrs(p string) (map[string]string, error) {
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
		out[xattrPAX+n] = string(v[:vs])
	}
	return out, nil
}
