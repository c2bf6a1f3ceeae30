//go:build linux

package turboinit

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/guest/supervise"
	"github.com/turbo-image/turbo-image/internal/shared/console"
)

// In a jail (turbo-image run --vmm jail; initconfig.JailEnv is set) there
// is no kernel of the appliance's own: the runner's set-up made /proc,
// /dev, /tmp and /run, set the host name and chose the network before it
// executed the init. So the init skips what a jail cannot or must not do:
// kernel file systems (sysfs, devtmpfs), modules, the slot root and /data
// partitions, the A/B boot assessment and blessing (no disk), the watchdog,
// network set-up, the update agent and the power button. What remains is
// the same: the config, the services as their users, health checks, the
// TURBO_ lines and the orderly shutdown on SIGTERM or SIGINT. Power-off
// and reboot become an exit of PID 1 with the services' status, which
// ends the jail.
var jailSteps = []step{
	{"read command line", (*Init).readCmdline, true},
	{"read config", (*Init).readConfig, true},
}

// Exit codes of a jail's init.
const (
	jailOK     = 0 // powered off; every service ended cleanly or was stopped
	jailFailed = 1 // a service gave up or ended with an error
	jailReboot = 2 // the appliance asked for a reboot
	jailFatal  = 3 // the init could not go on (TURBO_FATAL, a panic)
)

// jailEpoch parses the runner's start time on CLOCK_BOOTTIME; a missing
// or bad value counts from the init's own start.
func jailEpoch(s string) time.Duration {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Duration(n)
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// setgroupsDenied reports whether this user namespace forbids
// setgroups(2), as a rootless jail's does (user_namespaces(7)).
func setgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "deny"
}

// jailExit ends a jail's init: the same last line as a VM, then an exit
// whose code says how the services fared. PID 1's exit ends the PID
// namespace: the kernel kills anything left.
func (in *Init) jailExit(reboot bool) {
	unix.Sync()
	if reboot {
		in.con.Line(console.Format(console.Reboot, "reason", "requested"))
		os.Exit(jailReboot)
	}
	in.con.Line(console.Format(console.Poweroff))
	os.Exit(jailStatus(in.sup, in.unclean))
}

// jailStatus is the exit code of a jail that powers off: jailFailed when a
// service gave up, or ended by itself with an error, else jailOK.
func jailStatus(sup *supervise.Supervisor, unclean []bool) int {
	for i, bad := range unclean {
		if bad || (sup != nil && sup.State(i) == supervise.Failed) {
			return jailFailed
		}
	}
	return jailOK
}
