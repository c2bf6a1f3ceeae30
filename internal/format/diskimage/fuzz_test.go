package diskimage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz inputs are disk bytes with runs of zeros encoded as 0x00, lo, hi
// ((lo | hi<<8) + 1 zero bytes); other bytes stand for themselves. Any
// input decodes. Disk images are mostly zeros, so a complete small disk
// is a 1-3 KiB input instead of tens of KiB: Go's fuzzer minimizes every
// input that finds new coverage byte by byte, which made raw images spend
// whole runs minimizing.
func encodeZeros(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		if b[i] != 0 {
			out = append(out, b[i])
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == 0 && n < 1<<16 {
			n++
		}
		out = append(out, 0, byte(n-1), byte((n-1)>>8))
		i += n
	}
	return out
}

func decodeZeros(in []byte, max int) []byte {
	var out []byte
	for i := 0; i < len(in) && len(out) < max; {
		if in[i] != 0 {
			out = append(out, in[i])
			i++
			continue
		}
		var lo, hi byte
		if i+1 < len(in) {
			lo = in[i+1]
		}
		if i+2 < len(in) {
			hi = in[i+2]
		}
		n := min(int(lo)|int(hi)<<8+1, max-len(out))
		out = append(out, make([]byte, n)...)
		i += 3
	}
	return out
}

func TestZeroEncodingRoundTrip(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {1, 0, 0, 2}, make([]byte, 70000), append(make([]byte, 300), 9)} {
		if got := decodeZeros(encodeZeros(b), 1<<20); !bytes.Equal(got, b) {
			t.Errorf("round trip of %d bytes gave %d", len(b), len(got))
		}
	}
}

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
	add := func(b []byte) { f.Add(encodeZeros(b)) }
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
		data := decodeZeros(enc, 8<<20)
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
