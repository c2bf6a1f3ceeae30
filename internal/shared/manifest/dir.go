package manifest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// A build folder is read by every command that consumes one (verify, sign,
// flash) through LoadDir, so they agree on what a good build is: a
// manifest that parses and validates, and every artifact it lists present
// as a regular file whose size and sha256 match. A folder that fails any of
// this is refused as a whole, even if the failing file is not one the
// command would use (issue 9, defect 13).
//
// Files are opened so that no file can make a reader hang: a symlink is
// refused (O_NOFOLLOW), a named pipe or device is refused before it is
// read (O_NONBLOCK keeps the open of a FIFO from waiting for a writer;
// fstat then shows it is not a regular file), sizes are compared before
// any hashing, and every long read checks the caller's context, so ctrl-C
// and SIGTERM stop it (defect 3).

// MaxManifestBytes bounds manifest.json.
const MaxManifestBytes = 1 << 20

// Dir is a loaded build folder.
type Dir struct {
	Path     string
	Manifest *Manifest
	// Bytes are manifest.json as read and parsed (what a signature covers).
	Bytes []byte
}

// LoadDir reads dir/manifest.json and checks every artifact against it.
func LoadDir(ctx context.Context, dir string) (*Dir, error) {
	d, err := ReadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := d.Verify(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// ReadDir reads and parses dir/manifest.json only; the caller must Verify
// the folder before it uses an artifact (LoadDir does both).
func ReadDir(ctx context.Context, dir string) (*Dir, error) {
	p := filepath.Join(dir, FileName)
	data, err := ReadRegular(ctx, p, MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &Dir{Path: dir, Manifest: m, Bytes: data}, nil
}

// Verify checks every artifact of the folder against its manifest.
func (d *Dir) Verify(ctx context.Context) error {
	if err := d.Manifest.Verify(ctx, d.Path); err != nil {
		return fmt.Errorf("%s does not match its manifest: %w", d.Path, err)
	}
	return nil
}

// VerifyExcept is Verify for a caller that changes some artifacts by
// design (run boots the build's disk.img in place, so its boot counters
// move): the artifacts named in mutable need only be regular files; every
// other one must match.
func (d *Dir) VerifyExcept(ctx context.Context, mutable ...string) error {
	m := *d.Manifest
	m.Artifacts = nil
	for _, a := range d.Manifest.Artifacts {
		if !slices.Contains(mutable, a.Name) {
			m.Artifacts = append(m.Artifacts, a)
			continue
		}
		p := filepath.Join(d.Path, a.Name)
		if _, _, err := statRegular(p); err != nil {
			return fmt.Errorf("%s: artifact %s: %w", d.Path, a.Name, err)
		}
	}
	if err := m.Verify(ctx, d.Path); err != nil {
		return fmt.Errorf("%s does not match its manifest: %w", d.Path, err)
	}
	return nil
}

// Open opens an artifact of the folder for reading, refusing it unless it
// is (still) a regular file of the manifest's size. Reads stop with ctx's
// error once ctx is done.
func (d *Dir) Open(ctx context.Context, a File) (io.ReadCloser, error) {
	f, size, err := OpenRegular(filepath.Join(d.Path, a.Name))
	if err != nil {
		return nil, err
	}
	if size != a.Size {
		f.Close()
		return nil, fmt.Errorf("artifact %s: %d bytes, manifest says %d", a.Name, size, a.Size)
	}
	return struct {
		io.Reader
		io.Closer
	}{ctxio.Reader(ctx, f), f}, nil
}

// Verify checks every artifact in dir against the manifest and returns the
// first mismatch (not a regular file, missing, size or digest), naming the
// file. Sizes are compared before anything is hashed.
func (m *Manifest) Verify(ctx context.Context, dir string) error {
	for _, a := range m.Artifacts {
		p := filepath.Join(dir, a.Name)
		if _, size, err := statRegular(p); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("artifact %s: %s is missing: %w", a.Name, p, fs.ErrNotExist)
		} else if err != nil {
			return fmt.Errorf("artifact %s: %w", a.Name, err)
		} else if size != a.Size {
			return fmt.Errorf("artifact %s: %d bytes, manifest says %d", a.Name, size, a.Size)
		}
	}
	for _, a := range m.Artifacts {
		got, err := digestRegular(ctx, a.Name, filepath.Join(dir, a.Name), a.Size)
		if err != nil {
			return fmt.Errorf("artifact %s: %w", a.Name, err)
		}
		if got.Size != a.Size {
			return fmt.Errorf("artifact %s: %d bytes, manifest says %d", a.Name, got.Size, a.Size)
		}
		if got.SHA256 != a.SHA256 {
			return fmt.Errorf("artifact %s: sha256 %s, manifest says %s", a.Name, got.SHA256, a.SHA256)
		}
	}
	return nil
}

// digestRegular hashes at most limit+1 bytes of a regular file.
func digestRegular(ctx context.Context, name, path string, limit int64) (File, error) {
	f, _, err := OpenRegular(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(ctxio.Reader(ctx, f), limit+1))
	if err != nil {
		return File{}, err
	}
	return File{Name: name, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// ErrNotRegular is returned for a build file that is a symlink, named
// pipe, device, socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// statRegular checks, without following a symlink, that path is a regular
// file, and returns its size.
func statRegular(path string) (fs.FileInfo, int64, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: %w: it is %s", path, ErrNotRegular, DescribeMode(fi.Mode()))
	}
	return fi, fi.Size(), nil
}

// OpenRegular opens path for reading if it is a regular file: a symlink
// is not followed, a named pipe does not block the open, and what was
// opened is checked with fstat. It returns the file and its size.
func OpenRegular(path string) (*os.File, int64, error) {
	if _, _, err := statRegular(path); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, 0, fmt.Errorf("%s: %w: it is a symlink", path, ErrNotRegular)
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w: it is %s", path, ErrNotRegular, DescribeMode(fi.Mode()))
	}
	return f, fi.Size(), nil
}

// ReadRegular reads a whole regular file of at most limit bytes.
func ReadRegular(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, size, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", path, size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(ctxio.Reader(ctx, f), limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes allowed", path, limit)
	}
	return b, nil
}

// DescribeMode names the kind of file m is, for errors that refuse
// anything but a regular file ("a symlink", "a block device", ...).
func DescribeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	}
	return "not a regular file (" + m.Type().String() + ")"
}
