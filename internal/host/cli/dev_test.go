package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "app")
	tree := filepath.Join(dir, "static")
	for _, d := range []string{pkg, filepath.Join(pkg, "sub"), filepath.Join(tree, "css")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(pkg, "main.go"), "package main")
	write(filepath.Join(tree, "css", "a.css"), "a{}")
	recipe := filepath.Join(dir, "recipe.yaml")
	write(recipe, "name: x")
	watch := []string{recipe, filepath.Join(pkg, "*"), tree}
	base := takeFingerprint(watch)
	if len(base) != 3 {
		t.Fatalf("fingerprint %v: want the recipe, main.go and a.css", base)
	}
	for _, tc := range []struct {
		name    string
		do      func()
		changed bool
	}{
		{"edit in the package", func() { write(filepath.Join(pkg, "main.go"), "package main // v2") }, true},
		{"new file in the package", func() { write(filepath.Join(pkg, "util.go"), "package main") }, true},
		{"file deep in a files tree", func() { write(filepath.Join(tree, "css", "b.css"), "b{}") }, true},
		{"recipe saved", func() { write(recipe, "name: y") }, true},
		{"a subpackage folder is another package", func() { write(filepath.Join(pkg, "sub", "x.go"), "package sub") }, false},
		{"editor swap file", func() { write(filepath.Join(pkg, ".main.go.swp"), "junk") }, false},
		{"editor backup", func() { write(filepath.Join(tree, "css", "a.css~"), "old") }, false},
		{"recipe removed", func() { os.Remove(recipe) }, true},
	} {
		before := takeFingerprint(watch)
		tc.do()
		after := takeFingerprint(watch)
		if got := !after.equal(before); got != tc.changed {
			t.Errorf("%s: changed %v, want %v (diff %v)", tc.name, got, tc.changed, after.diff(before, 5))
		}
	}
}

func TestDevWatchList(t *testing.T) {
	testenv.MustHaveTool(t, "go", "golang")
	recipe, err := filepath.Abs(filepath.Join("..", "..", "..", "recipes", "hello", "recipe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := devWatchList(context.Background(), recipe)
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(filepath.Dir(recipe), "app", "*")
	if !slices.Contains(got, recipe) || !slices.Contains(got, app) {
		t.Errorf("watch list %q lacks the recipe or %s", got, app)
	}
	for _, p := range got {
		if strings.Contains(p, "/pkg/mod/") || strings.HasPrefix(p, filepath.Join(os.Getenv("GOROOT"), "src")+"/") && os.Getenv("GOROOT") != "" {
			t.Errorf("watching %s, which no editor changes", p)
		}
	}
	if _, err := devWatchList(context.Background(), filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("a missing recipe gave a watch list")
	}
}
