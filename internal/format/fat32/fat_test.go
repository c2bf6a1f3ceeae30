package fat32

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	diskfsfat32 "github.com/diskfs/go-diskfs/filesystem/fat32"
)

func names(t *testing.T, v *FS, dir string) []string {
	t.Helper()
	ents, err := v.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%q): %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out
}

func mustRead(t *testing.T, v *FS, p string) []byte {
	t.Helper()
	b, err := v.ReadFile(p)
	if err != nil {
		t.Fatalf("ReadFile(%q): %v", p, err)
	}
	return b
}

func writeAll(t *testing.T, v *FS, files []File) {
	t.Helper()
	for _, f := range files {
		if err := v.WriteFile(f.Path, f.Data); err != nil {
			t.Fatalf("WriteFile(%q): %v", f.Path, err)
		}
	}
}

func TestFATRoundTrip(t *testing.T) {
	dev, v := newTestFAT(t, 2<<20)
	files := sampleESP()
	writeAll(t, v, files)
	// Reopen from the bytes to make sure nothing lives only in memory.
	r, err := Open(dev, int64(len(dev.b)), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, r, "."), []string{"EFI/", "a/", "b/", "loader/"}; !reflect.DeepEqual(got, want) {
		t.Errorf("root = %v, want %v", got, want)
	}
	if got, want := names(t, r, "loader/entries"), []string{"turbo-1-a.conf", "turbo-2-b+3.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries = %v, want %v", got, want)
	}
	for _, f := range files {
		if got := mustRead(t, r, f.Path); !bytes.Equal(got, f.Data) {
			t.Errorf("%s: got %d bytes, want %d", f.Path, len(got), len(f.Data))
		}
		fi, err := r.Stat(f.Path)
		if err != nil || fi.Size() != int64(len(f.Data)) || fi.IsDir() || fi.Name() != filepath.Base(f.Path) {
			t.Errorf("Stat(%s) = %v, %v", f.Path, fi, err)
		}
	}
	if got := mustRead(t, r, "LOADER/Loader.CONF"); string(got) != "timeout 0\ndefault turbo-*\n" {
		t.Errorf("case-insensitive lookup read %q", got)
	}
	if fi, err := r.Stat("EFI/BOOT"); err != nil || !fi.IsDir() || fi.Mode()&fs.ModeDir == 0 {
		t.Errorf("Stat(EFI/BOOT) = %v, %v", fi, err)
	}
	if _, err := r.ReadFile("a/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := r.ReadFile("../x"); err == nil {
		t.Error("path with .. accepted")
	}
	if _, err := r.ReadFile("a"); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
	if err := r.WriteFile("x", nil); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("WriteFile on read-only volume: %v", err)
	}
	// Empty files own no cluster (fsck.fat insists).
	d, i, err := r.lookup("b/empty")
	if err != nil || d.entries[i].cluster != 0 || d.entries[i].size != 0 {
		t.Errorf("b/empty: cluster %d size %d err %v", d.entries[i].cluster, d.entries[i].size, err)
	}
}

