package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

func runInspect(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "inspect", commands()["inspect"].usage)
	extract := fs.String("extract", "", "unpack the initramfs (of a build folder, or the one named) into this new `DIR` instead of listing it")
	asJSON := fs.Bool("json", false, "print one JSON document (schema "+SchemaInspect+", see docs/json.md) instead of the text")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one build directory, initramfs or disk image")
	}
	target := pos[0]
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	if *extract != "" {
		if *asJSON {
			return usagef("--json lists; it does not go with --extract")
		}
		return extractInitramfs(ctx, target, st.IsDir(), *extract)
	}
	if *asJSON {
		doc, err := inspectJSON(ctx, target, st.IsDir())
		if err != nil {
			return err
		}
		return writeJSON(e.Stdout, doc)
	}
	switch {
	case st.IsDir():
		return inspectBuild(ctx, e.Stdout, target)
	case isDiskImage(target):
		return inspectDisk(e.Stdout, target)
	case isUKIFile(target):
		return inspectUKI(e.Stdout, target)
	case isISOFile(target):
		return errISO(target)
	}
	return inspectFile(e.Stdout, target)
}

// inspectJSON reads what inspect shows, as the InspectJSON document.
func inspectJSON(ctx context.Context, target string, isDir bool) (*InspectJSON, error) {
	doc := &InspectJSON{Schema: SchemaInspect}
	switch {
	case isDir:
		doc.Kind = "build"
		d, err := manifest.LoadDir(ctx, target)
		if err != nil {
			return nil, err
		}
		doc.Build = buildInfo(d.Manifest)
		for _, a := range d.Manifest.Artifacts {
			if strings.HasPrefix(a.Name, "initramfs.") {
				s, err := scanInitramfs(filepath.Join(target, a.Name))
				if err != nil {
					return nil, err
				}
				doc.Initramfs = append(doc.Initramfs, s.json())
			}
		}
		if _, ok := d.Manifest.Artifact("disk.img"); ok {
			if doc.Disk, err = readDisk(filepath.Join(target, "disk.img")); err != nil {
				return nil, err
			}
		}
		if _, ok := d.Manifest.Artifact(builder.UKIFile); ok {
			if doc.UKI, err = readUKI(filepath.Join(target, builder.UKIFile)); err != nil {
				return nil, err
			}
		}
	case isDiskImage(target):
		doc.Kind = "disk"
		var err error
		if doc.Disk, err = readDisk(target); err != nil {
			return nil, err
		}
	case isUKIFile(target):
		doc.Kind = "uki"
		var err error
		if doc.UKI, err = readUKI(target); err != nil {
			return nil, err
		}
	case isISOFile(target):
		return nil, errISO(target)
	default:
		doc.Kind = "initramfs"
		s, err := scanInitramfs(target)
		if err != nil {
			return nil, err
		}
		doc.Initramfs = []InitramfsJSON{s.json()}
	}
	return doc, nil
}

// buildInfo is the manifest part of inspect.
func buildInfo(m *manifest.Manifest) *BuildInfoJSON {
	b := &BuildInfoJSON{
		Name: m.Name, Version: m.Version, Arch: m.Arch, BuildID: m.BuildID, Cmdline: m.Cmdline,
		Toolchain: ToolchainJSON{Go: m.Toolchain.Go, CC: m.Toolchain.CC, KernelRelease: m.Toolchain.KernelRelease},
		Artifacts: []ArtifactJSON{}, Inputs: []InputJSON{},
	}
	for _, a := range m.Artifacts {
		b.Artifacts = append(b.Artifacts, ArtifactJSON{Name: a.Name, Size: a.Size, SHA256: a.SHA256})
		if a.Name == "kernel" || strings.HasPrefix(a.Name, "initramfs.") {
			b.BootBytes += a.Size
		}
	}
	for _, in := range m.Inputs {
		b.Inputs = append(b.Inputs, InputJSON{Name: in.Name, SHA256: in.SHA256})
	}
	return b
}

