package datatree

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// member is what a test checks of one tar member.
type member struct {
	name, link string
	typ        byte
	mode       int64
	size       int64
	body       string
	uid, gid   int
	mtime      time.Time
	pax        map[string]string
}

// write runs Write on dir and reads the members back with archive/tar.
func write(t *testing.T, ctx context.Context, dir string, o Options) ([]member, Stats, error) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	st, err := Write(ctx, tw, dir, o)
	if err != nil {
		return nil, st, err
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var ms []member
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading back member %d: %v", len(ms), err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeLink && h.Format != tar.FormatPAX {
			t.Errorf("%s: format %v, want pax", h.Name, h.Format)
		}
		ms = append(ms, member{name: h.Name, link: h.Linkname, typ: h.Typeflag, mode: h.Mode, size: h.Size,
			body: string(b), uid: h.Uid, gid: h.Gid, mtime: h.ModTime, pax: h.PAXRecords})
	}
	return ms, st, nil
}

func names(ms []member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}

func find(t *testing.T, ms []member, name string) member {
	t.Helper()
	for _, m := range ms {
		if m.name == name {
			return m
		}
	}
	t.Fatalf("no member %q in %q", name, names(ms))
	return member{}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteOrder: "./" first, then depth first with each folder's names
// in byte order: upper case before lower, and all of "a/" before "a-"
// and "a.b" (names are sorted within a folder, not whole paths).
func TestWriteOrder(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/x", "a/B/z", "a.b/y", "B/q", "a-"} {
		must(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644))
	}
	ms, st, err := write(t, context.Background(), dir, Options{})
	must(t, err)
	want := []string{"./", "./B/", "./B/q", "./a/", "./a/B/", "./a/B/z", "./a/x", "./a-", "./a.b/", "./a.b/y"}
	if got := names(ms); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
	if st.Files != 5 || st.Dirs != 5 || st.Bytes != int64(len("a/x")+len("a/B/z")+len("a.b/y")+len("B/q")+len("a-")) {
		t.Errorf("stats %+v", st)
	}
	for _, m := range ms {
		if m.typ == tar.TypeReg && m.body != strings.TrimPrefix(m.name, "./") {
			t.Errorf("%s holds %q", m.name, m.body)
		}
	}
}

// TestWriteMembers: each kind of file becomes the member it should, with
// its mode bits (setuid, sticky), nanosecond time, owner, link target and
// content; holes read as zeros; a socket is skipped and named.
func TestWriteMembers(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	must(t, os.WriteFile(p("file"), []byte("hello\n"), 0o640))
	must(t, unix.Chmod(p("file"), 0o4751))
	mt := time.Unix(1_700_000_000, 123_456_789)
	must(t, os.Chtimes(p("file"), mt, mt))
	must(t, os.Link(p("file"), p("hard")))
	must(t, os.Symlink("../../etc/passwd", p("escape"))) // carried as is: import judges links
	must(t, os.Mkdir(p("sticky"), 0o755))
	must(t, unix.Chmod(p("sticky"), 0o1777))
	must(t, unix.Mkfifo(p("fifo"), 0o600))
	f, err := os.Create(p("sparse"))
	must(t, err)
	must(t, f.Truncate(3<<20))
	_, err = f.WriteAt([]byte("end"), 3<<20-3)
	must(t, err)
	must(t, f.Close())
	l, err := net.Listen("unix", p("sock"))
	must(t, err)
	defer l.Close()

	ms, st, err := write(t, context.Background(), dir, Options{})
	must(t, err)
	fm := find(t, ms, "./file")
	if fm.typ != tar.TypeReg || fm.mode != 0o4751 || fm.body != "hello\n" || fm.size != 6 || !fm.mtime.Equal(mt) {
		t.Errorf("file: %+v", fm)
	}
	if fm.uid != os.Getuid() || fm.gid != os.Getgid() {
		t.Errorf("file owner %d:%d, want %d:%d", fm.uid, fm.gid, os.Getuid(), os.Getgid())
	}
	// "./file" < "./hard" in byte order, so file is the first of the pair.
	if h := find(t, ms, "./hard"); h.typ != tar.TypeLink || h.link != "./file" || h.size != 0 {
		t.Errorf("hard link: %+v", h)
	}
	if s := find(t, ms, "./escape"); s.typ != tar.TypeSymlink || s.link != "../../etc/passwd" {
		t.Errorf("symlink: %+v", s)
	}
	if d := find(t, ms, "./sticky/"); d.typ != tar.TypeDir || d.mode != 0o1777 {
		t.Errorf("dir: %+v", d)
	}
	if ff := find(t, ms, "./fifo"); ff.typ != tar.TypeFifo || ff.mode != 0o600 {
		t.Errorf("fifo: %+v", ff)
	}
	sp := find(t, ms, "./sparse")
	if sp.size != 3<<20 || len(sp.body) != 3<<20 || strings.Trim(sp.body[:3<<20-3], "\x00") != "" || sp.body[3<<20-3:] != "end" {
		t.Errorf("sparse: size %d, %d bytes read", sp.size, len(sp.body))
	}
	for _, m := range ms {
		if m.name == "./sock" {
			t.Errorf("socket written as %+v", m)
		}
	}
	if len(st.Skipped) != 1 || st.Skipped[0] != "sock (socket)" {
		t.Errorf("skipped %q", st.Skipped)
	}
	if st.Files != 2 || st.Links != 1 || st.Symlinks != 1 || st.Special != 1 || st.Dirs != 2 || st.Bytes != 6+3<<20 {
		t.Errorf("stats %+v", st)
	}
}

