// Package recipe decodes and validates turbo-image recipe files.
//
// A recipe is one YAML document describing an appliance: its name and
// version, the kernel, the services the init supervises, extra files, the
// network, the disk layout and A/B update settings. Parse is strict in the
// spirit of LinuxKit's moby/config.go: unknown keys, duplicate keys, values
// of the wrong YAML type, bad formats and paths that leave the recipe's
// folder are all errors, and they are all found in one pass, before any
// build work starts. Every problem is an *Error carrying file, line and
// field path; Parse returns them together in a *multierror.Error, sorted by
// line.
//
// The walker decodes into a yaml.Node tree (gopkg.in/yaml.v3) and uses its
// own small typed decoders, so each problem gets an exact line and field
// path. Rules come from:
//   - YAML 1.2 (https://yaml.org/spec/1.2.2/) as implemented by yaml.v3:
//     plain scalars like 1.0, 0644 or yes resolve to numbers or booleans,
//     which is why version and mode must be quoted.
//   - RFC 1123 section 2.1 for the hostname label.
//   - Go's time.ParseDuration for durations and filepath.IsLocal for paths.
//   - The FAT32 minimum of 65525 clusters (Microsoft's FAT specification,
//     "fatgen103"), which puts the smallest ESP at about 33 MiB.
//
// The user-facing reference is docs/recipe.md.
package recipe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Load reads the recipe file at path and parses it with Parse. An error
// reading the file is returned wrapped (errors.Is(err, fs.ErrNotExist)
// works); problems in the recipe are returned as by Parse.
func Load(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read recipe: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates the recipe in data. file names the recipe in
// error messages and locates its folder: relative paths in the recipe are
// resolved against the absolute directory of file, and the files they name
// are checked to exist (except kernel.source, checked by the builder).
//
// On success the returned Recipe has every default applied. On failure the
// Recipe is nil and the error is a *multierror.Error whose Errors are all
// *Error, sorted by line; its Error method prints one problem per line.
func Parse(file string, data []byte) (*Recipe, error) {
	return parse(file, data, nil)
}

// parse is Parse; a non-nil keys receives, for every mapping the decoder
// reads, the keys it accepts there (for TestSchemaKeysMatchDecoder).
func parse(file string, data []byte, keys map[string][]string) (*Recipe, error) {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("recipe %s: locate folder: %w", file, err)
	}
	d := &decoder{file: file, dir: dir, realDir: dir, keys: keys}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		d.realDir = real
	}
	var root *yaml.Node
	if d.encoding(data) {
		root = d.document(data)
	}
	var r *Recipe
	if root != nil {
		r = d.recipe(root)
	}
	if err := toMultiError(d.errs); err != nil {
		return nil, err
	}
	return r, nil
}

// encoding checks that data is UTF-8 text (YAML 1.2 section 5.2 also
// allows UTF-16 and UTF-32, which a recipe may not use) and reports the
// first bad byte with its line and column.
func (d *decoder) encoding(data []byte) bool {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		d.add(1, "", "the file is UTF-16 text; save it as UTF-8")
		return false
	}
	if utf8.Valid(data) {
		return true
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			d.add(line, "", "the file is not UTF-8 text: byte 0x%02x at column %d is not valid UTF-8 (save the file as UTF-8)", data[i], col)
			return false
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return true
}

var yamlLineErr = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// yamlProblem records a YAML syntax error, with its line when yaml.v3 gives
// one.
func (d *decoder) yamlProblem(err error) {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil && line > 0 {
			d.add(line, "", "invalid YAML: %s", m[2])
			return
		}
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	d.add(0, "", "invalid YAML: %s", msg)
}

// document parses data as exactly one YAML document and returns its root
// node, or nil when there is nothing to decode.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(0, "", "the file is empty; a recipe needs at least name, version, kernel and services")
		} else {
			d.yamlProblem(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.add(next.Line, "", "a second YAML document starts here; a recipe file holds exactly one document")
	case !errors.Is(err, io.EOF):
		d.yamlProblem(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || isNull(doc.Content[0]) {
		d.add(0, "", "the file is empty; a recipe needs at least name, version, kernel and services")
		return nil
	}
	root := doc.Content[0]
	if resolve(root).Kind != yaml.MappingNode {
		d.add(root.Line, "", "a recipe must be a YAML mapping of keys to values, not %s", describe(root))
		return nil
	}
	return root
}
