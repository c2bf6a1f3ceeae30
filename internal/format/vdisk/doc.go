// Package vdisk converts a raw disk image into the virtual disk formats
// hypervisors and clouds import: qcow2 (QEMU, OpenStack), VMDK
// stream-optimized (VMware, VirtualBox) and fixed VHD (Hyper-V, Azure).
//
// Every writer reads the raw image through an io.ReaderAt and writes its
// output strictly in order to an io.Writer, so the output can stream to a
// file or a pipe; clusters (grains) that read as all zeros are not stored
// (qcow2, VMDK) and the raw image, usually sparse, is never held in
// memory. Outputs are reproducible: they hold no time stamps and no random
// identifiers; the identifiers the formats require (the VHD unique ID, the
// VMDK content ID) are given by the caller, derived from the build.
//
// The formats follow their published specifications:
//   - qcow2: QEMU's docs/interop/qcow2.txt, version 3 with no features,
//     clusters stored whole or deflate-compressed (WriteQCOW2Compressed);
//   - VMDK: VMware's "Virtual Disk Format 1.1" (stream-optimized sparse
//     extents with markers, deflate-compressed grains);
//   - VHD: Microsoft's "Virtual Hard Disk Image Format Specification"
//     1.0 (a fixed disk is the raw image followed by a 512-byte footer).
//
// These are written here rather than with a library: no maintained pure-Go
// library on the Go module proxy writes them (go-diskfs handles raw images
// and ISO, not these; the VHD packages that exist are either Windows-only
// (go-winio's vhd calls the Windows API) or write the current time and a
// random UUID into the footer, which would break byte-identical builds).
// Each writer is one short file.
package vdisk