// TestWriteDevices: character and block devices keep major and minor
// (mknod needs root).
func TestWriteDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mknod needs root")
	}
	dir := t.TempDir()
	must(t, unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Mknod(filepath.Join(dir, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(8, 17))))
	ms, _, err := write(t, context.Background(), dir, Options{})
	must(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_, err = Write(context.Background(), tw, dir, Options{})
	must(t, err)
	tw.Close()
	tr := tar.NewReader(&buf)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got[h.Name] = fmt.Sprintf("%c %d:%d", h.Typeflag, h.Devmajor, h.Devminor)
	}
	if got["./null"] != "3 1:3" || got["./blk"] != "4 8:17" || len(ms) != 3 {
		t.Errorf("devices: %q (members %q)", got, names(ms))
	}
}

// TestWriteXattrs: user extended attributes travel as SCHILY.xattr pax
// records, values byte for byte (a NUL inside included).
func TestWriteXattrs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	must(t, os.WriteFile(p, nil, 0o644))
	if err := unix.Setxattr(p, "user.turbo", []byte("v\x00w"), 0); errors.Is(err, unix.ENOTSUP) {
		t.Skipf("SKIP: %s keeps no user xattrs", dir)
	} else {
		must(t, err)
	}
	must(t, unix.Setxattr(p, "user.empty", nil, 0))
	ms, _, err := write(t, context.Background(), dir, Options{})
	must(t, err)
	f := find(t, ms, "./f")
	if f.pax[XattrPAX+"user.turbo"] != "v\x00w" {
		t.Errorf("xattr user.turbo = %q (records %q)", f.pax[XattrPAX+"user.turbo"], f.pax)
	}
	if v, ok := f.pax[XattrPAX+"user.empty"]; !ok || v != "" {
		t.Errorf("empty xattr: %q %v (records %q)", v, ok, f.pax)
	}
	for k := range find(t, ms, "./").pax {
		if strings.HasPrefix(k, XattrPAX) {
			t.Errorf("root got record %q", k)
		}
	}
}

// TestWriteOwnerAndProgress: Options.Owner maps every member's owner (by
// its relative name) and its error stops the walk naming nothing written
// after; Progress hears the growing byte count.
func TestWriteOwnerAndProgress(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a"), []byte("1234"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "b"), []byte("56"), 0o644))
	var seen []string
	var progress []int64
	ms, _, err := write(t, context.Background(), dir, Options{
		Owner: func(rel string, uid, gid uint32) (int, int, error) {
			seen = append(seen, rel)
			return int(uid) + 1000, int(gid) + 2000, nil
		},
		Progress: func(n int64) { progress = append(progress, n) },
	})
	must(t, err)
	if strings.Join(seen, " ") != ". a b" {
		t.Errorf("Owner saw %q", seen)
	}
	if a := find(t, ms, "./a"); a.uid != os.Getuid()+1000 || a.gid != os.Getgid()+2000 {
		t.Errorf("mapped owner %d:%d", a.uid, a.gid)
	}
	if len(progress) != 2 || progress[0] != 4 || progress[1] != 6 {
		t.Errorf("progress %v", progress)
	}
	_, _, err = write(t, context.Background(), dir, Options{Owner: func(rel string, uid, gid uint32) (int, int, error) {
		if rel == "b" {
			return 0, 0, errors.New("owner 4242 outside the range")
		}
		return 0, 0, nil
	}})
	if err == nil || !strings.Contains(err.Error(), "owner 4242 outside the range") {
		t.Errorf("Owner error: %v", err)
	}
}

