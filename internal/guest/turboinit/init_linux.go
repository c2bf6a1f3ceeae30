//go:build linux

package turboinit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/bootloader"
	"github.com/turbo-image/turbo-image/internal/shared/console"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// Init is the state of PID 1. Only the event loop goroutine touches the
// service table; other goroutines talk to it through events.
type Init struct {
	con     *Console
	cmdline Cmdline
	cfg     *initconfig.Config
	// root is where the appliance's root file system is mounted while the
	// boot steps run ("/" for an initramfs boot).
	root string

	svcs   []*service
	events chan event

	// mu guards pids: it maps every child the init started (services and
	// exec health checks) to its owner, so the reaper can tell them from
	// orphans.
	mu   sync.Mutex
	pids map[int]func(syscall.WaitStatus)

	ready bool
	// trial is this slot's boot entry while it is on trial (not blessed).
	trial *bootloader.Entry
	// settle fires when every service has stayed healthy for the settle
	// period; it is reset whenever a service turns unhealthy.
	settle *time.Timer
	// espMu serialises mounts of the ESP (boot assessment, blessing, the
	// update agent).
	espMu sync.Mutex
	// watchdog is /dev/watchdog when the machine has one.
	watchdog     *os.File
	shuttingDown bool
	copiers      sync.WaitGroup
	mounts       []string // mounted by the init, unmounted in reverse at shutdown
	orphans      int
}

type service struct {
	cfg     initconfig.Service
	pid     int
	state   string // "running", "backoff", "failed", "done", "stopping"
	deaths  []time.Time
	healthy bool
	// stable is set once a service without a health check has run for
	// StableAfter; it counts as healthy from then on until it dies.
	stable  bool
	started bool
	cancel  context.CancelFunc
}

type event interface{}

type (
	evSignal  struct{ sig os.Signal }
	evRestart struct{ svc *service }
	evHealth  struct {
		svc    *service
		t      Transition
		reason string
	}
	evPowerKey struct{}
	evSettled  struct{}
	evStable   struct {
		svc *service
		pid int
	}
	evTrialDeadline struct{}
	evShutdown      struct {
		reason string
		reboot bool
	}
)

// step is one start-up step. A failing fatal step stops the boot.
type step struct {
	name  string
	run   func(*Init) error
	fatal bool
}

// bootSteps is the start-up sequence, in order.
var bootSteps = []step{
	{"mount kernel file systems", (*Init).mountBase, true},
	{"read command line", (*Init).readCmdline, true},
	{"load kernel modules", (*Init).loadModules, false},
	{"mount slot root", (*Init).mountSlotRoot, true},
	{"read config", (*Init).readConfig, true},
	// Fatal: an appliance whose /data cannot be mounted would lose what
	// its services write there; it must not report ready nor bless a trial.
	{"mount data", (*Init).mountData, true},
	{"switch root", (*Init).switchRoot, true},
	{"assess boot", (*Init).assessBoot, false},
	{"arm watchdog", (*Init).armWatchdog, false},
	{"set hostname", (*Init).setHostname, false},
	{"bring up network", (*Init).setupNetwork, false},
	{"start update agent", (*Init).startAgent, false},
}

// Main runs the init. It never returns: it ends by powering off or
// rebooting the machine. A panic or a fatal error is logged and reboots
// (the boot costs a try, which is what the boot loader's counting wants).
func Main() {
	con := NewConsole(os.Stdout)
	in := &Init{con: con, root: "/", events: make(chan event, 64), pids: map[int]func(syscall.WaitStatus){}}
	defer func() {
		if r := recover(); r != nil {
			con.Line(console.Format(console.Fatal, "reason", fmt.Sprintf("panic: %v", r)))
			con.Line(string(debug.Stack()))
			in.finalReboot()
		}
	}()
	if os.Getpid() != 1 {
		con.Logf("must run as PID 1 (this is pid %d)", os.Getpid())
		os.Exit(1)
	}
	if err := in.boot(); err != nil {
		con.Line(console.Format(console.Fatal, "reason", err.Error()))
		in.finalReboot()
	}
	in.loop()
}

