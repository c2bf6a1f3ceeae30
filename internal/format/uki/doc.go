// Package uki writes and reads Unified Kernel Images: one PE/COFF UEFI
// application made of systemd's EFI stub (systemd-stub, Debian's
// systemd-boot-efi package: linuxx64.efi.stub) with the kernel, the
// initramfs, the command line and os-release added as PE sections, which
// firmware or a boot loader starts as one file.
//
// The format follows the UAPI Group's Unified Kernel Image specification
// (uapi-group/specifications, specs/unified_kernel_image.md: the section
// names .linux, .osrel, .cmdline, .initrd, .uname) and the PE/COFF
// specification (Microsoft "PE Format": section table, SectionAlignment
// and FileAlignment, SizeOfImage, the image checksum). Sections are
// appended after the stub's own, as systemd's ukify does, with .linux last
// so that the kernel, which the x86 stub of systemd 252 runs in place
// through the EFI handover protocol, has the memory after it to decompress
// into.
//
// It is written here rather than with a library: the maintained UKI
// builders are ukify (Python, with pefile) and objcopy; the Go ones on the
// module proxy are internal packages of larger projects (Talos's
// internal/pkg/secureboot/uki), which cannot be imported. The stub is read
// with the standard library's debug/pe and only the header fields the
// specification says change are rewritten, so the output is a pure
// function of the inputs: byte-identical across builds.
package uki
