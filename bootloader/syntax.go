package bootloader

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// keyValue is one "key value" line of an entry or of loader.conf.
type keyValue struct {
	line       int // 1-based, counting '\n'
	key, value string
}

// splitKeyValues reads the shared syntax of entry files and loader.conf the
// way systemd-boot 252's line_get_key_value() does:
//
//   - lines end at '\n' or '\r' (each on its own, so "\r\n" is fine);
//   - spaces and tabs around a line are dropped; empty lines are skipped;
//   - a line whose first other character is '#' is a comment (a '#' later
//     in a line is part of the value);
//   - the key runs up to the first space or tab, the value starts after
//     the run of spaces and tabs that follows;
//   - if the value starts with '"' and the line ends with '"', one pair of
//     quotes is removed ("\"a\" \"b\"" becomes `a" "b`); this is the only way
//     to keep spaces at either end of a value.
//
// Where systemd-boot silently ignores input or would read something our
// types cannot hold, it reports an error naming name:line instead: a NUL
// byte (the loader stops reading there), invalid UTF-8, a key without a value
// (the loader skips the line; "default=x" is such a line) and an empty value
// (`key ""`). All errors are returned together.
func splitKeyValues(name string, data []byte) ([]keyValue, error) {
	var errs []error
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line := 1 + bytes.Count(data[:i], []byte{'\n'})
		errs = append(errs, fmt.Errorf("%s:%d: NUL byte (systemd-boot stops reading the file there)", name, line))
		data = data[:i]
	}
	var kvs []keyValue
	lineNo := 1
	for len(data) > 0 {
		end := bytes.IndexAny(data, "\r\n")
		if end < 0 {
			end = len(data)
		}
		raw := data[:end]
		no := lineNo
		if end < len(data) {
			if data[end] == '\n' {
				lineNo++
			}
			data = data[end+1:]
		} else {
			data = nil
		}
		line := strings.Trim(string(raw), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		if !utf8.ValidString(line) {
			errs = append(errs, fmt.Errorf("%s:%d: not valid UTF-8", name, no))
			continue
		}
		k := strings.IndexAny(line, " \t")
		if k < 0 {
			errs = append(errs, fmt.Errorf("%s:%d: key %q has no value (keys and values are separated by spaces or tabs; systemd-boot ignores this line)", name, no, line))
			continue
		}
		key := line[:k]
		value := strings.TrimLeft(line[k:], " \t")
		if value[0] == '"' && value[len(value)-1] == '"' {
			if len(value) == 1 {
				value = ""
			} else {
				value = value[1 : len(value)-1]
			}
		}
		if value == "" {
			errs = append(errs, fmt.Errorf("%s:%d: %s: empty value", name, no, key))
			continue
		}
		kvs = append(kvs, keyValue{line: no, key: key, value: value})
	}
	return kvs, errors.Join(errs...)
}

// validKey reports whether key can be written as the key of a line.
func validKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q is not valid UTF-8", key)
	case strings.ContainsAny(key, " \t\r\n\x00"):
		return fmt.Errorf("key %q contains whitespace, a line break or NUL", key)
	case key[0] == '#':
		return fmt.Errorf("key %q starts with '#' and would be a comment", key)
	}
	return nil
}

// validValue reports whether value can be written as the value of a line.
func validValue(key, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("%s: empty value", key)
	case !utf8.ValidString(value):
		return fmt.Errorf("%s: value %q is not valid UTF-8", key, value)
	case strings.ContainsAny(value, "\r\n\x00"):
		return fmt.Errorf("%s: value %q contains a line break or NUL", key, value)
	}
	return nil
}

// writeKeyValue appends "key value\n", quoting the value when the loader
// would otherwise read it differently: when it starts or ends with a space
// or tab, or starts and ends with '"'.
func writeKeyValue(b *bytes.Buffer, key, value string) {
	b.WriteString(key)
	b.WriteByte(' ')
	first, last := value[0], value[len(value)-1]
	if first == ' ' || first == '\t' || last == ' ' || last == '\t' || (first == '"' && last == '"') {
		b.WriteByte('"')
		b.WriteString(value)
		b.WriteByte('"')
	} else {
		b.WriteString(value)
	}
	b.WriteByte('\n')
}
