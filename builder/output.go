package builder

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// newOutputDir creates a temporary directory next to out, so the final
// rename stays on one file system.
func newOutputDir(out string) (string, error) {
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return "", err
	}
	// MkdirTemp makes 0700; a build directory is ordinary output.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// commitOutputDir moves tmp to out. An existing out is replaced only if it
// looks like a build directory (has a manifest) or is empty, so a typo in
// -o cannot wipe unrelated files.
func commitOutputDir(tmp, out string) error {
	if st, err := os.Stat(out); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("output %s exists and is not a directory", out)
		}
		entries, _ := os.ReadDir(out)
		if _, err := os.Stat(filepath.Join(out, manifest.FileName)); err != nil && len(entries) > 0 {
			return fmt.Errorf("output %s exists and is not a turbo-image build directory; remove it or choose another", out)
		}
		old := tmp + ".old"
		if err := os.Rename(out, old); err != nil {
			return err
		}
		if err := os.Rename(tmp, out); err != nil {
			os.Rename(old, out)
			return err
		}
		atomicfile.SyncDir(filepath.Dir(out))
		return os.RemoveAll(old)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	atomicfile.SyncDir(filepath.Dir(out))
	return nil
}
