package builder

import "github.com/turbo-image/turbo-image/internal/host/recipe"

// CheckStaticELF reports whether data is a statically linked Linux ELF
// executable for goarch; see recipe.CheckStaticELF, which the recipe
// checker applies to prebuilt binaries and the builder to compiled ones.
func CheckStaticELF(data []byte, goarch string) error {
	return recipe.CheckStaticELF(data, goarch)
}
