package recipe

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// What a local path must point to.
type pathKind int

const (
	anyPath     pathKind = iota // not checked to exist (kernel.source)
	regularFile                 // must exist and be a regular file
	directory                   // must exist and be a directory
	fileOrDir                   // must exist and be a regular file or a directory
)

// localPath checks a path relative to the recipe's folder and returns it as
// an absolute path. The cleaned path must stay inside the folder
// (filepath.IsLocal) and, if it exists, must not resolve through a symlink to
// somewhere outside the folder. kind says what must exist there.
func (d *decoder) localPath(n *yaml.Node, field, p string, kind pathKind) (string, bool) {
	if p == "" {
		d.add(n.Line, field, "must not be empty")
		return "", false
	}
	if filepath.IsAbs(p) {
		d.add(n.Line, field, "must be a path relative to the recipe's folder, not the absolute path %s", quoteShort(p))
		return "", false
	}
	clean := filepath.Clean(filepath.FromSlash(p))
	if !filepath.IsLocal(clean) && clean != "." {
		d.add(n.Line, field, "%s escapes the recipe's folder", quoteShort(p))
		return "", false
	}
	abs := filepath.Join(d.dir, clean)
	real, err := resolveExisting(abs)
	if err != nil {
		if errors.Is(err, errBrokenLink) {
			d.add(n.Line, field, "%s is a broken symlink", abs)
		} else {
			d.statProblem(n, field, abs, err)
		}
		return "", false
	}
	if rel, err := filepath.Rel(d.realDir, real); err != nil || (rel != "." && !filepath.IsLocal(rel)) {
		d.add(n.Line, field, "%s resolves through a symlink to %s, outside the recipe's folder", quoteShort(p), real)
		return "", false
	}
	return abs, d.checkKind(n, field, abs, kind)
}

var errBrokenLink = errors.New("broken symlink")

// resolveExisting evaluates the symlinks of the longest existing prefix of
// the absolute path p and appends the rest, so a path that does not exist
// (yet) is still resolved through the links of its existing parents. A
// symlink whose target is missing gives errBrokenLink.
func resolveExisting(p string) (string, error) {
	var rest []string
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, err := os.Lstat(p); err == nil {
			return "", errBrokenLink // p exists, yet resolving it fails
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", err
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}

// hostPath checks an absolute host path (kernel.source, kernel.prebuilt).
func (d *decoder) hostPath(n *yaml.Node, field, p string, kind pathKind) (string, bool) {
	abs := filepath.Clean(p)
	return abs, d.checkKind(n, field, abs, kind)
}

func (d *decoder) statProblem(n *yaml.Node, field, abs string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		d.add(n.Line, field, "%s does not exist", abs)
		return
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	d.add(n.Line, field, "cannot read %s: %v", abs, err)
}

// checkKind checks that abs exists and is of the kind wanted.
func (d *decoder) checkKind(n *yaml.Node, field, abs string, kind pathKind) bool {
	if kind == anyPath {
		return true
	}
	st, err := os.Stat(abs)
	if err != nil {
		d.statProblem(n, field, abs, err)
		return false
	}
	switch {
	case kind == regularFile && !st.Mode().IsRegular():
		d.add(n.Line, field, "%s is not a regular file", abs)
		return false
	case kind == directory && !st.IsDir():
		d.add(n.Line, field, "%s is not a directory", abs)
		return false
	case kind == fileOrDir && !st.Mode().IsRegular() && !st.IsDir():
		d.add(n.Line, field, "%s is neither a regular file nor a directory", abs)
		return false
	}
	return true
}