func TestFATFreeSpaceAccounting(t *testing.T) {
	dev, v := newTestFAT(t, 1<<20)
	free0 := v.free
	if err := v.WriteFile("k/linux", patterned(10000, 3)); err != nil {
		t.Fatal(err)
	}
	// 20 data clusters + 1 for the directory k.
	if got := free0 - v.free; got != 21 {
		t.Errorf("used %d clusters, want 21", got)
	}
	if err := v.WriteFile("k/linux", []byte("small")); err != nil {
		t.Fatal(err)
	}
	if got := free0 - v.free; got != 2 {
		t.Errorf("after replace used %d clusters, want 2", got)
	}
	if err := v.Remove("k/linux"); err != nil {
		t.Fatal(err)
	}
	if err := v.Remove("k"); err != nil {
		t.Fatal(err)
	}
	if v.free != free0 {
		t.Errorf("free = %d after removing everything, want %d", v.free, free0)
	}
	r, err := Open(dev, int64(len(dev.b)), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.free != free0 {
		t.Errorf("free on disk = %d, want %d", r.free, free0)
	}
	if got := binary.LittleEndian.Uint32(dev.b[512+488:]); got != free0 {
		t.Errorf("FSInfo free count = %d, want %d", got, free0)
	}
	if got := names(t, r, "."); len(got) != 0 {
		t.Errorf("root not empty: %v", got)
	}
}

func TestFATRemove(t *testing.T) {
	_, v := newTestFAT(t, 1<<20)
	writeAll(t, v, sampleESP())
	if err := v.Remove("loader"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("removing non-empty dir: %v", err)
	}
	if err := v.Remove("loader/entries/turbo-1-a.conf"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ReadFile("loader/entries/turbo-1-a.conf"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file still readable: %v", err)
	}
	if got, want := names(t, v, "loader/entries"), []string{"turbo-2-b+3.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries = %v, want %v", got, want)
	}
	if err := v.Remove("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removing missing file: %v", err)
	}
	// The freed slots are reused.
	if err := v.WriteFile("loader/entries/turbo-3-a.conf", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, v, "loader/entries/turbo-3-a.conf")); got != "x" {
		t.Errorf("read %q", got)
	}
}

func TestFATRenameIsOneSectorWrite(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
	}{
		{"same slot count (boot counting)", "turbo-2-b+3.conf", "turbo-2-b+2-1.conf"},
		{"boot counting down to done", "turbo-2-b+1-2.conf", "turbo-2-b.conf"},
		{"fewer slots", "turbo-2-b+3.conf", "x.conf"},
		{"to an 8.3 name", "turbo-2-b+3.conf", "ENTRY.CON"},
		{"case only", "turbo-2-b+3.conf", "TURBO-2-B+3.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, v := newTestFAT(t, 1<<20)
			writeAll(t, v, []File{
				{Path: "loader/entries/other.conf", Data: []byte("o")},
				{Path: "loader/entries/" + tt.old, Data: []byte("entry")},
			})
			dev.record, dev.writes = true, nil
			if err := v.Rename("loader/entries/"+tt.old, "loader/entries/"+tt.new); err != nil {
				t.Fatal(err)
			}
			if len(dev.writes) != 1 || dev.writes[0][1] != 512 || dev.writes[0][0]%512 != 0 {
				t.Errorf("rename did writes %v, want one aligned 512-byte write", dev.writes)
			}
			r, err := Open(dev, int64(len(dev.b)), false)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"other.conf", tt.new}
			sort.Strings(want)
			if got := names(t, r, "loader/entries"); !reflect.DeepEqual(got, want) {
				t.Errorf("entries = %v, want %v", got, want)
			}
			if got := string(mustRead(t, r, "loader/entries/"+tt.new)); got != "entry" {
				t.Errorf("renamed file reads %q", got)
			}
		})
	}
}

func TestFATRenameGrowing(t *testing.T) {
	long := strings.Repeat("l", 37) + ".conf" // 3 LFN entries + 8.3
	longer := strings.Repeat("m", 60) + ".conf"
	t.Run("deleted slots in front are reused in place", func(t *testing.T) {
		dev, v := newTestFAT(t, 1<<20)
		writeAll(t, v, []File{{Path: long, Data: []byte("1")}, {Path: "b.conf", Data: []byte("2")}})
		if err := v.Remove(long); err != nil {
			t.Fatal(err)
		}
		dev.record, dev.writes = true, nil
		name40 := strings.Repeat("n", 40) // 4 LFN entries + 8.3 = 5 slots
		if err := v.Rename("b.conf", name40); err != nil {
			t.Fatal(err)
		}
		if len(dev.writes) != 1 {
			t.Errorf("writes %v, want one", dev.writes)
		}
		if got := string(mustRead(t, v, name40)); got != "2" {
			t.Errorf("read %q", got)
		}
	})
	t.Run("moved when there is no room", func(t *testing.T) {
		dev, v := newTestFAT(t, 1<<20)
		writeAll(t, v, []File{{Path: "a.conf", Data: []byte("1")}, {Path: "b.conf", Data: []byte("2")}})
		if err := v.Rename("b.conf", longer); err != nil {
			t.Fatal(err)
		}
		r, _ := Open(dev, int64(len(dev.b)), false)
		if got, want := names(t, r, "."), []string{"a.conf", longer}; !reflect.DeepEqual(got, want) {
			t.Errorf("root = %v, want %v", got, want)
		}
		if got := string(mustRead(t, r, longer)); got != "2" {
			t.Errorf("read %q", got)
		}
	})
}

