package builder

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/turbo-image/turbo-image/bootloader"
	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/format/squashfs"
	"github.com/turbo-image/turbo-image/internal/format/uki"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// Disk artifacts in a build directory. The slot payloads are kept next to
// the image so that `turbo-image flash` can write them into the inactive
// slot of an existing disk without opening this image.
const (
	DiskFile          = "disk.img"
	SlotRootFile      = manifest.SlotRoot
	SlotInitramfsFile = "slot-initramfs" // + compression extension; matches manifest.SlotInitramfsPrefix
)

// DefaultSystemdBoot is where Debian's systemd-boot-efi package puts the
// boot loader.
const DefaultSystemdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// DefaultSystemdBootAA64 is the same for arm64 (package systemd-boot-efi
// of Debian's arm64 port).
const DefaultSystemdBootAA64 = "/usr/lib/systemd/boot/efi/systemd-bootaa64.efi"

// removablePath is where firmware looks for the boot loader of a disk
// without boot variables: the removable-media path of UEFI specification
// 2.10, section 3.5.1.1 (BOOTX64.EFI on x86-64, BOOTAA64.EFI on AArch64).
func removablePath(arch string) string {
	if arch == "arm64" {
		return "EFI/BOOT/BOOTAA64.EFI"
	}
	return "EFI/BOOT/BOOTX64.EFI"
}

// slotInitramfs is the initramfs of a disk slot: only the init, its config
// and the build id; the init mounts the slot's root partition and switches
// into it.
func slotInitramfs(initBin, cfg []byte, id string) []initramfs.Record {
	recs := []initramfs.Record{
		initramfs.File("init", 0o755, initBin),
		initramfs.File("etc/turbo/init.json", 0o644, cfg),
		initramfs.File("etc/turbo/build-id", 0o644, []byte(id+"\n")),
		initramfs.Dir("newroot", 0o755),
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp"} {
		recs = append(recs, initramfs.Dir(d, 0o755))
	}
	return append(recs, deviceNodes()...)
}

// squashfsTree converts archive records to squashfs tree entries. Device
// nodes are left out: a slot root gets /dev from devtmpfs.
func squashfsTree(recs []initramfs.Record) []squashfs.Entry {
	var out []squashfs.Entry
	for _, r := range recs {
		perm := fs.FileMode(r.Perm() & 0o777)
		if r.Perm()&initramfs.ModeSticky != 0 {
			perm |= fs.ModeSticky
		}
		if r.Perm()&initramfs.ModeSetuid != 0 {
			perm |= fs.ModeSetuid
		}
		if r.Perm()&initramfs.ModeSetgid != 0 {
			perm |= fs.ModeSetgid
		}
		e := squashfs.Entry{Path: r.Name, UID: r.UID, GID: r.GID}
		switch r.Type() {
		case initramfs.TypeDir:
			e.Mode = fs.ModeDir | perm
		case initramfs.TypeSymlink:
			e.Mode, e.Linkname = fs.ModeSymlink|0o777, r.Linkname
		case initramfs.TypeReg:
			e.Mode, e.Data = perm, r.Data
		default:
			continue
		}
		out = append(out, e)
	}
	return out
}

