package ext4fs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// emptyFS writes an empty ext4 of size bytes (the way the builder makes
// /data) into a new sparse file.
func emptyFS(t testing.TB, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "fs.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := ext4img.Create(f, size, ext4img.Options{Label: "turbo-data", UUID: [16]byte{1, 2, 3}, Time: 1700000000, Fresh: true}); err != nil {
		t.Fatal(err)
	}
	return f
}

// want is one file the tests put in a file system and expect back.
type want struct {
	path    string
	typ     uint16
	perm    uint16
	uid     uint32
	gid     uint32
	mtime   time.Time
	content []byte // regular files
	size    int64  // regular files with holes: content is then nil and data[] used
	data    map[int64][]byte
	target  string
	linkTo  string
	major   uint32
	minor   uint32
	xattrs  []Xattr
}

func acl(entries ...[3]uint32) []byte {
	b := []byte{2, 0, 0, 0}
	for _, e := range entries {
		var x [8]byte
		binary.LittleEndian.PutUint16(x[0:], uint16(e[0]))
		binary.LittleEndian.PutUint16(x[2:], uint16(e[1]))
		binary.LittleEndian.PutUint32(x[4:], e[2])
		b = append(b, x[:]...)
	}
	return b
}

func sample() []want {
	rnd := rand.New(rand.NewSource(1))
	big := make([]byte, 3<<20+123)
	rnd.Read(big)
	t0 := time.Unix(1700000000, 123456789).UTC()
	fragmented := map[int64][]byte{}
	for i := int64(0); i < 40; i++ {
		fragmented[i*8192] = []byte(fmt.Sprintf("block %d", i))
	}
	long := strings.Repeat("long/", 30) + "target"
	return []want{
		{path: ".", typ: ModeDir, perm: 0o755, mtime: t0},
		{path: "a", typ: ModeDir, perm: 0o2750, uid: 1000, gid: 100, mtime: t0.Add(time.Second),
			xattrs: []Xattr{{"system.posix_acl_default", acl([3]uint32{aclUserObj, 7, 0xFFFFFFFF}, [3]uint32{aclUser, 5, 1001}, [3]uint32{aclGroupObj, 5, 0xFFFFFFFF}, [3]uint32{aclMask, 5, 0xFFFFFFFF}, [3]uint32{aclOther, 0, 0xFFFFFFFF})}}},
		{path: "a/f", typ: ModeFile, perm: 0o640, uid: 70000, gid: 70001, mtime: time.Unix(-1, 5).UTC(), content: []byte("hello\n"),
			xattrs: []Xattr{{"security.selinux", []byte("system_u:object_r:data_t:s0\x00")}, {"user.mime", []byte("text/plain")}}},
		{path: "a/h", linkTo: "a/f"},
		{path: "a/bigx", typ: ModeFile, perm: 0o600, mtime: time.Unix(1<<33, 0).UTC(), content: []byte{},
			xattrs: []Xattr{{"trusted.t", []byte("1")}, {"user.big", bytes.Repeat([]byte("x"), 400)}}},
		{path: "big", typ: ModeFile, perm: 0o644, mtime: t0, content: big},
		{path: "dev", typ: ModeDir, perm: 0o755, mtime: t0},
		{path: "dev/fifo", typ: ModeFIFO, perm: 0o600, mtime: t0},
		{path: "dev/null", typ: ModeChar, perm: 0o666, major: 1, minor: 3, mtime: t0},
		{path: "dev/sdz", typ: ModeBlock, perm: 0o660, major: 259, minor: 70000, mtime: t0},
		{path: "frag", typ: ModeFile, perm: 0o644, mtime: t0, size: 40*8192 + 10, data: fragmented},
		{path: "link-long", typ: ModeLink, target: long, mtime: t0},
		{path: "link-short", typ: ModeLink, target: "a/f", mtime: t0},
		{path: "sparse", typ: ModeFile, perm: 0o644, mtime: t0, size: 10 << 20, data: map[int64][]byte{0: []byte("head"), 5 << 20: []byte("middle")}},
		{path: "zero", typ: ModeFile, perm: 0o644, mtime: t0, size: 1 << 20, data: map[int64][]byte{}},
	}
}

func (w want) bytes() []byte {
	if w.content != nil {
		return w.content
	}
	b := make([]byte, w.size)
	for off, d := range w.data {
		copy(b[off:], d)
	}
	return b
}

// build puts files into b.
func build(t testing.TB, b *Builder, files []want) {
	t.Helper()
	for _, w := range files {
		m := Meta{Perm: w.perm, UID: w.uid, GID: w.gid, Mtime: w.mtime, Atime: w.mtime, Ctime: w.mtime, Xattrs: w.xattrs}
		var err error
		switch {
		case w.linkTo != "":
			err = b.Link(w.path, w.linkTo)
		case w.typ == ModeDir:
			err = b.Mkdir(w.path, m)
		case w.typ == ModeFile:
			c := w.bytes()
			err = b.WriteFile(w.path, m, bytes.NewReader(c), int64(len(c)))
		case w.typ == ModeLink:
			err = b.Symlink(w.path, w.target, m)
		default:
			err = b.Mknod(w.path, w.typ, w.major, w.minor, m)
		}
		if err != nil {
			t.Fatalf("%s: %v", w.path, err)
		}
	}
	if err := b.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
}