func TestFATRenameErrors(t *testing.T) {
	_, v := newTestFAT(t, 1<<20)
	writeAll(t, v, sampleESP())
	if err := v.Rename("a/linux", "a/initrd"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("rename onto existing file: %v", err)
	}
	if err := v.Rename("a/linux", "b/linux"); err == nil || !strings.Contains(err.Error(), "within one directory") {
		t.Errorf("rename across directories: %v", err)
	}
	if err := v.Rename("a/nope", "a/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rename of missing file: %v", err)
	}
	if err := v.Rename("a/linux", "a/bad:name"); err == nil {
		t.Error("rename to invalid name succeeded")
	}
	if err := v.Rename("a", "c"); err != nil {
		t.Errorf("renaming a directory: %v", err)
	}
	if got := mustRead(t, v, "c/linux"); !bytes.Equal(got, patterned(3000, 1)) {
		t.Error("file in renamed directory changed")
	}
}

func TestFATNames(t *testing.T) {
	dev, v := newTestFAT(t, 1<<20)
	long := strings.Repeat("x", 120) + ".efi"
	files := []File{
		{Path: "README.TXT", Data: []byte("exact 8.3")},
		{Path: "readme2.txt", Data: []byte("lower case")},
		{Path: "café.conf", Data: []byte("unicode")},
		{Path: long, Data: []byte("long")},
		{Path: "turbo-entry-1.conf", Data: []byte("1")},
		{Path: "turbo-entry-2.conf", Data: []byte("2")},
		{Path: "with space.conf", Data: []byte("sp")},
	}
	writeAll(t, v, files)
	r, _ := Open(dev, int64(len(dev.b)), false)
	for _, f := range files {
		if got := mustRead(t, r, f.Path); !bytes.Equal(got, f.Data) {
			t.Errorf("%s read %q", f.Path, got)
		}
	}
	d, err := r.readDir(r.rootCluster)
	if err != nil {
		t.Fatal(err)
	}
	shorts := map[string]string{}
	for _, e := range d.entries {
		shorts[e.name] = string(e.short[:])
		if e.name == "README.TXT" && e.first != e.slot {
			t.Error("exact 8.3 name got long-name entries")
		}
	}
	if shorts["turbo-entry-1.conf"] == shorts["turbo-entry-2.conf"] {
		t.Errorf("aliases collide: %q", shorts["turbo-entry-1.conf"])
	}
	if got := shorts["turbo-entry-2.conf"]; got != "TURBO-~2CON" {
		t.Errorf("alias of turbo-entry-2.conf = %q", got)
	}
	if got := shorts["readme2.txt"]; got != "README2 TXT" {
		t.Errorf("alias of readme2.txt = %q", got)
	}
	for _, bad := range []string{"a:b", "trailing.", "tab\there", strings.Repeat("y", 256), "q?"} {
		if err := v.WriteFile(bad, nil); err == nil {
			t.Errorf("WriteFile(%q) accepted", bad)
		}
	}
}

