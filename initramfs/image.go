package initramfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Limits bound what an [ImageReader] accepts, so that a small hostile image
// (a decompression bomb, millions of entries with long names) gives a clear
// error instead of exhausting memory or time. A zero field means no limit.
type Limits struct {
	// Entries is the number of entries across all archives (trailers not
	// counted).
	Entries int
	// NameBytes is the total length of entry names and symlink targets, the
	// metadata a caller that keeps a listing holds.
	NameBytes int64
	// Bytes is the total size of the decompressed archives (headers, names
	// and data of every member; plain members count their own size).
	Bytes int64
}

// DefaultLimits returns limits far above any appliance initramfs (an
// appliance holds tens to thousands of entries and tens of MiB) that keep
// the memory a listing needs near 100 MiB: 100,000 entries, 32 MiB of
// names and link targets, 1 GiB ([DefaultReadLimit]) decompressed.
func DefaultLimits() Limits {
	return Limits{Entries: 100_000, NameBytes: 32 << 20, Bytes: DefaultReadLimit}
}

// ErrLimit is wrapped by the error an [ImageReader] returns when the image
// exceeds its [Limits].
var ErrLimit = errors.New("limit exceeded")

// Member is one top-level part of an initramfs image: a plain newc archive
// or one compressed stream (which may itself hold several archives).
type Member struct {
	Compression Compression
	// Offset is where the member starts in the image.
	Offset int64
	// Size is the member's length in the image; for a compressed member it
	// is known once the member has been read to its end.
	Size int64
	// Decompressed is the member's decompressed length (equal to Size for a
	// plain member), as far as read.
	Decompressed int64
}

// ImageEntry is an entry of an initramfs image with where it came from.
type ImageEntry struct {
	Entry
	// Member is the index of the [Member] holding the entry, Archive the
	// index of the cpio archive (counted over the whole image; the kernel's
	// hard-link table is reset at the end of each archive).
	Member, Archive int
	// Offset is the offset of the entry's header in its member's
	// (decompressed) stream.
	Offset int64
}

// ImageReader reads what Linux unpacks from an initramfs image: every
// archive of every member, in order, following init/initramfs.c
// (unpack_to_rootfs, flush_buffer, do_reset):
//
//   - At the top level, zero bytes are skipped; a '0' at an offset that is
//     a multiple of 4 starts a plain newc archive; anything else must be
//     the magic of a compressed member (zstd, gzip or legacy LZ4 here; the
//     kernel also knows bzip2, LZMA, XZ and LZO, which are refused with a
//     clear error), which is decompressed up to its own end, and the image
//     goes on after it.
//   - Inside a decompressed member, zero bytes after a trailer are padding,
//     another archive may start at a multiple of 4 of the decompressed
//     stream, any other byte is "junk within compressed archive", and the
//     member must end after a trailer and its padding.
//   - A zstd member is one frame (lib/decompress_unzstd.c decodes a single
//     frame; a second frame is the next member); a gzip member is one gzip
//     member; a legacy LZ4 member runs to the end of the image (less than
//     4 bytes left) or to a zero chunk length (zero padding) and may repeat
//     the magic between chunks (lib/decompress_unlz4.c).
//
// Each archive is read with [Reader], strictly. Memory stays bounded by the
// largest name, symlink target and decompression window whatever the
// input; [Limits] bound the work.
type ImageReader struct {
	top     *countReader
	lim     Limits
	members []Member
	archive int // archives started so far

	cur   *Reader      // the archive being read, or nil
	in    *countReader // the decompressed stream of the current compressed member, or nil
	dec   io.Closer    // closes the decompressor of the current member
	pad   int64        // the current member must reach this offset (the trailer's padding) before it ends
	seen  bool         // the current compressed member has finished an archive
	frame *zstdFrame   // the frame of the current zstd member, or nil

	entries   int
	nameBytes int64
	bytes     int64 // decompressed bytes so far (budget for Limits.Bytes)
	lz4buf    []byte
	err       error
}

// NewImageReader returns an ImageReader of the image read from r. It reads r
// through its own buffer.
func NewImageReader(r io.Reader, lim Limits) *ImageReader {
	return &ImageReader{top: &countReader{br: bufio.NewReaderSize(r, 64<<10)}, lim: lim, archive: -1}
}

// Members returns the members seen so far (all of them once Next has
// returned io.EOF).
func (ir *ImageReader) Members() []Member { return ir.members }

// Read reads the data of the current entry if it is a regular file.
func (ir *ImageReader) Read(p []byte) (int, error) {
	if ir.err != nil {
		return 0, ir.err
	}
	if ir.cur == nil {
		return 0, io.EOF
	}
	n, err := ir.cur.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = ir.fail(err)
	}
	return n, err
}

