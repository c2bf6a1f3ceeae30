package recipe

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const schemaFile = "../../../docs/recipe.schema.json"

// TestSchemaFileIsCurrent fails when docs/recipe.schema.json is not what
// JSONSchema generates; `go generate ./internal/host/recipe` rewrites it.
func TestSchemaFileIsCurrent(t *testing.T) {
	want, err := MarshalSchema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date: run go generate ./internal/host/recipe", schemaFile)
	}
}

// everyMapping is a recipe that makes the decoder read every mapping it
// has (values need not be valid: only the keys each mapping accepts are
// recorded).
const everyMapping = `
name: x
version: "1"
kernel: {base: tinyconfig}
network: {mode: none}
services:
  - name: a
    package: ./app
    restart_limit: {burst: 1}
    health: {tcp: "127.0.0.1:1"}
    env: {A: b}
    limits: {memory: 64MiB}
files: [{dest: /a, content: x}]
disk: {esp_size: 64MiB}
update:
  agent: {listen: ":1", token_file: t}
  channels: {stable: [k]}
  follow: {ref: r/x, channel: stable}
init: {shutdown_grace: 1s}
data: {scrub: [/bin/a]}
`

// TestSchemaKeysMatchDecoder: each mapping of the schema lists exactly
// the keys the decoder accepts there, and the schema has every mapping
// the decoder reads. A key added to one side only fails here.
func TestSchemaKeysMatchDecoder(t *testing.T) {
	dec := map[string][]string{}
	parse(filepath.Join(t.TempDir(), "recipe.yaml"), []byte(everyMapping), dec)
	sch := schemaKeys()
	for path, keys := range dec {
		want := slices.Clone(keys)
		sort.Strings(want)
		got := slices.Clone(sch[path])
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%q: the decoder accepts %v, the schema (jsonschema.go) lists %v", path, want, got)
		}
	}
	for path := range sch {
		if _, ok := dec[path]; !ok && path != "services[].env" && path != "update.channels" {
			t.Errorf("the schema has a mapping %q the decoder never read (is everyMapping missing it?)", path)
		}
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlInstance reads YAML as a JSON Schema instance, the way
// yaml-language-server does: the YAML value converted to JSON.
func yamlInstance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestExampleRecipesValidateAgainstSchema: every example recipe (and the
// full reference example) passes the checked-in schema in a real JSON
// Schema validator, and the examples name it in their modeline.
func TestExampleRecipesValidateAgainstSchema(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("../../../recipes/*/recipe.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d example recipes, want hello and at least three more", len(files))
	}
	files = append(files, "testdata/full/recipe.yaml", "testdata/minimal/recipe.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlInstance(t, data)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if strings.HasPrefix(p, "../../../recipes/") && !strings.HasPrefix(string(data), "# yaml-language-server: $schema=../../docs/recipe.schema.json\n") {
			t.Errorf("%s: the first line is not the yaml-language-server modeline", p)
		}
	}
}

// TestSchemaRefuses: what the decoder refuses by shape, the schema
// refuses too.
func TestSchemaRefuses(t *testing.T) {
	s := compileSchema(t)
	base := "name: x\nversion: \"1\"\nkernel: {}\nservices: [{name: a, package: ./app}]\n"
	if err := s.Validate(yamlInstance(t, []byte(base))); err != nil {
		t.Fatalf("the smallest recipe: %v", err)
	}
	for what, y := range map[string]string{
		"unknown key":           base + "colour: red\n",
		"no services":           "name: x\nversion: \"1\"\nkernel: {}\nservices: []\n",
		"number version":        strings.Replace(base, `"1"`, "1.0", 1),
		"bad name":              strings.Replace(base, "name: x", "name: X_", 1),
		"package and binary":    strings.Replace(base, "package: ./app", "package: ./app, binary: b", 1),
		"neither":               strings.Replace(base, ", package: ./app", "", 1),
		"two checks":            strings.Replace(base, "./app}", "./app, health: {tcp: \"127.0.0.1:1\", http: \"http://127.0.0.1:1/\"}}", 1),
		"bad output":            base + "outputs: [floppy]\n",
		"duplicate output":      base + "outputs: [disk, disk]\n",
		"duration without unit": base + "init: {shutdown_grace: \"5\"}\n",
		"numeric mode":          base + "files: [{dest: /a, content: x, mode: 644}]\n",
		"prebuilt and base":     strings.Replace(base, "kernel: {}", "kernel: {prebuilt: k, base: tinyconfig}", 1),
		"tries out of range":    base + "update: {tries: 10}\n",
		"bad restart":           strings.Replace(base, "./app}", "./app, restart: sometimes}", 1),
	} {
		if err := s.Validate(yamlInstance(t, []byte(y))); err == nil {
			t.Errorf("%s: the schema accepts\n%s", what, y)
		}
		if _, err := Parse("r.yaml", []byte(y)); err == nil {
			t.Errorf("%s: the decoder accepts\n%s", what, y)
		}
	}
}