// TestWriteRefuses: a file that changes size while read, a cancelled
// context and a missing folder are errors naming the cause.
func TestWriteRefuses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "grows")
	must(t, os.WriteFile(p, []byte("0123456789"), 0o644))
	// Owner runs after the Lstat that fixed the size: shrinking the file
	// there is a writer racing the export.
	_, _, err := write(t, context.Background(), dir, Options{Owner: func(rel string, uid, gid uint32) (int, int, error) {
		if rel == "grows" {
			must(t, os.Truncate(p, 3))
		}
		return int(uid), int(gid), nil
	}})
	if err == nil || !strings.Contains(err.Error(), "grows: changed size while it was read (3 of 10 bytes)") {
		t.Errorf("shrinking file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := write(t, ctx, dir, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, _, err := write(t, context.Background(), filepath.Join(dir, "nope"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

// TestWriteReproducible: the same tree gives the same bytes twice; the
// first read does not move the files' access times (O_NOATIME), which
// the archive records and a relatime mount would otherwise update.
func TestWriteReproducible(t *testing.T) {
	dir := t.TempDir()
	for i, n := range []string{"z", "y/x", "w"} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, n), bytes.Repeat([]byte{byte(i)}, i*1000), 0o600))
	}
	var a, b bytes.Buffer
	for _, buf := range []*bytes.Buffer{&a, &b} {
		tw := tar.NewWriter(buf)
		_, err := Write(context.Background(), tw, dir, Options{})
		must(t, err)
		must(t, tw.Close())
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes of one tree differ")
	}
}

// FuzzWriteNames: file names and symlink targets are the app's, not
// ours: whatever bytes a name holds (newlines, "=", non-UTF-8, 255
// bytes, names that look like pax keys or "./"), the member carries it
// exactly, and the link target too (up to PATH_MAX).
func FuzzWriteNames(f *testing.F) {
	for _, s := range [][2]string{
		{"plain", "target"},
		{"new\nline", "../../../../etc/shadow"},
		{"30 path=/etc/passwd\n", "/abs/olute"},
		{"\xff\xfe not utf-8", "\x80"},
		{strings.Repeat("n", 255), strings.Repeat("../", 1300)},
		{"-", ""},
		{"...", "."},
		{"SCHILY.xattr.user.x", "./"},
		{" trailing space ", "a//b/../c"},
	} {
		f.Add(s[0], s[1], []byte("body"))
	}
	f.Fuzz(func(t *testing.T, name, target string, body []byte) {
		if name == "" || name == "." || name == ".." || len(name) > 255 || strings.ContainsAny(name, "/\x00") ||
			target == "" || len(target) >= 4096 || strings.Contains(target, "\x00") {
			return // not a name or target Linux can hold
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Skip(err)
		}
		link := name + "~" // beside it, after it in byte order
		if len(link) > 255 {
			link = "~"
		}
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skip(err)
		}
		ms, st, err := write(t, context.Background(), dir, Options{})
		if err != nil {
			t.Fatalf("name %q target %q: %v", name, target, err)
		}
		if st.Files != 1 || st.Symlinks != 1 || len(ms) != 3 {
			t.Fatalf("name %q: %d members, %+v", name, len(ms), st)
		}
		if m := find(t, ms, "./"+name); m.typ != tar.TypeReg || m.body != string(body) {
			t.Errorf("file %q: %+v", name, m)
		}
		if m := find(t, ms, "./"+link); m.typ != tar.TypeSymlink || m.link != target {
			t.Errorf("symlink %q: target %q, want %q", link, m.link, target)
		}
	})
}
