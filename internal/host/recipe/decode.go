package recipe

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// This file holds the small typed decoders that walk a yaml.Node tree. They
// record a problem and return ok=false instead of stopping, so one pass
// finds every problem in the file.

// decoder collects problems while a recipe is walked.
type decoder struct {
	file    string // as given by the caller, for Error.File
	dir     string // absolute recipe folder
	realDir string // dir with symlinks evaluated (dir when that fails)
	arch    string // the recipe's arch, once decoded, for content checks
	errs    []*Error
	claims  []claim             // image paths used by services and files, for imagePaths
	execs   []claim             // programs of exec health checks, which must be in the image
	keys    map[string][]string // if set, the known keys of each mapping read (see parse)
}

func (d *decoder) add(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows YAML aliases (*name) to the anchored node. The parser
// rejects an alias to an anchor that contains it, so this terminates.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	r := resolve(n)
	return r == nil || (r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null")
}

// coreTags are the YAML tags a recipe may use; others (custom "!foo" tags,
// "!!set", ...) are refused.
var coreTags = []string{"!!map", "!!seq", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!merge"}

// describe names the kind of value n holds, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	r := resolve(n)
	if r == nil {
		return "nothing"
	}
	if tag := r.ShortTag(); !contains(coreTags, tag) {
		return "a value tagged " + quoteShort(tag)
	}
	switch r.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	switch tag := r.ShortTag(); tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!timestamp":
		return "a timestamp"
	case "!!binary":
		return "binary data"
	case "!!str":
		return quoteShort(r.Value)
	default:
		return "a value tagged " + quoteShort(tag)
	}
}

// quoteShort quotes s for a message, shortened to keep messages one line.
func quoteShort(s string) string {
	const max = 60
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

var simpleKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// child returns the field path of key inside the mapping at path.
func child(path, key string) string {
	if !simpleKey.MatchString(key) {
		return path + "[" + quoteShort(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index returns the field path of item i of the list at path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// fields is a decoded YAML mapping: its keys checked against the known ones,
// duplicates and unknown keys already reported.
type fields struct {
	d     *decoder
	line  int    // line of the mapping itself
	path  string // field path of the mapping
	keys  map[string]*yaml.Node
	vals  map[string]*yaml.Node
	order []string // keys in file order
}

// mapping decodes n as a mapping whose keys must be among known (any key
// when known is nil).
func (d *decoder) mapping(n *yaml.Node, path string, known []string) (*fields, bool) {
	r := resolve(n)
	if r.Kind != yaml.MappingNode || r.ShortTag() != "!!map" {
		d.add(n.Line, path, "must be a mapping, not %s", describe(r))
		return nil, false
	}
	if d.keys != nil && known != nil {
		d.keys[normalizePath(path)] = known
	}
	f := &fields{d: d, line: n.Line, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	seen := map[string]int{}
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, v := resolve(r.Content[i]), r.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(r.Content[i].Line, path, "keys must be plain strings, not %s", describe(k))
			continue
		}
		name := k.Value
		if k.ShortTag() == "!!merge" {
			d.add(r.Content[i].Line, child(path, name), "merge keys (<<) are not supported; write the fields out")
			continue
		}
		if first, dup := seen[name]; dup {
			d.add(r.Content[i].Line, child(path, name), "duplicate key (first at line %d)", first)
			continue
		}
		seen[name] = r.Content[i].Line
		if known != nil && !contains(known, name) {
			msg := "unknown key"
			if s := suggest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			d.add(r.Content[i].Line, child(path, name), "%s", msg)
			continue
		}
		f.keys[name] = r.Content[i]
		f.vals[name] = v
		f.order = append(f.order, name)
	}
	return f, true
}

// get returns the value of key, or nil when the key is absent or null.
// A null value (an empty "key:") means "not set".
func (f *fields) get(key string) *yaml.Node {
	v := f.vals[key]
	if v == nil || isNull(v) {
		return nil
	}
	return v
}

// set reports whether key is present with a non-null value.
func (f *fields) set(key string) bool { return f.get(key) != nil }

// keyLine returns the line of key, which must be present.
func (f *fields) keyLine(key string) int { return f.keys[key].Line }

// field returns the field path of key.
func (f *fields) field(key string) string { return child(f.path, key) }

// required returns the value of key, reporting "is required" when it is
// absent (at the line of the mapping) or null (at its own line).
func (f *fields) required(key string) *yaml.Node {
	if v := f.get(key); v != nil {
		return v
	}
	line := f.line
	if k := f.keys[key]; k != nil {
		line = k.Line
	}
	f.d.add(line, f.field(key), "is required")
	return nil
}

// str decodes a string scalar. Numbers, booleans and timestamps are refused
// with a hint to quote them: YAML would otherwise turn 1.10 into 1.1.
func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode {
		switch r.ShortTag() {
		case "!!str":
			if strings.IndexByte(r.Value, 0) >= 0 {
				d.add(n.Line, field, "must not contain NUL bytes")
				return "", false
			}
			return r.Value, true
		case "!!int", "!!float", "!!bool", "!!timestamp":
			d.add(n.Line, field, "must be a string, not %s; quote it: %s", describe(r), strconv.Quote(r.Value))
			return "", false
		}
	}
	d.add(n.Line, field, "must be a string, not %s", describe(r))
	return "", false
}

// text decodes any plain scalar (string, number, boolean, timestamp) as the
// text written in the file, for free-form values like args and env values.
func (d *decoder) text(n *yaml.Node, field string, allowNUL bool) (string, bool) {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode {
		switch r.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			if !allowNUL && strings.IndexByte(r.Value, 0) >= 0 {
				d.add(n.Line, field, "must not contain NUL bytes")
				return "", false
			}
			return r.Value, true
		}
	}
	d.add(n.Line, field, "must be a string, not %s", describe(r))
	return "", false
}

var decimal = regexp.MustCompile(`^[-+]?[0-9]+$`)

// integer decodes a decimal integer scalar. Octal (0644, 0o644), hex and
// digit separators are refused so a value never means something unexpected.
func (d *decoder) integer(n *yaml.Node, field string) (int64, bool) {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!float" && decimal.MatchString(r.Value) {
		d.add(n.Line, field, "%s is out of range", r.Value) // yaml.v3 makes too-large integers floats
		return 0, false
	}
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!int" {
		d.add(n.Line, field, "must be an integer, not %s", describe(r))
		return 0, false
	}
	if !decimal.MatchString(r.Value) || (len(strings.TrimLeft(r.Value, "+-")) > 1 && strings.TrimLeft(r.Value, "+-")[0] == '0') {
		d.add(n.Line, field, "must be a decimal integer, not %s", r.Value)
		return 0, false
	}
	v, err := strconv.ParseInt(r.Value, 10, 64)
	if err != nil {
		d.add(n.Line, field, "%s is out of range", r.Value)
		return 0, false
	}
	return v, true
}

