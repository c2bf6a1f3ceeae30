package bootloader

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// LoaderArch is the value of an entry's `architecture` key that
// systemd-bootx64.efi accepts (EFI_MACHINE_TYPE_NAME on x86-64). An entry
// with any other architecture is not listed by the loader.
const LoaderArch = "x64"

// Entry is a Boot Loader Specification Type #1 entry: one file in
// /loader/entries on the ESP.
//
// String fields hold the value of their key; "" means the key is absent
// (ParseEntry rejects empty values, so the two cannot be confused).
type Entry struct {
	// FileName is the file's name, e.g. "turbo-2-b+3.conf". It is
	// authoritative: Sort, SelectDefault and PlanBoot read the ID and the
	// counter from it the way systemd-boot does. When it is empty they use
	// EntryFileName(ID, Counter).
	FileName string
	// ID is the Boot Loader Specification entry ID: FileName without
	// counter and without ".conf". (systemd-boot 252's own ID is different;
	// see LoaderID.)
	ID      string
	Counter Counter

	Title     string // `title`
	Version   string // `version`; compared with StrVerCmp when both entries have a sort key
	MachineID string // `machine-id`
	SortKey   string // `sort-key`
	Linux     string // `linux`: the kernel, an ESP path
	EFI       string // `efi`: an EFI program, an ESP path
	// Architecture is `architecture`; if set, systemd-bootx64.efi lists the
	// entry only when it is LoaderArch, ignoring case.
	Architecture string
	DeviceTree   string   // `devicetree`
	Initrd       []string // every `initrd`, in order
	// Options is every `options` line joined with single spaces, in order,
	// as systemd-boot joins them.
	Options string
	// UKI marks a Type #2 entry: a Unified Kernel Image in UKIDir, EFI its
	// path; Title, Version, SortKey and Options come from its .osrel and
	// .cmdline sections (ReadUKIEntry).
	UKI bool
	// Extra holds the lines with keys this package does not know, in order.
	// systemd-boot 252 ignores them; they are kept so that Format
	// round-trips.
	Extra [][2]string
}

// isEntryKey reports whether systemd-boot 252 reads key in an entry
// (config_entry_add_type1).
func isEntryKey(key string) bool {
	switch key {
	case "title", "version", "machine-id", "sort-key", "linux", "efi",
		"architecture", "devicetree", "initrd", "options":
		return true
	}
	return false
}

