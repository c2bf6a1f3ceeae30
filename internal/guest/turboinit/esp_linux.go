//go:build linux

package turboinit

import (
	"errors"
	"fmt"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/bootloader"
	"github.com/turbo-image/turbo-image/internal/guest/supervise"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/console"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

const espMount = "/run/turbo/esp"

// withESP mounts the EFI system partition for the duration of fn (read-only
// unless rw) and unmounts it after syncing, so the FAT file system is
// consistent on disk whenever the init is not in the middle of a rename.
// Only one user at a time: the update agent's flash and the loop's
// blessing both mount it.
func (in *Init) withESP(rw bool, fn func(dir string) error) error {
	in.espMu.Lock()
	defer in.espMu.Unlock()
	dev, err := findPartition(slots.ESPPartition, 2*time.Second)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(espMount, 0o755); err != nil {
		return err
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if !rw {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(dev, espMount, "vfat", flags, "flush"); err != nil {
		return fmt.Errorf("mount ESP %s: %w", dev, err)
	}
	ferr := fn(espMount)
	unix.Sync()
	if err := unix.Unmount(espMount, 0); err != nil && ferr == nil {
		ferr = fmt.Errorf("unmount ESP: %w", err)
	}
	return ferr
}

// renameEntry renames a boot entry file on the ESP and syncs the
// directory: a rename is the one atomic operation FAT offers, which is why
// boot counting lives in file names.
func renameEntry(esp string, e *bootloader.Entry, newName string) error {
	dir, oldName := path.Join(esp, e.Dir()), e.FileName
	if err := os.Rename(path.Join(dir, oldName), path.Join(dir, newName)); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// assessBoot reads the boot entries (disk boots only): is this slot on
// trial, and did another slot's trial fail (a rollback)?
func (in *Init) assessBoot() error {
	if in.cmdline.Slot == "" {
		return nil
	}
	var st slots.BootState
	err := in.withESP(false, func(esp string) error {
		state, err := slots.Read(os.DirFS(esp))
		if err != nil {
			return err
		}
		var ok bool
		st, ok = state.Assess(in.cmdline.Slot)
		if !ok {
			return fmt.Errorf("no boot entry for slot %s on the ESP", in.cmdline.Slot)
		}
		// The slot manifest's digest is the build this slot runs
		// (manifest.BuildDigest), reported on TURBO_READY.
		if b, err := os.ReadFile(path.Join(esp, in.cmdline.Slot, manifest.FileName)); err == nil {
			in.build = manifest.SlotManifestDigest(b)
			in.sup.SetBuild(in.build)
		} else {
			in.con.Logf("slot manifest: %v (TURBO_READY will not say which build runs)", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range st.RolledBack {
		in.con.Line(console.Format(console.Rollback, "from", slots.SlotOf(e), "version", e.Version))
	}
	if st.Trial {
		in.trial = &st.Mine
		in.onTrial.Store(true)
		in.con.Line(console.Format(console.Trial, "slot", in.cmdline.Slot, "version", in.cfg.Version,
			"left", fmt.Sprint(st.Mine.Counter.Left), "done", fmt.Sprint(st.Mine.Counter.Done)))
		// The core arms the deadline from now and decides the outcome.
		in.handle(supervise.TrialBegan{})
	}
	return nil
}

// bless drops the trial entry's counter: this slot is good. The core
// prints TURBO_BLESSED, or retries when it fails.
func (in *Init) bless() error {
	e := in.trial
	if e == nil {
		return errors.New("no trial entry")
	}
	if err := in.withESP(true, func(esp string) error { return renameEntry(esp, e, slots.BlessedName(*e)) }); err != nil {
		return err
	}
	in.trial = nil
	in.onTrial.Store(false)
	return nil
}

// markBad renames the trial entry to bad (the core then reboots), so the
// boot loader falls back to the other slot at once instead of spending the
// remaining tries.
func (in *Init) markBad() {
	e := in.trial
	if e == nil {
		return
	}
	if err := in.withESP(true, func(esp string) error { return renameEntry(esp, e, slots.BadName(*e)) }); err != nil {
		in.con.Logf("marking slot %s bad failed: %v (the boot counter still limits its tries)", in.cmdline.Slot, err)
	}
	in.trial = nil
}
