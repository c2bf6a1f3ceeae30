package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// A build writes into temporary directories: the output is assembled in
// ".NAME.tmp-*" next to -o (so the final rename stays on one file system)
// and intermediate files go to "work-*" and "init-src-*" in the cache. A build killed
// before it finishes leaves them behind; the next build removes them.
//
// Only directories that are provably ours are removed: the name has our
// prefix, it is a real directory (not a symlink) owned by this user, it
// holds the marker file tempMarker, and no live build holds its lock. Each
// build holds an exclusive flock(2) on every temporary directory it made
// for as long as it runs; the kernel drops the lock when the process dies,
// so a killed build's directories become removable and a running build's
// never are. The marker is written after the lock is taken, so a directory
// seen with its marker but without its lock is abandoned.

// tempMarker is the file that marks a temporary directory as a build's own.
const tempMarker = ".turbo-image-tmp"

// tempDir is a locked temporary directory.
type tempDir struct {
	path string
	lock *os.File // open on the directory, holding LOCK_EX
}

// newTempDir creates a directory named prefix+random in parent, locks it
// and marks it as ours.
func newTempDir(parent, prefix string) (*tempDir, error) {
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	t := &tempDir{path: dir, lock: f}
	if err := os.WriteFile(filepath.Join(dir, tempMarker), []byte("turbo-image build in progress\n"), 0o644); err != nil {
		t.remove()
		return nil, err
	}
	// MkdirTemp makes 0700; a build directory is ordinary output.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.remove()
		return nil, err
	}
	return t, nil
}

// remove deletes the directory and drops its lock.
func (t *tempDir) remove() {
	os.RemoveAll(t.path)
	t.lock.Close()
}

// unmark removes the marker, before the directory becomes the output.
func (t *tempDir) unmark() error {
	return os.Remove(filepath.Join(t.path, tempMarker))
}

// cleanStale removes the abandoned temporary directories in parent whose
// names start with prefix (see the comment at the top of this file) and
// returns their paths. It is best effort: what cannot be checked or
// removed is left alone.
func cleanStale(parent, prefix string) []string {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.IsDir() {
			continue // e.IsDir is false for a symlink
		}
		p := filepath.Join(parent, e.Name())
		if removeIfAbandoned(p) {
			removed = append(removed, p)
		}
	}
	return removed
}

func removeIfAbandoned(p string) bool {
	st, err := os.Lstat(p)
	if err != nil || !st.IsDir() {
		return false
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Geteuid() {
		return false
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false // a live build holds it
	}
	// Checked under the lock: the marker is written after the lock is taken.
	if m, err := os.Lstat(filepath.Join(p, tempMarker)); err != nil || !m.Mode().IsRegular() {
		return false
	}
	// Still the directory we opened (not swapped for another meanwhile)?
	if now, err := f.Stat(); err != nil || !os.SameFile(now, st) {
		return false
	}
	return os.RemoveAll(p) == nil
}

// outputTempPrefix is the name prefix of the temporary directories next to
// the output out.
func outputTempPrefix(out string) string {
	return "." + filepath.Base(out) + ".tmp-"
}

// newOutputDir creates a fresh temporary directory next to out, locked
// and marked.
func newOutputDir(out string) (*tempDir, error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	return newTempDir(parent, outputTempPrefix(out))
}

// OutputProblem reports why out may not be used as a build's output
// folder, or nil when it may: when it does not exist yet (it is created),
// is empty, or is a turbo-image build. A build folder is recognised by
// what it holds: a manifest.json that parses as ours, plus only the
// artifacts that manifest lists and the signature file of `turbo-image
// sign`, all regular files. Anything else (a folder of the user's that
// happens to hold a file named manifest.json, a subfolder, a symlink, a
// file the manifest does not list) makes it not ours, and it is never
// replaced. A symlink as out is refused too: replacing it would replace
// the link, not the folder it points to. out must be absolute and clean.
// protect lists absolute folders that must not lie inside out (the
// recipe's folder, the cache): replacing out would delete them.
func OutputProblem(out string, protect ...string) error {
	if out == filepath.Dir(out) {
		return fmt.Errorf("output folder %s is the root of the file system", out)
	}
	for _, p := range protect {
		if p == "" {
			continue
		}
		rel, err := filepath.Rel(out, p)
		switch {
		case err != nil:
		case rel == ".":
			return fmt.Errorf("output folder %s is the folder of the recipe or the cache; choose a folder of its own for the build", out)
		case filepath.IsLocal(rel):
			return fmt.Errorf("output folder %s holds %s; choose a folder of its own for the build", out, p)
		}
	}
	st, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output folder %s: %w", out, err)
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("output folder %s is a symlink; give the folder itself", out)
	case !st.IsDir():
		return fmt.Errorf("output %s exists and is not a folder; remove it or choose another", out)
	}
	if why := notABuild(out); why != "" {
		return fmt.Errorf("output folder %s is not a turbo-image build (%s); refusing to replace it: remove it or choose another", out, why)
	}
	return nil
}

