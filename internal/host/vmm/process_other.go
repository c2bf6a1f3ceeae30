//go:build !linux

package vmm

import (
	"errors"
	"os"
	"os/exec"
)

var errRunUnsupported = errors.New("running virtual machines is only supported on Linux hosts (use BhyveCommand's argv on FreeBSD)")

func setupCmd(*exec.Cmd) error { return errRunUnsupported }

func terminateGroup(int) error { return errRunUnsupported }

func killGroup(int) error { return errRunUnsupported }

func waitExited(int) error { return errRunUnsupported }

func exitDetail(ps *os.ProcessState) (int, string) {
	if ps == nil {
		return -1, ""
	}
	return ps.ExitCode(), ""
}
