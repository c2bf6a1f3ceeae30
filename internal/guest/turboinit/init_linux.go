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
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/bootloader"
	"github.com/turbo-image/turbo-image/internal/guest/cgroup"
	"github.com/turbo-image/turbo-image/internal/guest/supervise"
	"github.com/turbo-image/turbo-image/internal/shared/console"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// Init is the state of PID 1. The decisions (restart, readiness, trial,
// shutdown order) are made by the core in package supervise; Init carries
// out its actions. Only the event loop goroutine touches the core and the
// service processes; other goroutines talk to it through events.
type Init struct {
	con     *Console
	cmdline Cmdline
	cfg     *initconfig.Config
	// root is where the appliance's root file system is mounted while the
	// boot steps run ("/" for an initramfs boot).
	root string

	sup *supervise.Supervisor
	// svcPID is the process of each service (0: none); health cancels
	// each service's health checks.
	svcPID []int
	health []context.CancelFunc
	// limits are the services' cgroups and rlimits (nil: none).
	limits []*svcLimits
	events chan event

	// mu guards pids: it maps every child the init started (services and
	// exec health checks) to its owner, so the reaper can tell them from
	// orphans.
	mu   sync.Mutex
	pids map[int]func(syscall.WaitStatus)

	// trial is this slot's boot entry while it is on trial (not blessed).
	trial *bootloader.Entry
	// onTrial mirrors trial != nil for goroutines other than the loop
	// (the registry follower does not poll while the slot is on trial).
	onTrial atomic.Bool
	// espMu serialises mounts of the ESP (boot assessment, blessing, the
	// update agent).
	espMu sync.Mutex
	// watchdog is /dev/watchdog when the machine has one.
	watchdog *os.File
	copiers  sync.WaitGroup
	mounts   []string // mounted by the init, unmounted in reverse at shutdown
	orphans  int

	// jail is true when a jail runner started the init (turbo-image run
	// --vmm jail) instead of a kernel: see jail_linux.go.
	jail bool
	// epoch is subtracted from CLOCK_BOOTTIME to give the uptime: 0 in a
	// VM, the jail's start on the host's clock in a jail.
	epoch time.Duration
	// stopping marks services the init signalled to stop; unclean marks
	// services whose last exit was unclean and not asked for. A jail's
	// exit status comes from them.
	stopping, unclean []bool
	// build is the booted slot's build digest (set by assessBoot, before
	// the update agent starts; read by it).
	build string
	// paused counts the data export's pauses and resumes: odd while the
	// services are frozen for a copy of /data; a health result seen
	// across a change is not counted. frozen is what the loop froze.
	paused atomic.Int64
	frozen []frozenSvc
	// rechoose tells the registry follower that the update agent changed
	// the ESP file turbo/channel: it chooses its channel again before its
	// next poll.
	rechoose atomic.Bool
}

// event is what the loop receives: a supervise.Event (timers, health
// transitions, a shutdown request), or one of the kinds below.
type event interface{}

type (
	evSignal   struct{ sig os.Signal }
	evPowerKey struct{}
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
	// Not fatal: a service whose limits cannot be enforced fails to start
	// (and is reported unhealthy), the others run.
	{"set up resource limits", (*Init).setupLimits, false},
	{"assess boot", (*Init).assessBoot, false},
	{"arm watchdog", (*Init).armWatchdog, false},
	{"set hostname", (*Init).setHostname, false},
	{"bring up network", (*Init).setupNetwork, false},
	{"start update agent", (*Init).startAgent, false},
	{"follow channel", (*Init).startFollow, false},
}

// Main runs the init. It never returns: it ends by powering off or
// rebooting the machine. A panic or a fatal error is logged and reboots
// (the boot costs a try, which is what the boot loader's counting wants).
func Main() {
	if len(os.Args) > 0 && os.Args[0] == cgroup.ShimName {
		runShim(os.Args[1:]) // a service's start, not PID 1
	}
	con := NewConsole(os.Stdout)
	in := &Init{con: con, root: "/", events: make(chan event, 64), pids: map[int]func(syscall.WaitStatus){}}
	steps := bootSteps
	if os.Getenv(initconfig.JailEnv) == "1" {
		in.jail = true
		in.epoch = jailEpoch(os.Getenv(initconfig.JailEpochEnv))
		steps = jailSteps
	}
	defer func() {
		if r := recover(); r != nil {
			con.Line(console.Format(console.Fatal, "reason", fmt.Sprintf("panic: %v", r)))
			con.Line(string(debug.Stack()))
			in.finalReboot()
		}
	}()
	if os.Getpid() != 1 && in.jail {
		// A jail that is not a PID namespace (FreeBSD's jail(8) under the
		// Linux ABI): orphans of the services still come to the init.
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	} else if os.Getpid() != 1 {
		con.Logf("must run as PID 1 (this is pid %d)", os.Getpid())
		os.Exit(1)
	}
	if err := in.boot(steps); err != nil {
		con.Line(console.Format(console.Fatal, "reason", err.Error()))
		in.finalReboot()
	}
	in.loop()
}

