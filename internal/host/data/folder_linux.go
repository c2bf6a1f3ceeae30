package data

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// ImportFolder unpacks the archive into dir, the --data folder of `run
// --vmm jail`: dir must not exist or be empty; the files are made in a
// new folder beside it, which is renamed into place only when complete,
// so a failed import leaves dir as it was. Run as root, owners are
// shifted into the id range a root-started jail maps
// (jail.DefaultRangeBase + id), as the jail sees them as the archive
// says; run as another user, every file is the caller's (the jail's root
// inside), as a rootless jail can map no other id.
func ImportFolder(ctx context.Context, archive io.Reader, dir string, o ImportOptions) (Source, Stats, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return Source{}, Stats{}, fmt.Errorf("%s is not empty: import into a new or empty folder (move this one away first)", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Source{}, Stats{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return Source{}, Stats{}, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	shift := -1
	if os.Geteuid() == 0 {
		shift = jail.DefaultRangeBase
	}
	x := &extractor{root: tmp, shift: shift, dirs: map[string]bool{".": true}}
	var st Stats
	src, err := readArchive(ctxio.Reader(ctx, archive), o.Limits, o.Check, func(e *Entry, body io.Reader) error {
		return x.add(e, body, &st)
	})
	if err != nil {
		return src, st, fmt.Errorf("import into %s: %w", dir, err)
	}
	// Folder modes and times last: adding files changed their times, and
	// a read-only folder would have refused them.
	for i := len(x.later) - 1; i >= 0; i-- {
		if err := x.finish(x.later[i]); err != nil {
			return src, st, fmt.Errorf("import into %s: %w", dir, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return src, st, err
	}
	// rename(2) may replace an empty folder, but not on every file
	// system (overlayfs says EEXIST): the empty folder is removed first
	// and made again if the rename fails.
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return src, st, fmt.Errorf("import into %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Mkdir(dir, 0o755)
		return src, st, fmt.Errorf("import into %s: %w", dir, err)
	}
	ok = true
	return src, st, nil
}

type extractor struct {
	root  string
	shift int
	dirs  map[string]bool
	later []*Entry
}

func (x *extractor) full(p string) string { return filepath.Join(x.root, filepath.FromSlash(p)) }

func (x *extractor) owner(id int) (int, error) {
	switch {
	case x.shift < 0:
		return -1, nil // rootless: stays the caller's
	case id >= jail.DefaultRangeSize:
		return 0, fmt.Errorf("id %d is outside the %d ids a jail maps", id, jail.DefaultRangeSize)
	}
	return x.shift + id, nil
}

// parents makes the folders above p that the archive left out.
func (x *extractor) parents(p string) error {
	d := path.Dir(p)
	if x.dirs[d] {
		return nil
	}
	if err := x.parents(d); err != nil {
		return err
	}
	if err := os.Mkdir(x.full(d), 0o700); err != nil {
		return err // also when d is a file or symlink: never followed
	}
	x.dirs[d] = true
	x.later = append(x.later, &Entry{Path: d, Header: &tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}})
	return nil
}

func (x *extractor) add(e *Entry, body io.Reader, st *Stats) error {
	h := e.Header
	if e.Path != "." {
		if err := x.parents(e.Path); err != nil {
			return err
		}
	}
	p := x.full(e.Path)
	switch h.Typeflag {
	case tar.TypeDir:
		if !x.dirs[e.Path] {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			x.dirs[e.Path] = true
			st.Dirs++
		}
		x.later = append(x.later, e)
		return nil
	case tar.TypeLink:
		st.Links++
		return os.Link(x.full(e.LinkTo), p)
	case tar.TypeSymlink:
		st.Symlinks++
		if err := os.Symlink(h.Linkname, p); err != nil {
			return err
		}
	case tar.TypeFifo:
		st.Special++
		if err := unix.Mkfifo(p, 0o600); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock:
		st.Special++
		mode := uint32(unix.S_IFCHR)
		if h.Typeflag == tar.TypeBlock {
			mode = unix.S_IFBLK
		}
		if err := unix.Mknod(p, mode|0o600, int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))); err != nil {
			return fmt.Errorf("device node: %w", err)
		}
	default:
		st.Files++
		st.Bytes += h.Size
		if err := writeSparse(p, body, h.Size); err != nil {
			return err
		}
	}
	return x.finish(e)
}

// writeSparse creates p (never through a symlink) with size bytes of r,
// leaving blocks of zeros as holes.
func writeSparse(p string, r io.Reader, size int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	var off int64
	for off < size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if err != nil {
			f.Close()
			return err
		}
		if !zero(buf[:n]) {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				f.Close()
				return err
			}
		}
		off += int64(n)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// finish sets owner, mode, xattrs and times of an extracted member,
// never following a symlink.
func (x *extractor) finish(e *Entry) error {
	h := e.Header
	p := x.full(e.Path)
	uid, err := x.owner(h.Uid)
	if err != nil {
		return err
	}
	gid, err := x.owner(h.Gid)
	if err != nil {
		return err
	}
	if uid >= 0 {
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
	}
	for _, xa := range xattrsOf(h) {
		if err := unix.Lsetxattr(p, xa.name, xa.value, 0); err != nil {
			return fmt.Errorf("xattr %s: %w", xa.name, err)
		}
	}
	if h.Typeflag != tar.TypeSymlink {
		// After chown, which clears setuid and setgid.
		if err := unix.Fchmodat(unix.AT_FDCWD, p, uint32(h.Mode&0o7777), 0); err != nil {
			return err
		}
	}
	at, mt := h.AccessTime, h.ModTime
	if at.IsZero() {
		at = mt
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
