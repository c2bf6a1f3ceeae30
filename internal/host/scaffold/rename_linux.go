package scaffold

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to new unless new exists, in one step
// (renameat2 RENAME_NOREPLACE): plain rename(2) would silently replace an
// empty folder created at new in the meantime. File systems without it
// (EINVAL) get the check-then-rename of other systems.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOTEMPTY):
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: os.ErrExist}
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return renameChecked(old, new)
	}
	return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
}
