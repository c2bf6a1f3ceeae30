//go:build !linux

package diskimage

// exclusiveFlag is 0 outside Linux, where O_EXCL on a device has no
// "in use" meaning: make sure the target disk is not mounted before
// writing to it.
func exclusiveFlag(string) int { return 0 }
