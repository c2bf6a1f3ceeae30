package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/turbo-image/turbo-image/internal/format/fat32"
	"github.com/turbo-image/turbo-image/internal/format/isoimage"
	"github.com/turbo-image/turbo-image/internal/format/uki"
)

// sniffBootFile tells a bare file given to run apart: bootUKI for a PE
// image with a .linux section, bootISO for an ISO 9660 volume ("CD001"
// at block 16), "" for anything else (a disk image).
func sniffBootFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 2)
	if _, err := io.ReadFull(f, head); err == nil && string(head) == "MZ" {
		b, err := io.ReadAll(io.LimitReader(f, maxUKI))
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		u, err := uki.Parse(append(head, b...))
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if !u.IsUKI() {
			return "", fmt.Errorf("%s is a PE image without a .linux section, not a Unified Kernel Image", path)
		}
		return bootUKI, nil
	}
	cd := make([]byte, 6)
	if _, err := f.ReadAt(cd, 16*isoimage.BlockSize); err == nil && bytes.Equal(cd[1:], []byte("CD001")) {
		return bootISO, nil
	}
	return "", nil
}

// maxUKI bounds what run reads of a file it takes for a UKI.
const maxUKI = 1 << 30

// ukiDisk writes a temporary hybrid image in dir holding the UKI at path as
// EFI/BOOT/BOOTX64.EFI, the removable-media path firmware starts when a
// disk has no boot variable, and returns its path. It is attached as a
// disk, so OVMF finds the EFI system partition through the image's MBR,
// as it would on a USB stick written with live.iso.
func ukiDisk(path, dir string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	u, err := uki.Parse(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	loader := "EFI/BOOT/BOOTX64.EFI"
	switch u.Machine {
	case 0x8664:
	case 0xaa64:
		loader = "EFI/BOOT/BOOTAA64.EFI"
	default:
		return "", fmt.Errorf("%s: a UKI for PE machine %#x; run boots x86-64 and arm64 ones", path, u.Machine)
	}
	im := isoimage.Image{VolumeID: "TURBO_UKI", ESP: []fat32.File{{Path: loader, Data: b}}}
	size, err := isoimage.Size(im)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "uki-disk.img")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	err = f.Truncate(size)
	if err == nil {
		err = isoimage.Write(f, im)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", errors.Join(fmt.Errorf("the boot image for %s: %w", path, err), os.Remove(p))
	}
	return p, nil
}

// isISOFile sniffs an ISO 9660 volume.
func isISOFile(p string) bool {
	kind, err := sniffBootFile(p)
	return err == nil && kind == bootISO
}

// errISO is inspect's answer for an ISO: it lists build folders, disks,
// UKIs and initramfs images, not ISOs.
func errISO(p string) error {
	return fmt.Errorf("%s is an ISO 9660 image: inspect reads the build folder it came from (its uki.efi is what the ISO boots); xorriso -indev %s -report_el_torito plain lists the ISO itself", p, p)
}
