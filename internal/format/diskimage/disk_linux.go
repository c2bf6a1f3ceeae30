package diskimage

import (
	"os"
	"syscall"
)

// exclusiveFlag returns O_EXCL for block devices: on Linux, opening a
// block device with O_EXCL fails with EBUSY while it (or one of its
// partitions) is mounted, which keeps flashing away from a disk in use.
func exclusiveFlag(path string) int {
	if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
		return syscall.O_EXCL
	}
	return 0
}
