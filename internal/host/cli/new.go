package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/host/scaffold"
)

func runNew(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "new", commands()["new"].usage)
	dir := fs.String("dir", "", "create the recipe folder at `DIR` (default: ./NAME)")
	pkg := fs.String("package", "", "start from a Go package at a module version, `IMPORT@VERSION` (e.g. github.com/nats-io/nats-server/v2@v2.15.2, or @latest), built like go install")
	binary := fs.String("binary", "", "start from a prebuilt static program `FILE` (copied into the folder as bin/NAME)")
	mod := fs.String("module", "", "Go module `PATH` of the generated app (default example.com/NAME)")
	port := fs.Int("port", 8080, "TCP `PORT` the service listens on, for its health check")
	noHealth := fs.Bool("no-health", false, "no health check: the service counts as healthy once it has run for 300ms (for a --package or --binary that does not listen on --port)")
	var svcArgs stringList
	fs.Var(&svcArgs, "arg", "an argument of a --package or --binary service (repeat for more: --arg -p --arg 8080)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one NAME, got %d arguments", len(pos))
	}
	if *pkg != "" && *binary != "" {
		return usagef("--package and --binary start from different places: give one")
	}
	if len(svcArgs) > 0 && *pkg == "" && *binary == "" {
		return usagef("--arg is for a --package or --binary service; the generated app takes -listen :PORT (see --port)")
	}
	name := pos[0]
	o := scaffold.Options{Package: *pkg, Binary: *binary, Module: *mod, Port: *port, NoHealth: *noHealth, Args: svcArgs}
	if *binary != "" {
		b, err := os.ReadFile(*binary)
		if err != nil {
			return fmt.Errorf("--binary: %w", err)
		}
		if err := recipe.CheckStaticELF(b, "amd64"); err != nil {
			return fmt.Errorf("--binary %s %w", *binary, err)
		}
		o.BinaryData = b
	}
	files, err := scaffold.Plan(name, o)
	if err != nil {
		return usagef("%v", err)
	}
	if *dir == "" {
		*dir = name
	}
	if err := scaffold.Write(*dir, files); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "created %s/\n", *dir)
	for _, f := range files {
		fmt.Fprintf(e.Stdout, "  %s\n", f.Path)
	}
	rec := filepath.Join(*dir, "recipe.yaml")
	fmt.Fprintf(e.Stdout, "next:\n  turbo-image build %s -o %s\n  turbo-image run %s --exit-on-ready\n",
		rec, filepath.Join(*dir, "out"), filepath.Join(*dir, "out"))
	return nil
}