// ParseEntry parses the entry file fileName with contents data.
//
// The file name must be one systemd-boot 252 loads (ending in ".conf" in any
// case, not starting with '.' or "auto-"); ID and Counter are read from it
// the way the loader reads them, which is more lenient than
// ParseEntryFileName: a malformed counter simply leaves the entry uncounted
// with the '+' text in its ID.
//
// The content syntax is the loader's (see the package documentation). Like
// the loader, a repeated single-valued key keeps its last value, `initrd`
// lines accumulate and `options` lines are joined with spaces. Unlike the
// loader, which reads past problems silently, ParseEntry returns an error
// naming fileName:line for a NUL byte, invalid UTF-8, a key without a value,
// an empty value, and an entry with both `linux` and `efi` (the loader would
// boot whichever comes last). An entry with neither, or with a foreign
// architecture, parses but is not Loadable.
func ParseEntry(fileName string, data []byte) (Entry, error) {
	ln, err := parseLoaderName(fileName)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{FileName: fileName, ID: ln.id, Counter: ln.counter}
	kvs, err := splitKeyValues(fileName, data)
	errs := []error{err}
	linuxLine, efiLine := 0, 0
	for _, kv := range kvs {
		switch kv.key {
		case "title":
			e.Title = kv.value
		case "version":
			e.Version = kv.value
		case "machine-id":
			e.MachineID = kv.value
		case "sort-key":
			e.SortKey = kv.value
		case "linux":
			e.Linux, linuxLine = kv.value, kv.line
		case "efi":
			e.EFI, efiLine = kv.value, kv.line
		case "architecture":
			e.Architecture = kv.value
		case "devicetree":
			e.DeviceTree = kv.value
		case "initrd":
			e.Initrd = append(e.Initrd, kv.value)
		case "options":
			if e.Options == "" {
				e.Options = kv.value
			} else {
				e.Options += " " + kv.value
			}
		default:
			e.Extra = append(e.Extra, [2]string{kv.key, kv.value})
		}
	}
	if linuxLine != 0 && efiLine != 0 {
		errs = append(errs, fmt.Errorf("%s:%d: both linux (line %d) and efi (line %d): systemd-boot would boot whichever comes last", fileName, max(linuxLine, efiLine), linuxLine, efiLine))
	}
	if err := errors.Join(errs...); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Loadable reports whether systemd-bootx64.efi 252 lists the entry at all:
// it needs `linux` or `efi`, and `architecture`, if set, must be LoaderArch
// up to ASCII case (the v252 tag compares case-sensitively; the v252-stable
// branch that Debian 12 ships ignores case).
// (The loader also drops an entry whose linux/efi file does not exist on the
// ESP, and an `efi` entry that points at the running systemd-boot itself;
// checking those needs the ESP and is the caller's job.)
func (e Entry) Loadable() bool {
	return (e.Linux != "" || e.EFI != "") && (e.Architecture == "" || asciiLower(e.Architecture) == LoaderArch)
}

// LoaderID returns the ID systemd-boot 252 itself gives the entry, which
// `default` in loader.conf is matched against and which the entries are
// sorted by: the whole file name, counter and ".conf" included, with ASCII
// letters lowercased (config_entry_add_type1). For "Turbo-2-b+3.conf" it is
// "turbo-2-b+3.conf". (Later systemd versions drop the counter from it.)
func (e Entry) LoaderID() string {
	return asciiLower(e.fileName())
}

// FileNameWith is the entry's file name with counter c: ID, counter and
// ".conf", or ".efi" for a Type #2 entry. systemd-bless-boot renames an
// entry to FileNameWith(e.Counter.Blessed()) or MarkedBad().
func (e Entry) FileNameWith(c Counter) string {
	return e.ID + c.String() + e.suffix()
}

// suffix is the file name suffix of the entry's type.
func (e Entry) suffix() string {
	if e.UKI {
		return UKISuffix
	}
	return EntrySuffix
}

// Dir is the directory of the entry's file, relative to the ESP's root.
func (e Entry) Dir() string {
	if e.UKI {
		return UKIDir
	}
	return EntriesDir
}

// fileName returns FileName, or the name made from ID and Counter.
func (e Entry) fileName() string {
	if e.FileName != "" {
		return e.FileName
	}
	return e.FileNameWith(e.Counter)
}

// Validate reports whether Format can write e so that ParseEntry reads back
// the same values: every value free of line breaks and NUL and valid UTF-8,
// not both Linux and EFI, Extra keys well-formed and not known keys.
func (e Entry) Validate() error {
	var errs []error
	check := func(key, value string) {
		if value != "" {
			if err := validValue(key, value); err != nil {
				errs = append(errs, err)
			}
		}
	}
	check("title", e.Title)
	check("version", e.Version)
	check("machine-id", e.MachineID)
	check("sort-key", e.SortKey)
	check("linux", e.Linux)
	check("efi", e.EFI)
	check("architecture", e.Architecture)
	check("devicetree", e.DeviceTree)
	for _, p := range e.Initrd {
		if err := validValue("initrd", p); err != nil {
			errs = append(errs, err)
		}
	}
	check("options", e.Options)
	if e.Linux != "" && e.EFI != "" {
		errs = append(errs, errors.New("both linux and efi are set"))
	}
	for _, kv := range e.Extra {
		if err := validKey(kv[0]); err != nil {
			errs = append(errs, err)
		} else if isEntryKey(kv[0]) {
			errs = append(errs, fmt.Errorf("extra key %q is a known key; use its field", kv[0]))
		}
		if err := validValue(kv[0], kv[1]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Format returns the entry file's contents in canonical form: one line per
// set key, in the order title, version, machine-id, sort-key, linux, efi,
// architecture, devicetree, initrd (each), options (one line), then Extra in
// order; values are quoted only where the loader needs it. FileName, ID and
// Counter are not part of the contents. The output is deterministic and
// ParseEntry reads back the same Entry for any e that passes Validate.
func (e Entry) Format() []byte {
	var b bytes.Buffer
	put := func(key, value string) {
		if value != "" {
			writeKeyValue(&b, key, value)
		}
	}
	put("title", e.Title)
	put("version", e.Version)
	put("machine-id", e.MachineID)
	put("sort-key", e.SortKey)
	put("linux", e.Linux)
	put("efi", e.EFI)
	put("architecture", e.Architecture)
	put("devicetree", e.DeviceTree)
	for _, p := range e.Initrd {
		put("initrd", p)
	}
	put("options", e.Options)
	for _, kv := range e.Extra {
		put(kv[0], kv[1])
	}
	return b.Bytes()
}

// String returns the entry's file name, for messages.
func (e Entry) String() string { return e.fileName() }

// entryPath returns the ESP path of an entry file in systemd-boot's form,
// e.g. `\loader\entries\turbo-2-b+2-1.conf`.
func entryPath(fileName string) string {
	return `\` + strings.ReplaceAll(EntriesDir, "/", `\`) + `\` + fileName
}