// notABuild returns why the existing folder dir is neither empty nor a
// turbo-image build, or "".
func notABuild(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	if len(entries) == 0 {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(dir, manifest.FileName))
	if err != nil {
		return "no readable " + manifest.FileName
	}
	m, err := manifest.Parse(data)
	if err != nil {
		return manifest.FileName + " is not a turbo-image manifest"
	}
	ours := map[string]bool{manifest.FileName: true, signing.SignatureFile: true, provenance.FileName: true}
	for _, a := range m.Artifacts {
		ours[a.Name] = true
	}
	for _, e := range entries {
		if !ours[e.Name()] && !ours[atomicTempOf(e.Name())] {
			return fmt.Sprintf("it holds %q, which is not a build artifact", e.Name())
		}
		if !e.Type().IsRegular() {
			return fmt.Sprintf("%q is not a regular file", e.Name())
		}
	}
	return ""
}

// atomicTempOf returns the file whose atomic write (package atomicfile:
// ".NAME.tmp-RANDOM" beside NAME) name is the temporary of, or "". A
// `turbo-image sign` killed mid-write leaves one in a build folder; the
// folder is still a build.
func atomicTempOf(name string) string {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return ""
	}
	i := strings.LastIndex(rest, ".tmp-")
	if i <= 0 {
		return ""
	}
	return rest[:i]
}

// commitOutputDir moves tmp to out. An existing out is checked again with
// OutputProblem (it may have changed during the build) and replaced: it is
// first moved into a locked, marked temporary directory of its own, so a
// build killed at any point leaves either the old or the new build at out,
// and anything else only in directories the next build removes.
func commitOutputDir(tmp *tempDir, out string, protect ...string) error {
	if err := OutputProblem(out, protect...); err != nil {
		return err
	}
	if err := tmp.unmark(); err != nil {
		return err
	}
	_, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(tmp.path, out); err != nil {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(out))
	}
	old, err := newTempDir(filepath.Dir(out), outputTempPrefix(out))
	if err != nil {
		return err
	}
	defer old.remove()
	prev := filepath.Join(old.path, "previous")
	if err := os.Rename(out, prev); err != nil {
		return err
	}
	if err := os.Rename(tmp.path, out); err != nil {
		os.Rename(prev, out)
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(out))
}

// OutputDir is a build folder being written in a temporary directory next
// to its destination, for commands other than build that produce a build
// folder (pull): the same rules for -o, the same temporary directories and
// the same replace-by-rename as a build.
type OutputDir struct {
	tmp       *tempDir
	out       string
	protect   []string
	committed bool
}

// NewOutputDir checks out with OutputProblem, removes temporary
// directories abandoned next to it by interrupted runs, and creates a
// fresh one. out must be absolute and clean. The caller writes the build
// into Path, then calls Commit, and always Close.
func NewOutputDir(out string, protect ...string) (*OutputDir, error) {
	if !filepath.IsAbs(out) || filepath.Clean(out) != out {
		return nil, fmt.Errorf("output folder %s: want an absolute, clean path", out)
	}
	if err := OutputProblem(out, protect...); err != nil {
		return nil, err
	}
	cleanStale(filepath.Dir(out), outputTempPrefix(out))
	tmp, err := newOutputDir(out)
	if err != nil {
		return nil, err
	}
	return &OutputDir{tmp: tmp, out: out, protect: protect}, nil
}

// Path is the temporary directory to write the build into.
func (o *OutputDir) Path() string { return o.tmp.path }

// Commit replaces the output folder with the temporary directory (see
// commitOutputDir).
func (o *OutputDir) Commit() error {
	if err := commitOutputDir(o.tmp, o.out, o.protect...); err != nil {
		return err
	}
	o.committed = true
	return nil
}

// Close removes the temporary directory unless it was committed, and
// drops its lock.
func (o *OutputDir) Close() {
	if o.committed {
		o.tmp.lock.Close()
		return
	}
	o.tmp.remove()
}
