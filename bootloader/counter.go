package bootloader

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EntrySuffix is the file name suffix of a Type #1 boot loader entry.
const EntrySuffix = ".conf"

// EntriesDir is the directory, relative to the root of the ESP, that
// systemd-boot scans for Type #1 entries.
const EntriesDir = "loader/entries"

// MaxCount is the largest value systemd-boot 252 accepts for either boot
// counter (C's INT_MAX). A larger number makes the loader ignore the counter
// (config_entry_parse_tries), and the "tries done" counter saturates here when
// it is bumped.
const MaxCount = math.MaxInt32

// maxCounterLen is the length of the longest counter text, "+2147483647-2147483647".
const maxCounterLen = 1 + 10 + 1 + 10

// maxFileNameLen is the longest entry file name the Boot Loader Specification
// allows (255 characters including the suffix).
const maxFileNameLen = 255

// Counter is the boot counter of an entry, kept in its file name as
// "+LEFT" or "+LEFT-DONE" right before ".conf".
//
// Left is the number of boot attempts still to be made ("tries left"); Done
// is the number of attempts made so far ("tries done"). An entry with Set ==
// false has no counter in its name and is not subject to boot counting (it is
// either "good" already or was never counted). Left and Done are within
// [0, MaxCount] for every Counter this package produces.
type Counter struct {
	Set        bool
	Left, Done int
}

// Bad reports whether the entry is "bad": it is counted and has no tries
// left. systemd-boot sorts bad entries after all others but still boots one
// if nothing else matches (see SelectDefault).
func (c Counter) Bad() bool { return c.Set && c.Left == 0 }

// AfterAttempt returns the counter systemd-boot 252 gives an entry when it
// boots it: the file is renamed before the kernel (or EFI image) is started,
// with Left decreased by one (but not below zero) and Done increased by one
// (but not above MaxCount). It reports false, and returns c unchanged, for an
// uncounted entry, which the loader does not rename.
//
// Note that v252 also renames a bad entry when it boots it: "+0-3" becomes
// "+0-4" (config_entry_bump_counters only skips entries without a counter).
func (c Counter) AfterAttempt() (Counter, bool) {
	if !c.Set {
		return c, false
	}
	next := Counter{Set: true, Left: c.Left - 1, Done: c.Done + 1}
	if c.Left <= 0 {
		next.Left = 0
	}
	if c.Done >= MaxCount {
		next.Done = MaxCount
	}
	return next, true
}

// Blessed returns the counter after systemd-bless-boot's "good" verb: the
// counter is dropped from the name, which turns boot counting off for the
// entry.
func (c Counter) Blessed() Counter { return Counter{} }

// MarkedBad returns the counter after systemd-bless-boot's "bad" verb: Left
// is set to zero and Done is kept. systemd-bless-boot refuses to mark a boot
// that was not counted, so an unset counter is returned unchanged.
func (c Counter) MarkedBad() Counter {
	if !c.Set {
		return c
	}
	return Counter{Set: true, Left: 0, Done: c.Done}
}

// String returns the counter as it appears in a file name in canonical form:
// "" when unset, "+LEFT" when Done is zero, "+LEFT-DONE" otherwise.
func (c Counter) String() string {
	if !c.Set {
		return ""
	}
	if c.Done == 0 {
		return "+" + strconv.Itoa(c.Left)
	}
	return "+" + strconv.Itoa(c.Left) + "-" + strconv.Itoa(c.Done)
}

// EntryFileName returns the file name of the entry with the given ID and
// counter, in canonical form: ID, then the counter (see Counter.String), then
// ".conf". The ID should pass ValidateID.
func EntryFileName(id string, c Counter) string {
	return id + c.String() + EntrySuffix
}

// ValidateID reports whether id is an entry ID this package will put into a
// file name: non-empty; only ASCII letters, digits, '-', '_' and '.' (the
// Boot Loader Specification's character set without '+', which would be
// mistaken for a counter); not starting with '.' or "auto-" (systemd-boot
// skips such files); and short enough that the longest counted file name fits
// in 255 characters.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("entry ID is empty")
	}
	if n := len(id) + maxCounterLen + len(EntrySuffix); n > maxFileNameLen {
		return fmt.Errorf("entry ID %q is %d characters; at most %d fit a counted file name", id, len(id), maxFileNameLen-maxCounterLen-len(EntrySuffix))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isASCIIAlnum(c) && c != '-' && c != '_' && c != '.' {
			return fmt.Errorf("entry ID %q: character %q at offset %d is not an ASCII letter, digit, '-', '_' or '.'", id, rune(c), i)
		}
	}
	if id[0] == '.' {
		return fmt.Errorf("entry ID %q starts with '.': systemd-boot skips such files", id)
	}
	if strings.HasPrefix(id, "auto-") {
		return fmt.Errorf("entry ID %q starts with \"auto-\": systemd-boot skips such files", id)
	}
	return nil
}

