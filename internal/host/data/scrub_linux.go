package data

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/shared/datatree"
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
// ext4 file system: root first, depth first, names in byte order
// (datatree.Write). Owners on the host are shifted down by shift (a
// root-started jail's range: host id shift+N is N in the archive); an
// owner outside the range is an error naming the file. Sockets are
// skipped.
func ExportFolder(ctx context.Context, dir string, src Source, shift int, w io.Writer) (Stats, error) {
	if err := src.Check(); err != nil {
		return Stats{}, err
	}
	zw, err := newZstdWriter(w)
	if err != nil {
		return Stats{}, err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: globalHeaderName, PAXRecords: src.records(), Format: tar.FormatPAX}); err != nil {
		return Stats{}, fmt.Errorf("archive: %w", err)
	}
	unshift := func(p string, id uint32) (int, error) {
		n := int(id) - shift
		if n < 0 || n >= jail.DefaultRangeSize {
			return 0, fmt.Errorf("%s: owner %d is outside the jail's id range %d-%d", p, id, shift, shift+jail.DefaultRangeSize-1)
		}
		return n, nil
	}
	st, err := datatree.Write(ctx, tw, dir, datatree.Options{Owner: func(rel string, uid, gid uint32) (int, int, error) {
		u, err := unshift(rel, uid)
		if err != nil {
			return 0, 0, err
		}
		g, err := unshift(rel, gid)
		return u, g, err
	}})
	if err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	return st, zw.Close()
}