// buildDisk writes the disk image and the slot payloads.
func buildDisk(r *recipe.Recipe, o Options, app []initramfs.Record, initBin, cfg []byte, id string, kernelImage []byte,
	comp initramfs.Compression, opts initramfs.Options, out *outputs, header *manifest.Manifest,
	sign func([]byte, string) ([]byte, error)) error {
	sdboot, _ := systemdBoot(o, r)
	loader, err := os.ReadFile(sdboot)
	if err != nil {
		return fmt.Errorf("disk: systemd-boot: %w (install Debian's systemd-boot-efi, or give its path with --systemd-boot or disk.systemd_boot)", err)
	}
	if loader, err = sign(loader, "systemd-boot"); err != nil {
		return err
	}
	slotInitrd, slotComp, err := compressedArchive(slotInitramfs(initBin, cfg, id), opts, comp)
	if err != nil {
		return fmt.Errorf("slot initramfs: %w", err)
	}
	root := append(append([]initramfs.Record{}, app...),
		initramfs.File("etc/turbo/init.json", 0o644, cfg),
		initramfs.File("etc/turbo/build-id", 0o644, []byte(id+"\n")))
	canon, err := initramfs.Canonicalize(root, opts)
	if err != nil {
		return fmt.Errorf("slot root: %w", err)
	}
	sqComp := r.Disk.RootCompression
	if sqComp == "" { // a recipe made in code rather than decoded
		sqComp = recipe.DefaultRootCompression
	}
	squash, err := squashfs.BuildOptions(squashfsTree(canon), squashfs.Options{Compression: sqComp, BlockSize: int(r.Disk.RootBlockSize)})
	if err != nil {
		return fmt.Errorf("slot root: %w", err)
	}
	if err := out.add(SlotInitramfsFile+slotComp.Extension(), slotInitrd); err != nil {
		return err
	}
	if err := out.add(SlotRootFile, squash); err != nil {
		return err
	}
	// The slot's own manifest goes on the ESP: a later flash reads what the
	// slot runs from it.
	sm := *header
	sm.Artifacts = out.artifacts
	slotManifest, err := sm.Slot().Marshal()
	if err != nil {
		return fmt.Errorf("slot manifest: %w", err)
	}
	// A fresh image's slot a is blessed (no counter): quick reboots of a
	// new image never run it out of tries.
	entry := slots.NewEntry(1, slots.SlotA, r.Name, r.Version, Cmdline(r))
	boot := []diskimage.File{
		{Path: slots.EntriesDir + "/" + bootloader.EntryFileName(entry.ID, bootloader.Counter{}), Data: entry.Format()},
		{Path: "a/linux", Data: kernelImage},
		{Path: "a/initrd", Data: slotInitrd},
	}
	if r.Disk.BootEntries == recipe.BootEntriesUKI {
		if boot, err = slotUKIs(o, r, kernelImage, slotInitrd, out, sign); err != nil {
			return err
		}
	}
	img := diskimage.Image{
		Layout: diskimage.Layout{ESPSize: r.Disk.ESPSize, SlotSize: r.Disk.RootSize, DataSize: r.Disk.DataSize,
			Arch: r.Arch, Seed: r.Name + "\x00" + r.Version},
		ESP: append([]diskimage.File{
			{Path: removablePath(r.Arch), Data: loader},
			{Path: slots.LoaderConfPath, Data: slots.LoaderConf()},
			{Path: "a/" + manifest.FileName, Data: slotManifest},
		}, boot...),
		SlotA: squash,
		// /data is written as an empty ext4 here, reproducibly, so the
		// first boot only mounts it.
		DataExt4: true,
		Epoch:    o.SourceDateEpoch,
	}
	// The image is big and sparse: written in place, never held in memory.
	return out.addWith(DiskFile, func(p string) error { return diskimage.Write(p, img) })
}

// slotUKIs writes the UKIs of both slots into the build (a flash into
// slot b takes slot-b.efi) and returns slot a's as the disk's first boot
// entry: a Type #2 entry (UAPI.1 Boot Loader Specification, "Type #2 EFI
// Unified Kernel Images") in EFI/Linux, blessed. Each UKI is the slot's
// kernel and initramfs in systemd's stub with a command line naming the
// slot, signed when the build signs.
func slotUKIs(o Options, r *recipe.Recipe, kernelImage, slotInitrd []byte, out *outputs,
	sign func([]byte, string) ([]byte, error)) ([]diskimage.File, error) {
	p, _ := systemdStub(o, r)
	stub, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("disk.boot_entries uki: systemd-stub: %w", err)
	}
	var first []byte
	for _, slot := range []string{slots.SlotA, slots.SlotB} {
		b, err := uki.Build(uki.Image{Stub: stub, Linux: kernelImage, Initrd: slotInitrd,
			Cmdline: slots.UKICmdline(slot, Cmdline(r)), OSRelease: slots.UKIOSRelease(slot, r.Name, r.Version)})
		if err != nil {
			return nil, fmt.Errorf("slot %s UKI: %w", slot, err)
		}
		name := manifest.SlotUKIName(slot)
		if b, err = sign(b, name); err != nil {
			return nil, err
		}
		if err := out.add(name, b); err != nil {
			return nil, err
		}
		if first == nil {
			first = b
		}
	}
	e := slots.NewUKIEntry(1, slots.SlotA, r.Name, r.Version, Cmdline(r))
	return []diskimage.File{{Path: slots.EntryPath(e), Data: first}}, nil
}
