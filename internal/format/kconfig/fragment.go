package kconfig

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Option is one assignment of a fragment or of a .config file.
type Option struct {
	// Name is the full symbol name including the prefix, e.g. "CONFIG_FOO".
	Name string
	// Value is "y", "m", "n" (for "# CONFIG_FOO is not set" and
	// "CONFIG_FOO=n"), a quoted string exactly as written (e.g. "\"str\""),
	// or a number ("123", "-1", "0x1000").
	Value string
	// Source is the name of the fragment the option came from.
	Source string
	// Line is the 1-based line number in Source.
	Line int
}

// String formats the option in .config syntax.
func (o Option) String() string {
	if o.Value == "n" {
		return "# " + o.Name + " is not set"
	}
	return o.Name + "=" + o.Value
}

// where formats the option's origin as "source:line".
func (o Option) where() string {
	return fmt.Sprintf("%s:%d", o.Source, o.Line)
}

// symbolPrefix is the prefix of every symbol name in a .config file
// (scripts/kconfig/confdata.c: CONFIG_ unless overridden by the CONFIG_
// environment variable, which this package does not support).
const symbolPrefix = "CONFIG_"

// ParseFragment parses a configuration fragment in the Kconfig .config
// syntax written by scripts/kconfig/confdata.c:
//
//	CONFIG_FOO=y            bool/tristate: y, m or n
//	CONFIG_FOO="text"       string, with \" and \\ escapes
//	CONFIG_FOO=123          int (decimal, may be negative) or hex (0x...)
//	# CONFIG_FOO is not set
//	# any other comment
//	(blank lines)
//
// Anything else is an error "name:line: what is wrong". Assigning the same
// symbol twice in one fragment is an error too (it is almost always a
// mistake); across fragments later ones override earlier ones, see
// Merge. Options are returned in file order.
func ParseFragment(name string, data []byte) ([]Option, error) {
	return parseConfigText(name, data, false)
}

// parseConfigText parses .config syntax. allowDup lets a later assignment
// of the same symbol silently win (as Kconfig itself does when reading a
// .config); the result then holds each symbol once, at its last position.
func parseConfigText(name string, data []byte, allowDup bool) ([]Option, error) {
	var opts []Option
	seen := map[string]int{} // symbol -> index into opts
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		opt, ok, err := parseConfigLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
		if !ok {
			continue
		}
		opt.Source, opt.Line = name, lineNo
		if i, dup := seen[opt.Name]; dup {
			if !allowDup {
				return nil, fmt.Errorf("%s:%d: %s is already set at line %d", name, lineNo, opt.Name, opts[i].Line)
			}
			opts[i] = Option{} // tombstone; compacted below
		}
		seen[opt.Name] = len(opts)
		opts = append(opts, opt)
	}
	return compact(opts), nil
}

// compact drops the tombstones (zero Options) left by overridden entries.
func compact(opts []Option) []Option {
	out := opts[:0]
	for _, o := range opts {
		if o.Name != "" {
			out = append(out, o)
		}
	}
	return out
}

// parseConfigLine parses one line. ok is false for blank and comment lines.
func parseConfigLine(raw []byte) (opt Option, ok bool, err error) {
	if !isValidText(raw) {
		return Option{}, false, fmt.Errorf("line is not printable UTF-8 text")
	}
	line := strings.TrimRight(string(raw), " \t\r")
	trimmed := strings.TrimLeft(line, " \t")
	if trimmed == "" {
		return Option{}, false, nil
	}
	if strings.HasPrefix(trimmed, "#") {
		body := strings.TrimSpace(strings.TrimPrefix(trimmed, "#"))
		if sym, isNotSet := strings.CutSuffix(body, " is not set"); isNotSet && strings.HasPrefix(sym, symbolPrefix) {
			if err := checkSymbolName(sym); err != nil {
				return Option{}, false, err
			}
			return Option{Name: sym, Value: "n"}, true, nil
		}
		return Option{}, false, nil
	}
	if trimmed != line {
		return Option{}, false, fmt.Errorf("unexpected leading whitespace")
	}
	name, value, found := strings.Cut(line, "=")
	if !found {
		return Option{}, false, fmt.Errorf("expected CONFIG_NAME=value or \"# CONFIG_NAME is not set\", got %q", line)
	}
	if !strings.HasPrefix(name, symbolPrefix) {
		return Option{}, false, fmt.Errorf("symbol %q does not start with %s", name, symbolPrefix)
	}
	if err := checkSymbolName(name); err != nil {
		return Option{}, false, err
	}
	v, err := normalizeValue(value)
	if err != nil {
		return Option{}, false, fmt.Errorf("%s: %w", name, err)
	}
	return Option{Name: name, Value: v}, true, nil
}

