package vdisk

import (
	"bytes"
	"io"
)

// Format names, as Detect returns them.
const (
	QCOW2 = "qcow2"
	VMDK  = "vmdk"
	VHD   = "vhd"
)

// Detect returns the virtual disk format of the size-byte image r by its
// magic numbers ("qcow2", "vmdk" or "vhd"), or "" when it is none of them
// (a raw disk, for one). A fixed VHD is recognised by the footer cookie in
// its last 512 bytes, a dynamic one by the footer copy at offset 0; a raw
// GPT disk ends with its backup GPT header ("EFI PART"), never with a
// VHD footer.
func Detect(r io.ReaderAt, size int64) string {
	head := make([]byte, 32)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return QCOW2
	case bytes.HasPrefix(head, []byte("KDMV")), bytes.HasPrefix(head, []byte("# Disk DescriptorFile")):
		return VMDK
	case bytes.HasPrefix(head, []byte("conectix")):
		return VHD
	}
	if size >= VHDFooterSize {
		tail := make([]byte, 8)
		if n, _ := r.ReadAt(tail, size-VHDFooterSize); n == 8 && string(tail) == "conectix" {
			return VHD
		}
	}
	return ""
}

// QEMUFormat is QEMU's block driver name for a format Detect returns
// ("vpc" for VHD), or "raw" for "".
func QEMUFormat(format string) string {
	switch format {
	case "":
		return "raw"
	case VHD:
		return "vpc"
	}
	return format
}
