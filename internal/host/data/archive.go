package data

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/turbo-image/turbo-image/internal/shared/datatree"
)

// FormatVersion is the value of TURBO.data.format this package writes and
// reads.
const FormatVersion = "1"

// Record names of the global header (pax extended header keywords; the
// upper-case vendor prefix is what the pax rules reserve for vendors).
const (
	recFormat  = "TURBO.data.format"
	recName    = "TURBO.data.name"
	recVersion = "TURBO.data.version"
	recChannel = "TURBO.data.channel"
	recBuild   = "TURBO.data.build"
	recFrom    = "TURBO.data.from"
	recScrub   = "TURBO.data.scrubbed"
	xattrPAX   = datatree.XattrPAX
)

// globalHeaderName is the name GNU tar and Go's archive/tar give a global
// header member.
const globalHeaderName = "pax_global_header"

// Source says where an archive's data comes from. Every field may be
// empty when it is not known.
type Source struct {
	// Name and Version of the appliance whose /data this is.
	Name, Version string
	// Channel the data comes from (prod, qa, at, dev...).
	Channel string
	// Build is the sha256 of the build's manifest.json ("sha256:<hex>").
	Build string
	// From is "disk" (offline export) or "live" (through the agent).
	From string
	// Scrubbed is the scrub program's argv (words joined by spaces) when
	// `data scrub` rewrote the data; "" if it did not.
	Scrubbed string
}

