package initramfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds returns seed archives: the golden file, a crc ("070702")
// archive, an archive written in unsorted order, and a truncated golden.
func fuzzSeeds(f *testing.F) [][]byte {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		f.Fatal(err)
	}
	var crc newc
	crc.entry(rawFields{magic: "070702", mode: 0o100644, nlink: 1, check: 'a' + 'b'}, "f", []byte("ab"))
	var unsorted bytes.Buffer
	w := NewWriter(&unsorted)
	for _, r := range []Record{File("z/y", 0o600, []byte("data")), Symlink("z", "y"), BlockDev("b", 0o600, 8, 1), Dir("d", 0o755)} {
		if err := w.WriteRecord(r); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	return append([][]byte{golden, crc.trailer(), unsorted.Bytes(), golden[:len(golden)/2], {}}, corpusFiles(f)...)
}

// FuzzImageReader reads arbitrary images as the kernel would unpack them,
// with small limits: no panic, no hang, every error names where it
// happened, and a plain single archive lists the same entries as List.
func FuzzImageReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ir := NewImageReader(bytes.NewReader(in), Limits{Entries: 1000, NameBytes: 1 << 20, Bytes: 16 << 20})
		defer ir.Close()
		u := NewUnpacker()
		n := 0
		for {
			e, err := ir.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "initramfs: ") || strings.Contains(err.Error(), "initramfs: initramfs:") {
					t.Fatalf("error without a single package prefix: %v", err)
				}
				return
			}
			eff := u.Add(e)
			if eff.Op != OpSkip && !strings.HasPrefix(eff.Path, "/") {
				t.Fatalf("entry %q lands at relative path %q", e.Name, eff.Path)
			}
			n++
		}
		if len(ir.Members()) == 1 && ir.Members()[0].Compression == None {
			entries, err := List(bytes.NewReader(in))
			if err != nil || len(entries) != n {
				t.Fatalf("image reader listed %d entries; List %d (%v)", n, len(entries), err)
			}
		}
	})
}

// FuzzList checks that List never panics, that ReadAll agrees with it, and
// that whatever it accepts survives a write/read round trip.
func FuzzList(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, lerr := List(bytes.NewReader(in))
		recs, rerr := ReadAllLimit(bytes.NewReader(in), 1<<20)
		if (lerr == nil) != (rerr == nil) {
			if rerr != nil && int64(len(in)) > 1<<20 {
				return // the limit, not the format
			}
			t.Fatalf("List error %v but ReadAll error %v", lerr, rerr)
		}
		if lerr != nil {
			return
		}
		if len(entries) != len(recs) {
			t.Fatalf("List found %d entries, ReadAll %d", len(entries), len(recs))
		}
		for i, e := range entries {
			r := recs[i]
			if e.Name != r.Name || e.Mode != r.Mode || e.Linkname != r.Linkname || e.Major != r.Major || e.Minor != r.Minor {
				t.Fatalf("entry %d: List %v, ReadAll %v", i, describe(e.Record), describe(r))
			}
			if e.Type() == TypeReg && int64(len(r.Data)) != e.Size {
				t.Fatalf("entry %d: size %d but %d bytes of data", i, e.Size, len(r.Data))
			}
		}
		// Records that are valid must be written back identically.
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, r := range recs {
			if r.Validate() != nil {
				return
			}
			if err := w.WriteRecord(r); err != nil {
				t.Fatalf("WriteRecord(%v): %v", describe(r), err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := ReadAll(&buf)
		if err != nil {
			t.Fatalf("re-reading a written archive: %v", err)
		}
		sameRecords(t, again, recs)
	})
}

// FuzzExtract extracts arbitrary archives into a temporary directory: no
// panic, nothing outside it, and nothing left behind on error.
func FuzzExtract(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	// One base directory per fuzzing process (targets run one at a time in
	// each), emptied after every input: much cheaper than t.TempDir.
	base := fuzzBaseDir(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := filepath.Join(base, "root")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		defer func() {
			// Make read-only directories removable, then remove everything.
			filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					os.Chmod(p, 0o700)
				}
				return nil
			})
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}()
		err := Extract(bytes.NewReader(in), dir)
		top, rerr := os.ReadDir(base)
		if rerr != nil || len(top) != 1 {
			t.Fatalf("something was written next to the destination: %v %v", top, rerr)
		}
		if err != nil {
			left, rerr := os.ReadDir(dir)
			if rerr != nil || len(left) != 0 {
				t.Fatalf("failed extraction (%v) left %v behind (%v)", err, left, rerr)
			}
		}
	})
}

// fuzzBaseDir returns a fresh directory for FuzzExtract. Directory
// operations on a disk file system cost about a millisecond here, which
// starves the fuzzer (and makes minimizing each new input take its full
// minute), so a tmpfs (/dev/shm) is preferred when TMPDIR is not set.
func fuzzBaseDir(f *testing.F) string {
	if os.Getenv("TMPDIR") == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			if dir, err := os.MkdirTemp("/dev/shm", "initramfs-fuzz-"); err == nil {
				f.Cleanup(func() { os.RemoveAll(dir) })
				return dir
			}
		}
	}
	return f.TempDir()
}

// FuzzDecompress feeds arbitrary bytes to Decompress and reads a bounded
// amount of output: errors are fine, panics and hangs are not.
func FuzzDecompress(f *testing.F) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range Compressions() {
		var buf bytes.Buffer
		w, err := NewCompressor(&buf, c)
		if err != nil {
			f.Fatal(err)
		}
		w.Write(golden)
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	for _, s := range corpusFiles(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rc, c, err := Decompress(bytes.NewReader(in))
		if err != nil {
			return
		}
		defer rc.Close()
		out, err := io.ReadAll(io.LimitReader(rc, 4<<20))
		if c == None && err == nil && !bytes.Equal(out, in) {
			t.Fatalf("plain input changed by Decompress")
		}
	})
}