// intRange decodes an integer in [lo, hi].
func (d *decoder) intRange(n *yaml.Node, field string, lo, hi int64) (int, bool) {
	v, ok := d.integer(n, field)
	if !ok {
		return 0, false
	}
	if v < lo || v > hi {
		if hi == 1<<31-1 {
			d.add(n.Line, field, "must be at least %d, not %d", lo, v)
		} else {
			d.add(n.Line, field, "must be between %d and %d, not %d", lo, hi, v)
		}
		return 0, false
	}
	return int(v), true
}

// duration decodes a Go duration string like "1s" or "1m30s". It must not
// be negative, and must be > 0 when positive is set.
func (d *decoder) duration(n *yaml.Node, field string, positive bool) (time.Duration, bool) {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode && (r.ShortTag() == "!!int" || r.ShortTag() == "!!float") {
		d.add(n.Line, field, "must be a duration with a unit, like %ss", r.Value)
		return 0, false
	}
	s, ok := d.str(n, field)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.add(n.Line, field, "must be a duration like 500ms, 5s or 2m, not %s", quoteShort(s))
		return 0, false
	}
	if v < 0 || (positive && v == 0) {
		if positive {
			d.add(n.Line, field, "must be greater than 0, not %s", s)
		} else {
			d.add(n.Line, field, "must not be negative, not %s", s)
		}
		return 0, false
	}
	return v, true
}

// size decodes a byte count: a decimal integer, or a string of digits with
// an optional KiB, MiB or GiB suffix (bytesize.Parse). The result is > 0.
func (d *decoder) size(n *yaml.Node, field string) (int64, bool) {
	r := resolve(n)
	var s string
	switch {
	case r.Kind == yaml.ScalarNode && r.ShortTag() == "!!int":
		v, ok := d.integer(n, field)
		if !ok {
			return 0, false
		}
		if v <= 0 {
			d.add(n.Line, field, "must be greater than 0, not %d", v)
			return 0, false
		}
		return v, true
	case r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str":
		s = r.Value
	default:
		d.add(n.Line, field, "must be a size like 64MiB, not %s", describe(r))
		return 0, false
	}
	v, err := bytesize.Parse(s)
	switch {
	case errors.Is(err, bytesize.ErrRange):
		d.add(n.Line, field, "%s is too large", s)
		return 0, false
	case err != nil:
		d.add(n.Line, field, "must be a size in bytes or with a KiB, MiB or GiB suffix, like 64MiB, not %s", quoteShort(s))
		return 0, false
	case v == 0:
		d.add(n.Line, field, "must be greater than 0")
		return 0, false
	}
	return v, true
}

// list decodes a sequence and returns its items.
func (d *decoder) list(n *yaml.Node, field string) ([]*yaml.Node, bool) {
	r := resolve(n)
	if r.Kind != yaml.SequenceNode || r.ShortTag() != "!!seq" {
		d.add(n.Line, field, "must be a list, not %s", describe(r))
		return nil, false
	}
	return r.Content, true
}

// oneOf checks that s is one of allowed.
func (d *decoder) oneOf(n *yaml.Node, field, s string, allowed ...string) bool {
	if contains(allowed, s) {
		return true
	}
	var want string
	switch len(allowed) {
	case 2:
		want = allowed[0] + " or " + allowed[1]
	default:
		want = "one of " + strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	}
	d.add(n.Line, field, "must be %s, not %s", want, quoteShort(s))
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to name when it is a likely typo.
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(strings.ToLower(name), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if bestDist > 2 || (bestDist == 2 && len(name) < 5) {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b
// (Levenshtein plus swaps of neighbours, so "bsae" is 1 from "base"). Long
// inputs are not compared, since only small distances matter.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	// dist[i][j] is the distance between a[:i] and b[:j].
	dist := make([][]int, len(a)+1)
	for i := range dist {
		dist[i] = make([]int, len(b)+1)
		dist[i][0] = i
	}
	for j := range dist[0] {
		dist[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			dist[i][j] = min(dist[i-1][j]+1, dist[i][j-1]+1, dist[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				dist[i][j] = min(dist[i][j], dist[i-2][j-2]+1)
			}
		}
	}
	return dist[len(a)][len(b)]
}
