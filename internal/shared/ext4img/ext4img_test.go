package ext4img

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func testOptions() Options {
	return Options{Label: "turbo-data", UUID: [16]byte{0xde, 0xad, 15: 1}, HashSeed: [16]byte{0xbe, 0xef, 15: 2}, Time: 1700000000}
}

// createFile writes a file system of size bytes into a new sparse file
// and returns its path.
func createFile(t *testing.T, size int64, o Options) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fs.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := Create(f, size, o); err != nil {
		t.Fatalf("Create(%d MiB): %v", size/MiB, err)
	}
	return p
}

// TestE2fsck checks what Create writes with e2fsck -fn at the smallest
// size allowed and the default data partition size, written on a fresh
// sparse file (the builder's path) and on a device that is not known to be
// zero (the init's blank-partition path).
func TestE2fsck(t *testing.T) {
	for _, size := range []int64{MinSize, 128 * MiB} {
		for _, fresh := range []bool{true, false} {
			checkFS(t, size, fresh)
		}
	}
}

// TestE2fsckMaxSize checks the largest size allowed (about 10 s of CPU).
func TestE2fsckMaxSize(t *testing.T) {
	testenv.SkipIfShort(t, "a 64 GiB file system")
	checkFS(t, MaxSize, true)
}

// checkFS creates a file system and checks it with e2fsck -fn and its
// identity with dumpe2fs.
func checkFS(t *testing.T, size int64, fresh bool) {
	t.Helper()
	e2fsck := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	dumpe2fs := testenv.MustHaveTool(t, "dumpe2fs", "e2fsprogs")
	o := testOptions()
	o.Fresh = fresh
	p := createFile(t, size, o)
	defer os.Remove(p)
	out, err := exec.Command(e2fsck, "-fn", p).CombinedOutput()
	if err != nil {
		t.Errorf("%d MiB (fresh %v): e2fsck -fn: %v\n%s", size/MiB, fresh, err, out)
	}
	cmd := exec.Command(dumpe2fs, "-h", p)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	dump, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v\n%s", err, dump)
	}
	for _, want := range []string{
		"Filesystem volume name:   turbo-data",
		"Filesystem UUID:          dead0000-0000-0000-0000-000000000001",
		"Directory Hash Seed:      beef0000-0000-0000-0000-000000000002",
		"Filesystem created:       " + time.Unix(1700000000, 0).UTC().Format("Mon Jan _2 15:04:05 2006"),
	} {
		if !strings.Contains(string(dump), want) {
			t.Errorf("%d MiB: dumpe2fs lacks %q:\n%s", size/MiB, want, dump)
		}
	}
}

// TestReproducible creates the same file system on both sides of a second
// boundary: the bytes must not depend on when it was made.
func TestReproducible(t *testing.T) {
	a := createFile(t, 64*MiB, testOptions())
	time.Sleep(1100 * time.Millisecond)
	b := createFile(t, 64*MiB, testOptions())
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		for i := range ab {
			if ab[i] != bb[i] {
				t.Fatalf("two file systems from the same options differ, first at byte %d", i)
			}
		}
	}
	o := testOptions()
	o.HashSeed[0]++
	c, _ := os.ReadFile(createFile(t, 64*MiB, o))
	if bytes.Equal(ab, c) {
		t.Error("the hash seed does not reach the file system")
	}
	o = testOptions()
	o.Time++
	c, _ = os.ReadFile(createFile(t, 64*MiB, o))
	if bytes.Equal(ab, c) {
		t.Error("the time does not reach the file system")
	}
}

// TestTimesAfter2038 checks the superblock's high time bytes.
func TestTimesAfter2038(t *testing.T) {
	o := testOptions()
	o.Time = 1<<32 + 5
	b, _ := os.ReadFile(createFile(t, MinSize, o))
	sb := b[superblockOffset:]
	if got := int64(binary.LittleEndian.Uint32(sb[sbMkfsTime:])) | int64(sb[sbMkfsTimeHi])<<32; got != o.Time {
		t.Errorf("mkfs time %d, want %d", got, o.Time)
	}
	if got := binary.LittleEndian.Uint32(sb[sbMtime:]); got != 0 {
		t.Errorf("mount time %d, want 0 (never mounted)", got)
	}
}

// TestSparse checks that a fresh file stays sparse: only metadata is
// allocated.
func TestSparse(t *testing.T) {
	o := testOptions()
	o.Fresh = true
	p := createFile(t, 1<<30, o)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := fi.Sys().(*syscall.Stat_t).Blocks * 512; alloc > 4*MiB {
		t.Errorf("1 GiB file system allocates %d KiB of its file, want under 4 MiB", alloc>>10)
	}
}

// TestSizes checks that sizes outside the limits are refused before
// anything is written.
func TestSizes(t *testing.T) {
	for _, c := range []struct {
		size int64
		want string
	}{
		{4 * MiB, "too small for ext4 with a journal: need at least 8 MiB"},
		{0, "too small"},
		{MaxSize + MiB, "larger than the 64 GiB maximum"},
		{MinSize + 1, "not a multiple of 1 MiB"},
	} {
		dev := &recorder{}
		err := Create(dev, c.size, testOptions())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("size %d: got %v, want %q", c.size, err, c.want)
		}
		if dev.writes != 0 {
			t.Errorf("size %d: %d writes before the refusal", c.size, dev.writes)
		}
	}
}