func TestFATDirectoryGrowth(t *testing.T) {
	dev, v := newTestFAT(t, 1<<20)
	var files []File
	for i := 0; i < 150; i++ {
		files = append(files, File{Path: "many/" + strings.Repeat("f", i%30+1) + "-" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".conf", Data: []byte{byte(i)}})
	}
	writeAll(t, v, files)
	r, _ := Open(dev, int64(len(dev.b)), false)
	if got := len(names(t, r, "many")); got != 150 {
		t.Errorf("%d entries, want 150", got)
	}
	for _, f := range files {
		if got := mustRead(t, r, f.Path); !bytes.Equal(got, f.Data) {
			t.Errorf("%s read %v", f.Path, got)
		}
	}
	d, _, err := r.lookup("many/" + files[0].Path[5:])
	if err != nil {
		t.Fatal(err)
	}
	if len(d.chain) < 2 {
		t.Errorf("directory has %d clusters, expected growth", len(d.chain))
	}
	// No entry set straddles a sector.
	for _, e := range d.entries {
		if e.first*32/512 != e.slot*32/512 {
			t.Errorf("entry %s spans slots %d..%d across a sector", e.name, e.first, e.slot)
		}
	}
}

func TestFATFull(t *testing.T) {
	dev, v := newTestFAT(t, 256<<10)
	before := append([]byte(nil), dev.b...)
	err := v.WriteFile("big", make([]byte, 300<<10))
	if err == nil || !strings.Contains(err.Error(), "ESP full") {
		t.Fatalf("err = %v, want ESP full", err)
	}
	if !bytes.Equal(before, dev.b) {
		t.Error("a failed write changed the volume")
	}
	if _, err := v.Stat("big"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("big exists after failed write: %v", err)
	}
}