// fail makes err sticky, wrapped with the member it happened in.
func (ir *ImageReader) fail(err error) error {
	where := ""
	if len(ir.members) > 0 {
		m := ir.members[len(ir.members)-1]
		where = fmt.Sprintf("member %d (%s at offset %d): ", len(ir.members)-1, m.Compression, m.Offset)
	}
	ir.err = &prefixError{prefix: "initramfs: " + where, err: err}
	ir.close()
	return ir.err
}

// prefixError puts a prefix before an error's message, once: the
// "initramfs: " that errors of [Reader] already carry is not repeated.
type prefixError struct {
	prefix string
	err    error
}

func (e *prefixError) Error() string {
	return e.prefix + strings.TrimPrefix(e.err.Error(), "initramfs: ")
}

func (e *prefixError) Unwrap() error { return e.err }

func (ir *ImageReader) close() {
	if ir.dec != nil {
		ir.dec.Close()
		ir.dec = nil
	}
}

// Close releases the decompressor of the current member, if any. It does
// not close the underlying reader.
func (ir *ImageReader) Close() error {
	ir.close()
	return nil
}

// Next returns the next entry of the image, or io.EOF after its end. Errors
// name the member (its compression and offset) and the entry.
func (ir *ImageReader) Next() (ImageEntry, error) {
	if ir.err != nil {
		return ImageEntry{}, ir.err
	}
	for {
		if ir.cur != nil {
			e, err := ir.cur.Next()
			if err == nil {
				return ir.entry(e)
			}
			if !errors.Is(err, io.EOF) {
				return ImageEntry{}, ir.fail(err)
			}
			// The trailer was read; its padding is still ahead.
			if ir.in != nil {
				ir.pad = ir.in.n + pad4(ir.in.n)
				ir.seen = true
			} else {
				m := &ir.members[len(ir.members)-1]
				m.Size = ir.top.n - m.Offset
				m.Decompressed = m.Size
			}
			ir.cur = nil
			continue
		}
		if ir.in != nil {
			if err := ir.stepInner(); err != nil {
				return ImageEntry{}, ir.fail(err)
			}
			continue
		}
		done, err := ir.stepTop()
		if err != nil {
			return ImageEntry{}, ir.fail(err)
		}
		if done {
			return ImageEntry{}, io.EOF
		}
	}
}

// entry checks the limits and wraps e.
func (ir *ImageReader) entry(e Entry) (ImageEntry, error) {
	ir.entries++
	ir.nameBytes += int64(len(e.Name) + len(e.Linkname))
	switch {
	case ir.lim.Entries > 0 && ir.entries > ir.lim.Entries:
		return ImageEntry{}, ir.fail(fmt.Errorf("more than %d entries: %w", ir.lim.Entries, ErrLimit))
	case ir.lim.NameBytes > 0 && ir.nameBytes > ir.lim.NameBytes:
		return ImageEntry{}, ir.fail(fmt.Errorf("names and link targets exceed %d bytes in total: %w", ir.lim.NameBytes, ErrLimit))
	}
	if ir.in == nil { // plain member: its size grows with each entry
		m := &ir.members[len(ir.members)-1]
		m.Size = ir.top.n - m.Offset
		m.Decompressed = m.Size
	}
	return ImageEntry{Entry: e, Member: len(ir.members) - 1, Archive: ir.archive, Offset: ir.cur.start}, nil
}

// startArchive starts reading a newc archive at offset off of r.
func (ir *ImageReader) startArchive(r io.Reader, off int64) {
	ir.archive++
	ir.cur = NewReader(r)
	ir.cur.off = off
}

