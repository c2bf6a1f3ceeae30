package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The hostile cpio corpus: testdata/cpio-corpus/NAME.img, one image per
// case of hostileCases, each made by the function named in its case, with
// testdata/cpio-corpus/README.md listing how each was made and what must
// happen. Regenerate with:
//
//	go test ./initramfs -run TestCpioCorpus -update
//
// TestCpioCorpus reads every file with an ImageReader under DefaultLimits
// and the Unpacker and checks the expected outcome and a bound on the
// memory allocated; the fuzz targets start from these files.
const corpusDir = "testdata/cpio-corpus"

// hostileCase is one corpus image and its expected outcome: either an
// error (wantErr, a substring, and optionally wantIs) or a listing (want:
// one line per entry, see effectLine).
type hostileCase struct {
	name    string
	how     string
	make    func() []byte
	wantErr string
	wantIs  error
	want    []string
	big     bool // expensive to regenerate: compared with the generator only with -update
}

// compressed compresses b with c.
func compressed(c Compression, b []byte) []byte {
	var out bytes.Buffer
	w, err := NewCompressor(&out, c)
	if err != nil {
		panic(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// records writes records in the given order with the low-level Writer.
func records(recs ...Record) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// raw is a newc archive made field by field (names the Writer refuses,
// hard links, odd fields), ending with a trailer unless noTrailer.
func raw(entries func(n *newc)) []byte {
	var n newc
	entries(&n)
	return n.trailer()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// setField overwrites header field i (0 = c_ino ... 12 = c_check) of the
// header at offset at.
func setField(b []byte, at, i int, v string) []byte {
	copy(b[at+6+8*i:], v)
	return b
}

// bigFile writes an archive of one regular file of size zero bytes,
// streaming.
func bigFile(w io.Writer, name string, size int64) {
	h := rawHeader{magic: newcMagic, ino: 1, mode: TypeReg | 0o644, nlink: 1, filesize: uint32(size), nsize: uint32(len(name) + 1)}
	b := appendPad(append(append(h.appendTo(nil), name...), 0), headerSize+int64(len(name))+1)
	w.Write(b)
	io.CopyN(w, zeroReader{}, size)
	w.Write(make([]byte, pad4(size)))
	w.Write(records())
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// zstdStream compresses what gen writes, streaming, with a fast encoder
// (for the big cases; the output is still deterministic).
func zstdStream(level zstd.EncoderLevel, gen func(w io.Writer)) []byte {
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(level),
		zstd.WithWindowSize(zstdWindow), zstd.WithEncoderCRC(true))
	if err != nil {
		panic(err)
	}
	gen(w)
	if err := w.Close(); err != nil {
		panic(err)
	}
	return out.Bytes()
}

func hostileCases() []hostileCase {
	basic := records(Dir("bin", 0o755), File("init", 0o755, []byte("first init")))
	second := records(File("init", 0o755, []byte("SECOND init")))
	return []hostileCase{
		{name: "bad-magic", how: "a valid archive with its magic changed to 070709",
			make: func() []byte { b := records(File("a", 0o644, nil)); copy(b, "070709"); return b }, wantErr: "bad magic"},
		{name: "odc-magic", how: "magic 070707 (the old portable format)",
			make: func() []byte { b := records(File("a", 0o644, nil)); copy(b, "070707"); return b }, wantErr: "odc"},
		{name: "empty", how: "zero bytes", make: func() []byte { return nil }, wantErr: "empty input", wantIs: io.ErrUnexpectedEOF},
		{name: "zeros-only", how: "512 zero bytes", make: func() []byte { return make([]byte, 512) }, wantErr: "no archive", wantIs: io.ErrUnexpectedEOF},
		{name: "truncated-header", how: "an archive cut 50 bytes into its first header",
			make: func() []byte { return records(File("a", 0o644, nil))[:50] }, wantErr: "middle of the header", wantIs: io.ErrUnexpectedEOF},
		{name: "truncated-data", how: "a 100-byte file cut after 10 bytes of data",
			make: func() []byte { return records(File("a", 0o644, make([]byte, 100)))[:124] }, wantErr: "middle of the file data", wantIs: io.ErrUnexpectedEOF},
		{name: "truncated-zstd", how: "a zstd member cut in the middle",
			make: func() []byte { b := compressed(Zstd, basic); return b[:len(b)/2] }, wantIs: io.ErrUnexpectedEOF},
		{name: "huge-namesize", how: "c_namesize FFFFFFFF",
			make: func() []byte { return setField(records(File("a", 0o644, nil)), 0, 11, "FFFFFFFF") }, wantErr: "PATH_MAX"},
		{name: "huge-filesize", how: "c_filesize FFFFFFFF with 4 bytes of data present",
			make: func() []byte { return setField(records(File("a", 0o644, []byte("data"))), 0, 6, "FFFFFFFF") }, wantErr: "middle of the file data", wantIs: io.ErrUnexpectedEOF},
		{name: "odd-hex-space", how: "c_filesize written as \"       0\" (spaces, which the kernel's simple_strtoul stops at)",
			make: func() []byte { return setField(records(File("a", 0o644, nil)), 0, 6, "       0") }, wantErr: "c_filesize"},
		{name: "odd-hex-0x", how: "c_mode written as \"0x0081A4\"",
			make: func() []byte { return setField(records(File("a", 0o644, nil)), 0, 1, "0x0081A4") }, wantErr: "c_mode"},
		{name: "lower-case-hex", how: "every header field in lower-case hex (valid)",
			make: func() []byte {
				return raw(func(n *newc) {
					n.entry(rawFields{ino: 0xab, mode: 0o100644, nlink: 1, mtime: 0xdeadbeef}, "a", []byte("x"))
					b := n.Bytes()
					copy(b[6:], strings.ToLower(string(b[6:110])))
				})
			}, want: []string{"create /a"}},
		{name: "name-not-nul-terminated", how: "c_namesize 2 for the name \"ab\" with no NUL",
			make: func() []byte {
				b := setField(records(File("ab", 0o644, nil)), 0, 11, "00000002")
				b[111] = 'b'
				return b
			}, wantErr: "NUL-terminated"},
		{name: "nul-in-name", how: "the name \"a\\x00b\"",
			make: func() []byte { b := records(File("axb", 0o644, nil)); b[111] = 0; return b }, wantErr: "NUL byte"},
		{name: "namesize-zero", how: "c_namesize 0",
			make: func() []byte { return setField(records(File("a", 0o644, nil)), 0, 11, "00000000") }, wantErr: "name is empty"},
		{name: "dir-with-data", how: "a directory with c_filesize 4",
			make: func() []byte {
				return raw(func(n *newc) { n.entry(rawFields{mode: 0o40755, nlink: 2}, "d", []byte("oops")) })
			}, wantErr: "only regular files and symlinks have data"},
		{name: "bad-checksum", how: "a 070702 entry whose c_check is one more than its byte sum",
			make: func() []byte {
				return raw(func(n *newc) {
					n.entry(rawFields{magic: crcMagic, mode: 0o100644, nlink: 1, check: 'h' + 'i' + 1}, "f", []byte("hi"))
				})
			}, wantErr: "checksum"},
		{name: "trailer-missing", how: "an archive without its TRAILER!!! entry",
			make: func() []byte { b := records(File("a", 0o644, nil)); return b[:len(b)-124] }, wantErr: "without a TRAILER", wantIs: io.ErrUnexpectedEOF},
		{name: "garbage-after-trailer", how: "a plain archive followed by the text \"GARBAGE!\"",
			make: func() []byte { return cat(basic, []byte("GARBAGE!")) }, wantErr: "invalid magic at start of compressed archive"},
		{name: "junk-in-zstd", how: "a zstd member holding an archive followed by \"junk\"",
			make: func() []byte { return compressed(Zstd, cat(basic, []byte("junk"))) }, wantErr: "junk within compressed archive"},
		{name: "zstd-no-trailer-padding", how: "a zstd member ending right after \"TRAILER!!!\\0\", without its 3 padding bytes",
			make: func() []byte { return compressed(Zstd, basic[:len(basic)-3]) }, wantErr: "junk at the end of compressed archive"},
		{name: "nested-compression", how: "a zstd member whose content is a gzip member of an archive",
			make: func() []byte { return compressed(Zstd, compressed(Gzip, basic)) }, wantErr: "junk within compressed archive"},
		{name: "lz4-frame-format", how: "an archive compressed in the LZ4 frame format (not legacy)",
			make: func() []byte { return cat([]byte(lz4FrameMagic), make([]byte, 16)) }, wantErr: "legacy"},
		{name: "xz-member", how: "the XZ magic followed by zeros",
			make: func() []byte { return cat([]byte("\xfd7zXZ\x00"), make([]byte, 26)) }, wantErr: "XZ-compressed"},
		{name: "misaligned-second-archive", how: "two plain archives with 2 bytes of padding between them",
			make: func() []byte { return cat(basic, []byte{0, 0}, second) }, wantErr: "not 4-byte aligned"},
		{name: "concat-plain", how: "two plain archives back to back; the second replaces /init",
			make: func() []byte { return cat(basic, second) },
			want: []string{"create /bin", "create /init", "replace /init prev #1"}},
		{name: "concat-zstd-frames", how: "two zstd frames, one archive each",
			make: func() []byte { return cat(compressed(Zstd, basic), compressed(Zstd, second)) },
			want: []string{"create /bin", "create /init", "replace /init prev #1"}},
		{name: "concat-mixed-padded", how: "zstd, 7 zero bytes, gzip, 512 zero bytes, legacy lz4, 4 zero bytes, plain; each adds a file, the plain one replaces /init",
			make: func() []byte {
				img := cat(compressed(Zstd, basic), make([]byte, 7), compressed(Gzip, records(File("g", 0o644, nil))),
					make([]byte, 512), compressed(LZ4, records(File("l", 0o644, nil))), make([]byte, 4))
				img = append(img, make([]byte, pad4(int64(len(img))))...)
				return cat(img, second)
			},
			want: []string{"create /bin", "create /init", "create /g", "create /l", "replace /init prev #1"}},
		{name: "lz4-then-3-zero-bytes", how: "a legacy lz4 member followed by 3 zero bytes (too few for a chunk length: the member ends there)",
			make: func() []byte { return cat(compressed(LZ4, basic), []byte{0, 0, 0}) },
			want: []string{"create /bin", "create /init"}},
		{name: "lz4-then-gzip-unpadded", how: "a legacy lz4 member directly followed by a gzip member (the gzip magic reads as a chunk length)",
			make: func() []byte { return cat(compressed(LZ4, basic), compressed(Gzip, second)) }, wantErr: "lz4 chunk"},
		{name: "concat-inside-one-frame", how: "one gzip member holding two archives with 8 zero bytes between them",
			make: func() []byte { return compressed(Gzip, cat(basic, make([]byte, 8), second)) },
			want: []string{"create /bin", "create /init", "replace /init prev #1"}},
		{name: "duplicate-names", how: "a file, a directory and a device node each written twice in one archive",
			make: func() []byte {
				return records(File("f", 0o644, []byte("1")), File("f", 0o600, []byte("2")), Dir("d", 0o755), Dir("d", 0o700),
					CharDev("c", 0o600, 5, 1), CharDev("c", 0o666, 1, 3))
			},
			want: []string{"create /f", "replace /f prev #0", "create /d", "update /d prev #2", "create /c", "update /c prev #4"}},
		{name: "symlink-then-file-through-it", how: "etc -> /tmp, then etc/passwd (lands in /tmp)",
			make: func() []byte {
				return records(Dir("tmp", 0o1777), Symlink("etc", "/tmp"), File("etc/passwd", 0o644, []byte("root::0:0::/:/bin/sh\n")))
			},
			want: []string{"create /tmp", "create /etc", "create /tmp/passwd via /etc"}},
		{name: "symlink-loop", how: "a -> b, b -> a, then a/x",
			make: func() []byte { return records(Symlink("a", "b"), Symlink("b", "a"), File("a/x", 0o644, nil)) },
			want: []string{"create /a", "create /b", "skip /a via /a: too many levels of symbolic links"}},
		{name: "file-over-nonempty-dir", how: "d/ with a file inside, then a file d",
			make: func() []byte { return records(Dir("d", 0o755), File("d/x", 0o644, nil), File("d", 0o644, nil)) },
			want: []string{"create /d", "create /d/x", "skip /d prev #0: a non-empty directory is in the way"}},
		{name: "missing-parent", how: "x/y without x",
			make: func() []byte { return records(File("x/y", 0o644, nil)) },
			want: []string{"skip /x: parent /x does not exist"}},
		{name: "hard-links", how: "two regular files with nlink 2 and the same inode (the second gets the data, as GNU cpio writes them)",
			make: func() []byte {
				return raw(func(n *newc) {
					n.entry(rawFields{ino: 7, mode: 0o100755, nlink: 2}, "a", nil)
					n.entry(rawFields{ino: 7, mode: 0o100755, nlink: 2}, "b", []byte("shared"))
				})
			},
			want: []string{"create /a", "create /b link #0"}},
		{name: "dotdot-and-absolute-names", how: "names \"/init\", \"../../init\", \"./bin/../init\" and \".\"",
			make: func() []byte {
				return raw(func(n *newc) {
					n.entry(rawFields{mode: 0o40755, nlink: 2}, "bin", nil)
					n.entry(rawFields{mode: 0o100755, nlink: 1}, "/init", []byte("a"))
					n.entry(rawFields{mode: 0o100755, nlink: 1}, "../../init", []byte("b"))
					n.entry(rawFields{mode: 0o100755, nlink: 1}, "./bin/../init", []byte("c"))
					n.entry(rawFields{mode: 0o40777, nlink: 2}, ".", nil)
				})
			},
			want: []string{"create /bin", "create /init", "replace /init prev #1", "replace /init prev #2", "update /"}},
		{name: "device-nodes", how: "character, block, FIFO and socket nodes, with setuid/setgid/sticky bits on files",
			make: func() []byte {
				return records(Dir("dev", 0o755), CharDev("dev/console", 0o600, 5, 1), BlockDev("dev/sda", 0o660, 8, 0),
					CharDev("dev/mem", 0o4666, 1, 1), Record{Name: "dev/fifo", Mode: TypeFifo | 0o644}, Record{Name: "dev/sock", Mode: TypeSocket | 0o755},
					File("su", 0o4755, nil), File("sg", 0o2755, nil), Dir("tmp", 0o1777))
			},
			want: []string{"create /dev", "create /dev/console", "create /dev/sda", "create /dev/mem", "create /dev/fifo", "create /dev/sock", "create /su", "create /sg", "create /tmp"}},
		{name: "hostile-names", how: "names with a newline that forges a listing line, an escape sequence, U+202E, invalid UTF-8 and a tab",
			make: func() []byte {
				return records(File("a\n  #9 -rwsr-xr-x 0:0 0 init-forged", 0o644, nil), File("b\x1b[2J", 0o644, nil),
					File("c\u202eexe.txt", 0o644, nil), File("d\xff\xfe", 0o644, nil), File("e\tf", 0o644, nil))
			},
			want: []string{"create /a\n  #9 -rwsr-xr-x 0:0 0 init-forged", "create /b\x1b[2J", "create /c\u202eexe.txt", "create /d\xff\xfe", "create /e\tf"}},
		{name: "big-file-zstd", how: "one regular file of 1,000 MiB of zeros, zstd-compressed (streams through; never held)", big: true,
			make: func() []byte {
				return zstdStream(zstd.SpeedDefault, func(w io.Writer) { bigFile(w, "big", 1000<<20) })
			},
			want: []string{"create /big"}},
		{name: "bomb-over-byte-limit", how: "zstd of one 2,000 MiB file of zeros: over the 1 GiB decompression limit", big: true,
			make: func() []byte {
				return zstdStream(zstd.SpeedDefault, func(w io.Writer) { bigFile(w, "bomb", 2000<<20) })
			},
			wantErr: "bytes decompressed", wantIs: ErrLimit},
		{name: "many-long-dirs-zstd", how: "zstd of 60,000 empty directories with 4,000-byte names (240 MB of names; the issue's 600,000 make a 4 MB file): over the 32 MiB name limit", big: true,
			make: func() []byte {
				return zstdStream(zstd.SpeedDefault, func(w io.Writer) {
					hw := NewWriter(w)
					pad := strings.Repeat("d", 3990)
					for i := range 60_000 {
						if err := hw.WriteRecord(Dir(fmt.Sprintf("%s%010d", pad, i), 0o755)); err != nil {
							panic(err)
						}
					}
					hw.Close()
				})
			},
			wantErr: "names and link targets exceed", wantIs: ErrLimit},
		{name: "many-entries-zstd", how: "zstd of 300,000 empty files with short names: over the 100,000-entry limit", big: true,
			make: func() []byte {
				return zstdStream(zstd.SpeedBestCompression, func(w io.Writer) {
					hw := NewWriter(w)
					for i := range 300_000 {
						if err := hw.WriteRecord(File(fmt.Sprintf("f%d", i), 0o644, nil)); err != nil {
							panic(err)
						}
					}
					hw.Close()
				})
			},
			wantErr: "more than 100000 entries", wantIs: ErrLimit},
	}
}

// effectLine renders what the Unpacker does with an entry:
// "OP PATH [via SYMLINK] [link #N] [prev #N][: REASON]".
func effectLine(eff Effect) string {
	s := eff.Op.String() + " " + eff.Path
	if eff.Via != "" {
		s += " via " + eff.Via
	}
	if eff.Link >= 0 {
		s += fmt.Sprintf(" link #%d", eff.Link)
	}
	if eff.Prev >= 0 {
		s += fmt.Sprintf(" prev #%d", eff.Prev)
	}
	if eff.Reason != "" {
		s += ": " + eff.Reason
	}
	return s
}

// readImage lists an image as the kernel would unpack it.
func readImage(in io.Reader) ([]string, error) {
	ir := NewImageReader(in, DefaultLimits())
	defer ir.Close()
	u := NewUnpacker()
	var out []string
	for {
		e, err := ir.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, effectLine(u.Add(e)))
	}
}

// corpusFiles returns the corpus images, for fuzz seeds.
func corpusFiles(tb testing.TB) [][]byte {
	var out [][]byte
	for _, c := range hostileCases() {
		b, err := os.ReadFile(filepath.Join(corpusDir, c.name+".img"))
		if err != nil {
			tb.Fatalf("%v (regenerate with -update)", err)
		}
		if len(b) <= 64<<10 {
			out = append(out, b)
		}
	}
	return out
}

// maxCorpusAlloc bounds the bytes allocated while reading any corpus image:
// far below the 1,000 MiB that holding the big file would take.
const maxCorpusAlloc = 256 << 20

func TestCpioCorpus(t *testing.T) {
	cases := hostileCases()
	if *update {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		var readme strings.Builder
		readme.WriteString("# Hostile cpio corpus\n\nGenerated by `go test ./initramfs -run TestCpioCorpus -update` from\n" +
			"`hostileCases` in corpus_test.go; do not edit. Each image is read with `NewImageReader`\n" +
			"under `DefaultLimits` and must give the outcome below (and allocate less than 256 MiB).\n\n" +
			"| image | how it was made | expected |\n|---|---|---|\n")
		for _, c := range cases {
			want := "lists: " + strings.Join(c.want, "; ")
			if c.wantErr != "" || c.wantIs != nil {
				want = fmt.Sprintf("error %q", c.wantErr)
				if c.wantIs != nil {
					want += fmt.Sprintf(" (wraps %v)", c.wantIs)
				}
			}
			fmt.Fprintf(&readme, "| %s.img | %s | %s |\n", c.name, strings.ReplaceAll(c.how, "|", "\\|"),
				strings.ReplaceAll(strings.ReplaceAll(fmt.Sprintf("%q", want), "|", "\\|"), "\\n", " "))
			if err := os.WriteFile(filepath.Join(corpusDir, c.name+".img"), c.make(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(corpusDir, "README.md"), []byte(readme.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(corpusDir, c.name+".img")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (regenerate with -update)", err)
			}
			if !c.big && !bytes.Equal(b, c.make()) {
				t.Fatalf("%s differs from what its generator makes (regenerate with -update)", path)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := readImage(bytes.NewReader(b))
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxCorpusAlloc {
				t.Errorf("reading allocated %d bytes, more than %d", alloc, maxCorpusAlloc)
			}
			if c.wantErr != "" || c.wantIs != nil {
				if err == nil {
					t.Fatalf("no error, want %q; listed %q", c.wantErr, got)
				}
				if !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("error %q does not mention %q", err, c.wantErr)
				}
				if c.wantIs != nil && !errors.Is(err, c.wantIs) {
					t.Errorf("error %q does not wrap %v", err, c.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v; want listing %q", err, c.want)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("listing\n got  %q\n want %q", got, c.want)
			}
		})
	}
}