func TestFATFullDirectoryFreesData(t *testing.T) {
	dev, v := newTestFAT(t, 256<<10)
	// Fill d's first cluster: ".", ".." and 14 one-slot (exact 8.3) names.
	for i := 1; i <= 14; i++ {
		if err := v.WriteFile(fmt.Sprintf("d/F%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	free := v.free
	// The data takes every free cluster, leaving none to grow d.
	err := v.WriteFile("d/F15", make([]byte, int64(free)*v.clusterSize))
	if err == nil || !strings.Contains(err.Error(), "ESP full") {
		t.Fatalf("err = %v, want ESP full", err)
	}
	if v.free != free {
		t.Errorf("free = %d after failure, want %d", v.free, free)
	}
	r, _ := Open(dev, int64(len(dev.b)), false)
	if r.free != free {
		t.Errorf("free on disk = %d, want %d", r.free, free)
	}
	if _, err := r.Stat("d/F15"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("d/F15: %v", err)
	}
}

func TestFATRejectsCorruption(t *testing.T) {
	base, v := newTestFAT(t, 512<<10)
	writeAll(t, v, []File{{Path: "f", Data: patterned(2000, 9)}, {Path: "d/x", Data: []byte("x")}})
	bpb := []struct {
		name string
		off  int
		val  []byte
	}{
		{"no signature", 510, []byte{0, 0}},
		{"bytes per sector 0", 11, []byte{0, 0}},
		{"bytes per sector 700", 11, []byte{0xbc, 0x02}},
		{"sectors per cluster 3", 13, []byte{3}},
		{"no FATs", 16, []byte{0}},
		{"FAT16 root entries", 17, []byte{0, 2}},
		{"zero FAT size", 36, []byte{0, 0, 0, 0}},
		{"huge FAT size", 36, []byte{0xff, 0xff, 0xff, 0x0f}},
		{"too many sectors", 32, []byte{0xff, 0xff, 0xff, 0xff}},
		{"root cluster 0", 44, []byte{0, 0, 0, 0}},
		{"root cluster out of range", 44, []byte{0xff, 0xff, 0xff, 0x00}},
		{"active FAT 5", 40, []byte{0x85, 0}},
	}
	for _, tt := range bpb {
		t.Run(tt.name, func(t *testing.T) {
			dev := &memDev{b: append([]byte(nil), base.b...)}
			copy(dev.b[tt.off:], tt.val)
			if _, err := Open(dev, int64(len(dev.b)), false); err == nil {
				t.Error("corrupt boot sector accepted")
			}
		})
	}
	// fatAt is FAT #0's entry for cluster c (openFAT reads FAT #0).
	fatAt := func(dev *memDev, c uint32) []byte { return dev.b[v.fatOffset+4*int64(c):] }
	t.Run("cyclic chain", func(t *testing.T) {
		dev := &memDev{b: append([]byte(nil), base.b...)}
		r, _ := Open(dev, int64(len(dev.b)), true)
		_, i, _ := r.lookup("f")
		d, _ := r.readDir(r.rootCluster)
		c := d.entries[i].cluster
		binary.LittleEndian.PutUint32(fatAt(dev, c+1), c) // second cluster links back
		r, err := Open(dev, int64(len(dev.b)), true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadFile("f"); err == nil || !strings.Contains(err.Error(), "loops") {
			t.Errorf("ReadFile on cyclic chain: %v", err)
		}
		if err := r.Remove("f"); err == nil {
			t.Error("Remove on cyclic chain succeeded")
		}
	})
	t.Run("chain shorter than size", func(t *testing.T) {
		dev := &memDev{b: append([]byte(nil), base.b...)}
		r, _ := Open(dev, int64(len(dev.b)), false)
		d, _ := r.readDir(r.rootCluster)
		e := d.entries[d.find("f")]
		binary.LittleEndian.PutUint32(fatAt(dev, e.cluster), fatEOC)
		r, _ = Open(dev, int64(len(dev.b)), false)
		if _, err := r.ReadFile("f"); err == nil {
			t.Error("short chain accepted")
		}
	})
	t.Run("directory loop", func(t *testing.T) {
		dev := &memDev{b: append([]byte(nil), base.b...)}
		r, _ := Open(dev, int64(len(dev.b)), false)
		d, _ := r.readDir(r.rootCluster)
		e := d.entries[d.find("d")]
		// d's only cluster links to itself.
		binary.LittleEndian.PutUint32(fatAt(dev, e.cluster), e.cluster)
		r, _ = Open(dev, int64(len(dev.b)), false)
		if _, err := r.ReadDir("d"); err == nil {
			t.Error("looping directory accepted")
		}
	})
}

// TestGoDiskfsReadsOurFAT cross-checks the writer with an independent
// reader: go-diskfs's fat32 package.
func TestGoDiskfsReadsOurFAT(t *testing.T) {
	const size = 64 << 20 // a real ESP geometry, sparse on disk
	f, err := os.Create(filepath.Join(t.TempDir(), "esp.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := Build(f, size, 0x1234abcd, 2048, sampleESP()); err != nil {
		t.Fatal(err)
	}
	gfs, err := diskfsfat32.Read(file.New(f, true), size, 0, 512)
	if err != nil {
		t.Fatal(err)
	}
	for _, fl := range sampleESP() {
		if len(fl.Data) == 0 {
			// go-diskfs cannot open empty files that own no cluster,
			// although that is what the FAT specification and fsck.fat
			// require.
			continue
		}
		// go-diskfs's File.Read over-reads when called at offsets that are
		// not cluster aligned (as io.ReadAll does), so read in one call.
		gf, err := gfs.OpenFile(fl.Path, os.O_RDONLY)
		if err != nil {
			t.Errorf("go-diskfs OpenFile(%s): %v", fl.Path, err)
			continue
		}
		got := make([]byte, len(fl.Data)+10)
		n, _ := gf.Read(got)
		got = got[:n]
		if !bytes.Equal(got, fl.Data) {
			t.Errorf("go-diskfs read %d bytes of %s, want %d", len(got), fl.Path, len(fl.Data))
		}
	}
	ents, err := gfs.ReadDir("loader/entries")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if want := []string{"turbo-1-a.conf", "turbo-2-b+3.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("go-diskfs lists %v, want %v", got, want)
	}
	if lbl := gfs.Label(); strings.TrimSpace(lbl) != "TURBO-ESP" {
		t.Errorf("label = %q", lbl)
	}
}
