package diskimage

import (
	"encoding/binary"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/zeroruns"
)

// Fuzz inputs and corpus files are zero-run encoded (package zeroruns).

// smallDiskBytes returns the bytes of a tiny but complete disk (GPT, small
// FAT32 ESP with files, backup GPT): small enough for the fuzzer to mutate.
func smallDiskBytes(t testing.TB) []byte {
	p := filepath.Join(t.TempDir(), "small.img")
	writeSmallDisk(t, p, tinyESP())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withGPTField returns a copy of disk whose primary GPT header has the
// 32-bit field at off set to v, with a correct CRC, so that go-diskfs
// would trust it.
func withGPTField(disk []byte, off int, v uint32) []byte {
	b := append([]byte(nil), disk...)
	h := b[512 : 512+92]
	binary.LittleEndian.PutUint32(h[off:], v)
	clear(h[16:20])
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
	return b
}

// walkESP reads everything reachable in the ESP through io/fs, bounded in
// count (a corrupt tree can contain loops).
func walkESP(e ESP, budget int) {
	fs.WalkDir(e, ".", func(p string, d fs.DirEntry, err error) error {
		if budget--; budget < 0 || len(p) > 512 {
			return fs.SkipAll
		}
		if err != nil {
			return nil
		}
		e.Stat(p)
		if !d.IsDir() {
			e.ReadFile(p)
		}
		return nil
	})
}

// FuzzOpen writes the decoded input as a disk image (padded to whole sectors) and
// reads it: GPT, partitions, ESP. Nothing may panic or hang. The file is
// exactly the input (not a fixed 4 MiB) so that the fuzzer controls the
// backup GPT at the end of the disk and the partition bounds.
func FuzzOpen(f *testing.F) {
	small := smallDiskBytes(f)
	add := func(b []byte) { f.Add(zeroruns.Encode(b)) }
	add(small)
	add(small[:40<<10])                      // truncated: partitions past the end
	add(withGPTField(small, 84, 0))          // entry size 0: go-diskfs would loop forever
	add(withGPTField(small, 80, 0xffffffff)) // entry count 2^32-1: huge allocation
	broken := append([]byte(nil), small...)
	broken[512+24] ^= 0xff // primary header CRC mismatch: backup is used
	add(broken)
	for _, c := range hostileDisks(f) {
		add(c.data)
	}
	real := filepath.Join(f.TempDir(), "real.img")
	if err := Write(real, testImageForFuzz()); err != nil {
		f.Fatal(err)
	}
	if b, err := os.ReadFile(real); err == nil {
		add(b[:64<<10]) // the start of a real image: GPT, ESP out of reach
	}
	f.Fuzz(func(t *testing.T, enc []byte) {
		data := zeroruns.Decode(enc, 8<<20)
		if r := len(data) % 512; r != 0 {
			data = append(data, make([]byte, 512-r)...)
		}
		p := filepath.Join(t.TempDir(), "fuzz.img")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Open(p, false)
		if err != nil {
			return
		}
		defer d.Close()
		parts, _ := d.Partitions()
		for _, pi := range parts {
			if pi.Start < 0 || pi.Size <= 0 || pi.Start+pi.Size > d.Size() {
				t.Fatalf("partition %+v outside the %d-byte disk", pi, d.Size())
			}
		}
		e, err := d.ESP()
		if err != nil {
			return
		}
		walkESP(e, 200)
	})
}

func testImageForFuzz() Image {
	return Image{Layout: Layout{Arch: "amd64", Seed: "fuzz"}, ESP: sampleESP(), SlotA: []byte("hsqs")}
}