// check walks the file system in r and compares it with files.
func check(t *testing.T, r io.ReaderAt, size int64, files []want, checkOwners bool) {
	t.Helper()
	fs, err := Open(r, size)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Entry{}
	var order []string
	err = fs.Walk(func(e *Entry) error {
		got[e.Path] = e
		order = append(order, e.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(files) {
		t.Errorf("walk found %d files %v, want %d", len(got), order, len(files))
	}
	for _, w := range files {
		e, ok := got[w.path]
		if !ok {
			t.Errorf("%s: missing", w.path)
			continue
		}
		if w.linkTo != "" {
			if e.LinkTo != w.linkTo {
				t.Errorf("%s: hard link to %q, want %q", w.path, e.LinkTo, w.linkTo)
			}
			continue
		}
		in := e.Inode
		if in.Type() != w.typ {
			t.Errorf("%s: type %#o, want %#o", w.path, in.Type(), w.typ)
		}
		if w.typ != ModeLink && in.Perm() != w.perm {
			t.Errorf("%s: perm %#o, want %#o", w.path, in.Perm(), w.perm)
		}
		if checkOwners && (in.UID != w.uid || in.GID != w.gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", w.path, in.UID, in.GID, w.uid, w.gid)
		}
		if !w.mtime.IsZero() && !in.Mtime.Equal(w.mtime) {
			t.Errorf("%s: mtime %v, want %v", w.path, in.Mtime, w.mtime)
		}
		if fmt.Sprint(e.Xattrs) != fmt.Sprint(w.xattrs) && !(len(e.Xattrs) == 0 && len(w.xattrs) == 0) {
			t.Errorf("%s: xattrs %q, want %q", w.path, e.Xattrs, w.xattrs)
		}
		switch w.typ {
		case ModeFile:
			fr, err := fs.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			c, err := io.ReadAll(fr)
			if err != nil {
				t.Fatalf("%s: %v", w.path, err)
			}
			if !bytes.Equal(c, w.bytes()) {
				t.Errorf("%s: content differs (%d bytes, want %d)", w.path, len(c), len(w.bytes()))
			}
		case ModeLink:
			if e.Target != w.target {
				t.Errorf("%s: target %q, want %q", w.path, e.Target, w.target)
			}
		case ModeChar, ModeBlock:
			if ma, mi := in.Device(); ma != w.major || mi != w.minor {
				t.Errorf("%s: device %d:%d, want %d:%d", w.path, ma, mi, w.major, w.minor)
			}
		}
	}
}

func e2fsck(t *testing.T, img string) {
	t.Helper()
	tool := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	if out, err := exec.Command(tool, "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}

func debugfs(t *testing.T, img string, cmd string) string {
	t.Helper()
	tool := testenv.MustHaveTool(t, "debugfs", "e2fsprogs")
	out, err := exec.Command(tool, "-R", cmd, img).Output()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v", cmd, err)
	}
	return string(out)
}

// TestBuildRoundTrip fills an empty /data file system, has e2fsck check it
// and debugfs read it, and reads every file back.
func TestBuildRoundTrip(t *testing.T) {
	const size = 64 << 20
	f := emptyFS(t, size)
	b, err := NewBuilder(f, size)
	if err != nil {
		t.Fatal(err)
	}
	files := sample()
	build(t, b, files)
	e2fsck(t, f.Name())
	// debugfs, the oracle, sees what we wrote.
	if out := debugfs(t, f.Name(), "cat /a/h"); out != "hello\n" {
		t.Errorf("debugfs cat /a/h = %q", out)
	}
	if out := debugfs(t, f.Name(), "stat /a/f"); !strings.Contains(out, "User: 70000   Group: 70001") || !strings.Contains(out, "Links: 2") {
		t.Errorf("debugfs stat /a/f:\n%s", out)
	}
	if out := debugfs(t, f.Name(), "ea_get /a/bigx user.big"); !strings.Contains(out, strings.Repeat("x", 400)) {
		t.Errorf("debugfs ea_get user.big:\n%s", out)
	}
	if out := debugfs(t, f.Name(), "dump /big /dev/stdout"); sha256.Sum256([]byte(out)) != sha256.Sum256(files[5].content) {
		t.Errorf("debugfs dump /big differs")
	}
	if out := debugfs(t, f.Name(), "stat /sparse"); !strings.Contains(out, "Blockcount: 4\n") {
		t.Errorf("sparse file is not sparse:\n%s", out)
	}
	check(t, f, size, files, true)
}

// TestBuildReproducible: the same calls give the same bytes.
func TestBuildReproducible(t *testing.T) {
	const size = 16 << 20
	var sums [2][32]byte
	for i := range sums {
		f := emptyFS(t, size)
		b, err := NewBuilder(f, size)
		if err != nil {
			t.Fatal(err)
		}
		build(t, b, sample())
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
			t.Fatal(err)
		}
		copy(sums[i][:], h.Sum(nil))
	}
	if sums[0] != sums[1] {
		t.Error("two builds differ")
	}
}

// TestBuildNoSpace: too much data is refused with how much was needed.
func TestBuildNoSpace(t *testing.T) {
	const size = 8 << 20
	f := emptyFS(t, size)
	b, err := NewBuilder(f, size)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{1}, 6<<20)
	if err := b.WriteFile("big", Meta{Perm: 0o644}, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	err = b.Finish()
	ns, ok := err.(*NoSpaceError)
	if !ok {
		t.Fatalf("Finish = %v, want a NoSpaceError", err)
	}
	if ns.NeedBlocks*uint64(ns.BlockSize) < 6<<20 || ns.HaveBlocks >= ns.NeedBlocks {
		t.Errorf("NoSpaceError %+v: needs less than the 6 MiB given", ns)
	}
}