// checkSymbolName accepts CONFIG_ followed by letters, digits and '_'.
func checkSymbolName(name string) error {
	rest := strings.TrimPrefix(name, symbolPrefix)
	if rest == "" {
		return fmt.Errorf("empty symbol name after %s", symbolPrefix)
	}
	for _, c := range rest {
		if !isSymbolChar(c) {
			return fmt.Errorf("invalid character %q in symbol name %q", c, name)
		}
	}
	return nil
}

func isSymbolChar(c rune) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// normalizeValue validates the right-hand side of an assignment.
func normalizeValue(v string) (string, error) {
	switch v {
	case "y", "m", "n":
		return v, nil
	case "":
		return "", fmt.Errorf("empty value (use \"# NAME is not set\" or n)")
	}
	if v[0] == '"' {
		if _, err := unquoteKconfig(v); err != nil {
			return "", err
		}
		return v, nil
	}
	if isNumber(v) {
		return v, nil
	}
	return "", fmt.Errorf("invalid value %q: want y, m, n, a \"quoted string\" or a number", v)
}

// unquoteKconfig decodes a double-quoted .config string: only \" and \\
// are escapes (confdata.c writes exactly those); the closing quote must end
// the value.
func unquoteKconfig(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' {
		return "", fmt.Errorf("invalid string %q: must be double-quoted", v)
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			if i+1 >= len(v)-1 {
				return "", fmt.Errorf("invalid string %s: dangling backslash", v)
			}
			i++
			b.WriteByte(v[i])
		case '"':
			if i != len(v)-1 {
				return "", fmt.Errorf("invalid string %s: text after closing quote", v)
			}
			return b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("invalid string %s: missing closing quote", v)
}

// isNumber reports whether v is a decimal integer (optionally negative) or
// a 0x-prefixed hexadecimal integer, the two number forms of Kconfig.
func isNumber(v string) bool {
	if h, ok := strings.CutPrefix(v, "0x"); ok || strings.HasPrefix(v, "0X") {
		if !ok {
			h = v[2:]
		}
		if h == "" {
			return false
		}
		for _, c := range h {
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
		return true
	}
	d := strings.TrimPrefix(v, "-")
	if d == "" {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// numericValue parses a Kconfig number; ok is false for non-numbers.
func numericValue(v string) (int64, bool) {
	if !isNumber(v) {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		if u, uerr := strconv.ParseUint(v, 0, 64); uerr == nil {
			return int64(u), true
		}
		return 0, false
	}
	return n, true
}

// isValidText accepts UTF-8 text without control characters other than
// tab and carriage return.
func isValidText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range string(b) {
		if (c < 0x20 && c != '\t' && c != '\r') || c == 0x7f {
			return false
		}
	}
	return true
}

// Merge merges option lists, each as ParseFragment returns it: a symbol
// assigned by a later list overrides the earlier assignment, as a later
// line of .config does when scripts/kconfig/confdata.c reads it. The result
// holds each symbol once, ordered by the position of its winning
// assignment (list order, then line order), which is also the order in
// which a caller appends them to .config, so that for a Kconfig choice the
// last request wins as it would when reading the file.
func Merge(lists ...[]Option) []Option {
	var merged []Option
	index := map[string]int{}
	for _, opts := range lists {
		for _, o := range opts {
			if i, ok := index[o.Name]; ok {
				merged[i] = Option{} // tombstone; compacted below
			}
			index[o.Name] = len(merged)
			merged = append(merged, o)
		}
	}
	return compact(merged)
}

// FormatOptions renders options in .config syntax, one per line, in the
// given order. It is the canonical form hashed into the cache key and the
// text appended to .config before olddefconfig.
func FormatOptions(opts []Option) []byte {
	var b bytes.Buffer
	for _, o := range opts {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}
