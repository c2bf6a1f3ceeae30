package jail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// Owner says who owns the unpacked files on the host: the archive's ids
// shifted into a root-started jail's range (Shift set), or the caller for a
// rootless jail (every file belongs to the jail's root, which is the
// caller).
type Owner struct {
	// Shift, when set, maps the archive's uid and gid (container ids) to
	// host ids; only root may change owners.
	Shift []IDMap
}

func (o Owner) tag() string {
	if len(o.Shift) == 0 {
		return "self"
	}
	return fmt.Sprintf("r%d", o.Shift[0].Host)
}

// UnpackDir is where Unpack keeps unpacked images under the cache folder.
const UnpackDir = "jail"

// SystemCache is the cache folder of root-started jails whose own cache
// the jail's mapped root cannot walk to (root's ~/.cache is under /root,
// mode 0700): the Filesystem Hierarchy Standard's place for a program's
// cached data.
const SystemCache = "/var/cache/turbo-image"

// Unpack extracts the initramfs at initrd (any compression the kernel
// reads) into cache/jail/<sha256>-<owner>/ and returns that folder. The
// same bytes unpack once: a folder that exists is reused. The archive is
// extracted by initramfs.Extract (no symlink followed, no device node made,
// set-id bits dropped) into a temporary folder beside the final one, owners
// applied, then renamed into place, so a killed run leaves no half folder
// under the final name.
func Unpack(ctx context.Context, initrd, cache string, own Owner) (string, error) {
	sum, err := fileDigest(ctx, initrd)
	if err != nil {
		return "", err
	}
	parent := filepath.Join(cache, UnpackDir)
	final := filepath.Join(parent, sum[:32]+"-"+own.tag())
	if st, err := os.Lstat(final); err == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("jail: %s is not a folder", final)
		}
		return final, nil
	}
	// Search only for others: a root-started jail's root (a mapped id)
	// must walk through to its image, and nobody needs to list it.
	if err := os.MkdirAll(parent, 0o711); err != nil {
		return "", fmt.Errorf("jail: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".unpack-*")
	if err != nil {
		return "", fmt.Errorf("jail: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			removeTree(tmp)
		}
	}()
	if err := extract(initrd, tmp); err != nil {
		return "", err
	}
	if len(own.Shift) > 0 {
		if err := chownTree(initrd, tmp, own.Shift); err != nil {
			return "", err
		}
	}
	// The root of a Linux system is 0755, whatever the temp folder was.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("jail: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(final); serr == nil {
			// Another run unpacked the same image first.
			return final, nil
		}
		return "", fmt.Errorf("jail: %w", err)
	}
	ok = true
	return final, nil
}

func fileDigest(ctx context.Context, name string) (string, error) {
	d, err := ctxio.FileSHA256(ctx, name)
	if err != nil {
		return "", fmt.Errorf("jail: %w", err)
	}
	return d, nil
}

func openArchive(initrd string) (io.ReadCloser, func(), error) {
	f, err := os.Open(initrd)
	if err != nil {
		return nil, nil, fmt.Errorf("jail: %w", err)
	}
	rc, _, err := initramfs.Decompress(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("jail: %s: %w", initrd, err)
	}
	return rc, func() { rc.Close(); f.Close() }, nil
}

func extract(initrd, dir string) error {
	rc, done, err := openArchive(initrd)
	if err != nil {
		return err
	}
	defer done()
	if err := initramfs.Extract(rc, dir); err != nil {
		return fmt.Errorf("jail: %s: %w", initrd, err)
	}
	return nil
}

// chownTree gives every extracted entry its archive owner, shifted into
// the jail's range; entries the extraction skipped (device nodes) are
// skipped here too. Everything else (parents the archive did not list, the
// root) belongs to the jail's root.
func chownTree(initrd, dir string, shift []IDMap) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	defer root.Close()
	rootID, _ := ToHost(shift, 0)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return root.Lchown(rel, rootID, rootID)
	})
	if err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	rc, done, err := openArchive(initrd)
	if err != nil {
		return err
	}
	defer done()
	ar := initramfs.NewReader(rc)
	for {
		e, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("jail: %s: %w", initrd, err)
		}
		switch e.Type() {
		case initramfs.TypeDir, initramfs.TypeReg, initramfs.TypeSymlink:
		default:
			continue
		}
		name := e.Name
		for strings.HasPrefix(name, "./") {
			name = name[2:]
		}
		if name == "" || (e.UID == 0 && e.GID == 0) {
			continue
		}
		uid, uok := ToHost(shift, e.UID)
		gid, gok := ToHost(shift, e.GID)
		if !uok || !gok {
			return fmt.Errorf("jail: %s: %q is owned by %d:%d, outside the jail's id range", initrd, e.Name, e.UID, e.GID)
		}
		if err := root.Lchown(name, uid, gid); err != nil {
			return fmt.Errorf("jail: %w", err)
		}
	}
}

// removeTree removes a temporary folder this package made, making its
// read-only folders writable first.
func removeTree(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}