func (in *Init) boot() error {
	// Signals first, so nothing arriving during start-up is lost.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGHUP)
	go func() {
		for s := range sigs {
			in.events <- evSignal{s}
		}
	}()
	// ctrl-alt-del sends SIGINT to PID 1 instead of rebooting at once.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	// Step timings are kept and printed after the services started (with
	// turbo.debug), so slow serial output does not distort them.
	timings := []string{fmt.Sprintf("started at uptime %d ms", uptimeMS())}
	for _, s := range bootSteps {
		t := time.Now()
		err := s.run(in)
		timings = append(timings, fmt.Sprintf("step %q took %v (err=%v)", s.name, time.Since(t).Round(time.Microsecond), err))
		if err != nil {
			if s.fatal {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			in.con.Logf("%s: %v", s.name, err)
		}
	}
	go in.watchPowerButton()
	for _, c := range in.cfg.Services {
		s := &service{cfg: c}
		in.svcs = append(in.svcs, s)
		in.startService(s)
	}
	if in.debug() {
		for _, t := range timings {
			in.con.Logf("%s", t)
		}
	}
	in.checkReady()
	return nil
}

// debug reports whether turbo.debug is on the kernel command line (read
// from /proc until the command line step has run).
func (in *Init) debug() bool {
	if in.cmdline.Params == nil {
		b, _ := os.ReadFile("/proc/cmdline")
		return strings.Contains(string(b), "turbo.debug")
	}
	_, ok := in.cmdline.Params["turbo.debug"]
	return ok
}

func (in *Init) readCmdline() error {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	in.cmdline = ParseCmdline(string(b))
	return nil
}

func (in *Init) readConfig() error {
	b, err := os.ReadFile(in.root + initconfig.Path)
	if err != nil {
		return err
	}
	cfg, err := initconfig.Parse(b)
	if err != nil {
		return err
	}
	in.cfg = cfg
	return nil
}

func (in *Init) setHostname() error {
	if in.cfg.Hostname == "" {
		return nil
	}
	return unix.Sethostname([]byte(in.cfg.Hostname))
}

// loop is the supervisor: it owns the service table and reacts to events
// until shutdown.
func (in *Init) loop() {
	for ev := range in.events {
		switch e := ev.(type) {
		case evSignal:
			switch e.sig {
			case unix.SIGCHLD:
				in.reap()
			case unix.SIGHUP:
				// Ignored: PID 1 has no controlling terminal to lose.
			default:
				in.shutdown("signal "+e.sig.String(), false)
			}
		case evPowerKey:
			in.shutdown("power button", false)
		case evShutdown:
			in.shutdown(e.reason, e.reboot)
		case evRestart:
			if e.svc.state == "backoff" && !in.shuttingDown {
				in.startService(e.svc)
				in.checkReady()
			}
		case evHealth:
			in.healthChanged(e.svc, e.t, e.reason)
		case evStable:
			if e.svc.pid == e.pid && e.svc.state == "running" {
				e.svc.stable = true
				in.checkReady()
			}
		case evSettled:
			if in.trial != nil && in.allHealthy() && !in.shuttingDown {
				in.bless()
			}
		case evTrialDeadline:
			if in.trial != nil && !in.shuttingDown {
				in.failTrial(fmt.Sprintf("not healthy for %v within %v", in.cfg.Update.Settle.D(), in.cfg.Update.TrialDeadline.D()))
			}
		}
	}
}

// reap collects every exited child. Services and health-check processes
// go to their owners; anything else is an orphan re-parented to PID 1.
func (in *Init) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		in.mu.Lock()
		owner := in.pids[pid]
		delete(in.pids, pid)
		in.mu.Unlock()
		if owner != nil {
			owner(ws)
		} else {
			in.orphans++
		}
	}
}

// spawn starts argv as a child of the init and registers onExit, under the
// lock, before the reaper can see the pid.
func (in *Init) spawn(argv []string, attr *os.ProcAttr, onExit func(syscall.WaitStatus)) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	p.Release()
	in.pids[pid] = onExit
	return pid, nil
}

func (in *Init) startService(s *service) {
	c := s.cfg
	r, w, err := os.Pipe()
	if err != nil {
		in.serviceFailedToStart(s, err)
		return
	}
	devnull, _ := os.Open(os.DevNull)
	attr := &os.ProcAttr{
		Dir: c.Dir,
		Env: append([]string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin", "HOME=" + c.Dir,
			"TURBO_NAME=" + in.cfg.Name, "TURBO_VERSION=" + in.cfg.Version, "TURBO_SLOT=" + in.cmdline.Slot}, c.Env...),
		Files: []*os.File{devnull, w, w},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	if c.UID != 0 || c.GID != 0 {
		attr.Sys.Credential = &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.GID), Groups: []uint32{}}
	}
	pid, err := in.spawn(append([]string{c.Path}, c.Args...), attr, func(ws syscall.WaitStatus) {
		// Called from reap, on the loop goroutine.
		in.serviceExited(s, ws)
	})
	w.Close()
	if devnull != nil {
		devnull.Close()
	}
	if err != nil {
		r.Close()
		in.serviceFailedToStart(s, err)
		return
	}
	in.copiers.Add(1)
	go func() {
		defer in.copiers.Done()
		in.con.CopyLines(c.Name, r)
		r.Close()
	}()
	s.pid, s.state, s.stable = pid, "running", false
	if in.debug() {
		defer in.con.Logf("service %s started (pid %d) at uptime %d ms", c.Name, pid, uptimeMS())
	}
	if c.Health == nil {
		time.AfterFunc(StableAfter, func() { in.events <- evStable{s, pid} })
	}
	if !s.started {
		s.started = true
		if c.Health != nil {
			ctx, cancel := context.WithCancel(context.Background())
			s.cancel = cancel
			go in.watchHealth(ctx, s)
		}
	}
}

