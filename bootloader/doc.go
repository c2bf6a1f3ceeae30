// Package bootloader models what systemd-boot 252 does with the files on an
// ESP: Boot Loader Specification (BLS) Type #1 entries in /loader/entries,
// /loader/loader.conf, the order it lists entries in, the entry it boots by
// default, and the boot counters of Automatic Boot Assessment kept in entry
// file names. It is a pure library: it parses and formats bytes and plans; it
// reads and writes no files.
//
// The disk image boots systemd-boot 252 (Debian 12's systemd-boot-efi,
// systemd-bootx64.efi), and the host's "turbo direct boot" and the guest's
// init must agree with it exactly, so the rules here are those of the 252
// sources, not of the newer specification text where the two differ. Debian
// 12 ships 252.39 from systemd's v252-stable branch, which differs from the
// v252 tag in two points that matter here (both backports, commits 99cb634
// and 7ac6ac2): the ".conf" after a boot counter and the `architecture`
// value are compared without regard to case. This package follows the
// shipped binary, and TestRealSystemdBoot boots that binary in QEMU for every
// scenario of the tests and compares what it does with PlanBoot.
//
// Sources read (tag v252 and branch v252-stable, up to 252.31; the functions
// involved are otherwise the same there and in RHEL 9's 252-76):
//
//   - src/boot/efi/boot.c: line_get_key_value, config_defaults_load_from_file,
//     config_load_defaults, config_load_entries, config_entry_add_type1,
//     config_entry_parse_tries, config_entry_bump_counters,
//     config_entry_compare, config_entry_find, config_default_entry_select,
//     config_load_all_entries, efi_main;
//   - src/boot/efi/util.c: sort_pointer_array, parse_boolean;
//   - src/boot/efi/efi-string.c: efi_fnmatch, parse_number8/16, strtolower16;
//   - src/fundamental/string-util-fundamental.c: strverscmp_improved
//     (tests: src/test/test-string-util.c, src/boot/efi/test-efi-string.c);
//   - src/boot/bless-boot.c: make_good, make_bad (systemd-bless-boot);
//   - docs/AUTOMATIC_BOOT_ASSESSMENT.md, docs/BOOT_LOADER_SPECIFICATION.md
//     (now the UAPI group's specification), man/loader.conf.xml.
//
// # Syntax (line_get_key_value)
//
// Entries and loader.conf are lines of "key value". Lines end at '\n' or
// '\r'; spaces and tabs around a line are ignored; empty lines and lines
// starting with '#' are skipped; the key ends at the first space or tab, and
// the value starts after the following spaces and tabs. One pair of '"' around
// the whole value is removed. Keys are case-sensitive. In an entry the loader
// reads title, version, machine-id, sort-key, linux, efi, architecture,
// devicetree, initrd (repeatable) and options (repeatable, joined with single
// spaces); for the other single-valued keys the last line wins, and unknown
// keys are ignored.
//
// # Which files are entries (config_load_entries, config_entry_add_type1)
//
// Every file in /loader/entries whose name ends in ".conf" (in any case) and
// does not start with '.' or "auto-". The entry is listed only if it has
// `linux` or `efi` (the last of them wins), the file named there exists,
// `architecture`, if present, is "x64" (in any case on v252-stable), and an
// `efi` path is not systemd-boot itself.
//
// # Entry IDs
//
// In v252 the loader's entry ID is the whole file name, ".conf" and boot
// counter included, with ASCII letters lowercased: "turbo-2-b+3.conf". It is
// what `default` is matched against and what entries are sorted by
// (Entry.LoaderID). The BLS ID, the name without counter and ".conf"
// ("turbo-2-b"), is Entry.ID. Later versions (seen in v259) drop the counter
// from the loader's ID (but keep ".conf"); 252 does not, so a `default` that
// should follow an entry through its boot-count renames must be a glob.
//
// # Boot counters (config_entry_parse_tries, config_entry_bump_counters)
//
// The counter is read from the last '+' in the name: "+LEFT" or
// "+LEFT-DONE", each at least one ASCII digit (leading zeros allowed) and at
// most 2147483647, followed by ".conf" (in any case on v252-stable; the v252
// tag wants it lowercase). Anything else there leaves the entry uncounted,
// with the '+' text part of its name. A missing DONE is 0. LEFT == 0 means
// "bad".
//
// When the loader boots a counted entry it renames the file before starting
// it to "<name up to and including the last '+'>L-D.conf" (always lowercase
// ".conf", always "-D") with
// L = max(LEFT-1, 0) and D = min(DONE+1, 2147483647), and stores the new
// path in the LoaderBootCountPath EFI variable. This includes bad entries:
// "x+0-3.conf" becomes "x+0-4.conf". Uncounted entries are not renamed.
// systemd-bless-boot "good" removes the counter ("x.conf"); "bad" sets
// "+0-DONE" ("+0" if DONE is 0).
//
// # Order (config_entry_compare, sort_pointer_array)
//
// A stable insertion sort with this comparison:
//  1. bad entries (LEFT == 0) after all others;
//  2. entries with a sort-key before entries without;
//  3. if both have one: sort-key ascending by UCS-2 code units, then
//     machine-id likewise (absent first), then version by
//     strverscmp_improved, newest first;
//  4. the loader's entry ID by strverscmp_improved, highest first (so
//     "turbo-10-a.conf" before "turbo-9-b.conf");
//  5. if both are counted: more tries left first, then fewer tries done.
//
// Because the counter is part of the ID in 252, rule 5 never decides between
// two real files: IDs that compare equal carry equal counters.
//
// Type #2 entries (/EFI/Linux/*.efi) and XBOOTLDR entries are sorted into the
// same list; this package models only Type #1 entries on the ESP. The
// loader's automatic entries (auto-windows, auto-efi-shell, ...) are added
// after sorting, at the end, and are never picked without a matching default.
//
// # Default entry (config_default_entry_select)
//
// With no EFI variables set (no LoaderEntryOneShot, LoaderEntryDefault or
// LoaderEntryLastBooted), `default` from loader.conf, lowercased, is matched
// with efi_fnmatch against each entry ID in sorted order and the first match
// wins, whatever its counter (a default matching only a bad entry boots the
// bad entry). "@saved" needs LoaderEntryLastBooted and so selects nothing
// here. Without a default, or without a match, the first entry in sorted
// order is booted; if all entries are bad, that is the first bad one, and it
// is booted (and renamed) anyway. "timeout menu-force" shows the menu and
// waits for a key; any other timeout shows the menu for that many seconds
// and then boots the same entry.
//
// # Where this package is stricter than the loader
//
// The loader never rejects a file; it skips lines it cannot use. ParseEntry
// and ParseLoaderConf instead return errors (naming file:line) for input the
// loader would silently ignore or that our types cannot represent: NUL
// bytes, invalid UTF-8, keys without value (e.g. "default=x"), empty values,
// entries with both linux and efi, and loader.conf values the loader
// refuses. ParseEntryFileName accepts only the names EntryFileName makes
// (see its documentation for how the loader reads the others).
package bootloader
