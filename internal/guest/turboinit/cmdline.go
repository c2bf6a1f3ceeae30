package turboinit

import (
	"fmt"
	"strconv"
	"strings"
)

// Cmdline holds the kernel command-line parameters the init uses.
type Cmdline struct {
	// Slot is "a" or "b" when booted from a disk slot (turbo.slot=), "" when
	// booted from a self-contained initramfs.
	Slot string
	// Entry is the boot loader entry id booted (turbo.entry=), when the boot
	// path passes it.
	Entry string
	// Params has every key=value parameter; flags without a value map to "".
	Params map[string]string
}

// ParseCmdline parses /proc/cmdline. Quoted values ("a b") are honoured the
// way the kernel splits them.
func ParseCmdline(s string) Cmdline {
	c := Cmdline{Params: map[string]string{}}
	for _, w := range splitCmdline(s) {
		k, v, _ := strings.Cut(w, "=")
		c.Params[k] = strings.Trim(v, `"`)
	}
	c.Slot = c.Params["turbo.slot"]
	c.Entry = c.Params["turbo.entry"]
	return c
}

func splitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case !inQuote && (r == ' ' || r == '\n' || r == '\t'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// readaheadParam sets the readahead window, in KiB, of the disk that holds
// the slot root (see setReadahead); the kernel's default is 128.
const readaheadParam = "turbo.readahead_kb"

// maxReadaheadKB bounds turbo.readahead_kb= (64 MiB): a window beyond
// the guest's RAM is a typo, not a tuning.
const maxReadaheadKB = 65536

// parseReadahead reads the value of turbo.readahead_kb=: a decimal
// number of KiB from 0 (no readahead) to maxReadaheadKB.
func parseReadahead(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxReadaheadKB || strings.TrimSpace(s) != s || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%s=%q: want a number of KiB from 0 to %d", readaheadParam, s, maxReadaheadKB)
	}
	return n, nil
}
