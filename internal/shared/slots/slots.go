// Package slots reads the A/B boot state of an appliance from its EFI
// system partition: loader.conf and the Boot Loader Specification entries,
// one per slot. The ESP is any io/fs file system: the host (turbo direct
// boot, inspect, flash) reads a disk image's FAT32 volume (package fat32,
// through diskimage); the init reads the mounted ESP with os.DirFS. Both
// see the same state because both use this package, which depends on
// io/fs only (the init does not carry the format packages).
package slots

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/turbo-image/turbo-image/bootloader"
)

// GPT partition names of an appliance disk: their one home. Package
// diskimage writes them; the init, which cannot carry that package, and the
// flash code find partitions by these names.
const (
	ESPPartition  = "turbo-esp"
	APartition    = "turbo-" + SlotA
	BPartition    = "turbo-" + SlotB
	DataPartition = "turbo-data"
)

// The two slots.
const (
	SlotA = "a"
	SlotB = "b"
)

// PartitionName is the GPT name of a slot's root partition.
func PartitionName(slot string) string { return "turbo-" + slot }

// Paths on the ESP.
const (
	LoaderConfPath = "loader/loader.conf"
	EntriesDir     = "loader/entries"
	// UKIDir holds the Type #2 entries (Unified Kernel Images) of a disk
	// built with disk.boot_entries: uki.
	UKIDir = bootloader.UKIDir
)

// EntryPath is the path of an entry's file on the ESP.
func EntryPath(e bootloader.Entry) string { return path.Join(e.Dir(), e.FileName) }