// TestBounds checks that Create writes only inside [0, size).
func TestBounds(t *testing.T) {
	dev := &memDev{b: bytes.Repeat([]byte{0xAA}, int(MinSize+MiB))}
	clear(dev.b[:MinSize])
	if err := Create(dev, MinSize, testOptions()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dev.b[MinSize:], bytes.Repeat([]byte{0xAA}, int(MiB))) {
		t.Error("Create wrote past the end of the file system")
	}
	if dev.writes == 0 {
		t.Error("no writes")
	}
}

// memDev is an in-memory Device; recorder counts writes and fails reads.
type memDev struct {
	b      []byte
	writes int
}

func (m *memDev) ReadAt(p []byte, off int64) (int, error) { return copy(p, m.b[off:]), nil }
func (m *memDev) WriteAt(p []byte, off int64) (int, error) {
	m.writes++
	return copy(m.b[off:], p), nil
}

type recorder struct{ writes int }

func (r *recorder) ReadAt(b []byte, off int64) (int, error)  { return 0, os.ErrInvalid }
func (r *recorder) WriteAt(b []byte, off int64) (int, error) { r.writes++; return len(b), nil }

// TestFirstMountWritesNothingNew checks that Create writes what Linux
// would otherwise write on the first mount (issue 10: a built image's
// first boot must mount /data like every later boot): the overhead in
// every superblock, EXT4_BG_INODE_ZEROED in every group descriptor, the
// 64bit feature of the journal. The overhead is checked against an
// independent count: in an empty file system every block in use is
// overhead except the root directory's.
func TestFirstMountWritesNothingNew(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	for _, c := range []struct {
		size  int64
		fresh bool
	}{{MinSize, true}, {MinSize, false}, {128 * MiB, true}, {128 * MiB, false}, {512 * MiB, true}} {
		func() {
			size, fresh := c.size, c.fresh
			o := testOptions()
			o.Fresh = fresh
			f, err := os.Open(createFile(t, size, o))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// img reads 64 KiB at off (the structures read are smaller).
			img := func(off int64) []byte {
				b := make([]byte, 64<<10)
				if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				return b
			}
			sb := img(superblockOffset)[:superblockSize]
			g, err := geometryOf(sb)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%d MiB (fresh %v, %d-byte blocks, %d groups)", size/MiB, fresh, g.blockSize, g.groups)
			free := int64(le.Uint32(sb[sbFreeBlocksLo:])) | int64(le.Uint32(sb[sbFreeBlocksHi:]))<<32
			gd0 := img((g.firstData + 1) * g.blockSize)
			table := int64(le.Uint32(gd0[0x08:])) | int64(le.Uint32(gd0[0x28:]))<<32
			root := img(table*g.blockSize + g.inodeSize)
			rootBlocks := int64(le.Uint32(root[0x1C:])) * 512 / g.blockSize
			overhead := int64(le.Uint32(sb[sbOverhead:]))
			if want := g.blocks - free - rootBlocks; overhead != want {
				t.Errorf("%s: s_overhead_clusters %d, want %d (%d blocks in use, %d of them the root directory's)",
					name, overhead, want, g.blocks-free, rootBlocks)
			}
			copies := 0
			for grp := int64(0); grp < g.groups; grp++ {
				if !g.hasSuper(grp) {
					continue
				}
				blk := grp*g.perGroup + g.firstData
				b := img(blk * g.blockSize)
				if grp == 0 {
					b = sb
				}
				if le.Uint16(b[sbMagic:]) != magic {
					t.Errorf("%s: no superblock in group %d", name, grp)
					continue
				}
				copies++
				if got := int64(le.Uint32(b[sbOverhead:])); got != overhead {
					t.Errorf("%s: group %d's superblock has overhead %d, the primary %d", name, grp, got, overhead)
				}
				gdt := img((blk + 1) * g.blockSize)
				for i := int64(0); i < g.groups; i++ {
					if f := le.Uint16(gdt[i*g.descSize+bgFlags:]); f&bgInodeZeroed == 0 {
						t.Errorf("%s: descriptor of group %d in the table of group %d has flags %#x, want INODE_ZEROED", name, i, grp, f)
						break
					}
				}
			}
			if copies < 2 && g.groups > 1 {
				t.Errorf("%s: %d superblocks, want the primary and backups", name, copies)
			}
			jino := int64(le.Uint32(sb[sbJournalInum:]))
			jin := img(table*g.blockSize + (jino-1)*g.inodeSize)
			jstart := int64(le.Uint32(jin[0x28+20:]))
			js := img(jstart * g.blockSize)
			if be.Uint32(js) != jbdMagic || be.Uint32(js[jbdFeatureIncompat:])&jbdIncompat64Bit == 0 {
				t.Errorf("%s: journal superblock at block %d: magic %#x, incompat features %#x, want 64bit", name, jstart, be.Uint32(js), be.Uint32(js[jbdFeatureIncompat:]))
			}
		}()
	}
}

// Free block count in the superblock (super.rst), read only by the tests.
const (
	sbFreeBlocksLo = 0x0C
	sbFreeBlocksHi = 0x158
)
