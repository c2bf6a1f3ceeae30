package bootloader

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// ErrNoEntries is returned by SelectDefault and PlanBoot when no entry is
// loadable; systemd-boot then prints "No loader found" and boots nothing.
var ErrNoEntries = errors.New("no loadable boot loader entry")

// ErrMenuForced is returned by PlanBoot for "timeout menu-force": the loader
// shows its menu and waits for a key press, so it boots nothing by itself.
var ErrMenuForced = errors.New("loader.conf has timeout menu-force: systemd-boot waits for a key press and boots nothing by itself")

// sortItem is an entry with what the loader compares, computed once.
type sortItem struct {
	entry Entry
	// id is systemd-boot 252's entry ID (Entry.LoaderID) in UTF-16.
	id []uint16
	// left and done are the tries counters, -1 without a counter.
	left, done int
	// Values as the loader holds them (UCS-2); nil when the key is absent.
	sortKey, machineID, version []uint16
}

func newSortItem(e Entry) sortItem {
	name := e.fileName()
	it := sortItem{entry: e, left: -1, done: -1}
	c := e.Counter
	if ln, err := parseLoaderNameSuffix(name, e.suffix()); err == nil {
		c = ln.counter
	}
	it.id = utf16.Encode([]rune(asciiLower(name)))
	if c.Set {
		it.left, it.done = c.Left, c.Done
	}
	it.sortKey = ucs2(e.SortKey)
	it.machineID = ucs2(e.MachineID)
	it.version = ucs2(e.Version)
	return it
}

// ucs2 converts a value the way systemd-boot 252.x does when it reads an
// entry (xstr8_to_16): UTF-8 to UCS-2, dropping characters outside the
// Basic Multilingual Plane. "" (absent) becomes nil.
func ucs2(s string) []uint16 {
	if s == "" {
		return nil
	}
	u := make([]uint16, 0, len(s))
	for _, r := range s {
		if r <= 0xFFFF && (r < 0xD800 || r > 0xDFFF) {
			u = append(u, uint16(r))
		}
	}
	return u
}

// strcmp16 is systemd-boot's strcmp16() by sign; a NULL (absent) string is
// lower than any present one.
func strcmp16(a, b []uint16) int {
	if a == nil || b == nil {
		return cmpBool(a != nil, b != nil)
	}
	for k := 0; k < len(a) && k < len(b); k++ {
		if a[k] != b[k] {
			return cmpInt(int(a[k]), int(b[k]))
		}
	}
	return cmpInt(len(a), len(b))
}

// compareItems is config_entry_compare() of systemd-boot 252: negative when
// a sorts (and is shown, and is preferred) before b.
func compareItems(a, b *sortItem) int {
	// Bad entries (0 tries left) go last.
	if r := cmpBool(a.left == 0, b.left == 0); r != 0 {
		return r
	}
	// Entries with a sort key go before those without.
	if r := cmpBool(a.sortKey == nil, b.sortKey == nil); r != 0 {
		return r
	}
	if a.sortKey != nil && b.sortKey != nil {
		if r := strcmp16(a.sortKey, b.sortKey); r != 0 {
			return r
		}
		if r := strcmp16(a.machineID, b.machineID); r != 0 {
			return r
		}
		if r := -strverscmp16(a.version, b.version); r != 0 {
			return r
		}
	}
	// Newer (higher) IDs first.
	if r := -strverscmp16(a.id, b.id); r != 0 {
		return r
	}
	if a.left < 0 || b.left < 0 {
		return 0
	}
	// More tries left first, then fewer tries done.
	if r := -cmpInt(a.left, b.left); r != 0 {
		return r
	}
	return cmpInt(a.done, b.done)
}

// sortItems is sort_pointer_array(): a stable insertion sort.
func sortItems(items []sortItem) {
	for i := 1; i < len(items); i++ {
		it := items[i]
		k := i
		for ; k > 0; k-- {
			if compareItems(&items[k-1], &it) <= 0 {
				break
			}
			items[k] = items[k-1]
		}
		items[k] = it
	}
}

// Sort puts entries into the order systemd-boot 252 lists them in
// (config_entry_compare, sorted by a stable insertion sort):
//
//  1. entries with a counter at zero tries left ("bad") after all others;
//  2. entries with a sort-key before entries without;
//  3. if both have a sort-key: by sort-key (code unit order, ascending),
//     then machine-id (absent first, then ascending), then version
//     (StrVerCmp, newest first);
//  4. by the loader's ID (Entry.LoaderID: the whole lowercased file name,
//     counter and ".conf" included), StrVerCmp, highest first;
//  5. if both are counted: more tries left first, then fewer tries done.
//
// Entries that compare equal keep their order, which for the real loader is
// the order the firmware lists the directory in. Sort does not drop entries
// the loader would not list; SelectDefault does.
func Sort(entries []Entry) {
	items := make([]sortItem, len(entries))
	for i, e := range entries {
		items[i] = newSortItem(e)
	}
	sortItems(items)
	for i := range items {
		entries[i] = items[i].entry
	}
}

