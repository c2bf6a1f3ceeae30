package data

import "golang.org/x/sys/unix"

func exclusive() int { return unix.O_EXCL }