// ParseEntryFileName splits an entry file name the project writes into the
// entry ID (the name without counter and ".conf") and the boot counter:
//
//	"turbo-1-a+2-1.conf" -> "turbo-1-a", Counter{Set: true, Left: 2, Done: 1}
//	"turbo-1-a.conf"     -> "turbo-1-a", Counter{}
//
// It is strict: it accepts only names EntryFileName could have made, up to
// leading zeros in the numbers and an explicit "-0", which systemd-boot reads
// the same way. Names that systemd-boot 252 loads but reads differently from
// what they seem to say are errors here; ParseEntry reads those the way the
// loader does. In particular, systemd-boot 252 treats every one of these
// as an entry WITHOUT a counter, with the '+' text left in the name:
// "a+.conf", "a+1-.conf", "a+x.conf", "a+1-2-3.conf", "a+2147483648.conf"
// (over MaxCount); it reads "a+b+3.conf" as ID "a+b" with 3 tries left,
// because the counter starts at the last '+'; and Debian's 252.39 counts
// "a+3.CONF" (renaming it to "a+2-1.conf"), which is refused here for its
// suffix.
func ParseEntryFileName(name string) (id string, c Counter, err error) {
	ln, err := parseLoaderName(name)
	if err != nil {
		return "", Counter{}, err
	}
	if !strings.HasSuffix(name, EntrySuffix) {
		return "", Counter{}, fmt.Errorf("entry file name %q: suffix must be %q in lowercase (systemd-boot writes it so when it renames a counted entry)", name, EntrySuffix)
	}
	if strings.Contains(name, "+") && !ln.counter.Set {
		return "", Counter{}, fmt.Errorf("entry file name %q: malformed boot counter: want \"+LEFT[-DONE]%s\" with numbers up to %d (systemd-boot 252 would boot it as an uncounted entry)", name, EntrySuffix, MaxCount)
	}
	if strings.Contains(ln.id, "+") {
		return "", Counter{}, fmt.Errorf("entry file name %q: more than one '+' (systemd-boot 252 takes the counter from the last one and keeps the rest in the ID)", name)
	}
	if err := ValidateID(ln.id); err != nil {
		return "", Counter{}, fmt.Errorf("entry file name %q: %w", name, err)
	}
	if len(name) > maxFileNameLen {
		return "", Counter{}, fmt.Errorf("entry file name %q is longer than %d characters", name, maxFileNameLen)
	}
	return ln.id, ln.counter, nil
}

// loaderName is how systemd-boot 252 reads the name of a file in
// /loader/entries.
type loaderName struct {
	id       string  // the Boot Loader Specification ID: name without counter and suffix
	counter  Counter // boot counter, if the loader parses one
	loaderID string  // systemd-boot 252's own entry ID: the whole file name, ASCII-lowercased
}

// parseLoaderName reads a file name the way systemd-boot 252 does
// (config_load_entries, config_entry_add_type1, config_entry_parse_tries). It
// fails only for names the loader does not load at all or that cannot be a
// file name on the ESP.
func parseLoaderName(name string) (loaderName, error) {
	return parseLoaderNameSuffix(name, EntrySuffix)
}

// parseLoaderNameSuffix is parseLoaderName for files ending in suffix:
// EntrySuffix in /loader/entries, UKISuffix in /EFI/Linux (systemd-boot
// 252 reads a Type #2 entry's name with the same rules,
// config_entry_parse_tries with ".efi").
func parseLoaderNameSuffix(name, suffix string) (loaderName, error) {
	switch {
	case name == "":
		return loaderName{}, errors.New("entry file name is empty")
	case !utf8.ValidString(name):
		return loaderName{}, fmt.Errorf("entry file name %q is not valid UTF-8", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return loaderName{}, fmt.Errorf("entry file name %q contains a path separator or NUL", name)
	case name[0] == '.':
		return loaderName{}, fmt.Errorf("entry file name %q starts with '.': systemd-boot 252 skips it", name)
	case strings.HasPrefix(name, "auto-"):
		return loaderName{}, fmt.Errorf("entry file name %q starts with \"auto-\": systemd-boot 252 skips it", name)
	case len(name) < len(suffix) || !asciiEqualFold(name[len(name)-len(suffix):], suffix):
		return loaderName{}, fmt.Errorf("entry file name %q does not end in %q: systemd-boot 252 skips it", name, suffix)
	}
	ln := loaderName{id: name[:len(name)-len(suffix)], loaderID: asciiLower(name)}
	plus := strings.LastIndexByte(name, '+')
	if plus < 0 {
		return ln, nil
	}
	rest := name[plus+1:]
	left, rest, ok := parseCount(rest)
	if !ok {
		return ln, nil
	}
	done := 0
	if strings.HasPrefix(rest, "-") {
		done, rest, ok = parseCount(rest[1:])
		if !ok {
			return ln, nil
		}
	}
	// The v252 tag compares the suffix case-sensitively; the v252-stable
	// branch (252.31 and later, so Debian 12's 252.39) ignores case.
	if !asciiEqualFold(rest, suffix) {
		return ln, nil
	}
	ln.id = name[:plus]
	ln.counter = Counter{Set: true, Left: left, Done: done}
	return ln, nil
}

// parseCount parses the decimal digits at the start of s: at least one digit,
// no sign, leading zeros allowed, value at most MaxCount.
func parseCount(s string) (n int, rest string, ok bool) {
	i := 0
	var v uint64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + uint64(s[i]-'0')
		if v > MaxCount {
			return 0, s, false
		}
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	return int(v), s[i:], true
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// asciiLower lowercases ASCII letters only, like systemd-boot's strtolower16.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// asciiEqualFold reports whether a and b are equal up to the case of ASCII
// letters, like systemd-boot's strcaseeq8/16 (which fold only A-Z).
func asciiEqualFold(a, b string) bool {
	return len(a) == len(b) && asciiLower(a) == asciiLower(b)
}
