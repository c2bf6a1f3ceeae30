package initramfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func TestParseCompression(t *testing.T) {
	for _, c := range Compressions() {
		got, err := ParseCompression(string(c))
		if err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %q, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "zst", "ZSTD", "xz", "lz4hc"} {
		if _, err := ParseCompression(bad); err == nil {
			t.Errorf("ParseCompression(%q) succeeded", bad)
		}
	}
}

func TestResolveAuto(t *testing.T) {
	if got, err := ParseCompression("auto"); err != nil || got != Auto {
		t.Fatalf("ParseCompression(auto) = %q, %v", got, err)
	}
	for _, tc := range []struct {
		c    Compression
		size int64
		want Compression
	}{
		{Auto, 0, Zstd},
		{Auto, 9 << 20, Zstd}, // hello
		{Auto, AutoLZ4Above, Zstd},
		{Auto, AutoLZ4Above + 1, LZ4},
		{Auto, 52 << 20, LZ4}, // Caddy
		{Zstd, 52 << 20, Zstd},
		{None, 1, None},
		{Gzip, 52 << 20, Gzip},
	} {
		if got := tc.c.Resolve(tc.size); got != tc.want {
			t.Errorf("%s.Resolve(%d) = %s, want %s", tc.c, tc.size, got, tc.want)
		}
	}
	if _, err := NewCompressor(io.Discard, Auto); err == nil {
		t.Error("NewCompressor accepted auto, which must be resolved first")
	}
}

func TestExtension(t *testing.T) {
	want := map[Compression]string{Zstd: ".cpio.zst", Gzip: ".cpio.gz", LZ4: ".cpio.lz4", None: ".cpio"}
	for c, ext := range want {
		if got := c.Extension(); got != ext {
			t.Errorf("%s.Extension() = %q, want %q", c, got, ext)
		}
	}
	if _, err := NewCompressor(io.Discard, "xz"); err == nil {
		t.Error("NewCompressor accepted an unknown compression")
	}
}

func compress(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewCompressor(&buf, c)
	if err != nil {
		t.Fatal(err)
	}
	// Several writes, to exercise streaming.
	for len(data) > 0 {
		n := min(len(data), 100_000)
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bigArchive returns an archive of about 9 MiB: more than one 8 MiB LZ4
// legacy block, and partly incompressible.
func bigArchive(t *testing.T) ([]byte, []Record) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 9))
	noise := make([]byte, 3<<20)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("turbo-image builds tiny appliances. "), 6<<20/36)
	recs := append(goldenRecords(), File("usr/share/noise", 0o644, noise), File("usr/share/text", 0o644, text))
	var buf bytes.Buffer
	if err := WriteArchive(&buf, recs, Options{}); err != nil {
		t.Fatal(err)
	}
	want, err := Canonicalize(recs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

func TestCompressRoundTrip(t *testing.T) {
	archive, want := bigArchive(t)
	small := expectedGolden()
	for _, c := range Compressions() {
		t.Run(string(c), func(t *testing.T) {
			for _, in := range [][]byte{small, archive} {
				z := compress(t, c, in)
				if c != None && len(z) >= len(in) {
					t.Errorf("compressed %d bytes to %d", len(in), len(z))
				}
				if again := compress(t, c, in); !bytes.Equal(again, z) {
					t.Errorf("two compressions of the same input differ")
				}
				rc, got, err := Decompress(bytes.NewReader(z))
				if err != nil {
					t.Fatal(err)
				}
				if got != c {
					t.Errorf("Decompress detected %q, want %q", got, c)
				}
				plain, err := io.ReadAll(rc)
				if err != nil {
					t.Fatal(err)
				}
				if err := rc.Close(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(plain, in) {
					t.Fatalf("round trip changed the archive (%d bytes in, %d out)", len(in), len(plain))
				}
			}
			rc, _, err := Decompress(bytes.NewReader(compress(t, c, archive)))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			recs, err := ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, recs, want)
		})
	}
}

// TestSystemDecompress proves the output is in the standard formats by
// decompressing it with the reference command-line tools.
func TestSystemDecompress(t *testing.T) {
	archive, _ := bigArchive(t)
	tools := []struct {
		c        Compression
		tool     string
		pkg      string
		args     []string
		testArgs []string
	}{
		{Zstd, "zstd", "zstd", []string{"-d", "-c", "-q"}, []string{"-t", "-q"}},
		{Gzip, "gzip", "gzip", []string{"-d", "-c"}, []string{"-t"}},
		{LZ4, "lz4", "lz4", []string{"-d", "-c", "-q"}, []string{"-t", "-q"}},
	}
	for _, tt := range tools {
		t.Run(string(tt.c), func(t *testing.T) {
			bin := testenv.MustHaveTool(t, tt.tool, tt.pkg)
			for _, in := range [][]byte{{}, expectedGolden(), archive} {
				z := compress(t, tt.c, in)
				cmd := exec.Command(bin, tt.args...)
				cmd.Stdin = bytes.NewReader(z)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", tt.tool, strings.Join(tt.args, " "), err, stderr.String())
				}
				if !bytes.Equal(out, in) {
					t.Errorf("%s decompressed %d bytes, want %d", tt.tool, len(out), len(in))
				}
			}
		})
	}
}

