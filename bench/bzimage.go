package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// x86 boot protocol offsets (Linux Documentation/arch/x86/boot.rst, "The
// real-mode kernel header").
const (
	bootFlagOff    = 0x1fe // 0xAA55
	headerMagicOff = 0x202 // "HdrS"
	versionOff     = 0x206 // boot protocol version
	initSizeOff    = 0x260 // init_size, protocol 2.10+
	minHeaderLen   = initSizeOff + 4
)

// KernelInitSize reads init_size from the setup header of an x86 bzImage:
// the linear memory the kernel needs from its load address until it can
// look at the memory map, i.e. the decompressed kernel with its
// decompression room. It is the "as loaded" size of a kernel image. hdr is
// the start of the file (at least 0x264 bytes).
func KernelInitSize(hdr []byte) (uint32, error) {
	if len(hdr) < minHeaderLen {
		return 0, fmt.Errorf("bzImage header: %d bytes, need %d", len(hdr), minHeaderLen)
	}
	if binary.LittleEndian.Uint16(hdr[bootFlagOff:]) != 0xaa55 || string(hdr[headerMagicOff:headerMagicOff+4]) != "HdrS" {
		return 0, errors.New("not an x86 bzImage (no 0xAA55 boot flag and HdrS magic)")
	}
	if v := binary.LittleEndian.Uint16(hdr[versionOff:]); v < 0x020a {
		return 0, fmt.Errorf("bzImage boot protocol %d.%02d has no init_size (needs 2.10)", v>>8, v&0xff)
	}
	n := binary.LittleEndian.Uint32(hdr[initSizeOff:])
	if n == 0 {
		return 0, errors.New("bzImage init_size is 0")
	}
	return n, nil
}
