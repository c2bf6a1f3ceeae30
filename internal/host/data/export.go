package data

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/ext4fs"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
	"github.com/turbo-image/turbo-image/internal/shared/datatree"
)

// Stats counts what an export or import moved.
type Stats = datatree.Stats

// Progress is called now and then with the bytes of file data done.
type Progress func(bytes int64)

// Export writes the file system fs as an archive to w: the global header
// from src, then the root and every file, depth first in byte order of
// names, so the same file system and Source always give the same bytes.
func Export(ctx context.Context, fs *ext4fs.FS, src Source, w io.Writer, progress Progress) (Stats, error) {
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
	buf := make([]byte, 1<<20)
	err = fs.Walk(func(e *ext4fs.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, skip := header(e)
		if skip {
			st.Skipped = append(st.Skipped, e.Path+" (socket)")
			return nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
		switch {
		case h.Typeflag == tar.TypeLink:
			st.Links++
		case h.Typeflag == tar.TypeDir:
			st.Dirs++
		case h.Typeflag == tar.TypeSymlink:
			st.Symlinks++
		case h.Typeflag == tar.TypeReg:
			st.Files++
			r, err := fs.Open(e.Inode)
			if err != nil {
				return err
			}
			n, err := io.CopyBuffer(tw, ctxio.Reader(ctx, r), buf)
			st.Bytes += n
			if progress != nil {
				progress(st.Bytes)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
		default:
			st.Special++
		}
		return nil
	})
	if err == nil {
		err = ctx.Err() // cancelled after the last read: still no archive
	}
	if err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	return st, zw.Close()
}

// header turns a file of the walk into a tar header; sockets are skipped.
func header(e *ext4fs.Entry) (*tar.Header, bool) {
	in := e.Inode
	name := "./" + e.Path
	if e.Path == "." {
		name = "./"
	}
	h := &tar.Header{Name: name, Format: tar.FormatPAX}
	if e.LinkTo != "" {
		h.Typeflag, h.Linkname = tar.TypeLink, "./"+e.LinkTo
		return h, false
	}
	h.Mode = int64(in.Perm())
	h.Uid, h.Gid = int(in.UID), int(in.GID)
	h.ModTime, h.AccessTime, h.ChangeTime = in.Mtime, in.Atime, in.Ctime
	if h.ModTime.IsZero() {
		h.ModTime = time.Unix(0, 0)
	}
	switch in.Type() {
	case ext4fs.ModeDir:
		h.Typeflag = tar.TypeDir
		if e.Path != "." {
			h.Name += "/"
		}
	case ext4fs.ModeFile:
		h.Typeflag, h.Size = tar.TypeReg, int64(in.Size)
	case ext4fs.ModeLink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
	case ext4fs.ModeChar, ext4fs.ModeBlock:
		h.Typeflag = tar.TypeChar
		if in.Type() == ext4fs.ModeBlock {
			h.Typeflag = tar.TypeBlock
		}
		ma, mi := in.Device()
		h.Devmajor, h.Devminor = int64(ma), int64(mi)
	case ext4fs.ModeFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		return nil, true
	}
	if len(e.Xattrs) > 0 {
		h.PAXRecords = map[string]string{}
		for _, x := range e.Xattrs {
			h.PAXRecords[xattrPAX+x.Name] = string(x.Value)
		}
	}
	return h, false
}