// inspectBuild shows a build folder; it loads it as verify, sign and flash
// do (manifest.LoadDir), so a folder that does not match its manifest is
// refused with the artifact that differs instead of shown as good.
func inspectBuild(ctx context.Context, w io.Writer, dir string) error {
	d, err := manifest.LoadDir(ctx, dir)
	if err != nil {
		return err
	}
	b := buildInfo(d.Manifest)
	fmt.Fprintf(w, "%s %s (%s)  build %s\n", b.Name, b.Version, b.Arch, b.BuildID)
	fmt.Fprintf(w, "cmdline: %s\n", b.Cmdline)
	fmt.Fprintf(w, "toolchain: %s", b.Toolchain.Go)
	if b.Toolchain.KernelRelease != "" {
		fmt.Fprintf(w, ", linux %s", b.Toolchain.KernelRelease)
	}
	if b.Toolchain.CC != "" {
		fmt.Fprintf(w, ", %s", b.Toolchain.CC)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nartifacts:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, a := range b.Artifacts {
		fmt.Fprintf(tw, "  %s\t%s\t  sha256:%s\t\n", a.Name, bytesize.Format(a.Size), a.SHA256[:16])
	}
	tw.Flush()
	fmt.Fprintf(w, "  kernel + initramfs: %s\n", bytesize.Format(b.BootBytes))
	fmt.Fprintln(w, "\ninputs:")
	for _, in := range b.Inputs {
		fmt.Fprintf(w, "  %-28s sha256:%s\n", in.Name, in.SHA256[:16])
	}
	for _, a := range b.Artifacts {
		if strings.HasPrefix(a.Name, "initramfs.") {
			fmt.Fprintf(w, "\n%s:\n", a.Name)
			if err := inspectFile(w, filepath.Join(dir, a.Name)); err != nil {
				return err
			}
		}
	}
	if _, ok := d.Manifest.Artifact(builder.UKIFile); ok {
		fmt.Fprintln(w)
		if err := inspectUKI(w, filepath.Join(dir, builder.UKIFile)); err != nil {
			return err
		}
	}
	if _, ok := d.Manifest.Artifact("disk.img"); ok {
		fmt.Fprintln(w)
		return inspectDisk(w, filepath.Join(dir, "disk.img"))
	}
	return nil
}

// initramfsScan is what inspect reads of an initramfs image.
type initramfsScan struct {
	path     string
	rows     []inspectRow
	cfgData  []byte
	fileSize int64
	members  []initramfs.Member
}

// scanInitramfs reads what the kernel would unpack from an initramfs image
// (every member of a concatenation, any supported compression). It
// streams: file contents are never held (only the init config, at most 1
// MiB, is read), and initramfs.DefaultLimits bound the entries, names and
// decompressed bytes, so a hostile image gives an error instead of
// exhausting memory.
func scanInitramfs(path string) (*initramfsScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ir := initramfs.NewImageReader(f, initramfs.DefaultLimits())
	defer ir.Close()
	u := initramfs.NewUnpacker()
	s := &initramfsScan{path: path, fileSize: st.Size()}
	for {
		e, err := ir.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(ir.Members()) == 0 {
				return nil, fmt.Errorf("%s: %w (not an initramfs; disk images are inspected with the disk support)", path, err)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		eff := u.Add(e)
		if e.Type() == initramfs.TypeReg && eff.Op != initramfs.OpSkip && eff.Path == initconfig.Path {
			s.cfgData = nil
			if e.Size <= maxInitConfig {
				if s.cfgData, err = io.ReadAll(ir); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			}
		}
		s.rows = append(s.rows, inspectRow{e: e, eff: eff, replacedBy: -1, updatedBy: -1})
	}
	for i, r := range s.rows {
		switch r.eff.Op {
		case initramfs.OpReplace:
			s.rows[r.eff.Prev].replacedBy = i
		case initramfs.OpUpdate:
			if r.eff.Prev >= 0 {
				s.rows[r.eff.Prev].updatedBy = i
			}
		}
	}
	s.members = ir.Members()
	return s, nil
}

// inspectFile lists what the kernel would unpack from an initramfs image,
// with a size breakdown (see scanInitramfs).
func inspectFile(w io.Writer, path string) error {
	s, err := scanInitramfs(path)
	if err != nil {
		return err
	}
	printBreakdown(w, s.rows, s.cfgData, s.fileSize, s.members)
	fmt.Fprintln(w, "\nfiles:")
	multi := len(s.members) > 1
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i, r := range s.rows {
		e := r.e
		size := fmt.Sprint(e.Size)
		switch e.Type() {
		case initramfs.TypeChar, initramfs.TypeBlock:
			size = fmt.Sprintf("%d,%d", e.Major, e.Minor)
		}
		fmt.Fprintf(tw, "  #%d\t", i)
		if multi {
			fmt.Fprintf(tw, "m%d\t", e.Member)
		}
		fmt.Fprintf(tw, "%s\t%d:%d\t%s\t%s\n", modeString(e.Mode), e.UID, e.GID, size, r.describe())
	}
	return tw.Flush()
}

// json is the scan as InitramfsJSON.
func (s *initramfsScan) json() InitramfsJSON {
	parts, total := breakdown(s.rows, s.cfgData)
	out := InitramfsJSON{Path: s.path, FileSize: s.fileSize, UncompressedBytes: total,
		Members: []MemberJSON{}, Breakdown: []BreakdownJSON{}, Entries: []EntryJSON{}}
	for _, m := range s.members {
		out.Members = append(out.Members, MemberJSON{Compression: string(m.Compression), Offset: m.Offset, Size: m.Size, Decompressed: m.Decompressed})
	}
	for _, p := range parts {
		out.Breakdown = append(out.Breakdown, BreakdownJSON{Part: p.name, Bytes: p.size})
	}
	idx := func(i int) *int {
		if i < 0 {
			return nil
		}
		return &i
	}
	for i, r := range s.rows {
		e := r.e
		j := EntryJSON{
			Index: i, Member: e.Member, Type: typeName(e.Mode), Mode: modeString(e.Mode),
			Perm: e.Mode & 0o7777, UID: e.UID, GID: e.GID, Size: e.Size, Name: e.Name,
			Via: r.eff.Via, Op: r.eff.Op.String(), HardLinkTo: idx(r.eff.Link),
			ReplacedBy: idx(r.replacedBy), UpdatedBy: idx(r.updatedBy),
		}
		switch e.Type() {
		case initramfs.TypeChar, initramfs.TypeBlock:
			j.Major, j.Minor = e.Major, e.Minor
		case initramfs.TypeSymlink:
			j.Linkname = e.Linkname
			if !utf8.ValidString(e.Linkname) {
				j.LinknameRaw = []byte(e.Linkname)
			}
		}
		if !utf8.ValidString(e.Name) {
			j.NameRaw = []byte(e.Name)
		}
		if r.eff.Op == initramfs.OpSkip {
			j.SkipReason = r.eff.Reason
		} else {
			j.Path = r.eff.Path
		}
		if r.eff.Op != initramfs.OpCreate {
			j.Prev = idx(r.eff.Prev)
		}
		out.Entries = append(out.Entries, j)
	}
	return out
}

// typeName names a mode's file type for the JSON listing.
func typeName(mode uint32) string {
	switch mode & initramfs.TypeMask {
	case initramfs.TypeReg:
		return "file"
	case initramfs.TypeDir:
		return "dir"
	case initramfs.TypeSymlink:
		return "symlink"
	case initramfs.TypeChar:
		return "char"
	case initramfs.TypeBlock:
		return "block"
	case initramfs.TypeFifo:
		return "fifo"
	case initramfs.TypeSocket:
		return "socket"
	}
	return "unknown"
}

// extractInitramfs unpacks the initramfs image at target (or the one of the
// build folder target) into dir with initramfs.Extract: no path of the
// archive can reach outside dir, no symbolic link is followed, device nodes
// are skipped. dir must not exist, or be an empty folder: the tree is
// unpacked into a temporary sibling and renamed into place, so dir appears
// whole or not at all and nothing the user owns is replaced. An image of
// several concatenated archives is refused, because a later archive may
// replace what an earlier one wrote and Extract never overwrites.
func extractInitramfs(ctx context.Context, target string, isDir bool, dir string) error {
	img := target
	if isDir {
		d, err := manifest.LoadDir(ctx, target)
		if err != nil {
			return err
		}
		img = ""
		for _, a := range d.Manifest.Artifacts {
			if strings.HasPrefix(a.Name, "initramfs.") {
				img = filepath.Join(target, a.Name)
			}
		}
		if img == "" {
			return fmt.Errorf("%s: the build has no initramfs to extract", target)
		}
	}
	// First pass: what the kernel would unpack, bounded, and how many archives.
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	ir := initramfs.NewImageReader(f, initramfs.DefaultLimits())
	for {
		if _, err := ir.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			ir.Close()
			return fmt.Errorf("%s: %w", img, err)
		}
	}
	ir.Close()
	if n := len(ir.Members()); n != 1 {
		return fmt.Errorf("%s: holds %d archives; --extract unpacks an image of exactly one (list it with inspect to see what each holds)", img, n)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s: not empty; --extract writes only a new or empty folder", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	rc, _, err := initramfs.Decompress(f)
	if err != nil {
		return fmt.Errorf("%s: %w", img, err)
	}
	defer rc.Close()
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	if err := initramfs.Extract(rc, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("%s: %w", img, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	// An empty folder at dir is replaced (rename over an empty directory).
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("extract: %w", err)
	}
	return nil
}

// maxInitConfig bounds the init config that inspect reads into memory.
const maxInitConfig = 1 << 20

// inspectRow is one listed entry with what the kernel does with it.
type inspectRow struct {
	e          initramfs.ImageEntry
	eff        initramfs.Effect
	replacedBy int // later entry that replaces this one, or -1
	updatedBy  int // later entry that changes this one's mode and owner, or -1
}

// describe returns the name column: the path as the kernel resolves it,
// quoted when needed, the link target, and notes on what the kernel does.
func (r inspectRow) describe() string {
	name := "/" + r.e.Name
	if strings.HasPrefix(r.e.Name, "/") {
		name = r.e.Name
	}
	lexical := pathpkg.Clean(name)
	s := quoteName(lexical)
	if r.e.Type() == initramfs.TypeSymlink {
		s += " -> " + quoteName(r.e.Linkname)
	}
	var notes []string
	if lexical != "/"+r.e.Name {
		notes = append(notes, "stored as "+strconv.Quote(r.e.Name))
	}
	if r.eff.Via != "" {
		notes = append(notes, "through symlink "+quoteName(r.eff.Via))
		if r.eff.Op != initramfs.OpSkip {
			notes = append(notes, "lands at "+quoteName(r.eff.Path))
		}
	}
	if r.eff.Link >= 0 {
		notes = append(notes, fmt.Sprintf("hard link to #%d", r.eff.Link))
	}
	switch r.eff.Op {
	case initramfs.OpReplace:
		notes = append(notes, fmt.Sprintf("REPLACES #%d", r.eff.Prev))
	case initramfs.OpUpdate:
		if r.eff.Prev >= 0 {
			notes = append(notes, fmt.Sprintf("exists (#%d): only mode and owner applied", r.eff.Prev))
		} else {
			notes = append(notes, "the root directory: only mode and owner applied")
		}
	case initramfs.OpSkip:
		notes = append(notes, "NOT CREATED: "+r.eff.Reason)
	}
	if r.replacedBy >= 0 {
		notes = append(notes, fmt.Sprintf("REPLACED by #%d", r.replacedBy))
	}
	if r.updatedBy >= 0 {
		notes = append(notes, fmt.Sprintf("mode and owner changed by #%d", r.updatedBy))
	}
	if len(notes) > 0 {
		s += "  [" + strings.Join(notes, "; ") + "]"
	}
	return s
}

// quoteName returns s as it is when every character is printable and
// unambiguous, and otherwise as a Go-quoted string, so that no name can
// forge a listing line or reorder the text around it: control characters,
// newlines, invalid UTF-8, format characters such as U+202E (right-to-left
// override), spaces, quotes and backslashes are all escaped.
func quoteName(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '\\' || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// sizePart is one part of the size breakdown.
type sizePart struct {
	name string
	size int64
}

// breakdown says where the bytes of the regular files go: the init, each
// service (largest first), everything else; and their total. The kernel is
// separate.
func breakdown(rows []inspectRow, cfgData []byte) ([]sizePart, int64) {
	var cfg *initconfig.Config
	if cfgData != nil {
		cfg, _ = initconfig.Parse(cfgData)
	}
	services := map[string]string{}
	if cfg != nil {
		for _, s := range cfg.Services {
			services[s.Path] = s.Name
		}
	}
	var total, initSize, other int64
	var svcs []sizePart
	for _, r := range rows {
		if r.e.Type() != initramfs.TypeReg {
			continue
		}
		n := r.e.Size
		total += n
		switch {
		case r.eff.Path == "/init" && r.eff.Op != initramfs.OpSkip && r.replacedBy < 0:
			initSize = n
		case services[r.eff.Path] != "" && r.replacedBy < 0:
			svcs = append(svcs, sizePart{"service " + services[r.eff.Path], n})
		default:
			other += n
		}
	}
	sort.SliceStable(svcs, func(i, j int) bool { return svcs[i].size > svcs[j].size })
	parts := append([]sizePart{{"init", initSize}}, svcs...)
	return append(parts, sizePart{"other files", other}), total
}

// printBreakdown shows where the bytes go (see breakdown), and the members.
func printBreakdown(w io.Writer, rows []inspectRow, cfgData []byte, fileSize int64, members []initramfs.Member) {
	parts, total := breakdown(rows, cfgData)
	var comps []string
	for _, m := range members {
		comps = append(comps, string(m.Compression))
	}
	fmt.Fprintf(w, "  %d entries, %s uncompressed, %s as %s (%.0f%%)\n", len(rows), bytesize.Format(total),
		bytesize.Format(fileSize), strings.Join(comps, "+"), 100*float64(fileSize)/float64(max(total, 1)))
	if len(members) > 1 {
		fmt.Fprintf(w, "  %d concatenated members; the kernel unpacks them all, in order:\n", len(members))
		for i, m := range members {
			fmt.Fprintf(w, "    m%d  %-4s at offset %d: %s, %s decompressed\n", i, m.Compression, m.Offset, bytesize.Format(m.Size), bytesize.Format(m.Decompressed))
		}
	}
	for _, p := range parts {
		bar := strings.Repeat("#", int(30*p.size/max(total, 1)))
		fmt.Fprintf(w, "  %-22s %10s %5.1f%%  %s\n", p.name, bytesize.Format(p.size), 100*float64(p.size)/float64(max(total, 1)), bar)
	}
}

// modeString renders a mode as ls -l does: the file type, then rwx for
// owner, group and others, with setuid and setgid shown as s (S when the
// execute bit is off) and sticky as t (T).
func modeString(mode uint32) string {
	t := byte('?')
	switch mode & initramfs.TypeMask {
	case initramfs.TypeReg:
		t = '-'
	case initramfs.TypeDir:
		t = 'd'
	case initramfs.TypeSymlink:
		t = 'l'
	case initramfs.TypeChar:
		t = 'c'
	case initramfs.TypeBlock:
		t = 'b'
	case initramfs.TypeFifo:
		t = 'p'
	case initramfs.TypeSocket:
		t = 's'
	}
	const rwx = "rwxrwxrwx"
	b := []byte{t}
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	special := func(bit uint32, at int, set byte) {
		if mode&bit == 0 {
			return
		}
		if b[at] == '-' {
			b[at] = set - 'a' + 'A'
		} else {
			b[at] = set
		}
	}
	special(initramfs.ModeSetuid, 3, 's')
	special(initramfs.ModeSetgid, 6, 's')
	special(initramfs.ModeSticky, 9, 't')
	return string(b)
}
