//go:build !linux

package scaffold

// renameNoReplace renames old to new unless new exists. Off Linux it is a
// check then a rename (a folder created in between, if empty, would be
// replaced; the check catches everything else).
func renameNoReplace(old, new string) error { return renameChecked(old, new) }
