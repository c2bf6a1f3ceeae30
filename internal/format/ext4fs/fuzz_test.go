package ext4fs

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/ext4fs/ext4test"
	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
)

// memDev is a file system image in memory.
type memDev = ext4test.MemDev

// fuzzBase is a small file system with a folder, files, hard and
// symbolic links, a sparse file, xattrs and a long symlink.
func fuzzBase(t testing.TB) memDev {
	t.Helper()
	m := ext4test.Empty(t, ext4img.Options{Label: "fuzz", Time: 1})
	b, err := NewBuilder(m, int64(len(m)))
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(1700000000, 0)
	meta := Meta{Perm: 0o644, Mtime: mt, Atime: mt, Ctime: mt}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.Mkdir("d", Meta{Perm: 0o755, Mtime: mt, Xattrs: []Xattr{{"user.d", []byte("in the inode")}}}))
	must(b.WriteFile("d/f", Meta{Perm: 0o600, Xattrs: []Xattr{{"user.a", []byte("1")}, {"user.big", bytes.Repeat([]byte("v"), 300)}}}, strings.NewReader("content"), 7))
	must(b.Link("d/h", "d/f"))
	must(b.Symlink("s", "d/f", meta))
	must(b.Symlink("long", strings.Repeat("x/", 40), meta))
	sparse := make([]byte, 64<<10)
	copy(sparse[40<<10:], "tail")
	must(b.WriteFile("sparse", meta, bytes.NewReader(sparse), int64(len(sparse))))
	frag := make([]byte, 10*2048)
	for i := 0; i < 10; i++ {
		frag[i*2048] = 1
	}
	must(b.WriteFile("frag", meta, bytes.NewReader(frag), int64(len(frag))))
	must(b.Finish())
	return m
}

// readAll opens, walks and reads every file, as export does.
func readAll(r io.ReaderAt, size int64) error {
	fs, err := Open(r, size)
	if err != nil {
		return err
	}
	return fs.Walk(func(e *Entry) error {
		if e.LinkTo != "" || e.Inode.Type() != ModeFile {
			return nil
		}
		fr, err := fs.Open(e.Inode)
		if err != nil {
			return err
		}
		// A hostile size may claim terabytes of holes: read a bounded part.
		_, err = io.Copy(io.Discard, io.LimitReader(fr, 1<<20))
		return err
	})
}

// hostileCase patches the base image.
type hostileCase struct {
	name  string
	patch func(t testing.TB, fs *FS, m memDev)
	// ok says the patched image is still valid to read.
	ok bool
}

func inodeOff(fs *FS, n uint32) int64 {
	g, i := (n-1)/fs.sb.InodesPerGroup, (n-1)%fs.sb.InodesPerGroup
	return int64(fs.gds[g].InodeTable)*fs.sb.BlockSize + int64(i)*fs.sb.InodeSize
}

func lookup(t testing.TB, fs *FS, p string) *Inode {
	var found *Inode
	if err := fs.Walk(func(e *Entry) error {
		if e.Path == p && e.LinkTo == "" {
			found = e.Inode
		}
		return nil
	}); err != nil || found == nil {
		t.Fatalf("lookup %s: %v", p, err)
	}
	return found
}

// firstBlock is the physical block of a file's first extent.
func firstBlock(t testing.TB, fs *FS, in *Inode) int64 {
	ex, err := fs.mapping(in)
	if err != nil || len(ex) == 0 {
		t.Fatalf("mapping of inode %d: %v", in.Num, err)
	}
	return int64(ex[0].Physical) * fs.sb.BlockSize
}

var le = binary.LittleEndian

