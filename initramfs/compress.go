package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression is a compression format for an initramfs archive.
type Compression string

// The supported compressions.
const (
	// Zstd is a single standard zstd frame with an 8 MiB window and a
	// content checksum (lib/decompress_unzstd.c, CONFIG_RD_ZSTD).
	Zstd Compression = "zstd"
	// Gzip is RFC 1952 gzip with a bare header: no name, no mtime
	// (lib/decompress_inflate.c, CONFIG_RD_GZIP).
	Gzip Compression = "gzip"
	// LZ4 is LZ4 in the legacy frame format, the one lib/decompress_unlz4.c
	// reads (CONFIG_RD_LZ4).
	LZ4 Compression = "lz4"
	// None leaves the archive uncompressed.
	None Compression = "none"
	// Auto is not a format but a choice by size, made by Resolve once the
	// uncompressed archive is known: Zstd up to AutoLZ4Above bytes, LZ4
	// above. NewCompressor refuses it.
	Auto Compression = "auto"
)

// AutoLZ4Above is the uncompressed archive size above which Auto picks LZ4.
// The kernel unpacks the initramfs before it runs /init, so its
// decompression is on every boot's critical path; under TCG the kernel's
// zstd cost about 40 ms more than LZ4 per MiB of archive, the same rate on
// a 9 MiB and a 51.5 MiB archive (bench/results/latest.md: hello 1232
// against 876 ms, Caddy 4199 against 2142 ms to ready), for an archive a
// third smaller. Up to 16 MiB that is at most about 0.6 s under TCG (and
// milliseconds on KVM), worth the smaller image; above it the boot time
// wins: Caddy's zstd initramfs boot took 2.4 times its app-as-init floor,
// its LZ4 one 1.25 times.
const AutoLZ4Above = 16 << 20

// Resolve returns the compression to write an archive of size
// uncompressed bytes with: c itself, or for Auto, Zstd or LZ4 by size.
func (c Compression) Resolve(uncompressed int64) Compression {
	if c != Auto {
		return c
	}
	if uncompressed > AutoLZ4Above {
		return LZ4
	}
	return Zstd
}

// Compressions returns every supported compression format, in a fixed
// order (not Auto, which chooses among them).
func Compressions() []Compression {
	return []Compression{Zstd, Gzip, LZ4, None}
}

// ParseCompression returns the Compression named s ("zstd", "gzip", "lz4",
// "none" or "auto").
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case Zstd, Gzip, LZ4, None, Auto:
		return c, nil
	}
	return "", fmt.Errorf("initramfs: unknown compression %q (want zstd, gzip, lz4, none or auto)", s)
}

// Extension returns the file name extension of an archive with compression
// c: ".cpio.zst", ".cpio.gz", ".cpio.lz4" or ".cpio" (also for an unknown c).
func (c Compression) Extension() string {
	switch c {
	case Zstd:
		return ".cpio.zst"
	case Gzip:
		return ".cpio.gz"
	case LZ4:
		return ".cpio.lz4"
	}
	return ".cpio"
}

// Settings fixed for reproducible output and for the kernel's decompressors.
const (
	// zstdWindow is the encoder window. The kernel decompresses an initramfs
	// in streaming mode and allocates the window the frame header asks for;
	// 8 MiB matches what its own build (zstd -19) produces.
	zstdWindow = 8 << 20
	// zstdMaxDecodeWindow is the largest window Decompress accepts: that of
	// zstd --ultra -22, bounding memory on hostile input.
	zstdMaxDecodeWindow = 128 << 20
)

// NewCompressor returns a WriteCloser that compresses what is written to it
// into w with compression c. Output depends only on the input bytes: gzip
// writes no name and mtime 0 at best compression; zstd uses a single-threaded
// encoder at the best-compression level with an 8 MiB window and a content
// checksum, which the kernel verifies (an input that fits in one 128 KiB
// block becomes a single-segment frame that states its content size instead
// of a window; the kernel accepts both); LZ4 writes the legacy format at compression level 9,
// as the kernel's own build does (lz4 -l -9). Close flushes the compressor but
// does not close w. For None the writes pass straight through.
func NewCompressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case Zstd:
		zw, err := zstd.NewWriter(w,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderCRC(true),
			zstd.WithZeroFrames(true),
		)
		if err != nil {
			return nil, fmt.Errorf("initramfs: zstd encoder: %w", err)
		}
		return zw, nil
	case Gzip:
		gw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("initramfs: gzip encoder: %w", err)
		}
		// The zero Header has no name, comment or extra field and mtime 0.
		return gw, nil
	case LZ4:
		lw := lz4.NewWriter(w)
		if err := lw.Apply(
			lz4.LegacyOption(true),
			lz4.CompressionLevelOption(lz4.Level9),
			lz4.ConcurrencyOption(1),
		); err != nil {
			return nil, fmt.Errorf("initramfs: lz4 encoder: %w", err)
		}
		return lw, nil
	case None:
		return nopWriteCloser{w}, nil
	case Auto:
		return nil, errors.New("initramfs: compression auto must be resolved by size first (Compression.Resolve)")
	}
	return nil, fmt.Errorf("initramfs: unknown compression %q (want zstd, gzip, lz4 or none)", string(c))
}

// nopWriteCloser is a WriteCloser whose Close does nothing.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Magic numbers at the start of each format.
const (
	zstdMagic      = "\x28\xb5\x2f\xfd"
	gzipMagic      = "\x1f\x8b"
	lz4LegacyMagic = "\x02\x21\x4c\x18" // 0x184C2102 little-endian
	lz4FrameMagic  = "\x04\x22\x4d\x18" // 0x184D2204 little-endian
)

// Decompress detects the compression of r from its first bytes and returns a
// reader of the decompressed stream: zstd, gzip, legacy LZ4, or an
// uncompressed newc archive ("070701"/"070702"), which passes through.
// The LZ4 frame format is refused because the kernel cannot read it.
// Close releases the decompressor; it does not close r. Decompression errors,
// such as a corrupt stream or a bad checksum, surface from Read.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReader(r)
	peek, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", fmt.Errorf("initramfs: read magic: %w", err)
	}
	head := string(peek)
	switch {
	case strings.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxDecodeWindow),
			zstd.WithDecoderLowmem(true),
		)
		if err != nil {
			return nil, "", fmt.Errorf("initramfs: zstd: %w", err)
		}
		return readCloser{Reader: zr, close: func() error { zr.Close(); return nil }}, Zstd, nil
	case strings.HasPrefix(head, gzipMagic):
		gr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("initramfs: gzip: %w", err)
		}
		return gr, Gzip, nil
	case strings.HasPrefix(head, lz4LegacyMagic):
		lr := lz4.NewReader(br)
		return readCloser{Reader: lr, close: func() error { return nil }}, LZ4, nil
	case strings.HasPrefix(head, lz4FrameMagic):
		return nil, "", errors.New("initramfs: LZ4 frame format; the kernel reads only the legacy format (lz4 -l)")
	case strings.HasPrefix(head, newcMagic) || strings.HasPrefix(head, crcMagic):
		return io.NopCloser(br), None, nil
	case len(head) == 0:
		return nil, "", fmt.Errorf("initramfs: empty input: %w", io.ErrUnexpectedEOF)
	}
	return nil, "", fmt.Errorf("initramfs: unknown format (first bytes % x); want zstd, gzip, legacy lz4 or a newc cpio archive", head)
}

// readCloser pairs a Reader with a Close function.
type readCloser struct {
	io.Reader
	close func() error
}

func (rc readCloser) Close() error { return rc.close() }
