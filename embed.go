// Package turboimage holds what the turbo-image binary carries with it at
// run time: the Go source of the guest init (compiled by the builder for
// the target) and the shipped kernel config fragments.
package turboimage

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// InitSource is the Go source of the guest init and of every package of
// this module it imports, with go.mod and go.sum. The builder writes it to a
// temporary module and compiles it for the target, so the init always
// matches the turbo-image binary that builds the image, even when
// turbo-image was installed with `go install` and no checkout exists.
// The patterns name folders, not files: whatever lands in internal/guest
// or internal/shared comes along. A test in package builder checks that
// every package the init imports is covered.
//
//go:embed go.mod go.sum cmd/turbo-init/*.go bootloader/*.go internal/guest/*/*.go internal/shared/*/*.go
var InitSource embed.FS

// KernelFragments are the shipped kernel config fragments, named in
// recipes as builtin:<file name without .config>. The fragments of amd64
// are in KernelFragmentDir, those of another arch in a folder of that name
// under it (recipes/kernel/arm64/virt.config): builtin:virt means the virt
// fragment of the recipe's arch. Use KernelFragment to look one up.
//
//go:embed recipes/kernel/*.config recipes/kernel/arm64/*.config
var KernelFragments embed.FS

// KernelFragmentDir is the directory of KernelFragments.
const KernelFragmentDir = "recipes/kernel"

// KernelFragmentPath is the path in KernelFragments of the shipped
// fragment name for goarch (which need not exist).
func KernelFragmentPath(name, goarch string) string {
	if goarch == "" || goarch == "amd64" {
		return KernelFragmentDir + "/" + name + ".config"
	}
	return KernelFragmentDir + "/" + goarch + "/" + name + ".config"
}

// KernelFragmentNames lists the shipped fragments for goarch, sorted.
func KernelFragmentNames(goarch string) []string {
	dir := path.Dir(KernelFragmentPath("x", goarch))
	entries, _ := fs.ReadDir(KernelFragments, dir)
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".config"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	return names
}
