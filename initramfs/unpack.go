package initramfs

import (
	"fmt"
	"strings"
)

// Op is what the kernel's unpacker does with an entry (see [Unpacker]).
type Op int

// The operations an entry can have.
const (
	// OpCreate creates a new file, directory, link or node.
	OpCreate Op = iota
	// OpReplace removes what an earlier entry made at the same path and
	// puts this entry there (a regular file over a regular file keeps the
	// inode and truncates it: the contents are replaced all the same).
	OpReplace
	// OpUpdate keeps what an earlier entry made (a directory, or a device
	// node, FIFO or socket of the same type, which mkdir/mknod cannot make
	// again) and applies only this entry's mode and owner to it.
	OpUpdate
	// OpSkip means the kernel makes nothing: a missing parent, a parent that
	// is not a directory, a non-empty directory in the way, too many levels
	// of symbolic links.
	OpSkip
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpReplace:
		return "replace"
	case OpUpdate:
		return "update"
	case OpSkip:
		return "skip"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Effect is what the kernel does with one entry.
type Effect struct {
	Op Op
	// Path is where the entry lands: an absolute, clean path after
	// following every symbolic link among its parents.
	Path string
	// Prev is the index of the entry whose work this one replaces or
	// updates (OpReplace, OpUpdate), or that is in the way (OpSkip); -1 if
	// none.
	Prev int
	// Via is the first symbolic link followed on the way to Path, "" if
	// none: the entry lands outside the directory its name says.
	Via string
	// Link is the index of the entry this one is a hard link to, or -1.
	Link int
	// Reason says why an entry is skipped.
	Reason string
}

// Unpacker models what Linux's initramfs unpacker (init/initramfs.c:
// do_name, do_symlink, clean_path, maybe_link) makes of a sequence of
// entries, without touching any file system, so that a listing can show
// which entries replace which (a second /init, for example) and which land
// somewhere else than their name says. The rules it follows:
//
//   - A name is looked up from "/" ("init", "/init" and "./init" are the
//     same path; ".." stops at the root). Every symbolic link among the
//     parents is followed (at most 40, the kernel's MAXSYMLINKS); the last
//     component is never followed. A missing parent, or one that is not a
//     directory, means nothing is made.
//   - clean_path: if something of another file type is at the path, it is
//     removed first (a directory only if it is empty; a non-empty one stays
//     and the entry is not made). A symlink entry removes whatever is there.
//   - A directory over a directory, or a device node, FIFO or socket over
//     one of the same type, keeps the existing one and applies the new mode
//     and owner; a regular file over a regular file truncates it and writes
//     the new contents.
//   - A non-directory with nlink >= 2 is a hard link to the first earlier
//     entry of the same archive with the same inode, device and file type.
//
// Memory grows with the number of distinct paths; callers bound it with
// [Limits].
type Unpacker struct {
	nodes   map[string]*node
	links   map[linkKey]int // hard-link table of the current archive
	archive int
	n       int // entries seen
}

type node struct {
	index    int    // entry that made it
	mode     uint32 // type and permissions as last applied
	children int
	link     string // symlink target
}

type linkKey struct {
	ino, dmaj, dmin, typ uint32
}

// NewUnpacker returns an Unpacker of an empty root directory.
func NewUnpacker() *Unpacker {
	return &Unpacker{nodes: map[string]*node{"/": {index: -1, mode: TypeDir | 0o755}}, links: map[linkKey]int{}}
}

// maxSymlinks is the kernel's MAXSYMLINKS: the most symbolic links a path
// lookup follows.
const maxSymlinks = 40

// maxPath bounds the length of a resolved path (a name and a symlink target,
// each at most PATH_MAX).
const maxPath = 2 * (MaxNameLen + 1)

// Add returns what the kernel does with the next entry e (in image order)
// and records its effect.
func (u *Unpacker) Add(e ImageEntry) Effect {
	idx := u.n
	u.n++
	if e.Archive != u.archive {
		u.archive = e.Archive
		clear(u.links) // the trailer frees the kernel's hard-link table
	}
	eff := Effect{Prev: -1, Link: -1}
	dir, base, via, reason := u.resolve(e.Name)
	eff.Via = via
	if reason != "" {
		eff.Op, eff.Reason, eff.Path = OpSkip, reason, dir
		return eff
	}
	p := join(dir, base)
	eff.Path = p
	t := e.Type()
	if base == "" { // the name resolves to an existing directory ("." or "..")
		n := u.nodes[p]
		if t == TypeDir {
			eff.Op, eff.Prev = OpUpdate, n.index
			n.mode = e.Mode
			return eff
		}
		eff.Op, eff.Prev, eff.Reason = OpSkip, n.index, "the path is a directory"
		return eff
	}
	if t != TypeDir && e.Nlink >= 2 {
		k := linkKey{e.Inode, e.DevMajor, e.DevMinor, t}
		if first, ok := u.links[k]; ok {
			eff.Link = first
		} else {
			u.links[k] = idx
		}
	}
	old, exists := u.nodes[p]
	switch {
	case !exists:
		eff.Op = OpCreate
	case t == TypeDir && old.mode&TypeMask == TypeDir,
		eff.Link < 0 && t != TypeReg && t != TypeSymlink && old.mode&TypeMask == t:
		eff.Op, eff.Prev = OpUpdate, old.index
		old.mode = e.Mode
		return eff
	case old.mode&TypeMask == TypeDir && old.children > 0:
		eff.Op, eff.Prev, eff.Reason = OpSkip, old.index, "a non-empty directory is in the way"
		return eff
	default:
		eff.Op, eff.Prev = OpReplace, old.index
	}
	if eff.Op == OpCreate {
		u.nodes[dir].children++
	}
	u.nodes[p] = &node{index: idx, mode: e.Mode, link: e.Linkname}
	return eff
}

// join joins a directory path and a name.
func join(dir, base string) string {
	if base == "" {
		return dir
	}
	if dir == "/" {
		return "/" + base
	}
	return dir + "/" + base
}

// resolve looks name up the way the kernel does: it returns the directory
// the entry lands in (after following symlinks among the parents) and the
// last component ("" when the name ends in "." or ".." or is the root),
// the first symlink followed, or why the lookup fails.
func (u *Unpacker) resolve(name string) (dir, base, via, reason string) {
	rest := strings.Split(name, "/")
	dir = "/"
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		last := !hasComponent(rest)
		switch c {
		case "", ".":
			continue
		case "..":
			if i := strings.LastIndexByte(dir, '/'); i > 0 {
				dir = dir[:i]
			} else {
				dir = "/"
			}
			continue
		}
		if last {
			return dir, c, via, ""
		}
		p := join(dir, c)
		n, ok := u.nodes[p]
		switch {
		case !ok:
			return p, "", via, fmt.Sprintf("parent %s does not exist", p)
		case n.mode&TypeMask == TypeSymlink:
			links++
			if links > maxSymlinks {
				return p, "", via, "too many levels of symbolic links"
			}
			if via == "" {
				via = p
			}
			target := strings.Split(n.link, "/")
			if strings.HasPrefix(n.link, "/") {
				dir = "/"
			}
			rest = append(target, rest...)
			if len(strings.Join(rest, "/"))+len(dir) > maxPath {
				return p, "", via, "path too long after following symbolic links"
			}
		case n.mode&TypeMask != TypeDir:
			return p, "", via, fmt.Sprintf("parent %s is a %s, not a directory", p, typeName(n.mode&TypeMask))
		default:
			dir = p
		}
	}
	return dir, "", via, ""
}

// hasComponent reports whether rest holds a component other than "" and ".".
// (".." counts: "a/.." names the root, not "a".)
func hasComponent(rest []string) bool {
	for _, c := range rest {
		if c != "" && c != "." {
			return true
		}
	}
	return false
}