// bootList returns the entries systemd-boot 252 would list, in its order.
func bootList(entries []Entry) ([]sortItem, error) {
	var errs []error
	seen := make(map[string]string, len(entries))
	items := make([]sortItem, 0, len(entries))
	for _, e := range entries {
		name := e.fileName()
		if _, err := parseLoaderNameSuffix(name, e.suffix()); err != nil {
			errs = append(errs, err)
			continue
		}
		// FAT file names are unique without regard to case.
		if prev, ok := seen[strings.ToLower(name)]; ok {
			errs = append(errs, fmt.Errorf("entry file names %q and %q are the same file on FAT", prev, name))
			continue
		}
		seen[strings.ToLower(name)] = name
		if e.Loadable() {
			items = append(items, newSortItem(e))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sortItems(items)
	return items, nil
}

// SelectDefault returns the entry systemd-boot 252 boots when no EFI
// variable chooses one (no LoaderEntryOneShot, LoaderEntryDefault or
// LoaderEntryLastBooted) and no key is pressed (config_default_entry_select).
//
// Entries that are not Loadable are dropped and the rest sorted as Sort
// does. If conf.Default is set (and not "@saved", which without
// LoaderEntryLastBooted selects nothing), the first entry in that order
// whose LoaderID matches it (Match, both sides ASCII-lowercased) is chosen,
// even a bad one. Otherwise, or when nothing matches, the first entry is
// chosen; when every entry is bad that is the first bad one, which the loader
// boots anyway.
//
// Note that in v252 the ID includes the counter and ".conf": "turbo-2-b"
// matches no file, "turbo-2-b.conf" matches only the blessed file, and a
// glob such as "turbo-2-b*" matches every state of the entry.
//
// It returns ErrNoEntries if no entry is loadable, and an error if a file
// name is one the loader would skip or two names are the same on FAT.
func SelectDefault(conf LoaderConf, entries []Entry) (Entry, error) {
	items, err := bootList(entries)
	if err != nil {
		return Entry{}, err
	}
	if len(items) == 0 {
		return Entry{}, ErrNoEntries
	}
	if conf.Default != "" && !asciiEqualFold(conf.Default, "@saved") {
		pattern := utf16.Encode([]rune(asciiLower(conf.Default)))
		for _, it := range items {
			if fnmatch16(pattern, it.id) {
				return it.entry, nil
			}
		}
	}
	return items[0].entry, nil
}

// BootPlan is what systemd-boot 252 does on a boot without EFI variables and
// without a key press.
type BootPlan struct {
	// Entry is the entry it boots, as found (FileName before any rename).
	Entry Entry
	// MenuTimeout is how many seconds the menu is shown before Entry is
	// booted; 0 means no menu.
	MenuTimeout int
	// Rename tells whether the loader renames the entry file in
	// /loader/entries from OldFileName to NewFileName before it starts the
	// kernel: it does for every counted entry, bad ones included
	// (Counter.AfterAttempt). NewFileName always carries "-DONE". In the
	// one saturated case (0 left, MaxCount done) the two names are equal.
	Rename                   bool
	OldFileName, NewFileName string
	// BootCountPath is what the loader stores in the LoaderBootCountPath
	// EFI variable after the rename, e.g. `\loader\entries\turbo-2-b+2-1.conf`;
	// systemd-bless-boot reads it to find the file to bless or mark bad.
	// Empty when there is no rename.
	BootCountPath string
}

// PlanBoot returns what systemd-boot 252 does on a boot without EFI
// variables and without a key press: which entry it boots (SelectDefault),
// after how long a menu, and how it renames the entry's file first. It
// returns ErrMenuForced for "timeout menu-force", and the errors of
// SelectDefault.
func PlanBoot(conf LoaderConf, entries []Entry) (BootPlan, error) {
	if conf.Timeout == TimeoutMenuForce {
		return BootPlan{}, ErrMenuForced
	}
	e, err := SelectDefault(conf, entries)
	if err != nil {
		return BootPlan{}, err
	}
	plan := BootPlan{Entry: e, MenuTimeout: max(conf.Timeout, 0)}
	name := e.fileName()
	ln, err := parseLoaderNameSuffix(name, e.suffix())
	if err != nil { // SelectDefault checked every name
		return BootPlan{}, err
	}
	if next, ok := ln.counter.AfterAttempt(); ok {
		plan.Rename = true
		plan.OldFileName = name
		plan.NewFileName = ln.id + next.String() + e.suffix()
		plan.BootCountPath = entryPath(plan.NewFileName)
		if e.UKI {
			plan.BootCountPath = `\EFI\Linux\` + plan.NewFileName
		}
	}
	return plan, nil
}