func (in *Init) boot(steps []step) error {
	// Signals first, so nothing arriving during start-up is lost.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGHUP)
	go func() {
		for s := range sigs {
			in.events <- evSignal{s}
		}
	}()
	if !in.jail {
		// ctrl-alt-del sends SIGINT to PID 1 instead of rebooting at once.
		unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	}
	// Step timings are kept and printed after the services started (with
	// turbo.debug), so slow serial output does not distort them.
	timings := []string{fmt.Sprintf("started at uptime %d ms", in.uptime().Milliseconds())}
	for _, s := range steps {
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
	if !in.jail {
		go in.watchPowerButton()
	}
	in.handle(supervise.Boot{})
	if in.debug() {
		for _, t := range timings {
			in.con.Logf("%s", t)
		}
	}
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
	if in.jail {
		in.cmdline = ParseCmdline(os.Getenv(initconfig.JailCmdlineEnv))
		return nil
	}
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
	in.sup = supervise.New(coreConfig(cfg, in.cmdline.Slot, in.debug()))
	in.svcPID = make([]int, len(cfg.Services))
	in.health = make([]context.CancelFunc, len(cfg.Services))
	in.stopping = make([]bool, len(cfg.Services))
	in.unclean = make([]bool, len(cfg.Services))
	return nil
}

// coreConfig is what the supervisor core needs of the config.
func coreConfig(cfg *initconfig.Config, slot string, debug bool) supervise.Config {
	c := supervise.Config{
		Name: cfg.Name, Version: cfg.Version, Slot: slot,
		Settle: cfg.Update.Settle.D(), TrialDeadline: cfg.Update.TrialDeadline.D(),
		ShutdownGrace: cfg.ShutdownGrace.D(), Debug: debug,
	}
	for _, s := range cfg.Services {
		c.Services = append(c.Services, supervise.Service{Name: s.Name, Restart: s.Restart,
			Burst: s.Burst, Interval: s.Interval.D(), Health: s.Health != nil})
	}
	return c
}

func (in *Init) setHostname() error {
	if in.cfg.Hostname == "" {
		return nil
	}
	return unix.Sethostname([]byte(in.cfg.Hostname))
}

// loop carries out the supervisor core's decisions: it feeds it events
// until the core finishes the shutdown.
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
				in.handle(supervise.Shutdown{Reason: "signal " + e.sig.String()})
			}
		case evPowerKey:
			in.handle(supervise.Shutdown{Reason: "power button"})
		case evDataPause:
			in.dataPause(e)
		case supervise.Event:
			in.handle(e)
		}
	}
}

// handle passes ev to the core at the current uptime and carries out what
// it decides. Actions that answer (Start, Bless) feed their answer back at
// once, before the next action.
func (in *Init) handle(ev supervise.Event) {
	for _, a := range in.sup.Handle(ev, in.uptime()) {
		switch a := a.(type) {
		case supervise.Start:
			in.startService(a.Service)
		case supervise.WatchHealth:
			ctx, cancel := context.WithCancel(context.Background())
			in.health[a.Service] = cancel
			go in.watchHealth(ctx, a.Service)
		case supervise.StopHealth:
			if cancel := in.health[a.Service]; cancel != nil {
				cancel()
				in.health[a.Service] = nil
			}
		case supervise.Signal:
			if pid := in.svcPID[a.Service]; pid > 0 {
				in.stopping[a.Service] = true
				sig := syscall.SIGTERM
				if a.Kill {
					sig = syscall.SIGKILL
				}
				syscall.Kill(-pid, sig)
			}
		case supervise.After:
			time.AfterFunc(a.Delay, func() { in.events <- a.Event })
		case supervise.Log:
			in.con.Logf("%s", a.Text)
		case supervise.Record:
			in.con.Line(a.Line)
		case supervise.Bless:
			if err := in.bless(); err != nil {
				in.handle(supervise.BlessFailed{Err: err.Error()})
			} else {
				in.handle(supervise.Blessed{})
			}
		case supervise.MarkBad:
			in.markBad()
		case supervise.Finish:
			in.finishShutdown(a.Reboot)
		default:
			panic(fmt.Sprintf("supervise action %T not carried out", a))
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

// spawn starts the program name with argv as a child of the init and
// registers onExit, under the lock, before the reaper can see the pid.
func (in *Init) spawn(name string, argv []string, attr *os.ProcAttr, onExit func(syscall.WaitStatus)) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	p, err := os.StartProcess(name, argv, attr)
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	p.Release()
	in.pids[pid] = onExit
	return pid, nil
}

// startService starts service i and tells the core whether it runs.
func (in *Init) startService(i int) {
	c := in.cfg.Services[i]
	r, w, err := os.Pipe()
	if err != nil {
		in.handle(supervise.StartFailed{Service: i, Err: err.Error()})
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
		// A rootless jail cannot call setgroups(2) (user_namespaces(7));
		// its one group is all there is.
		attr.Sys.Credential = &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.GID), Groups: []uint32{}, NoSetGroups: in.jail && setgroupsDenied()}
	}
	name, argv, err := in.limitStart(i, attr, append([]string{c.Path}, c.Args...))
	if err != nil {
		r.Close()
		w.Close()
		if devnull != nil {
			devnull.Close()
		}
		in.handle(supervise.StartFailed{Service: i, Err: err.Error()})
		return
	}
	// drained closes when the service's output has reached the console, so
	// its last lines come before the init's "exited" line (the order a
	// reader of a crash expects).
	drained := make(chan struct{})
	pid, err := in.spawn(name, argv, attr, func(ws syscall.WaitStatus) {
		// Called from reap, on the loop goroutine. A grandchild that
		// keeps the pipe open must not stall the supervisor: wait for
		// the output at most outputDrainWait.
		select {
		case <-drained:
		case <-time.After(outputDrainWait):
		}
		in.svcPID[i] = 0
		clean := ws.Exited() && ws.ExitStatus() == 0
		in.unclean[i] = !clean && !in.stopping[i]
		in.stopping[i] = false
		in.handle(supervise.Exited{Service: i, Clean: clean, How: in.limitExited(i, describeStatus(ws))})
	})
	w.Close()
	if devnull != nil {
		devnull.Close()
	}
	if err != nil {
		r.Close()
		in.handle(supervise.StartFailed{Service: i, Err: err.Error()})
		return
	}
	in.copiers.Add(1)
	go func() {
		defer in.copiers.Done()
		in.con.CopyLines(c.Name, r)
		r.Close()
		close(drained)
	}()
	in.svcPID[i] = pid
	if in.debug() {
		in.con.Logf("service %s started (pid %d) at uptime %d ms", c.Name, pid, in.uptime().Milliseconds())
	}
	in.handle(supervise.Started{Service: i})
}

