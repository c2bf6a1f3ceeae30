package scaffold

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"gopkg.in/yaml.v3"
)

// validateSchema checks a recipe against docs/recipe.schema.json, as an
// editor would.
func validateSchema(t *testing.T, data []byte) error {
	t.Helper()
	f, err := os.Open("../../../docs/recipe.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(recipe.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(recipe.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// staticELF is the smallest file recipe.CheckStaticELF takes for amd64:
// an ELF64 little-endian executable header for x86-64, no program
// headers (so no interpreter and no dynamic section).
func staticELF() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b[16] = 2  // ET_EXEC
	b[18] = 62 // EM_X86_64
	b[20] = 1  // EV_CURRENT
	b[52] = 64 // e_ehsize
	b[54] = 56 // e_phentsize
	b[58] = 64 // e_shentsize
	return b
}

// TestPlannedRecipesValidate: every starting point gives a folder whose
// recipe the real checker accepts as is, with the modeline first and
// the service built from what was asked.
func TestPlannedRecipesValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want func(recipe.Service) bool
	}{
		{"app", Options{}, func(s recipe.Service) bool {
			return s.Package == "./app" && s.Health != nil && s.Health.HTTP == "http://127.0.0.1:8080/healthz"
		}},
		{"broker", Options{Package: "github.com/nats-io/nats-server/v2@v2.15.2", Port: 4222, Args: []string{"-js", "-sd", "/data/nats"}}, func(s recipe.Service) bool {
			return s.Package == "github.com/nats-io/nats-server/v2" && s.Version == "v2.15.2" && s.Health.TCP == "127.0.0.1:4222" &&
				strings.Join(s.Args, " ") == "-js -sd /data/nats"
		}},
		{"latest", Options{Package: "example.com/x/cmd/y@latest", NoHealth: true}, func(s recipe.Service) bool {
			return s.Version == "latest" && s.Health == nil
		}},
		{"bin", Options{Binary: "/somewhere/prog", BinaryData: staticELF(), Args: []string{"say \"hi\"", "--x: y", "-1"}}, func(s recipe.Service) bool {
			return strings.HasSuffix(s.Binary, "/bin/bin") && strings.Join(s.Args, "|") == "say \"hi\"|--x: y|-1"
		}},
	} {
		files, err := Plan(c.name, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		dir := filepath.Join(t.TempDir(), c.name)
		if err := Write(dir, files); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "recipe.yaml"))
		if err := validateSchema(t, b); err != nil {
			t.Errorf("%s: not valid by the schema: %v", c.name, err)
		}
		if !strings.HasPrefix(string(b), "# yaml-language-server: $schema="+recipe.SchemaID+"\n") {
			t.Errorf("%s: no modeline first:\n%s", c.name, b)
		}
		r, err := recipe.Load(filepath.Join(dir, "recipe.yaml"))
		if err != nil {
			t.Fatalf("%s: the planned recipe does not validate: %v\n%s", c.name, err, b)
		}
		if r.Name != c.name || len(r.Services) != 1 || !c.want(r.Services[0]) {
			t.Errorf("%s: service %+v\n%s", c.name, r.Services[0], b)
		}
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"Hello", Options{}, "lower-case"},
		{"../x", Options{}, "lower-case"},
		{"a", Options{Package: "example.com/x"}, "@VERSION"},
		{"a", Options{Package: "example.com/x@main"}, "@VERSION"},
		{"a", Options{Package: "/abs@v1.0.0"}, "not a Go import path"},
		{"a", Options{Package: "example.com/x@v1.0.0", Binary: "b"}, "one of"},
		{"a", Options{Module: "Bad Module"}, "module"},
		{"a", Options{Port: 70000}, "port"},
	} {
		if _, err := Plan(c.name, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Plan(%q, %+v) = %v, want %q", c.name, c.o, err, c.want)
		}
	}
}

// TestWriteNeverOverwrites: an existing folder (even empty), file or
// symlink is refused and left as it was, and no temporary folder stays.
func TestWriteNeverOverwrites(t *testing.T) {
	files, err := Plan("x", Options{})
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	mk := map[string]func(p string) error{
		"empty dir": func(p string) error { return os.Mkdir(p, 0o755) },
		"file":      func(p string) error { return os.WriteFile(p, []byte("mine"), 0o644) },
		"symlink":   func(p string) error { return os.Symlink("/nonexistent", p) },
	}
	for what, make := range mk {
		p := filepath.Join(parent, strings.ReplaceAll(what, " ", "-"))
		if err := make(p); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Lstat(p)
		err := Write(p, files)
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("%s: Write = %v, want fs.ErrExist", what, err)
		}
		after, _ := os.Lstat(p)
		if before.Mode() != after.Mode() || before.Size() != after.Size() {
			t.Errorf("%s changed", what)
		}
	}
	if err := renameNoReplace(t.TempDir(), filepath.Join(parent, "empty-dir")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("renameNoReplace onto an empty folder: %v, want fs.ErrExist", err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != len(mk) {
		t.Errorf("left behind: %v", entries)
	}
	// A file outside the folder is refused and nothing is left.
	err = Write(filepath.Join(parent, "y"), []File{{Path: "../escape", Mode: 0o644}})
	if err == nil {
		t.Error("a file outside the folder was written")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != len(mk) {
		t.Errorf("left behind after a failure: %v", entries)
	}
}
