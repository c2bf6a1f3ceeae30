//go:build !linux

package main

import (
	"errors"
	"os"
	"time"
)

// uptimeMS needs Linux's CLOCK_BOOTTIME; the app only runs in a Linux guest.
func uptimeMS() int64 { return -1 }

func deviceOf(os.FileInfo) uint64 { return 0 }

func setupNetwork(string, [4]byte, int, [4]byte, time.Duration) error {
	return errors.New("-net needs Linux (rtnetlink); the app runs in a Linux guest")
}
