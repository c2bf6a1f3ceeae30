package recipe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// This file checks what a recipe puts into the image: every path, whether
// written as a single dest or found inside a files[].src folder, passes the
// same checks (imagePathProblem), and every path comes from exactly one
// place (imagePaths). The builder adds its own entries to every image
// (builderEntries); a recipe may replace the files among them, not put
// anything beneath them or change their kind.

// Limits of image paths: a cpio newc name is at most 4095 bytes
// (PATH_MAX - 1, the kernel's initramfs unpacker) and a squashfs or ext4
// name component at most 255 bytes (NAME_MAX).
const (
	maxImagePath = 4095
	maxNameElem  = 255
	// maxTreeEntries bounds the entries of one files[].src folder.
	maxTreeEntries = 100000
)

// entryKind is what a path in the image is.
type entryKind int

const (
	kindFile entryKind = iota
	kindDir
	kindLink
)

func (k entryKind) String() string {
	switch k {
	case kindDir:
		return "a folder"
	case kindLink:
		return "a symlink"
	}
	return "a file"
}

// claim is one path a recipe puts into the image.
type claim struct {
	path, field string
	line        int
	kind        entryKind
	derived     bool   // a service's default path, /bin/<name>
	service     bool   // a service's program
	from        string // for entries of a src folder: the host path as shown, else ""
}

// where names the claim in a message: its field, and for a tree entry the
// host file it comes from.
func (c claim) where() string {
	if c.from != "" {
		return fmt.Sprintf("%s (%s, line %d)", c.field, quoteShort(c.from), c.line)
	}
	return fmt.Sprintf("%s (line %d)", c.field, c.line)
}

// builderEntries are the paths the builder puts into every image (see
// builder.appRecords and builder.runtimeDirs); keep the two in step.
var builderEntries = []struct {
	path string
	kind entryKind
}{
	{"/bin", kindDir}, {"/data", kindDir}, {"/dev", kindDir}, {"/etc", kindDir}, {"/etc/turbo", kindDir},
	{"/proc", kindDir}, {"/root", kindDir}, {"/run", kindDir}, {"/sys", kindDir}, {"/tmp", kindDir},
	{"/etc/hostname", kindFile}, {"/etc/passwd", kindFile}, {"/etc/group", kindFile},
	{"/etc/os-release", kindFile}, {"/etc/resolv.conf", kindLink},
}

// reservedDirs are image directories the init mounts over at boot (and
// /data, the persistent data partition): files put there would be hidden.
var reservedDirs = []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/data"}

// builderDir is where the builder writes the init's configuration.
const builderDir = "/etc/turbo"

// imagePathProblem returns what is wrong with p as the destination of a file
// or program inside the image, or "" when it is fine.
func imagePathProblem(p string) string {
	if p == "" {
		return "must not be empty"
	}
	if msg := nameTextProblem(p); msg != "" {
		return msg
	}
	if !strings.HasPrefix(p, "/") {
		return "must be an absolute path in the image (starting with /), not " + quoteShort(p)
	}
	if c := path.Clean(p); c != p {
		return "must be a clean path (no . or .. elements, no // and no trailing /), like " + quoteShort(c)
	}
	if p == "/" {
		return "must not be / itself"
	}
	if len(p) > maxImagePath {
		return fmt.Sprintf("is %d bytes long, more than the %d an image path may have", len(p), maxImagePath)
	}
	for _, elem := range strings.Split(p[1:], "/") {
		if len(elem) > maxNameElem {
			return fmt.Sprintf("has a name of %d bytes (%s), more than the %d a file name may have", len(elem), quoteShort(elem), maxNameElem)
		}
	}
	if under(p, "/init") {
		return "/init is reserved for turbo-image's init"
	}
	for _, r := range reservedDirs {
		if under(p, r) {
			return "is inside " + r + ", which is mounted at boot and reserved"
		}
	}
	if under(p, builderDir) {
		return "is inside " + builderDir + ", which is reserved for the builder"
	}
	return ""
}

// nameTextProblem refuses text that does not show what it is: invalid
// UTF-8, control characters (a newline would forge a line in a listing),
// and invisible formatting characters (Unicode category Cf, such as the
// right-to-left override U+202E, and the line and paragraph separators),
// which make a name display as another (Unicode TR #36, section 2).
func nameTextProblem(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8, not " + quoteShort(s)
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return fmt.Sprintf("must not contain control characters (%U in %s)", r, quoteShort(s))
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co) || r == utf8.RuneError:
			return fmt.Sprintf("must not contain the invisible character %U (in %s), which makes a name display as another", r, quoteShort(s))
		}
	}
	return ""
}