// TestLZ4LegacyKernelFormat walks the LZ4 output the way
// lib/decompress_unlz4.c does: the legacy magic 0x184C2102, then blocks
// of a 32-bit little-endian compressed size, each no larger than
// LZ4_compressBound(8 MiB) and decompressing to at most 8 MiB.
func TestLZ4LegacyKernelFormat(t *testing.T) {
	archive, _ := bigArchive(t)
	z := compress(t, LZ4, archive)
	if got := binary.LittleEndian.Uint32(z); got != 0x184C2102 {
		t.Fatalf("magic = %#x, want the legacy magic 0x184C2102", got)
	}
	const chunk = 8 << 20
	dst := make([]byte, chunk)
	var out []byte
	blocks := 0
	for p := 4; p < len(z); {
		if p+4 > len(z) {
			t.Fatalf("%d stray bytes at the end", len(z)-p)
		}
		n := int(binary.LittleEndian.Uint32(z[p:]))
		p += 4
		if n > lz4.CompressBlockBound(chunk) || p+n > len(z) {
			t.Fatalf("block %d claims %d bytes (bound %d, %d left)", blocks, n, lz4.CompressBlockBound(chunk), len(z)-p)
		}
		m, err := lz4.UncompressBlock(z[p:p+n], dst)
		if err != nil {
			t.Fatalf("block %d does not decompress into 8 MiB: %v", blocks, err)
		}
		out = append(out, dst[:m]...)
		p += n
		blocks++
	}
	if blocks < 2 {
		t.Errorf("%d blocks; the test archive should need at least 2", blocks)
	}
	if !bytes.Equal(out, archive) {
		t.Error("blocks do not decompress to the archive")
	}
	if empty := compress(t, LZ4, nil); !bytes.Equal(empty, []byte{0x02, 0x21, 0x4c, 0x18}) {
		t.Errorf("empty input compresses to % x, want just the magic", empty)
	}
}

// TestZstdKernelFormat checks the frame header against what the kernel's
// streaming decompressor (lib/decompress_unzstd.c) needs: a window of at
// most 8 MiB to allocate, and a single frame.
func TestZstdKernelFormat(t *testing.T) {
	archive, _ := bigArchive(t)
	for _, in := range [][]byte{nil, expectedGolden(), archive} {
		z := compress(t, Zstd, in)
		var h zstd.Header
		if err := h.Decode(z); err != nil {
			t.Fatal(err)
		}
		// A single-segment frame (small input) needs a window as large as
		// its content, which the header then states.
		window := h.WindowSize
		if h.SingleSegment {
			if !h.HasFCS || h.FrameContentSize != uint64(len(in)) {
				t.Errorf("input %d bytes: single segment without the right content size (%v, %d)", len(in), h.HasFCS, h.FrameContentSize)
			}
			window = h.FrameContentSize
		}
		if window > 8<<20 || (window == 0 && len(in) > 0) {
			t.Errorf("input %d bytes: window %d, want 1..8 MiB", len(in), window)
		}
		if !h.HasCheckSum {
			t.Errorf("input %d bytes: no content checksum", len(in))
		}
		// A second frame would start with the magic again after this one.
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		out, err := dec.DecodeAll(z, nil)
		dec.Close()
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("DecodeAll: %v", err)
		}
	}
}

// TestGzipHeader checks the header fields the kernel's gunzip relies on
// (method 8, no flags, since it only skips a file name) and that nothing
// time-dependent is written.
func TestGzipHeader(t *testing.T) {
	z := compress(t, Gzip, expectedGolden())
	if len(z) < 10 {
		t.Fatal("short output")
	}
	if z[0] != 0x1f || z[1] != 0x8b || z[2] != 8 {
		t.Errorf("magic/method = % x, want 1f 8b 08", z[:3])
	}
	if z[3] != 0 {
		t.Errorf("flags = %#x, want 0 (no name, comment, extra or header CRC)", z[3])
	}
	if mtime := binary.LittleEndian.Uint32(z[4:8]); mtime != 0 {
		t.Errorf("mtime = %d, want 0", mtime)
	}
}

func TestDecompressErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty input"},
		{"unknown", []byte("hello world"), "unknown format"},
		{"one byte", []byte{0x28}, "unknown format"},
		{"odc cpio", []byte("070707000000"), "unknown format"},
		{"lz4 frame format", []byte{0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7}, "legacy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decompress(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestDecompressCorrupt flips a byte in the middle of each compressed
// stream; reading must fail (checksums catch what decoding does not).
func TestDecompressCorrupt(t *testing.T) {
	in := bytes.Repeat(expectedGolden(), 50)
	for _, c := range []Compression{Zstd, Gzip} {
		z := compress(t, c, in)
		z[len(z)/2] ^= 0x55
		rc, _, err := Decompress(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(rc)
		rc.Close()
		if err == nil && bytes.Equal(out, in) {
			t.Errorf("%s: corruption not noticed", c)
		}
		if err == nil {
			t.Errorf("%s: corrupt stream read without error", c)
		}
	}
	// Truncation of each stream.
	for _, c := range []Compression{Zstd, Gzip, LZ4} {
		z := compress(t, c, in)
		rc, _, err := Decompress(bytes.NewReader(z[:len(z)/2]))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		if err == nil {
			t.Errorf("%s: truncated stream read without error", c)
		}
	}
}

func TestDecompressPassesPlainThrough(t *testing.T) {
	in := expectedGolden()
	rc, c, err := Decompress(bytes.NewReader(in))
	if err != nil || c != None {
		t.Fatalf("Decompress = %q, %v", c, err)
	}
	out, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(out, in) {
		t.Errorf("plain archive changed: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Error(err)
	}
	if _, err := ReadAll(bytes.NewReader(out)); err != nil {
		t.Error(err)
	}
}