// ESPPath turns a path of a boot entry, absolute on the ESP as the Boot
// Loader Specification writes it ("/a/linux"), into an io/fs path
// ("a/linux").
func ESPPath(p string) string {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// State is the boot state of a disk.
type State struct {
	Loader bootloader.LoaderConf
	// Entries are the parsed entries, sorted by file name. Entries whose
	// kernel or initrd is missing on the ESP are left out, as systemd-boot
	// leaves them out.
	Entries []bootloader.Entry
	// Skipped names entries left out, with the reason.
	Skipped []string
}

// Read reads the boot state from an ESP. FAT is case-insensitive; a
// mounted vfat and package fat32 already are.
func Read(esp fs.FS) (*State, error) {
	st := &State{}
	conf, err := fs.ReadFile(esp, LoaderConfPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.Loader = bootloader.LoaderConf{Timeout: bootloader.TimeoutUnset}
	case err != nil:
		return nil, err
	default:
		st.Loader, err = bootloader.ParseLoaderConf(conf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", LoaderConfPath, err)
		}
	}
	// A disk with UKI entries has no loader/entries.
	des, err := fs.ReadDir(esp, EntriesDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", EntriesDir, err)
	}
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(strings.ToLower(name), ".conf") || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := fs.ReadFile(esp, path.Join(EntriesDir, name))
		if err != nil {
			return nil, err
		}
		e, err := bootloader.ParseEntry(name, b)
		if err != nil {
			st.Skipped = append(st.Skipped, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if why := missingFiles(esp, e); why != "" {
			st.Skipped = append(st.Skipped, name+": "+why)
			continue
		}
		st.Entries = append(st.Entries, e)
	}
	if err := st.readUKIs(esp); err != nil {
		return nil, err
	}
	sort.Slice(st.Entries, func(i, j int) bool { return st.Entries[i].FileName < st.Entries[j].FileName })
	return st, nil
}

// readUKIs adds the Type #2 entries in UKIDir: files ending in ".efi"
// (any case, as the loader matches), not starting with '.'. A disk without
// the directory has none.
func (st *State) readUKIs(esp fs.FS) error {
	des, err := fs.ReadDir(esp, UKIDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", UKIDir, err)
	}
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(strings.ToLower(name), bootloader.UKISuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		f, err := esp.Open(path.Join(UKIDir, name))
		if err != nil {
			return err
		}
		e, err := bootloader.ReadUKIEntry(name, f)
		f.Close()
		if err != nil {
			st.Skipped = append(st.Skipped, fmt.Sprintf("%s: %v", path.Join(UKIDir, name), err))
			continue
		}
		st.Entries = append(st.Entries, e)
	}
	return nil
}

func missingFiles(esp fs.FS, e bootloader.Entry) string {
	if !e.Loadable() {
		return "not loadable (no linux or efi line, or another architecture)"
	}
	files := append([]string{e.Linux}, e.Initrd...)
	for _, f := range files {
		if f == "" {
			continue
		}
		p := ESPPath(f)
		base := path.Base(p)
		des, err := fs.ReadDir(esp, path.Dir(p))
		if err != nil {
			return fmt.Sprintf("%s is missing", f)
		}
		found := false
		for _, de := range des {
			found = found || strings.EqualFold(de.Name(), base)
		}
		if !found {
			return fmt.Sprintf("%s is missing", f)
		}
	}
	return ""
}

// SlotOf returns the slot an entry boots (its turbo.slot= option).
func SlotOf(e bootloader.Entry) string {
	for _, w := range strings.Fields(e.Options) {
		if v, ok := strings.CutPrefix(w, "turbo.slot="); ok {
			return v
		}
	}
	return ""
}

// Plan is what systemd-boot would boot next, and the rename it would do.
func (s *State) Plan() (bootloader.BootPlan, error) {
	return bootloader.PlanBoot(s.Loader, s.Entries)
}

// Slot returns the entry of a slot.
func (s *State) Slot(slot string) (bootloader.Entry, bool) {
	for _, e := range s.Entries {
		if SlotOf(e) == slot {
			return e, true
		}
	}
	return bootloader.Entry{}, false
}

// BootState is what a slot's init learns from the entries about itself.
type BootState struct {
	// Mine is the slot's entry.
	Mine bootloader.Entry
	// Trial is true when Mine still carries a boot counter with tries
	// left: it was flashed and has not been blessed yet.
	Trial bool
	// RolledBack lists entries of other slots whose tries ran out: this
	// boot is a fallback from them.
	RolledBack []bootloader.Entry
}

// Assess classifies the boot of slot. ok is false when no entry boots it.
func (s *State) Assess(slot string) (BootState, bool) {
	var st BootState
	found := false
	for _, e := range s.Entries {
		switch {
		case SlotOf(e) == slot:
			st.Mine, found = e, true
			st.Trial = e.Counter.Set && !e.Counter.Bad()
		case e.Counter.Bad():
			st.RolledBack = append(st.RolledBack, e)
		}
	}
	return st, found
}

// BlessedName is the file name of e once blessed (counter removed), as
// systemd-bless-boot names it.
func BlessedName(e bootloader.Entry) string {
	return e.FileNameWith(e.Counter.Blessed())
}

// BadName is the file name of e once marked bad (no tries left).
func BadName(e bootloader.Entry) string {
	return e.FileNameWith(e.Counter.MarkedBad())
}

// EntryID returns the boot entry id of a generation in a slot. systemd-boot
// sorts entries by id, highest version first, so the newest generation is
// preferred while it has tries left; a flash uses the highest generation
// on the disk plus one.
func EntryID(generation int, slot string) string {
	return fmt.Sprintf("turbo-%d-%s", generation, slot)
}

// Generation returns the generation in an entry id made by EntryID, or 0
// if it is not one or has more than 17 digits. (It used to stop at 9
// digits and call a longer generation 0, so the next flash wrote an entry
// that sorted after the old one and never booted; issue 9, defect 7.
// Whatever remains, such as a generation beyond 17 digits, is refused by
// the flash plan's check of what systemd-boot selects.)
func Generation(id string) int {
	rest, ok := strings.CutPrefix(id, "turbo-")
	if !ok {
		return 0
	}
	num, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0
	}
	n := 0
	for _, c := range num {
		if c < '0' || c > '9' || n >= 1e16 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// NextGeneration is one more than the highest generation on the disk.
func (s *State) NextGeneration() int {
	g := 0
	for _, e := range s.Entries {
		g = max(g, Generation(e.ID))
	}
	return g + 1
}

// NewEntry is the boot entry of a slot: its kernel and initrd live in the
// slot's directory on the ESP, and the command line names the slot.
func NewEntry(generation int, slot, name, version, cmdline string) bootloader.Entry {
	return bootloader.Entry{
		ID:      EntryID(generation, slot),
		Title:   fmt.Sprintf("%s %s (slot %s)", name, version, slot),
		Version: version,
		Linux:   "/" + slot + "/linux",
		Initrd:  []string{"/" + slot + "/initrd"},
		Options: strings.TrimSpace(cmdline + " turbo.slot=" + slot),
	}
}

// NewUKIEntry is the Type #2 entry of a slot: its file in UKIDir is the
// slot's UKI, whose .cmdline names the slot (UKICmdline) and whose .osrel
// is UKIOSRelease.
func NewUKIEntry(generation int, slot, name, version, cmdline string) bootloader.Entry {
	id := EntryID(generation, slot)
	return bootloader.Entry{
		FileName: bootloader.UKIFileName(id, bootloader.Counter{}),
		ID:       id, UKI: true,
		Title:   fmt.Sprintf("%s %s (slot %s)", name, version, slot),
		Version: version,
		EFI:     "/" + UKIDir + "/" + bootloader.UKIFileName(id, bootloader.Counter{}),
		Options: UKICmdline(slot, cmdline),
	}
}

// UKICmdline is the .cmdline of a slot's UKI: the build's command line
// and the slot, as a Type #1 entry's options say it.
func UKICmdline(slot, cmdline string) string {
	return strings.TrimSpace(cmdline + " turbo.slot=" + slot)
}

// UKIOSRelease is the .osrel of a slot's UKI. It has PRETTY_NAME (the
// title systemd-boot shows) and VERSION but neither ID nor IMAGE_ID: with
// no sort key, systemd-boot 252 orders Type #2 entries by file name, newest
// generation first, exactly as the Type #1 entries (UAPI.1 "Sorting", and
// bootspec_pick_name_version_sort_key, which takes the sort key from
// IMAGE_ID or ID). An ID would order the slots by version instead, and a
// downgrade would never boot.
func UKIOSRelease(slot, name, version string) []byte {
	return []byte(fmt.Sprintf("NAME=%q\nPRETTY_NAME=%q\nVERSION=%q\n", name, fmt.Sprintf("%s %s (slot %s)", name, version, slot), version))
}

// LoaderConf is the loader.conf of every image: boot at once, the first
// entry in systemd-boot's order (the newest one with tries left); no editor
// (a console user must not change the kernel command line), no automatic
// entries and no random seed written to the ESP.
func LoaderConf() []byte {
	return []byte("timeout 0\ndefault turbo-*\neditor no\nauto-entries no\nauto-firmware no\nrandom-seed-mode off\n")
}