func hostileCases() []hostileCase {
	return []hostileCase{
		{"good", func(testing.TB, *FS, memDev) {}, true},
		{"no magic", func(_ testing.TB, _ *FS, m memDev) { m[1024+sbMagic] = 0 }, false},
		{"block size 2^17", func(_ testing.TB, _ *FS, m memDev) { le.PutUint32(m[1024+sbLogBlockSize:], 7) }, false},
		{"blocks per group 0", func(_ testing.TB, _ *FS, m memDev) { le.PutUint32(m[1024+sbBlocksPerGroup:], 0) }, false},
		{"inode count lies", func(_ testing.TB, _ *FS, m memDev) { le.PutUint32(m[1024+sbInodesCount:], 1<<31) }, false},
		{"blocks past the end", func(_ testing.TB, _ *FS, m memDev) { le.PutUint32(m[1024+sbBlocksCountLo:], 1<<30) }, false},
		{"inode size 100", func(_ testing.TB, _ *FS, m memDev) { le.PutUint16(m[1024+sbInodeSize:], 100) }, false},
		{"needs recovery", func(_ testing.TB, _ *FS, m memDev) { m[1024+sbFeatureIncompat] |= incompatRecover }, false},
		{"inline data", func(_ testing.TB, _ *FS, m memDev) { m[1024+sbFeatureIncompat+1] |= incompatInlineData >> 8 }, false},
		{"root extent magic", func(_ testing.TB, fs *FS, m memDev) { le.PutUint16(m[inodeOff(fs, 2)+inBlock:], 0) }, false},
		{"root extent depth 7", func(_ testing.TB, fs *FS, m memDev) { le.PutUint16(m[inodeOff(fs, 2)+inBlock+6:], 7) }, false},
		{"root extent entries > max", func(_ testing.TB, fs *FS, m memDev) { le.PutUint16(m[inodeOff(fs, 2)+inBlock+2:], 9) }, false},
		{"root is a file", func(_ testing.TB, fs *FS, m memDev) { le.PutUint16(m[inodeOff(fs, 2)+inMode:], ModeFile|0o644) }, false},
		{"dirent rec_len 0", func(t testing.TB, fs *FS, m memDev) {
			root, _ := fs.Inode(2)
			le.PutUint16(m[firstBlock(t, fs, root)+4:], 0)
		}, false},
		{"dirent name past record", func(t testing.TB, fs *FS, m memDev) {
			root, _ := fs.Inode(2)
			m[firstBlock(t, fs, root)+12+6] = 200 // ".." name length
		}, false},
		{"directory loop", func(t testing.TB, fs *FS, m memDev) {
			d := lookup(t, fs, "d")
			off := firstBlock(t, fs, d)
			// The third entry of d (after . and ..) points to d's parent, the root.
			third := off + int64(le.Uint16(m[off+4:])) + int64(le.Uint16(m[off+int64(le.Uint16(m[off+4:]))+4:]))
			le.PutUint32(m[third:], 2)
		}, false},
		{"directory loop to itself", func(t testing.TB, fs *FS, m memDev) {
			d := lookup(t, fs, "d")
			off := firstBlock(t, fs, d)
			third := off + int64(le.Uint16(m[off+4:])) + int64(le.Uint16(m[off+int64(le.Uint16(m[off+4:]))+4:]))
			le.PutUint32(m[third:], d.Num)
		}, false},
		{"entry to an unused inode", func(t testing.TB, fs *FS, m memDev) {
			d := lookup(t, fs, "d")
			off := firstBlock(t, fs, d)
			third := off + int64(le.Uint16(m[off+4:])) + int64(le.Uint16(m[off+int64(le.Uint16(m[off+4:]))+4:]))
			le.PutUint32(m[third:], 1000)
		}, false},
		{"extent outside the file system", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "sparse")
			le.PutUint32(m[inodeOff(fs, in.Num)+inBlock+12+8:], 1<<31)
		}, false},
		{"extents out of order", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "frag")
			o := inodeOff(fs, in.Num)
			// frag has a tree: its leaf block's second extent starts at file block 0.
			leaf := int64(le.Uint32(m[o+inBlock+12+4:])) * fs.sb.BlockSize
			le.PutUint32(m[leaf+12+12:], 0)
		}, false},
		{"extent index to the superblock", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "frag")
			le.PutUint32(m[inodeOff(fs, in.Num)+inBlock+12+4:], 1)
		}, false},
		{"huge sparse size", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "sparse")
			le.PutUint32(m[inodeOff(fs, in.Num)+inSizeHi:], 1<<20)
		}, true},
		{"symlink size 5000", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "s")
			le.PutUint32(m[inodeOff(fs, in.Num)+inSizeLo:], 5000)
		}, false},
		{"xattr value past the inode", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "d")
			le.PutUint16(m[inodeOff(fs, in.Num)+xattrInode0+4+2:], 60000)
		}, false},
		{"xattr name past the inode", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "d")
			m[inodeOff(fs, in.Num)+xattrInode0+4] = 255
		}, false},
		{"xattr value past the block", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "d/f")
			le.PutUint32(m[int64(in.FileACL)*fs.sb.BlockSize+xattrBlockHdr+8:], 1<<20)
		}, false},
		{"xattr block magic", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "d/f")
			m[int64(in.FileACL)*fs.sb.BlockSize+3] = 0 // 0xEA of 0xEA020000
		}, false},
		{"xattr block outside", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "d/f")
			le.PutUint32(m[inodeOff(fs, in.Num)+inFileACLLo:], 1<<30)
		}, false},
		{"xattr name index 99", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "d")
			m[inodeOff(fs, in.Num)+xattrInode0+4+1] = 99
		}, false},
		{"mode of no type", func(t testing.TB, fs *FS, m memDev) {
			in := lookup(t, fs, "d/f")
			le.PutUint16(m[inodeOff(fs, in.Num)+inMode:], 0o644)
		}, false},
	}
}

// TestHostileImages: every damaged image is refused with an error (the
// walk neither panics nor runs away); the valid ones read.
func TestHostileImages(t *testing.T) {
	base := fuzzBase(t)
	fs, err := Open(base, int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			m := base.Clone()
			c.patch(t, fs, m)
			err := readAll(m, int64(len(m)))
			if c.ok && err != nil {
				t.Errorf("read: %v", err)
			}
			if !c.ok && err == nil {
				t.Error("the damaged image was read without an error")
			}
		})
	}
}

// FuzzRead applies the fuzzer's patches (offset, byte pairs) to the
// metadata of a small valid file system and reads it all.
func FuzzRead(f *testing.F) {
	base := fuzzBase(f)
	fs, err := Open(base, int64(len(base)))
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: each hostile case as the patch that makes it.
	for _, c := range hostileCases() {
		m := base.Clone()
		c.patch(f, fs, m)
		var seed []byte
		for i := range m {
			if m[i] != base[i] {
				seed = binary.LittleEndian.AppendUint32(seed, uint32(i))
				seed = append(seed, m[i])
			}
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, patch []byte) {
		m := base.Clone()
		for len(patch) >= 5 {
			off := int(binary.LittleEndian.Uint32(patch)) % len(m)
			m[off] = patch[4]
			patch = patch[5:]
		}
		_ = readAll(m, int64(len(m)))
	})
}
