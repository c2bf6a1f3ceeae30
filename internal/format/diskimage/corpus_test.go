package diskimage

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/zeroruns"
)

var update = flag.Bool("update", false, "rewrite testdata/hostile from the generator")

// corpusDir holds the hostile disk images, zero-run encoded (package
// zeroruns), and INDEX.md, which says how each was made and what must
// happen.
const corpusDir = "testdata/hostile"

// hostileDisk is one case of the corpus and its expected outcome.
type hostileDisk struct {
	name string
	how  string
	// openErr, when set, is the error Open must give; else espErr is the
	// error Disk.ESP must give; else the ESP's boot files must read.
	openErr, espErr string
	data            []byte
}

// hostileDisks generates the corpus: edits of the 59 KiB disk of
// smallDiskPlan (GPT, 24 KiB FAT32 ESP, one slot), or disks written from
// an edited plan. Hostile FAT volumes inside the ESP are package fat32's
// corpus.
func hostileDisks(t testing.TB) []hostileDisk {
	good := smallDiskBytes(t)
	var out []hostileDisk
	add := func(name, how, openErr, espErr string, b []byte) {
		out = append(out, hostileDisk{name: name, how: how, openErr: openErr, espErr: espErr, data: b})
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	planned := func(f func(p *Plan)) []byte {
		p := smallDiskPlan()
		f(&p)
		path := filepath.Join(t.TempDir(), "disk.img")
		writePlanned(t, path, p, tinyESP())
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// regpt rewrites the good disk's GPT (both copies) from an edited plan,
	// leaving the partitions' content.
	regpt := func(f func(p *Plan)) []byte {
		p := smallDiskPlan()
		f(&p)
		path := filepath.Join(t.TempDir(), "disk.img")
		if err := os.WriteFile(path, good, 0o644); err != nil {
			t.Fatal(err)
		}
		fl, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		if err := writeGPT(fl, p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	add("good", "smallDiskPlan with tinyESP: GPT, 24 KiB FAT32 ESP, slot a", "", "", good)
	add("gpt-entry-size-0", "primary GPT header: entry size 0 (CRC fixed); go-diskfs would loop forever",
		"GPT entry size 0", "", withGPTField(good, 84, 0))
	add("gpt-entry-count-huge", "primary GPT header: 2^32-1 entries (CRC fixed); go-diskfs would allocate them",
		"GPT entry count 4294967295 out of range", "", withGPTField(good, 80, 0xffffffff))
	add("gpt-entry-size-4096", "primary GPT header: entry size 4096 (CRC fixed)",
		"GPT entry size 4096", "", withGPTField(good, 84, 4096))
	add("primary-crc-broken", "primary GPT header byte 24 flipped: its CRC fails, the backup is used",
		"", "", edit(func(b []byte) []byte { b[512+24] ^= 0xff; return b }))
	add("both-headers-broken", "primary and backup GPT headers' byte 24 flipped",
		"no GPT found", "", edit(func(b []byte) []byte { b[512+24] ^= 0xff; b[len(b)-512+24] ^= 0xff; return b }))
	add("all-zero", "59 KiB of zeros", "no GPT found", "", make([]byte, len(good)))
	add("too-small", "the first 1 KiB of the disk", "too small for a GPT", "", good[:1024])
	add("truncated", "the disk cut to 40 KiB: the backup GPT and the slot are gone", "do not fit the 80-sector disk", "", good[:40<<10])
	add("no-protective-mbr", "sector 0 (protective MBR) zeroed", "", "", edit(func(b []byte) []byte { clear(b[:512]); return b }))
	add("partition-past-end", "slot a's partition ends 100 sectors past the end of the disk",
		"do not fit", "", planned(func(p *Plan) { p.Partitions[1].Size = 102 * SectorSize }))
	add("partitions-overlap", "slot a starts inside the ESP",
		"overlap", "", planned(func(p *Plan) { p.Partitions[1].Start = 80 * SectorSize }))
	add("no-esp", "the ESP's type GUID is a Linux root type", "", "no EFI System Partition",
		planned(func(p *Plan) { p.Partitions[0].TypeGUID = TypeRootAMD64 }))
	add("two-esps-unnamed", "both partitions have the ESP type and neither is named turbo-esp", "",
		"2 EFI System Partitions and none named", planned(func(p *Plan) {
			p.Partitions[0].Name, p.Partitions[1].Name, p.Partitions[1].TypeGUID = "x", "y", TypeESP
		}))
	add("esp-not-fat", "the ESP's first sector overwritten with 0xff bytes", "", "no boot sector signature",
		edit(func(b []byte) []byte {
			esp := smallDiskPlan().Partitions[0].Start
			copy(b[esp:esp+512], bytes.Repeat([]byte{0xff}, 512))
			return b
		}))
	add("esp-shrunk", "the good disk's GPT rewritten with an ESP of 8 sectors: the FAT32 inside claims 48", "", "does not fit its",
		regpt(func(p *Plan) { p.Partitions[0].Size = 8 * SectorSize }))
	return out
}

// maxDiskAlloc bounds what one case may allocate.
const maxDiskAlloc = 32 << 20

// runDisk opens a disk image and reads its ESP's boot files.
func runDisk(t *testing.T, data []byte) (openErr, espErr error) {
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(p, false)
	if err != nil {
		return err, nil
	}
	defer d.Close()
	esp, err := d.ESP()
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"loader/loader.conf", "a/linux"} {
		if _, err := esp.ReadFile(f); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// TestHostileDisks runs the corpus in testdata/hostile: each image in the
// repository must be what the generator makes (run with -update after
// changing it) and end as INDEX.md says, within maxDiskAlloc.
func TestHostileDisks(t *testing.T) {
	cases := hostileDisks(t)
	if *update {
		writeDiskCorpus(t, cases)
	}
	known := map[string]bool{}
	for _, c := range cases {
		known[c.name+".zimg"] = true
		t.Run(c.name, func(t *testing.T) {
			enc, err := os.ReadFile(filepath.Join(corpusDir, c.name+".zimg"))
			if err != nil {
				t.Fatalf("%v (run go test -run TestHostileDisks -update)", err)
			}
			data := zeroruns.Decode(enc, 64<<20)
			if !bytes.Equal(data, c.data) {
				t.Fatalf("%s/%s.zimg is not what the generator makes (run with -update)", corpusDir, c.name)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			openErr, espErr := runDisk(t, data)
			runtime.ReadMemStats(&after)
			if a := after.TotalAlloc - before.TotalAlloc; a > maxDiskAlloc {
				t.Errorf("allocated %d bytes, more than %d", a, maxDiskAlloc)
			}
			check := func(what string, got error, want string) {
				switch {
				case want == "" && got != nil:
					t.Errorf("%s: %v, want no error", what, got)
				case want != "" && (got == nil || !strings.Contains(got.Error(), want)):
					t.Errorf("%s: %v, want an error saying %q", what, got, want)
				}
			}
			check("Open", openErr, c.openErr)
			if c.openErr == "" {
				check("ESP", espErr, c.espErr)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.zimg"))
	for _, f := range files {
		if known[filepath.Base(f)] {
			continue
		}
		// An image added by hand (a new finding) must at least end without
		// a panic, a hang or a huge allocation.
		t.Run(filepath.Base(f), func(t *testing.T) {
			enc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			runDisk(t, zeroruns.Decode(enc, 64<<20))
		})
	}
}

func writeDiskCorpus(t *testing.T, cases []hostileDisk) {
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var idx strings.Builder
	idx.WriteString("# Hostile disk images (GPT)\n\nGenerated by `go test ./internal/format/diskimage -run TestHostileDisks -update`\n" +
		"(hostileDisks in corpus_test.go) from a good 59 KiB disk. Files are zero-run encoded\n" +
		"(package zeroruns). TestHostileDisks checks every outcome and that no case\n" +
		"allocates more than 32 MiB; FuzzOpen starts from them. Hostile FAT32 volumes are in\n" +
		"internal/format/fat32/testdata/hostile.\n\n" +
		"| case | how it was made | expected |\n|---|---|---|\n")
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(corpusDir, c.name+".zimg"), zeroruns.Encode(c.data), 0o644); err != nil {
			t.Fatal(err)
		}
		want := "opens; the ESP's files read"
		switch {
		case c.openErr != "":
			want = fmt.Sprintf("Open fails: %q", c.openErr)
		case c.espErr != "":
			want = fmt.Sprintf("opens; the ESP fails: %q", c.espErr)
		}
		fmt.Fprintf(&idx, "| %s | %s | %s |\n", c.name, c.how, want)
	}
	if err := os.WriteFile(filepath.Join(corpusDir, "INDEX.md"), []byte(idx.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
