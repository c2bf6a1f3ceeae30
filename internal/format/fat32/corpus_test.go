package fat32

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/zeroruns"
)

var update = flag.Bool("update", false, "rewrite testdata/hostile from the generator")

// corpusDir holds the hostile volumes, zero-run encoded (package zeroruns),
// and INDEX.md, which says how each was made and what must happen.
const corpusDir = "testdata/hostile"

// hostile is one case of the corpus: a FAT32 volume made by editing a
// good one, and its expected outcome.
type hostile struct {
	name string
	how  string // how the volume was made from the good one
	// openErr, when set, is the error Open must give. Otherwise the volume
	// opens, and walking it (every directory listed, every file read)
	// must give readErr somewhere ("" for a clean walk).
	openErr string
	readErr string
	data    []byte
}

// hostileVolumes generates the corpus from tinyVolume. Every case must end
// with its error (or cleanly) and allocate little: the memory bound is
// checked by TestHostileVolumes.
func hostileVolumes(t testing.TB) []hostile {
	base := tinyVolume(t)
	v, err := Open(&memDev{b: append([]byte(nil), base...)}, int64(len(base)), false)
	if err != nil {
		t.Fatal(err)
	}
	// cluster returns the first cluster of the entry at p.
	cluster := func(p string) uint32 {
		d, i, err := v.lookup(p)
		if err != nil {
			t.Fatal(err)
		}
		return d.entries[i].cluster
	}
	// slotOf returns the byte offset in the volume of the 8.3 entry of p.
	slotOf := func(p string) int64 {
		d, i, err := v.lookup(p)
		if err != nil {
			t.Fatal(err)
		}
		s := int64(d.entries[i].slot) * dirEntrySize
		return v.clusterOffset(d.chain[s/v.clusterSize]) + s%v.clusterSize
	}
	fatEntry := func(c uint32) int64 { return v.fatOffset + 4*int64(c) }
	var out []hostile
	edit := func(name, how, openErr, readErr string, f func(b []byte) []byte) {
		b := f(append([]byte(nil), base...))
		out = append(out, hostile{name: name, how: how, openErr: openErr, readErr: readErr, data: b})
	}
	put16 := func(off int64, x uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint16(b[off:], x); return b }
	}
	put32 := func(off int64, x uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], x); return b }
	}
	put8 := func(off int64, x byte) func([]byte) []byte {
		return func(b []byte) []byte { b[off] = x; return b }
	}
	edit("good", "tinyVolume unchanged: 24 KiB, 512-byte clusters, an ESP's files", "", "", func(b []byte) []byte { return b })
	edit("no-signature", "boot sector bytes 510-511 (0x55 0xaa) zeroed", "no boot sector signature", "", put16(510, 0))
	edit("bytes-per-sector-0", "BPB_BytsPerSec (offset 11) = 0", "bad bytes per sector 0", "", put16(11, 0))
	edit("bytes-per-sector-700", "BPB_BytsPerSec = 700, not a power of two", "bad bytes per sector 700", "", put16(11, 700))
	edit("sectors-per-cluster-3", "BPB_SecPerClus (offset 13) = 3", "bad sectors per cluster 3", "", put8(13, 3))
	edit("cluster-128k", "BPB_BytsPerSec = 4096 and BPB_SecPerClus = 32: 128 KiB clusters",
		"larger than 64 KiB", "", func(b []byte) []byte { put16(11, 4096)(b); b[13] = 32; return b })
	edit("reserved-0", "BPB_RsvdSecCnt (offset 14) = 0", "bad reserved sectors (0)", "", put16(14, 0))
	edit("no-fats", "BPB_NumFATs (offset 16) = 0", "FAT count (0)", "", put8(16, 0))
	edit("three-fats", "BPB_NumFATs = 3", "FAT count (3)", "", put8(16, 3))
	edit("fat16-root-entries", "BPB_RootEntCnt (offset 17) = 512, as FAT16 has", "not FAT32", "", put16(17, 512))
	edit("fat-size-0", "BPB_FATSz32 (offset 36) = 0", "zero total sectors or FAT size", "", put32(36, 0))
	edit("fat-size-huge", "BPB_FATSz32 = 0x0fffffff: the FATs swallow the volume", "no room for data after the FATs", "", put32(36, 0x0fffffff))
	edit("total-sectors-huge", "BPB_TotSec32 (offset 32) = 0xffffffff", "does not fit its", "", put32(32, 0xffffffff))
	edit("truncated", "the volume cut to its first 4 KiB", "does not fit its", "", func(b []byte) []byte { return b[:4096] })
	edit("root-cluster-0", "BPB_RootClus (offset 44) = 0", "bad root directory cluster 0", "", put32(44, 0))
	edit("root-cluster-past-end", "BPB_RootClus = 0x00ffffff, past the last cluster", "bad root directory cluster", "", put32(44, 0x00ffffff))
	edit("active-fat-5", "BPB_ExtFlags (offset 40) = 0x85: mirroring off, active FAT 5 of 2", "active FAT 5 of 2", "", put16(40, 0x85))
	edit("fsinfo-lies", "FSInfo free count 0xfffffff0 and next free 0x0fffffff (hints only: ignored when wrong)",
		"", "", func(b []byte) []byte { put32(512+488, 0xfffffff0)(b); return put32(512+492, 0x0fffffff)(b) })
	linux := cluster("a/linux")
	edit("cyclic-chain", "the FAT entry of a/linux's second cluster points back at its first",
		"", "loops", put32(fatEntry(linux+1), linux))
	edit("chain-to-free", "the FAT entry of a/linux's first cluster points at a free cluster (0)",
		"", "bad link", put32(fatEntry(linux), 0))
	edit("chain-past-end", "the FAT entry of a/linux's first cluster points past the last cluster",
		"", "bad link", put32(fatEntry(linux), 0x0ffffff0))
	edit("short-chain", "a/linux's chain ends after its first cluster (700 bytes need 2)",
		"", "chain has 1", put32(fatEntry(linux), fatEOC))
	edit("size-4gib", "a/linux's directory entry says 4 GiB - 1 bytes; its chain holds 2 clusters (nothing that large may be allocated)",
		"", "chain has 2", put32(slotOf("a/linux")+28, 0xffffffff))
	edit("file-start-0", "a/linux's first cluster = 0 with a non-zero size", "", "bad start cluster 0",
		func(b []byte) []byte { put16(slotOf("a/linux")+20, 0)(b); return put16(slotOf("a/linux")+26, 0)(b) })
	loader := cluster("loader")
	edit("directory-self-loop", "the FAT entry of directory loader's only cluster points at itself",
		"", "loops", put32(fatEntry(loader), loader))
	edit("directory-is-root", "directory loader's entry names the root cluster: loader/loader/... never ends",
		"", "directory loop", func(b []byte) []byte {
			put16(slotOf("loader")+20, uint16(v.rootCluster>>16))(b)
			return put16(slotOf("loader")+26, uint16(v.rootCluster))(b)
		})
	edit("directory-is-parent", "directory loader/entries's entry names loader's cluster",
		"", "directory loop", func(b []byte) []byte {
			put16(slotOf("loader/entries")+20, uint16(loader>>16))(b)
			return put16(slotOf("loader/entries")+26, uint16(loader))(b)
		})
	edit("file-is-directory", "a/linux's attribute byte set to directory: its data parsed as entries",
		"", "bad start cluster", put8(slotOf("a/linux")+11, attrDir))
	edit("cross-linked", "b/empty's entry points at a/linux's chain with size 700 (two files share clusters; read as is)",
		"", "", func(b []byte) []byte {
			s := slotOf("b/empty")
			put16(s+20, uint16(linux>>16))(b)
			put16(s+26, uint16(linux))(b)
			return put32(s+28, 700)(b)
		})
	edit("lfn-garbage", "every long-name entry of the root has its checksum flipped: short names are used",
		"", "", func(b []byte) []byte {
			root := v.clusterOffset(v.rootCluster)
			for o := root; o < root+v.clusterSize; o += dirEntrySize {
				if b[o+11]&attrLFNMask == attrLFN {
					b[o+13] ^= 0xff
				}
			}
			return b
		})
	edit("control-names", "a/linux's 8.3 name holds 0x01 and 0x7f bytes", "", "",
		func(b []byte) []byte { s := slotOf("a/linux"); b[s] = 0x01; b[s+1] = 0x7f; return b })
	return out
}

