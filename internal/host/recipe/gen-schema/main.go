// Command gen-schema writes the recipe JSON Schema (recipe.JSONSchema) to
// the file named by its argument: `go generate ./internal/host/recipe`
// runs it for docs/recipe.schema.json.
package main

import (
	"fmt"
	"os"

	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen-schema FILE")
		os.Exit(2)
	}
	b, err := recipe.MarshalSchema()
	if err == nil {
		err = atomicfile.WriteFile(os.Args[1], b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-schema:", err)
		os.Exit(1)
	}
}