var (
	channelRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	buildRE   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	tokenRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,63}$`)
)

// Check reports the first field that is not well formed.
func (s Source) Check() error {
	for _, f := range []struct {
		name, v string
		re      *regexp.Regexp
	}{{recName, s.Name, tokenRE}, {recVersion, s.Version, tokenRE}, {recChannel, s.Channel, channelRE}, {recBuild, s.Build, buildRE}} {
		if f.v != "" && !f.re.MatchString(f.v) {
			return fmt.Errorf("%s %q is not well formed", f.name, f.v)
		}
	}
	if len(s.Scrubbed) > 4096 || strings.ContainsFunc(s.Scrubbed, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%s %q is not well formed (at most 4096 bytes, no control characters)", recScrub, s.Scrubbed)
	}
	switch s.From {
	case "", "disk", "live":
	default:
		return fmt.Errorf("%s %q is neither disk nor live", recFrom, s.From)
	}
	return nil
}

func (s Source) records() map[string]string {
	r := map[string]string{recFormat: FormatVersion}
	for k, v := range map[string]string{recName: s.Name, recVersion: s.Version, recChannel: s.Channel, recBuild: s.Build, recFrom: s.From, recScrub: s.Scrubbed} {
		if v != "" {
			r[k] = v
		}
	}
	return r
}

func sourceOf(recs map[string]string) (Source, error) {
	if v := recs[recFormat]; v != FormatVersion {
		return Source{}, fmt.Errorf("global header: %s is %q, this turbo-image reads %q", recFormat, v, FormatVersion)
	}
	s := Source{Name: recs[recName], Version: recs[recVersion], Channel: recs[recChannel], Build: recs[recBuild], From: recs[recFrom], Scrubbed: recs[recScrub]}
	for k := range recs {
		if strings.HasPrefix(k, "TURBO.") && k != recFormat && k != recName && k != recVersion && k != recChannel && k != recBuild && k != recFrom && k != recScrub {
			return Source{}, fmt.Errorf("global header: unknown record %s", k)
		}
	}
	if err := s.Check(); err != nil {
		return Source{}, fmt.Errorf("global header: %w", err)
	}
	return s, nil
}

// newZstdWriter compresses reproducibly: one encoder goroutine, fixed
// level, no dictionary, so the same tar gives the same bytes.
func newZstdWriter(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
}

// maxWindow bounds the zstd window a hostile archive can ask for.
const maxWindow = 64 << 20

func newZstdReader(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(maxWindow*2))
}

// Entry is one checked member of an archive.
type Entry struct {
	// Path is clean and relative: "." for the root, "db/x" below it.
	Path string
	// Header is the tar header as read (Name and Linkname as in the archive).
	Header *tar.Header
	// LinkTo is the clean Path of a hard link's first name.
	LinkTo string
}

// Limits bound what a reader accepts.
type Limits struct {
	// Entries is the most members an archive may have (0: the default).
	Entries int
}

// DefaultLimits are the limits of import and ls.
var DefaultLimits = Limits{Entries: 10_000_000}

// readArchive decompresses and walks an archive, checking every member,
// and calls fn with each (body is the member's data). It returns the
// archive's Source.
func readArchive(r io.Reader, lim Limits, check func(Source) error, fn func(e *Entry, body io.Reader) error) (Source, error) {
	if lim.Entries <= 0 {
		lim = DefaultLimits
	}
	zr, err := newZstdReader(r)
	if err != nil {
		return Source{}, err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var src Source
	seen := map[string]byte{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			if i == 0 {
				return src, errors.New("archive: empty (no global header)")
			}
			return src, nil
		}
		if err != nil {
			return src, fmt.Errorf("archive: member %d: %w", i+1, err)
		}
		if i == 0 {
			if h.Typeflag != tar.TypeXGlobalHeader {
				return src, fmt.Errorf("archive: member 1 (%q) is not the pax global header a turbo-image data archive starts with", h.Name)
			}
			if src, err = sourceOf(h.PAXRecords); err != nil {
				return src, fmt.Errorf("archive: %w", err)
			}
			if check != nil {
				if err := check(src); err != nil {
					return src, err
				}
			}
			continue
		}
		if i > lim.Entries {
			return src, fmt.Errorf("archive: more than %d members", lim.Entries)
		}
		e, err := checkMember(h, seen)
		if err != nil {
			return src, fmt.Errorf("archive: member %d (%q): %w", i+1, h.Name, err)
		}
		if err := fn(e, tr); err != nil {
			return src, fmt.Errorf("archive: member %d (%q): %w", i+1, h.Name, err)
		}
	}
}

// cleanName turns a member name into a clean relative path, refusing
// absolute names, "..", empty and "." components inside, and NUL.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("name holds NUL")
	}
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute name")
	}
	n := strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/")
	if n == "" || n == "." {
		return ".", nil
	}
	for _, c := range strings.Split(n, "/") {
		switch c {
		case "..":
			return "", errors.New("name climbs out with ..")
		case "", ".":
			return "", errors.New("name has an empty or . component")
		}
		if len(c) > 255 {
			return "", errors.New("a name component is longer than 255 bytes")
		}
	}
	return n, nil
}

// MountPoint is where the appliance mounts the data partition; absolute
// symlink targets must stay below it.
const MountPoint = "/data"

// checkSymlink refuses a target that leads out of /data: a relative one
// that climbs above the root from the link's folder, an absolute one
// outside MountPoint.
func checkSymlink(p, target string) error {
	switch {
	case target == "":
		return errors.New("empty symlink target")
	case strings.IndexByte(target, 0) >= 0:
		return errors.New("symlink target holds NUL")
	case strings.HasPrefix(target, "/"):
		if c := path.Clean(target); c != MountPoint && !strings.HasPrefix(c, MountPoint+"/") {
			return fmt.Errorf("symlink to %q leads out of %s", target, MountPoint)
		}
		return nil
	}
	if j := path.Join(path.Dir(p), target); j == ".." || strings.HasPrefix(j, "../") {
		return fmt.Errorf("symlink to %q leads out of %s", target, MountPoint)
	}
	return nil
}

// checkMember checks one member and tracks what was seen (type by path).
func checkMember(h *tar.Header, seen map[string]byte) (*Entry, error) {
	p, err := cleanName(h.Name)
	if err != nil {
		return nil, err
	}
	if _, dup := seen[p]; dup {
		return nil, errors.New("appears twice")
	}
	e := &Entry{Path: p, Header: h}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
	case tar.TypeDir:
	case tar.TypeSymlink:
		if err := checkSymlink(p, h.Linkname); err != nil {
			return nil, err
		}
	case tar.TypeLink:
		to, err := cleanName(h.Linkname)
		if err != nil {
			return nil, fmt.Errorf("hard link target: %w", err)
		}
		switch t, ok := seen[to]; {
		case !ok:
			return nil, fmt.Errorf("hard link to %q, which is not an earlier member", h.Linkname)
		case t == tar.TypeDir:
			return nil, fmt.Errorf("hard link to folder %q", h.Linkname)
		}
		e.LinkTo = to
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if h.Devmajor < 0 || h.Devmajor > 0xfff || h.Devminor < 0 || h.Devminor > 0xfffff {
			return nil, fmt.Errorf("device %d:%d out of range", h.Devmajor, h.Devminor)
		}
	default:
		return nil, fmt.Errorf("type %q is not a file, folder, link, device or FIFO", h.Typeflag)
	}
	if p == "." && h.Typeflag != tar.TypeDir {
		return nil, errors.New("the root must be a folder")
	}
	if h.Size < 0 || (h.Size > 0 && h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA && h.Typeflag != tar.TypeGNUSparse) {
		return nil, fmt.Errorf("size %d for type %q", h.Size, h.Typeflag)
	}
	if h.Uid < 0 || h.Uid > 1<<32-1 || h.Gid < 0 || h.Gid > 1<<32-1 {
		return nil, fmt.Errorf("owner %d:%d out of range", h.Uid, h.Gid)
	}
	if h.Mode < 0 || h.Mode > 0o177777 {
		return nil, fmt.Errorf("mode %#o out of range", h.Mode)
	}
	t := h.Typeflag
	if e.LinkTo != "" {
		t = seen[e.LinkTo]
	}
	seen[p] = t
	return e, nil
}

// xattrsOf returns the SCHILY.xattr.* records of h, sorted by name.
func xattrsOf(h *tar.Header) []xattr {
	var out []xattr
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, xattrPAX) {
			out = append(out, xattr{k[len(xattrPAX):], []byte(v)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

type xattr struct {
	name  string
	value []byte
}
