package data

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/format/ext4fs"
	"github.com/turbo-image/turbo-image/internal/format/ext4fs/ext4test"
	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// newDisk writes a GPT disk image with an empty /data of dataMiB.
func newDisk(t testing.TB, dataMiB int64, seed string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	err := diskimage.Write(p, diskimage.Image{
		Layout:   diskimage.Layout{SlotSize: 8 << 20, DataSize: dataMiB << 20, Arch: "amd64", Seed: seed},
		SlotA:    []byte("slot"),
		DataExt4: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// member is one tar member a test archive holds.
type member struct {
	h    tar.Header
	body []byte
}

// writeArchive writes a data archive with the global header of src (or
// the raw header records recs when not nil).
func writeArchive(t testing.TB, src Source, recs map[string]string, members []member) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := newZstdWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	if recs == nil {
		recs = src.records()
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: globalHeaderName, PAXRecords: recs, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		h := m.h
		if h.Format == 0 {
			h.Format = tar.FormatPAX
		}
		h.Size = int64(len(m.body))
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

var t0 = time.Unix(1700000000, 250000000).UTC()

// sampleMembers is a data set with every kind of file import carries.
func sampleMembers() []member {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	sparse := make([]byte, 4<<20)
	copy(sparse, "head")
	copy(sparse[3<<20:], "tail")
	return []member{
		{h: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: t0}},
		{h: tar.Header{Name: "./db/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000, ModTime: t0}},
		{h: tar.Header{Name: "./db/app.db", Mode: 0o640, Uid: 1000, Gid: 1000, ModTime: t0, AccessTime: t0, ChangeTime: t0,
			PAXRecords: map[string]string{"SCHILY.xattr.user.checksum": "abc", "SCHILY.xattr.security.selinux": "u:r:x\x00"}}, body: big},
		{h: tar.Header{Name: "./db/app.db.hard", Typeflag: tar.TypeLink, Linkname: "./db/app.db"}},
		{h: tar.Header{Name: "./db/current", Typeflag: tar.TypeSymlink, Linkname: "app.db", ModTime: t0}},
		{h: tar.Header{Name: "./abs", Typeflag: tar.TypeSymlink, Linkname: "/data/db/app.db", ModTime: t0}},
		{h: tar.Header{Name: "./sparse", Mode: 0o4755, ModTime: t0}, body: sparse},
		{h: tar.Header{Name: "./empty", Mode: 0o600, ModTime: time.Unix(-5, 0)}},
		{h: tar.Header{Name: "./fifo", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: t0}},
		{h: tar.Header{Name: "./implicit/parent/file", ModTime: t0}, body: []byte("x")},
	}
}

func importBytes(t testing.TB, arch []byte, disk string, o ImportOptions) (Source, Stats, error) {
	t.Helper()
	return ImportDisk(context.Background(), bytes.NewReader(arch), disk, o)
}

func sum(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// dataPart copies the disk's data partition into a file for e2fsck.
func dataPart(t *testing.T, disk string) string {
	t.Helper()
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.ReadPartition(slots.DataPartition)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "data.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoundTrip imports a data set into a disk image, checks it with
// e2fsck, exports it, imports the export into a second disk, exports that
// again: both exports are byte-identical, and GNU tar reads the archive.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := Source{Name: "hello", Version: "1.0.0", Channel: "prod", From: "disk"}
	arch := writeArchive(t, src, nil, sampleMembers())
	disk1 := newDisk(t, 32, "one")
	got, st, err := importBytes(t, arch, disk1, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got != src || st.Files != 4 || st.Links != 1 || st.Symlinks != 2 || st.Special != 1 {
		t.Errorf("import: source %+v, stats %+v", got, st)
	}
	e2fsck := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	part := dataPart(t, disk1)
	if out, err := exec.Command(e2fsck, "-fn", part).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
	dir := t.TempDir()
	out1, out2 := filepath.Join(dir, "1.tar.zst"), filepath.Join(dir, "2.tar.zst")
	if _, _, err := ExportDisk(ctx, disk1, out1, "qa", nil); err != nil {
		t.Fatal(err)
	}
	disk2 := newDisk(t, 16, "two")
	f, err := os.Open(out1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := ImportDisk(ctx, f, disk2, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ExportDisk(ctx, disk2, out2, "qa", nil); err != nil {
		t.Fatal(err)
	}
	if sum(t, out1) != sum(t, out2) {
		t.Error("export of the re-imported data differs from the first export")
	}
	// What came back, member by member.
	members := map[string]*tar.Header{}
	f2, _ := os.Open(out2)
	defer f2.Close()
	gotSrc, err := List(ctx, f2, Limits{}, func(e *Entry) error { members[e.Path] = e.Header; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if gotSrc.Channel != "qa" || gotSrc.From != "disk" {
		t.Errorf("source of the export: %+v", gotSrc)
	}
	for _, m := range sampleMembers() {
		p, _ := cleanName(m.h.Name)
		h, ok := members[p]
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		if h.Typeflag != m.h.Typeflag && !(m.h.Typeflag == 0 && h.Typeflag == tar.TypeReg) {
			t.Errorf("%s: type %q, want %q", p, h.Typeflag, m.h.Typeflag)
		}
		if h.Typeflag == tar.TypeLink {
			if h.Linkname != m.h.Linkname {
				t.Errorf("%s: hard link to %q", p, h.Linkname)
			}
			continue
		}
		wantMode := m.h.Mode
		if m.h.Typeflag == tar.TypeSymlink {
			wantMode = 0o777
		} else if wantMode == 0 {
			wantMode = 0o644
		}
		if h.Mode != wantMode || h.Uid != m.h.Uid || h.Gid != m.h.Gid || !h.ModTime.Equal(m.h.ModTime) || h.Linkname != m.h.Linkname {
			t.Errorf("%s: mode %#o uid %d gid %d mtime %v link %q; want %#o %d %d %v %q", p, h.Mode, h.Uid, h.Gid, h.ModTime, h.Linkname,
				wantMode, m.h.Uid, m.h.Gid, m.h.ModTime, m.h.Linkname)
		}
		for k, v := range m.h.PAXRecords {
			if h.PAXRecords[k] != v {
				t.Errorf("%s: %s = %q, want %q", p, k, h.PAXRecords[k], v)
			}
		}
		if h.Size != int64(len(m.body)) {
			t.Errorf("%s: size %d, want %d", p, h.Size, len(m.body))
		}
	}
	// GNU tar reads it, content included.
	tarTool := testenv.MustHaveTool(t, "tar", "tar")
	testenv.MustHaveTool(t, "zstd", "zstd")
	x := t.TempDir()
	if out, err := exec.Command(tarTool, "--zstd", "-xf", out2, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar --zstd -xf: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(x, "db", "app.db"))
	if err != nil || !bytes.Equal(b, sampleMembers()[2].body) {
		t.Errorf("tar extracted db/app.db: %v (%d bytes)", err, len(b))
	}
	// The sparse file came back sparse (4 blocks of data in a 4 MiB file).
	fsys := openData(t, disk2)
	err = fsys.Walk(func(e *ext4fs.Entry) error {
		if e.Path == "sparse" && e.Inode.Blocks512 > 16 {
			t.Errorf("sparse: %d sectors allocated", e.Inode.Blocks512)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func openData(t *testing.T, disk string) *ext4fs.FS {
	t.Helper()
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r, err := d.ReadPartition(slots.DataPartition)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := ext4fs.Open(r, r.Size())
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// TestImportRefusals: every refused archive leaves the target disk
// byte-identical, and the error names the member and the reason.
func TestImportRefusals(t *testing.T) {
	disk := newDisk(t, 8, "refuse")
	before := sum(t, disk)
	for _, c := range hostileArchives(t) {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := importBytes(t, c.arch, disk, ImportOptions{Check: c.check})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("import: %v, want an error with %q", err, c.wantErr)
			}
			if sum(t, disk) != before {
				t.Fatal("the target disk changed")
			}
			ents, _ := os.ReadDir(filepath.Dir(disk))
			if len(ents) != 1 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

type hostileArchive struct {
	name    string
	arch    []byte
	check   func(Source) error
	wantErr string
}

// hostileArchives are archives import must refuse, each with the words
// its error must hold; they also seed FuzzArchive.
func hostileArchives(t testing.TB) []hostileArchive {
	src := Source{Name: "hello", Channel: "dev"}
	root := member{h: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}}
	big := bytes.Repeat([]byte{7}, 9<<20)
	return []hostileArchive{
		{"absolute path", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "/etc/passwd"}}}), nil, "absolute name"},
		{"dot-dot", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./a/../../x"}}}), nil, "climbs out"},
		{"symlink escapes", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./l", Typeflag: tar.TypeSymlink, Linkname: "../../etc"}}}), nil, "leads out of /data"},
		{"absolute symlink outside /data", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./l", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}}}), nil, "leads out of /data"},
		{"hard link to nothing", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./l", Typeflag: tar.TypeLink, Linkname: "./nope"}}}), nil, "not an earlier member"},
		{"hard link out", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./l", Typeflag: tar.TypeLink, Linkname: "../x"}}}), nil, "climbs out"},
		{"duplicate", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./a"}}, {h: tar.Header{Name: "a"}}}), nil, "appears twice"},
		{"file under a file", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./a"}}, {h: tar.Header{Name: "./a/b"}}}), nil, "not a directory"},
		{"no global header", func() []byte {
			var b bytes.Buffer
			zw, _ := newZstdWriter(&b)
			tw := tar.NewWriter(zw)
			tw.WriteHeader(&tar.Header{Name: "x", Mode: 0o644})
			tw.Close()
			zw.Close()
			return b.Bytes()
		}(), nil, "not the pax global header"},
		{"future format", writeArchive(t, src, map[string]string{recFormat: "2"}, []member{root}), nil, "TURBO.data.format"},
		{"bad channel", writeArchive(t, src, map[string]string{recFormat: "1", recChannel: "Prod!"}, []member{root}), nil, "TURBO.data.channel"},
		{"not zstd", []byte("plain text, not an archive"), nil, "magic"},
		{"too big", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./big"}, body: big}}), nil, "larger than the data partition"},
		{"refused by check", writeArchive(t, src, nil, []member{root}), func(Source) error { return errors.New("direction") }, "direction"},
		{"cut short", func() []byte {
			a := writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./f"}, body: bytes.Repeat([]byte("abcdefgh"), 4096)}})
			return a[:len(a)/2]
		}(), nil, "EOF"},
		{"socket type", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./c", Typeflag: 'Z'}}}), nil, "not a file"},
		{"xattr namespace", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./f", PAXRecords: map[string]string{"SCHILY.xattr.os2.x": "1"}}}}), nil, "ext4 stores only"},
		{"hard link to a folder", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./d/", Typeflag: tar.TypeDir, Mode: 0o755}}, {h: tar.Header{Name: "./l", Typeflag: tar.TypeLink, Linkname: "./d"}}}), nil, "hard link to folder"},
		{"root not a folder", writeArchive(t, src, nil, []member{{h: tar.Header{Name: "."}}}), nil, "root must be a folder"},
		{"name too long", writeArchive(t, src, nil, []member{root, {h: tar.Header{Name: "./" + strings.Repeat("n", 256)}}}), nil, "longer than 255"},
		{"too many files", func() []byte {
			ms := []member{root}
			for i := 0; i < 3000; i++ {
				ms = append(ms, member{h: tar.Header{Name: fmt.Sprintf("./f%d", i)}})
			}
			return writeArchive(t, src, nil, ms)
		}(), nil, "inodes"},
	}
}

// TestExportRefusesUncleanJournal: a file system that needs journal
// recovery is refused with what to do.
func TestExportRefusesUncleanJournal(t *testing.T) {
	disk := newDisk(t, 8, "unclean")
	d, _ := diskimage.Open(disk, false)
	p, _ := d.Partition(slots.DataPartition)
	d.Close()
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	f.ReadAt(b, p.Start+1024+0x60)
	b[0] |= 0x4 // needs_recovery
	f.WriteAt(b, p.Start+1024+0x60)
	f.Close()
	out := filepath.Join(t.TempDir(), "x.tar.zst")
	_, _, err = ExportDisk(context.Background(), disk, out, "", nil)
	if err == nil || !strings.Contains(err.Error(), "needs_recovery") {
		t.Errorf("export: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("export left %s: %v", out, err)
	}
}

func TestSourceRecords(t *testing.T) {
	s := Source{Name: "hello", Version: "1.0.1", Channel: "prod", Build: "sha256:" + strings.Repeat("ab", 32), From: "live", Scrubbed: "/bin/hello -scrub"}
	got, err := sourceOf(s.records())
	if err != nil || got != s {
		t.Fatalf("sourceOf(records) = %+v, %v", got, err)
	}
	r := s.records()
	r["TURBO.data.extra"] = "1"
	if _, err := sourceOf(r); err == nil {
		t.Error("an unknown TURBO record was accepted")
	}
}

// FuzzArchive reads any bytes as a data archive, with ls's reader and
// with import's (into an 8 MiB file system in memory). It must never
// panic; what it accepts must make a file system e2fsck would... (checked
// by TestRoundTrip for the valid seeds).
func FuzzArchive(f *testing.F) {
	f.Add(writeArchive(f, Source{Name: "hello", Channel: "prod"}, nil, sampleMembers()))
	for _, c := range hostileArchives(f) {
		if len(c.arch) < 1<<20 {
			f.Add(c.arch)
		}
	}
	empty := ext4test.Empty(f, ext4img.Options{})
	f.Fuzz(func(t *testing.T, arch []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lim := Limits{Entries: 10000}
		_, _ = List(ctx, bytes.NewReader(arch), lim, func(*Entry) error { return nil })
		m := empty.Clone()
		b, err := ext4fs.NewBuilder(m, int64(len(m)))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Fill(ctx, bytes.NewReader(arch), b, FillOptions{Limits: lim}); err == nil {
			_ = b.Finish()
		}
	})
}

func TestCheckDirection(t *testing.T) {
	for _, c := range []struct {
		from, to string
		ok       bool
		note     bool
	}{
		{"prod", "qa", true, false},
		{"prod", "dev", true, false},
		{"qa", "qa", true, false},
		{"dev", "prod", false, false},
		{"at", "qa", false, false},
		{"canary", "dev", false, false},
		{"prod", "", true, true},
		{"", "prod", true, true},
	} {
		order, _ := ParseOrder(DefaultOrder)
		note, err := CheckDirection(order, c.from, c.to)
		if (err == nil) != c.ok || (note != "") != c.note {
			t.Errorf("%s -> %s: note %q, err %v", c.from, c.to, note, err)
		}
	}
	if _, err := ParseOrder("prod,,dev"); err == nil {
		t.Error("an empty channel in the order was accepted")
	}
	if o, err := ParseOrder("prod, staging,dev"); err != nil || len(o) != 3 {
		t.Errorf("ParseOrder = %v, %v", o, err)
	}
}

// TestInterrupted: an import or export cancelled half-way (ctrl-C) leaves
// the target disk byte-identical, no archive, and no temporary file.
func TestInterrupted(t *testing.T) {
	src := Source{Name: "hello", Channel: "prod"}
	arch := writeArchive(t, src, nil, sampleMembers())
	disk := newDisk(t, 16, "cut")
	if _, _, err := importBytes(t, arch, disk, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	before := sum(t, disk)
	ctx, cancel := context.WithCancel(context.Background())
	_, _, err := ImportDisk(ctx, bytes.NewReader(writeArchive(t, Source{}, nil, sampleMembers()[:3])), disk,
		ImportOptions{Progress: func(int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("import: %v, want context.Canceled", err)
	}
	if sum(t, disk) != before {
		t.Error("an interrupted import changed the disk")
	}
	out := filepath.Join(t.TempDir(), "x.tar.zst")
	ctx, cancel = context.WithCancel(context.Background())
	_, _, err = ExportDisk(ctx, disk, out, "", func(int64) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("export: %v, want context.Canceled", err)
	}
	if sum(t, disk) != before {
		t.Error("an interrupted export changed the disk")
	}
	for _, d := range []string{filepath.Dir(disk), filepath.Dir(out)} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if e.Name() != "disk.img" {
				t.Errorf("left behind: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

func TestLimitsEntries(t *testing.T) {
	arch := writeArchive(t, Source{}, nil, sampleMembers())
	n := 0
	if _, err := List(context.Background(), bytes.NewReader(arch), Limits{}, func(*Entry) error { n++; return nil }); err != nil || n != len(sampleMembers()) {
		t.Errorf("zero Limits: %d members, %v", n, err)
	}
	_, err := List(context.Background(), bytes.NewReader(arch), Limits{Entries: 3}, func(*Entry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "more than 3 members") {
		t.Errorf("Entries 3: %v", err)
	}
}

// failReader fails the test when read: a refusal must come first.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("the archive was read before the refusal")
	return 0, io.EOF
}

// TestImportDeviceNeedsInPlace: a device target (/dev/null, a character
// device every Linux has) is refused without InPlace before the archive
// is read; with InPlace the gate lets it through (it then fails as no
// disk). The in-place copy itself runs on a regular file opened as the
// "device" (no loop device needed): the data comes back whole.
func TestImportDeviceNeedsInPlace(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	_, _, err := ImportDisk(context.Background(), failReader{t}, "/dev/null", ImportOptions{})
	if !errors.Is(err, ErrNotAtomic) || !strings.Contains(err.Error(), "--in-place") {
		t.Errorf("device without InPlace: %v", err)
	}
	_, _, err = ImportDisk(context.Background(), failReader{t}, "/dev/null", ImportOptions{InPlace: true})
	if err == nil || errors.Is(err, ErrNotAtomic) {
		t.Errorf("device with InPlace: %v, want another error (/dev/null is no disk)", err)
	}

	disk := newDisk(t, 16, "inplace")
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := d.Partition(slots.DataPartition)
	id := identity(d, part)
	d.Close()
	size := part.Size &^ (ext4img.MiB - 1)
	arch := writeArchive(t, Source{Name: "hello"}, nil, sampleMembers())
	if _, _, err := importDevice(context.Background(), bytes.NewReader(arch), disk, part, size, id, ImportOptions{TempDir: t.TempDir(), Limits: DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	found := 0
	err = openData(t, disk).Walk(func(e *ext4fs.Entry) error {
		if e.Path == "db/app.db" && e.Inode.Size == 1<<20 || e.Path == "implicit/parent/file" {
			found++
		}
		return nil
	})
	if err != nil || found != 2 {
		t.Errorf("after the in-place import: %d of 2 members found, %v", found, err)
	}
}
