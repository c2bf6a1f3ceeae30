package turboinit

import "strings"

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
