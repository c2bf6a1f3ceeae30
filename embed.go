// Package turboimage holds what the turbo-image binary carries with it at
// run time: the Go source of the guest init (compiled by the builder for
// the target) and the shipped kernel config fragments.
package turboimage

import "embed"

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
// recipes as builtin:<file name without .config>.
//
//go:embed recipes/kernel/*.config
var KernelFragments embed.FS

// KernelFragmentDir is the directory of KernelFragments.
const KernelFragmentDir = "recipes/kernel"
