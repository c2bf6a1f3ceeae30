package fat32

import (
	"io/fs"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/zeroruns"
)

// Fuzz inputs and corpus files are zero-run encoded (package zeroruns).

// walk reads everything reachable in the volume through io/fs, bounded in
// count (a corrupt tree can contain loops; the depth bound is the 4 KiB
// path limit of fs.WalkDir's recursion on a finite volume, plus budget).
func walk(v *FS, budget int) {
	fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
		if budget--; budget < 0 || len(p) > 512 {
			return fs.SkipAll
		}
		if err != nil {
			return nil
		}
		v.Stat(p)
		if !d.IsDir() {
			fs.ReadFile(v, p)
		}
		return nil
	})
}

// FuzzOpen opens the decoded input as a FAT32 volume, reads everything, then
// writes, renames and removes files and reads again. Nothing may panic or
// hang, and a volume that opened must still open after the edits.
func FuzzOpen(f *testing.F) {
	vol := tinyVolume(f)
	f.Add(zeroruns.Encode(vol))
	edited := &memDev{b: append([]byte(nil), vol...)}
	if v, err := Open(edited, int64(len(vol)), true); err == nil {
		v.Rename("loader/entries/turbo-2-b+3.conf", "loader/entries/turbo-2-b+2-1.conf")
		v.Remove("a/linux")
		v.WriteFile("many/x-long-file-name-here.conf", []byte("x"))
	}
	f.Add(zeroruns.Encode(edited.b))
	f.Add(zeroruns.Encode(vol[:4096]))
	for _, c := range hostileVolumes(f) {
		f.Add(zeroruns.Encode(c.data))
	}
	f.Fuzz(func(t *testing.T, enc []byte) {
		data := zeroruns.Decode(enc, 4<<20)
		dev := &memDev{b: append([]byte(nil), data...)}
		v, err := Open(dev, int64(len(data)), true)
		if err != nil {
			return
		}
		walk(v, 200)
		v.WriteFile("loader/entries/new-entry+3.conf", []byte("title new\n"))
		v.WriteFile("a/linux", make([]byte, 3000))
		if ents, err := v.ReadDir("loader/entries"); err == nil && len(ents) > 0 {
			old := "loader/entries/" + ents[0].Name()
			v.Rename(old, "loader/entries/renamed+1-2.conf")
			v.Remove("loader/entries/renamed+1-2.conf")
		}
		v.Remove("a")
		v.Sync()
		v2, err := Open(dev, int64(len(data)), false)
		if err != nil {
			t.Fatalf("volume no longer opens after edits: %v", err)
		}
		walk(v2, 200)
	})
}

func TestZeroEncodingRoundTrip(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {1, 0, 0, 2}, make([]byte, 70000), append(make([]byte, 300), 9)} {
		if got := string(zeroruns.Decode(zeroruns.Encode(b), 1<<20)); got != string(b) {
			t.Errorf("round trip of %d bytes gave %d", len(b), len(got))
		}
	}
}
