//go:build linux

package main

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// allocatedSize is the disk space a (possibly sparse) file occupies.
func allocatedSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512, nil
	}
	return fi.Size(), nil
}

// fileLifetime returns a file's birth and last modification times (statx
// with STATX_BTIME); ok is false where the file system records no birth
// time.
func fileLifetime(path string) (born, modified time.Time, ok bool) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BTIME|unix.STATX_MTIME, &stx); err != nil {
		return time.Time{}, time.Time{}, false
	}
	if stx.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)), time.Unix(stx.Mtime.Sec, int64(stx.Mtime.Nsec)), true
}
