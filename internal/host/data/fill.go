package data

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/ext4fs"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// FillOptions are the limits and callbacks of Fill.
type FillOptions struct {
	Limits Limits
	// Progress sees the bytes of file data read so far.
	Progress Progress
	// Check sees the archive's Source before any member is read.
	Check func(Source) error
}

// Fill reads an archive from r and adds every member to b (which the
// caller finishes). A folder missing from the archive but holding members
// is made with mode 0755, owner 0:0 and time 0.
func Fill(ctx context.Context, r io.Reader, b *ext4fs.Builder, o FillOptions) (Source, Stats, error) {
	var st Stats
	made := map[string]bool{".": true}
	files := map[string]bool{}
	var parents func(p string) error
	parents = func(p string) error {
		d := path.Dir(p)
		if made[d] {
			return nil
		}
		if files[d] {
			return fmt.Errorf("%s: parent %s is not a directory", p, d)
		}
		if err := parents(d); err != nil {
			return err
		}
		made[d] = true
		st.Dirs++
		return b.Mkdir(d, ext4fs.Meta{Perm: 0o755, Mtime: time.Unix(0, 0), Atime: time.Unix(0, 0), Ctime: time.Unix(0, 0)})
	}
	src, err := readArchive(ctxio.Reader(ctx, r), o.Limits, o.Check, func(e *Entry, body io.Reader) error {
		h := e.Header
		if e.Path != "." {
			if err := parents(e.Path); err != nil {
				return err
			}
		}
		m := meta(h)
		if h.Typeflag != tar.TypeDir {
			files[e.Path] = true
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if made[e.Path] {
				return b.SetMeta(e.Path, m) // the root, or a folder made for members listed before it
			}
			made[e.Path] = true
			st.Dirs++
			return b.Mkdir(e.Path, m)
		case tar.TypeLink:
			st.Links++
			return b.Link(e.Path, e.LinkTo)
		case tar.TypeSymlink:
			st.Symlinks++
			return b.Symlink(e.Path, h.Linkname, m)
		case tar.TypeChar:
			st.Special++
			return b.Mknod(e.Path, ext4fs.ModeChar, uint32(h.Devmajor), uint32(h.Devminor), m)
		case tar.TypeBlock:
			st.Special++
			return b.Mknod(e.Path, ext4fs.ModeBlock, uint32(h.Devmajor), uint32(h.Devminor), m)
		case tar.TypeFifo:
			st.Special++
			return b.Mknod(e.Path, ext4fs.ModeFIFO, 0, 0, m)
		}
		st.Files++
		st.Bytes += h.Size
		if err := b.WriteFile(e.Path, m, body, h.Size); err != nil {
			return err
		}
		if o.Progress != nil {
			o.Progress(st.Bytes)
		}
		return nil
	})
	return src, st, err
}

func meta(h *tar.Header) ext4fs.Meta {
	m := ext4fs.Meta{Perm: uint16(h.Mode & 0o7777), UID: uint32(h.Uid), GID: uint32(h.Gid), Mtime: h.ModTime, Atime: h.AccessTime, Ctime: h.ChangeTime}
	if m.Atime.IsZero() {
		m.Atime = m.Mtime
	}
	if m.Ctime.IsZero() {
		m.Ctime = m.Mtime
	}
	for _, x := range xattrsOf(h) {
		m.Xattrs = append(m.Xattrs, ext4fs.Xattr{Name: x.name, Value: x.value})
	}
	return m
}
