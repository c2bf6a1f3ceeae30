//go:build !linux

package main

import (
	"os"
	"time"
)

// allocatedSize falls back to the apparent size off Linux.
func allocatedSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// fileLifetime needs statx(2) (Linux); elsewhere the birth time is unknown.
func fileLifetime(string) (born, modified time.Time, ok bool) {
	return time.Time{}, time.Time{}, false
}