// stepInner takes one step in a decompressed member: skip a zero byte,
// start an archive, or finish the member.
func (ir *ImageReader) stepInner() error {
	m := &ir.members[len(ir.members)-1]
	b, err := ir.in.Peek(1)
	m.Decompressed = ir.in.n
	if errors.Is(err, io.EOF) {
		switch {
		case !ir.seen:
			return fmt.Errorf("decompressed data hold no cpio archive (the kernel reports %q)", "junk at the end of compressed archive")
		case ir.in.n < ir.pad:
			return fmt.Errorf("decompressed data end inside the padding after the trailer, at offset %d (the kernel reports %q)", ir.in.n, "junk at the end of compressed archive")
		}
		if ir.frame != nil {
			if n, _ := ir.frame.Read(make([]byte, 1)); n > 0 || !ir.frame.done {
				return errors.New("zstd decoder stopped before the end of its frame")
			}
		}
		m.Size = ir.top.n - m.Offset
		ir.close()
		ir.in, ir.frame = nil, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	switch {
	case b[0] == 0:
		_, err := ir.in.Discard(1)
		return err
	case b[0] == '0' && ir.in.n%4 == 0:
		ir.startArchive(ir.in, ir.in.n)
		return nil
	case b[0] == '0':
		return fmt.Errorf("cpio archive at decompressed offset %d is not 4-byte aligned (the kernel reports %q)", ir.in.n, "broken padding")
	}
	return fmt.Errorf("byte %#02x at decompressed offset %d is neither padding nor a cpio archive (the kernel reports %q)", b[0], ir.in.n, "junk within compressed archive")
}

// stepTop takes one step at the top level: skip a zero byte, start a plain
// or compressed member, or report the end of the image.
func (ir *ImageReader) stepTop() (done bool, err error) {
	b, err := ir.top.Peek(1)
	if errors.Is(err, io.EOF) {
		if len(ir.members) == 0 {
			if ir.top.n == 0 {
				return false, fmt.Errorf("empty input: %w", io.ErrUnexpectedEOF)
			}
			return false, fmt.Errorf("%d zero bytes and no archive: %w", ir.top.n, io.ErrUnexpectedEOF)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read: %w", err)
	}
	off := ir.top.n
	if b[0] == 0 {
		_, err := ir.top.Discard(1)
		return false, err
	}
	if b[0] == '0' && off%4 == 0 {
		ir.members = append(ir.members, Member{Compression: None, Offset: off})
		ir.startArchive(ir.top, off)
		return false, nil
	}
	head, _ := ir.top.Peek(6)
	c, dec, err := ir.decompressor(string(head))
	if err != nil {
		return false, fmt.Errorf("at offset %d: %w", off, err)
	}
	ir.members = append(ir.members, Member{Compression: c, Offset: off})
	ir.dec = dec
	ir.in = &countReader{br: bufio.NewReaderSize(&budgetReader{r: dec.(io.Reader), ir: ir}, 64<<10)}
	ir.seen, ir.pad = false, 0
	return false, nil
}

// decompressor starts the decompressor of a member beginning with head.
func (ir *ImageReader) decompressor(head string) (Compression, io.ReadCloser, error) {
	switch {
	case strings.HasPrefix(head, zstdMagic):
		fr, err := newZstdFrame(ir.top)
		if err != nil {
			return "", nil, err
		}
		ir.frame = fr
		zr, err := zstd.NewReader(fr,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxDecodeWindow),
			zstd.WithDecoderLowmem(true),
		)
		if err != nil {
			return "", nil, fmt.Errorf("zstd: %w", err)
		}
		return Zstd, readCloser{Reader: zr, close: func() error { zr.Close(); return nil }}, nil
	case strings.HasPrefix(head, gzipMagic):
		// ir.top is an io.ByteReader, so the inflater reads no byte past
		// the member's end.
		gr, err := gzip.NewReader(ir.top)
		if err != nil {
			return "", nil, fmt.Errorf("gzip: %w", err)
		}
		gr.Multistream(false)
		return Gzip, gr, nil
	case strings.HasPrefix(head, lz4LegacyMagic):
		if ir.lz4buf == nil {
			ir.lz4buf = make([]byte, lz4LegacyBlock)
		}
		return LZ4, io.NopCloser(&lz4Legacy{r: ir.top, dst: ir.lz4buf}), nil
	case strings.HasPrefix(head, lz4FrameMagic):
		return "", nil, errors.New("LZ4 frame format; the kernel reads only the legacy format (lz4 -l)")
	}
	for _, k := range []struct{ magic, name string }{
		{"BZh", "bzip2"}, {"\x5d\x00\x00", "LZMA"}, {"\xfd7zXZ\x00", "XZ"}, {"\x89LZO\x00", "LZO"},
	} {
		if strings.HasPrefix(head, k.magic) {
			return "", nil, fmt.Errorf("%s-compressed member: the kernel may unpack it, but this reader knows only zstd, gzip and legacy LZ4", k.name)
		}
	}
	if head[0] == '0' {
		return "", nil, errors.New("cpio archive not 4-byte aligned (the kernel reports \"invalid magic at start of compressed archive\")")
	}
	return "", nil, fmt.Errorf("unknown format (first bytes % x): not a newc archive (\"070701\"), zstd, gzip or legacy LZ4 (the kernel reports \"invalid magic at start of compressed archive\")", head)
}

// budgetReader counts decompressed bytes against Limits.Bytes.
type budgetReader struct {
	r  io.Reader
	ir *ImageReader
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.ir.bytes += int64(n)
	if lim := b.ir.lim.Bytes; lim > 0 && b.ir.bytes > lim {
		return n, fmt.Errorf("more than %d bytes decompressed: %w", lim, ErrLimit)
	}
	return n, err
}

// countReader is a buffered reader that counts the bytes consumed. It is an
// io.ByteReader, so inflaters read exactly the bytes they need.
type countReader struct {
	br *bufio.Reader
	n  int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.br.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countReader) Peek(n int) ([]byte, error) { return c.br.Peek(n) }

func (c *countReader) Discard(n int) (int, error) {
	d, err := c.br.Discard(n)
	c.n += int64(d)
	return d, err
}

// zstdFrame passes exactly one zstd frame (RFC 8878 section 3.1.1) from r
// and then reports io.EOF, so that the decoder cannot read into the member
// after it.
type zstdFrame struct {
	r        *countReader
	left     int64 // bytes of the current part (header, block, checksum) still to pass
	last     bool  // the current block is the frame's last
	checksum bool  // the frame ends with a 4-byte checksum
	blocks   bool  // block headers have started
	done     bool
}

// Largest zstd block (RFC 8878 section 3.1.1.2.3: Block_Maximum_Size).
const zstdMaxBlock = 128 << 10

func newZstdFrame(r *countReader) (*zstdFrame, error) {
	h, err := r.Peek(5)
	if err != nil {
		return nil, fmt.Errorf("zstd frame header: %w", io.ErrUnexpectedEOF)
	}
	fhd := h[4]
	if fhd&0x08 != 0 {
		return nil, errors.New("zstd frame header has its reserved bit set")
	}
	single := fhd&0x20 != 0
	n := int64(5)
	if !single {
		n++ // window descriptor
	}
	n += [4]int64{0, 1, 2, 4}[fhd&3] // dictionary ID
	switch fhd >> 6 {                // frame content size
	case 0:
		if single {
			n++
		}
	case 1:
		n += 2
	case 2:
		n += 4
	case 3:
		n += 8
	}
	return &zstdFrame{r: r, left: n, checksum: fhd&0x04 != 0}, nil
}

func (z *zstdFrame) Read(p []byte) (int, error) {
	for z.left == 0 {
		if z.done || (z.blocks && z.last) {
			if z.checksum && !z.done {
				z.left, z.done = 4, true
				continue
			}
			z.done = true
			return 0, io.EOF
		}
		b, err := z.r.Peek(3)
		if err != nil {
			return 0, fmt.Errorf("zstd block header: %w", io.ErrUnexpectedEOF)
		}
		bh := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		z.blocks, z.last = true, bh&1 != 0
		size := int64(bh >> 3)
		switch (bh >> 1) & 3 {
		case 1: // RLE: one byte repeated size times
			size = 1
		case 3:
			return 0, errors.New("zstd block of the reserved type")
		}
		if size > zstdMaxBlock {
			return 0, fmt.Errorf("zstd block of %d bytes, more than %d", size, zstdMaxBlock)
		}
		z.left = 3 + size
	}
	if int64(len(p)) > z.left {
		p = p[:z.left]
	}
	n, err := z.r.Read(p)
	z.left -= int64(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// lz4LegacyBlock is the uncompressed size of a legacy LZ4 chunk (8 MiB).
const lz4LegacyBlock = 8 << 20

// lz4Legacy decompresses the legacy LZ4 format as lib/decompress_unlz4.c
// does: little-endian 32-bit chunk lengths, each followed by a block of at
// most 8 MiB uncompressed; the magic may repeat between chunks; the stream
// ends where fewer than 4 bytes are left or at a zero chunk length (zero
// padding, which is not consumed: "lib/decompress_unlz4.c: correctly handle
// zero-padding around initrds", Linux 5.10).
type lz4Legacy struct {
	r   *countReader
	dst []byte
	src []byte
	out []byte // decompressed bytes not yet returned
}

func (l *lz4Legacy) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		b, err := l.r.Peek(4)
		if len(b) < 4 && errors.Is(err, io.EOF) {
			return 0, io.EOF // fewer than 4 bytes left: the end (the image goes on with them)
		}
		if err != nil {
			return 0, fmt.Errorf("lz4 chunk length: %w", err)
		}
		size := binary.LittleEndian.Uint32(b)
		if string(b) == lz4LegacyMagic {
			l.r.Discard(4)
			continue
		}
		if size == 0 {
			return 0, io.EOF
		}
		if int64(size) > int64(lz4.CompressBlockBound(lz4LegacyBlock)) {
			return 0, fmt.Errorf("lz4 chunk length %d is more than a compressed 8 MiB block can take", size)
		}
		l.r.Discard(4)
		if cap(l.src) < int(size) {
			l.src = make([]byte, size)
		}
		src := l.src[:size]
		if _, err := io.ReadFull(l.r, src); err != nil {
			return 0, fmt.Errorf("lz4 chunk: %w", io.ErrUnexpectedEOF)
		}
		n, err := lz4.UncompressBlock(src, l.dst)
		if err != nil {
			return 0, fmt.Errorf("lz4 chunk: %w", err)
		}
		l.out = l.dst[:n]
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}