// under reports whether p is dir or inside dir (both clean and absolute).
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// tree checks every entry of the files[].src folder root (shown as written
// in the recipe), copied to dest in the image, and claims its paths. Each
// problem is reported at the src line, naming the host file.
func (d *decoder) tree(n *yaml.Node, field, shown, root, dest string) {
	count := 0
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		host := filepath.ToSlash(filepath.Join(shown, rel))
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			d.add(n.Line, field, "cannot read %s: %v", quoteShort(host), err)
			if e != nil && e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if rel == "." {
			return nil
		}
		if count++; count > maxTreeEntries {
			d.add(n.Line, field, "%s holds more than %d entries", quoteShort(shown), maxTreeEntries)
			return fs.SkipAll
		}
		img := dest + "/" + filepath.ToSlash(rel)
		if msg := imagePathProblem(img); msg != "" {
			d.add(n.Line, field, "%s (as %s): %s", quoteShort(host), quoteShort(img), msg)
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		c := claim{path: img, field: field, line: n.Line, from: host}
		switch t := e.Type(); {
		case t.IsDir():
			c.kind = kindDir
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			switch {
			case err != nil:
				d.add(n.Line, field, "cannot read the symlink %s: %v", quoteShort(host), err)
				return nil
			case len(target) > maxImagePath:
				d.add(n.Line, field, "the symlink %s has a target longer than %d bytes", quoteShort(host), maxImagePath)
				return nil
			case nameTextProblem(target) != "":
				d.add(n.Line, field, "the target of the symlink %s %s", quoteShort(host), nameTextProblem(target))
				return nil
			}
			c.kind = kindLink
		case t.IsRegular():
			f, err := os.Open(p)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				d.add(n.Line, field, "cannot read %s: %v", quoteShort(host), err)
				return nil
			}
			f.Close()
			c.kind = kindFile
		default:
			d.add(n.Line, field, "%s is %s; a src folder may hold only regular files, folders and symlinks", quoteShort(host), manifest.DescribeMode(t))
			return nil
		}
		d.claims = append(d.claims, c)
		return nil
	})
	if err != nil {
		d.add(n.Line, field, "cannot read %s: %v", quoteShort(shown), err)
	}
}

// imagePaths reports every path that two entries put into the image (at
// the later entry), every path placed beneath a file or symlink of another
// entry or of the builder, and entries that change the kind of a builder
// entry (a file where the image needs a folder, and the reverse).
func (d *decoder) imagePaths() {
	claims := d.claims
	sort.SliceStable(claims, func(i, j int) bool { return claims[i].line < claims[j].line })
	builder := map[string]entryKind{}
	for _, b := range builderEntries {
		builder[b.path] = b.kind
	}
	first := map[string]claim{}   // first claim of each path
	nonDirs := map[string]claim{} // first claim installing each path as a file or symlink
	for _, c := range claims {
		if prev, dup := first[c.path]; dup {
			if !prev.derived || !c.derived { // else: two services of one name, reported as such
				d.add(c.line, c.field, "%s%s is already used by %s", c.path, fromNote(c), prev.where())
			}
			continue
		}
		first[c.path] = c
		if bk, ok := builder[c.path]; ok && c.service {
			d.add(c.line, c.field, "%s is %s the builder writes; choose another path for the program", c.path, bk)
			continue
		}
		if bk, ok := builder[c.path]; ok && bk != c.kind {
			if bk == kindDir {
				d.add(c.line, c.field, "%s%s is a folder in every image; it cannot be %s", c.path, fromNote(c), c.kind)
				continue
			}
			if c.kind == kindDir {
				d.add(c.line, c.field, "%s%s is %s the builder writes; it may be replaced by a file, not a folder", c.path, fromNote(c), bk)
				continue
			}
		}
		if _, seen := nonDirs[c.path]; c.kind != kindDir && !seen {
			nonDirs[c.path] = c
		}
	}
	d.execsInImage(first)
	for _, c := range claims {
		for dir := path.Dir(c.path); dir != "/"; dir = path.Dir(dir) {
			if other, ok := nonDirs[dir]; ok {
				d.add(c.line, c.field, "%s%s is inside %s, which %s installs as %s", c.path, fromNote(c), dir, other.where(), other.kind)
				break
			}
			if bk, ok := builder[dir]; ok && bk != kindDir {
				if _, replaced := first[dir]; !replaced {
					d.add(c.line, c.field, "%s%s is inside %s, which the builder writes as %s", c.path, fromNote(c), dir, bk)
					break
				}
			}
		}
	}
}

// execsInImage reports exec health checks whose program no entry puts
// into the image (the check could never pass). Paths beneath the folders
// mounted at boot are left alone: the appliance may create them.
func (d *decoder) execsInImage(first map[string]claim) {
	for _, e := range d.execs {
		reserved := false
		for _, r := range reservedDirs {
			reserved = reserved || under(e.path, r)
		}
		c, ok := first[e.path]
		switch {
		case reserved:
		case !ok:
			d.add(e.line, e.field, "%s is not in the image: no service or files[] entry installs it", e.path)
		case c.kind == kindDir:
			d.add(e.line, e.field, "%s is a folder in the image (%s), not a program", e.path, c.where())
		}
	}
}

// fromNote names the host file of a tree entry, for messages.
func fromNote(c claim) string {
	if c.from == "" {
		return ""
	}
	return " (from " + quoteShort(c.from) + ")"
}
