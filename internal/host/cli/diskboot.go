package cli

import (
	"fmt"
	"github.com/turbo-image/turbo-image/bootloader"
	"os"
	"path"
	"path/filepath"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// diskBoot is one turbo direct boot: the entry systemd-boot would pick,
// with its kernel and initrd copied out of the ESP.
type diskBoot struct {
	file           string // entry file name, before the rename
	renamed        string // after systemd-boot's counter rename, "" if none
	slot           string
	version        string
	kernel, initrd string
	cmdline        string
}

func (d *diskBoot) describe() string {
	s := fmt.Sprintf("%s (slot %s, version %s)", d.file, d.slot, d.version)
	if d.renamed != "" {
		s += " -> " + d.renamed
	}
	return s
}

// bootPlan opens disk (writable when write is set), reads its ESP and
// returns the entry systemd-boot 252 would boot next with the rename that
// boot costs. The caller closes the disk.
func bootPlan(disk string, write bool) (*diskimage.Disk, diskimage.ESP, bootloader.BootPlan, error) {
	d, err := diskimage.Open(disk, write)
	if err != nil {
		return nil, nil, bootloader.BootPlan{}, err
	}
	fail := func(err error) (*diskimage.Disk, diskimage.ESP, bootloader.BootPlan, error) {
		d.Close()
		return nil, nil, bootloader.BootPlan{}, err
	}
	esp, err := d.ESP()
	if err != nil {
		return fail(err)
	}
	st, err := slots.Read(esp)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", disk, err))
	}
	plan, err := st.Plan()
	if err != nil {
		return fail(fmt.Errorf("%s: %w", disk, err))
	}
	return d, esp, plan, nil
}

// prepareDiskBoot reads the disk's ESP, picks the entry exactly as
// systemd-boot 252 would, applies its boot-counter rename on the disk when
// apply is set (every attempt costs a try before the kernel starts), and
// copies the entry's kernel and initrd into dir.
func prepareDiskBoot(disk, dir string, apply bool) (*diskBoot, error) {
	d, esp, plan, err := bootPlan(disk, apply)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	e := plan.Entry
	b := &diskBoot{file: e.FileName, slot: slots.SlotOf(e), version: e.Version, cmdline: e.Options}
	if e.UKI {
		return nil, fmt.Errorf("%s: entry %s is a unified kernel image (disk.boot_entries: uki): turbo direct boot reads Type #1 entries only; boot it with --boot uefi", disk, e.FileName)
	}
	if len(e.Initrd) != 1 || e.Linux == "" {
		return nil, fmt.Errorf("%s: entry %s: turbo direct boot needs one linux and one initrd line", disk, e.FileName)
	}
	for _, c := range []struct {
		from string
		to   *string
		name string
	}{{e.Linux, &b.kernel, "linux"}, {e.Initrd[0], &b.initrd, "initrd"}} {
		data, err := esp.ReadFile(slots.ESPPath(c.from))
		if err != nil {
			return nil, fmt.Errorf("%s: entry %s: %w", disk, e.FileName, err)
		}
		*c.to = filepath.Join(dir, c.name)
		if err := os.WriteFile(*c.to, data, 0o644); err != nil {
			return nil, err
		}
	}
	if plan.Rename && apply {
		if err := esp.Rename(path.Join(slots.EntriesDir, plan.OldFileName), path.Join(slots.EntriesDir, plan.NewFileName)); err != nil {
			return nil, fmt.Errorf("%s: boot counter: %w", disk, err)
		}
		if err := esp.Sync(); err != nil {
			return nil, err
		}
		if err := d.Sync(); err != nil {
			return nil, err
		}
		b.renamed = plan.NewFileName
	}
	return b, nil
}