// outputDrainWait bounds how long the supervisor waits, after a service
// exits, for the rest of its output to be copied to the console.
const outputDrainWait = 500 * time.Millisecond

func describeStatus(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("ended (wait status %#x)", uint32(ws))
}

// watchHealth probes service i until ctx ends, reporting transitions.
func (in *Init) watchHealth(ctx context.Context, i int) {
	h := in.cfg.Services[i].Health
	st := NewHealthState(h, time.Now())
	for {
		gen := in.paused.Load()
		err := Probe(ctx, h, in.runCheck)
		if ctx.Err() != nil {
			return
		}
		if gen%2 == 1 || gen != in.paused.Load() {
			// The services were frozen for a data export during the
			// probe: its result says nothing of their health.
		} else if t := st.Observe(time.Now(), err); t != NoChange {
			in.events <- supervise.Health{Service: i, Healthy: t == BecameHealthy, Reason: st.Reason()}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(st.NextDelay(time.Now())):
		}
	}
}

// runCheck runs an exec health check through the init's own reaper.
func (in *Init) runCheck(ctx context.Context, argv []string) error {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	return in.runWait(ctx, argv, &os.ProcAttr{Dir: "/", Files: []*os.File{devnull, devnull, devnull},
		Sys: &syscall.SysProcAttr{Setpgid: true}}, "check timed out")
}

// runWait starts argv through the init's own reaper (attr should give it
// its own process group) and waits for it: nil when it exits 0, its
// status otherwise. When ctx ends first, the whole group is killed and the
// error says timedOut.
func (in *Init) runWait(ctx context.Context, argv []string, attr *os.ProcAttr, timedOut string) error {
	done := make(chan syscall.WaitStatus, 1)
	pid, err := in.spawn(argv[0], argv, attr, func(ws syscall.WaitStatus) { done <- ws })
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
		return fmt.Errorf("%s: %w", timedOut, ctx.Err())
	}
}

// uptime is the time since the kernel (in a jail: the jail) started, from
// CLOCK_BOOTTIME: the supervisor core's clock.
func (in *Init) uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	return time.Duration(ts.Nano()) - in.epoch
}

// finishShutdown ends a shutdown the core has decided (every service
// stopped, or the kill wait passed): TERM/KILL to any stragglers (orphans,
// grandchildren in other groups), reap, then sync, unmount and power off or
// reboot. It does not return.
func (in *Init) finishShutdown(reboot bool) {
	syscall.Kill(-1, syscall.SIGTERM)
	time.Sleep(50 * time.Millisecond)
	syscall.Kill(-1, syscall.SIGKILL)
	in.reap()
	waitTimeout(&in.copiers, 200*time.Millisecond)
	in.finish(reboot)
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
	if in.jail {
		in.jailExit(reboot)
	}
	in.disarmWatchdog()
	// No ESP mount may be open or start while the machine goes down: a
	// FAT read cut by the reboot fails with I/O errors (seen with the
	// registry follower polling during a shutdown). Wait a little for one
	// in progress (a flash streaming into the slot may take long), then
	// go on; the lock is never released.
	for i := 0; i < 100 && !in.espMu.TryLock(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
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
	if in.jail {
		in.con.Line(console.Format(console.Reboot, "reason", "fatal"))
		os.Exit(jailFatal)
	}
	unix.Sync()
	in.con.Line(console.Format(console.Reboot, "reason", "fatal"))
	time.Sleep(100 * time.Millisecond)
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	select {}
}