func (in *Init) serviceFailedToStart(s *service, err error) {
	in.con.Logf("service %s: cannot start: %v", s.cfg.Name, err)
	// A start failure counts as a death, so a missing binary gives up
	// after the burst like a crashing one.
	in.afterDeath(s, false, "cannot start: "+err.Error())
}

func (in *Init) serviceExited(s *service, ws syscall.WaitStatus) {
	s.pid, s.stable = 0, false
	if in.shuttingDown || s.state == "stopping" {
		s.state = "done"
		return
	}
	in.afterDeath(s, ws.Exited() && ws.ExitStatus() == 0, describeStatus(ws))
}

func (in *Init) afterDeath(s *service, clean bool, how string) {
	d := Decide(s.cfg.Restart, clean, s.deaths, time.Now(), s.cfg.Burst, s.cfg.Interval.D())
	s.deaths = d.Deaths
	switch d.Verdict {
	case Restart:
		in.con.Logf("service %s %s; restarting in %v", s.cfg.Name, how, d.Delay)
		s.state = "backoff"
		time.AfterFunc(d.Delay, func() { in.events <- evRestart{s} })
	case GiveUp:
		s.state = "failed"
		if s.cancel != nil {
			s.cancel()
		}
		reason := fmt.Sprintf("gave up after %d deaths in %v (last: %s)", len(d.Deaths), s.cfg.Interval.D(), how)
		in.con.Logf("service %s %s; %s", s.cfg.Name, how, reason)
		in.con.Line(unhealthyLine(s.cfg.Name, reason))
		s.healthy = false
		if in.settle != nil {
			in.settle.Stop()
			in.settle = nil
		}
	case Done:
		in.con.Logf("service %s %s; not restarting (restart: %s)", s.cfg.Name, how, s.cfg.Restart)
		s.state = "done"
		in.checkReady()
	}
}

func describeStatus(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("ended (wait status %#x)", uint32(ws))
}

// watchHealth probes one service until ctx ends, reporting transitions.
func (in *Init) watchHealth(ctx context.Context, s *service) {
	st := NewHealthState(s.cfg.Health, time.Now())
	for {
		err := Probe(ctx, s.cfg.Health, in.runCheck)
		if ctx.Err() != nil {
			return
		}
		if t := st.Observe(time.Now(), err); t != NoChange {
			in.events <- evHealth{s, t, st.Reason()}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(st.NextDelay()):
		}
	}
}

// runCheck runs an exec health check through the init's own reaper.
func (in *Init) runCheck(ctx context.Context, argv []string) error {
	done := make(chan syscall.WaitStatus, 1)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	pid, err := in.spawn(argv, &os.ProcAttr{Dir: "/", Files: []*os.File{devnull, devnull, devnull},
		Sys: &syscall.SysProcAttr{Setpgid: true}}, func(ws syscall.WaitStatus) { done <- ws })
	if err != nil {
		return err
	}
	select {
	case ws := <-done:
		if ws.Exited() && ws.ExitStatus() == 0 {
			return nil
		}
		return errors.New(describeStatus(ws))
	case <-ctx.Done():
		syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("check timed out: %w", ctx.Err())
	}
}

func (in *Init) healthChanged(s *service, t Transition, reason string) {
	if in.shuttingDown || s.state == "failed" {
		return
	}
	switch t {
	case BecameHealthy:
		if in.debug() {
			in.con.Logf("service %s healthy at uptime %d ms", s.cfg.Name, uptimeMS())
		}
		if !s.healthy && in.ready {
			in.con.Logf("service %s is healthy again", s.cfg.Name)
		}
		s.healthy = true
		in.checkReady()
	case BecameUnhealthy:
		s.healthy = false
		in.con.Line(unhealthyLine(s.cfg.Name, reason))
		if in.settle != nil {
			// A trial must be healthy for the whole settle period.
			in.settle.Stop()
			in.settle = nil
		}
	}
}

