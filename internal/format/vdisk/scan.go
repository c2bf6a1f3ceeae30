package vdisk

import (
	"errors"
	"fmt"
	"io"
)

// readBlock reads the block [off, off+len(buf)) of a size-byte image into
// buf; the part past the end of the image reads as zeros.
func readBlock(raw io.ReaderAt, size int64, buf []byte, off int64) error {
	n := len(buf)
	if rest := size - off; rest < int64(n) {
		n = int(max(rest, 0))
	}
	clear(buf[n:])
	if n == 0 {
		return nil
	}
	got, err := raw.ReadAt(buf[:n], off)
	if got == n {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading the raw image at %d: %w", off, err)
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// nonZeroBlocks returns the indexes of the blockSize-byte blocks of the
// image that hold a non-zero byte, in order.
func nonZeroBlocks(raw io.ReaderAt, size int64, blockSize int) ([]int64, error) {
	buf := make([]byte, blockSize)
	var out []int64
	for i := int64(0); i*int64(blockSize) < size; i++ {
		if err := readBlock(raw, size, buf, i*int64(blockSize)); err != nil {
			return nil, err
		}
		if !allZero(buf) {
			out = append(out, i)
		}
	}
	return out, nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func checkSize(size int64) error {
	if size <= 0 || size%512 != 0 {
		return fmt.Errorf("raw image size %d: want a positive multiple of 512 bytes", size)
	}
	return nil
}
