//go:build !linux

package kernel

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"
)

type fileIdentity struct {
	inode, device uint64
	ctimeNS       int64
}

// statIdentity has only size and mtime to go on outside Linux.
func statIdentity(fs.FileInfo) fileIdentity { return fileIdentity{} }

var errLinuxOnly = errors.New("building a Linux kernel is supported on Linux hosts only: run turbo-image on Linux (a VM or container is fine) or point the recipe at a prebuilt kernel")

func acquireLock(context.Context, string, reporter, string) (func(), error) {
	return nil, errLinuxOnly
}

func setProcessGroup(*exec.Cmd) {}

func hostSupported() error { return errLinuxOnly }