// allHealthy reports whether every service is healthy: a service with a
// health check once its check passed, one without once it has kept
// running for StableAfter (or finished cleanly under its policy), so a
// service that crashes at start is never reported ready.
func (in *Init) allHealthy() bool {
	for _, s := range in.svcs {
		switch {
		case s.state == "failed":
			return false
		case s.cfg.Health != nil:
			if !s.healthy {
				return false
			}
		case s.state == "running" && !s.stable, s.state != "running" && s.state != "done":
			return false
		}
	}
	return true
}

// checkReady prints TURBO_READY once, when every service is healthy, and
// (re)starts the settle timer of a trial boot.
func (in *Init) checkReady() {
	if in.shuttingDown || !in.allHealthy() {
		return
	}
	if in.trial != nil && in.settle == nil {
		in.settle = time.AfterFunc(in.cfg.Update.Settle.D(), func() { in.events <- evSettled{} })
	}
	if in.ready {
		return
	}
	in.ready = true
	in.con.Line(readyLine(in.cfg.Name, in.cfg.Version, in.cmdline.Slot, uptimeMS()))
}

// uptimeMS is the time since the kernel started, from CLOCK_BOOTTIME.
func uptimeMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	return ts.Nano() / int64(time.Millisecond)
}

// shutdown stops everything in order and powers off (or reboots): TERM to
// services in reverse start order, KILL after the grace period, TERM/KILL
// to any stragglers, sync, unmount, then the final reboot syscall.
func (in *Init) shutdown(reason string, reboot bool) {
	if in.shuttingDown {
		return
	}
	in.shuttingDown = true
	in.con.Logf("shutting down: %s", reason)
	for _, s := range in.svcs {
		if s.cancel != nil {
			s.cancel()
		}
	}
	for i := len(in.svcs) - 1; i >= 0; i-- {
		s := in.svcs[i]
		if s.pid > 0 {
			in.con.Logf("stopping service %s", s.cfg.Name)
			s.state = "stopping"
			syscall.Kill(-s.pid, syscall.SIGTERM)
		}
	}
	grace := 5 * time.Second
	if in.cfg != nil && in.cfg.ShutdownGrace > 0 {
		grace = in.cfg.ShutdownGrace.D()
	}
	if !in.waitServices(grace) {
		for _, s := range in.svcs {
			if s.pid > 0 {
				in.con.Logf("service %s did not stop within %v; killing it", s.cfg.Name, grace)
				syscall.Kill(-s.pid, syscall.SIGKILL)
			}
		}
		in.waitServices(2 * time.Second)
	}
	// Whatever else is left (orphans, grandchildren in other groups).
	syscall.Kill(-1, syscall.SIGTERM)
	time.Sleep(50 * time.Millisecond)
	syscall.Kill(-1, syscall.SIGKILL)
	in.reap()
	waitTimeout(&in.copiers, 200*time.Millisecond)
	in.finish(reboot)
}

// waitServices handles events (reaping only) until no service runs or the
// timeout passes. It reports whether every service stopped.
func (in *Init) waitServices(timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		running := false
		for _, s := range in.svcs {
			if s.pid > 0 {
				running = true
			}
		}
		if !running {
			return true
		}
		select {
		case ev := <-in.events:
			if e, ok := ev.(evSignal); ok && e.sig == unix.SIGCHLD {
				in.reap()
			}
		case <-deadline:
			return false
		}
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// finish syncs, unmounts what the init mounted, and powers off or reboots.
func (in *Init) finish(reboot bool) {
	in.disarmWatchdog()
	unix.Sync()
	for i := len(in.mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(in.mounts[i], 0); err != nil {
			// Read-only is as good as unmounted for the data on it.
			if err2 := unix.Mount("", in.mounts[i], "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err2 != nil {
				in.con.Logf("unmount %s: %v", in.mounts[i], err)
			}
		}
	}
	unix.Sync()
	if reboot {
		in.con.Line(console.Format(console.Reboot, "reason", "requested"))
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	} else {
		in.con.Line(console.Format(console.Poweroff))
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	// Only reached if the kernel could not do it (e.g. no ACPI); halting
	// is the best left.
	unix.Reboot(unix.LINUX_REBOOT_CMD_HALT)
	select {}
}

// finalReboot is the way out after a panic or fatal error: sync and reboot
// so the boot loader can count the failed attempt.
func (in *Init) finalReboot() {
	unix.Sync()
	in.con.Line(console.Format(console.Reboot, "reason", "fatal"))
	time.Sleep(100 * time.Millisecond)
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	select {}
}
