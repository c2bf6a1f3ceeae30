//go:build !unix

package manifest

// openFlags: elsewhere the Lstat before the open and the fstat after it
// are the checks.
const openFlags = 0