// maxCaseAlloc bounds what one case may allocate: a few times the volume,
// never what a lying field asks for.
const maxCaseAlloc = 16 << 20

// runHostile opens and walks a volume, returning the open error or every
// error met while walking.
func runHostile(data []byte) (openErr error, readErrs []string) {
	v, err := Open(&memDev{b: append([]byte(nil), data...)}, int64(len(data)), false)
	if err != nil {
		return err, nil
	}
	n := 0
	fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
		if n++; n > 10000 {
			readErrs = append(readErrs, "walk did not end")
			return fs.SkipAll
		}
		if err != nil {
			readErrs = append(readErrs, err.Error())
			return nil
		}
		if !d.IsDir() {
			if _, err := fs.ReadFile(v, p); err != nil {
				readErrs = append(readErrs, err.Error())
			}
		}
		return nil
	})
	return nil, readErrs
}

// TestHostileVolumes runs the corpus in testdata/hostile: each volume in
// the repository must be what the generator makes (run with -update after
// changing it) and must end as INDEX.md says, within maxCaseAlloc.
func TestHostileVolumes(t *testing.T) {
	cases := hostileVolumes(t)
	if *update {
		writeCorpus(t, cases)
	}
	known := map[string]bool{}
	for _, c := range cases {
		known[c.name+".zimg"] = true
		t.Run(c.name, func(t *testing.T) {
			enc, err := os.ReadFile(filepath.Join(corpusDir, c.name+".zimg"))
			if err != nil {
				t.Fatalf("%v (run go test -run TestHostileVolumes -update)", err)
			}
			data := zeroruns.Decode(enc, 64<<20)
			if !bytes.Equal(data, c.data) {
				t.Fatalf("%s/%s.zimg is not what the generator makes (run with -update)", corpusDir, c.name)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			openErr, readErrs := runHostile(data)
			runtime.ReadMemStats(&after)
			if a := after.TotalAlloc - before.TotalAlloc; a > maxCaseAlloc {
				t.Errorf("allocated %d bytes, more than %d", a, maxCaseAlloc)
			}
			switch {
			case c.openErr != "":
				if openErr == nil || !strings.Contains(openErr.Error(), c.openErr) {
					t.Errorf("Open: %v, want an error saying %q", openErr, c.openErr)
				}
			case openErr != nil:
				t.Errorf("Open: %v, want the volume to open", openErr)
			case c.readErr == "":
				if len(readErrs) > 0 {
					t.Errorf("walk: %q, want no error", readErrs)
				}
			default:
				found := false
				for _, e := range readErrs {
					found = found || strings.Contains(e, c.readErr)
				}
				if !found {
					t.Errorf("walk: %q, want an error saying %q", readErrs, c.readErr)
				}
			}
		})
	}
	// A volume added to the directory by hand (a new finding) must at least
	// end without a panic, a hang or a huge allocation.
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.zimg"))
	for _, f := range files {
		if known[filepath.Base(f)] {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			enc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			runHostile(zeroruns.Decode(enc, 64<<20))
		})
	}
}

// writeCorpus writes the cases and INDEX.md.
func writeCorpus(t *testing.T, cases []hostile) {
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var idx strings.Builder
	idx.WriteString("# Hostile FAT32 volumes\n\nGenerated by `go test ./internal/format/fat32 -run TestHostileVolumes -update`\n" +
		"(hostileVolumes in corpus_test.go) from a good 24 KiB volume. Files are zero-run\n" +
		"encoded (package zeroruns). TestHostileVolumes checks every outcome\n" +
		"and that no case allocates more than 16 MiB; FuzzOpen starts from them.\n\n" +
		"| case | how it was made | expected |\n|---|---|---|\n")
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(corpusDir, c.name+".zimg"), zeroruns.Encode(c.data), 0o644); err != nil {
			t.Fatal(err)
		}
		want := "opens and reads cleanly"
		switch {
		case c.openErr != "":
			want = fmt.Sprintf("Open fails: %q", c.openErr)
		case c.readErr != "":
			want = fmt.Sprintf("opens; reading fails: %q", c.readErr)
		}
		fmt.Fprintf(&idx, "| %s | %s | %s |\n", c.name, c.how, want)
	}
	if err := os.WriteFile(filepath.Join(corpusDir, "INDEX.md"), []byte(idx.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
