// Package turboinit is turbo-image's PID 1: the Go init that runs inside the
// appliance. It is built from source by the builder for the target
// architecture and placed at /init in the initramfs.
//
// Start-up is a list of small typed steps (see steps in init_linux.go, in
// the manner of u-root's libinit): mount the kernel file systems, read the
// config the builder wrote (package initconfig), set the hostname, bring up
// the network, then supervise the services. The supervision decisions
// (restart, exponential backoff from 1 s, giving up after K deaths in T
// seconds, readiness, the trial's bless or mark-bad, shutdown order) are
// made by the pure core in package supervise; this package feeds it events
// and carries out its actions. Health probes are in health.go. Both are
// table-tested on any OS.
//
// Facts PID 1 must live with (see the kernel's init/main.c and signal(7)):
// if PID 1 exits the kernel panics, and with panic=N on the command line it
// reboots after N seconds, which costs a boot try; PID 1 gets no default
// signal actions, so SIGTERM, SIGINT (ctrl-alt-del once CAD is off),
// SIGPWR and SIGCHLD are handled explicitly; orphans are re-parented to
// PID 1, which reaps them with wait4(-1, …, WNOHANG) in a loop. Because the
// init reaps every child itself, it never uses os/exec's Wait.
//
// The init reports to the host on the serial console with one-line
// records (TURBO_READY, TURBO_UNHEALTHY, TURBO_ROLLBACK, TURBO_POWEROFF,
// TURBO_REBOOT, TURBO_FATAL); see docs/design.md.
package turboinit
