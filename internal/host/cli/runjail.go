package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/console"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// jailTarget is what a jail run needs of a build: its unpacked initramfs
// and the init's config read from it.
type jailTarget struct {
	root string
	cfg  *initconfig.Config
}

// loadJail unpacks the build's initramfs into the cache (once per digest)
// and reads the init's config from it.
func loadJail(ctx context.Context, e *Env, t *bootTarget, hostUID int) (*jailTarget, error) {
	if t.initrd == "" {
		return nil, fmt.Errorf("%s has no initramfs: a jail runs the build's self-contained initramfs (outputs: [initramfs] in the recipe)", t.name)
	}
	cache, err := builder.DefaultCacheDir(e.Getenv)
	if err != nil {
		return nil, err
	}
	var own jail.Owner
	if hostUID == 0 {
		own.Shift = []jail.IDMap{{Container: 0, Host: jail.DefaultRangeBase, Size: jail.DefaultRangeSize}}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return nil, err
		}
		if jail.Walkable(cache, own.Shift, own.Shift) != nil {
			cache = jail.SystemCache
		}
	}
	root, err := jail.Unpack(ctx, t.initrd, cache, own)
	if err != nil {
		return nil, err
	}
	// Read through os.Root: a symlink in the image cannot point the host
	// at one of its own files.
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := r.ReadFile(strings.TrimPrefix(initconfig.Path, "/"))
	if err != nil {
		return nil, fmt.Errorf("%s: the initramfs has no init config: %w", t.name, err)
	}
	cfg, err := initconfig.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	return &jailTarget{root: root, cfg: cfg}, nil
}

// jailSpec is the pure mapping of a build and the run flags to a jail:
// the init as PID 1, the build's command line through the environment, the
// services' users, the network and /data.
func jailSpec(jt *jailTarget, t *bootTarget, f *runFlags, hostUID, hostGID int, epoch time.Duration) (jail.Spec, error) {
	cmdline := strings.TrimSpace(t.cmdline + " " + f.cmdline)
	if strings.Contains(" "+cmdline, " turbo.slot=") {
		return jail.Spec{}, errors.New("--vmm jail runs the initramfs: a jail has no disk slots (turbo.slot=)")
	}
	spec := jail.Spec{
		Root: jt.root,
		Argv: []string{"/init"},
		Env: []string{
			initconfig.JailEnv + "=1",
			initconfig.JailCmdlineEnv + "=" + cmdline,
			initconfig.JailEpochEnv + "=" + strconv.FormatInt(int64(epoch), 10),
		},
		Hostname: jt.cfg.Hostname,
		Data:     f.data,
		HostUID:  hostUID,
		HostGID:  hostGID,
	}
	if spec.Hostname == "" {
		spec.Hostname = jt.cfg.Name
	}
	switch f.net {
	case "host":
		spec.Net = jail.NetHost
		for _, p := range f.publish {
			pm, err := vmm.ParsePortMap(p)
			if err != nil {
				return jail.Spec{}, fmt.Errorf("--publish %s: %w", p, err)
			}
			if pm.HostPort != pm.GuestPort {
				return jail.Spec{}, fmt.Errorf("--publish %s: a jail on the host's network binds its ports on the host itself (port %d stays %d); to map ports use --net private", p, pm.GuestPort, pm.GuestPort)
			}
		}
	case "private":
		spec.Net = jail.NetPrivate
	default:
		return jail.Spec{}, fmt.Errorf("--net %q: want host or private", f.net)
	}
	for _, s := range jt.cfg.Services {
		spec.UIDs = append(spec.UIDs, s.UID)
		spec.GIDs = append(spec.GIDs, s.GID)
	}
	return spec, nil
}

// setJailEpoch sets the init's uptime origin in a plan made earlier (the
// dev loop plans a build before the old jail has stopped).
func setJailEpoch(p *jail.Plan, epoch time.Duration) {
	for i, e := range p.Env {
		if strings.HasPrefix(e, initconfig.JailEpochEnv+"=") {
			p.Env[i] = initconfig.JailEpochEnv + "=" + strconv.FormatInt(int64(epoch), 10)
		}
	}
}

// runJail runs the build's initramfs in a jail on this host (or prints
// the jail(8) command for a FreeBSD host).
func runJail(ctx context.Context, e *Env, t *bootTarget, f *runFlags) error {
	switch f.hostOS {
	case "freebsd":
		return runFreeBSDJail(e, t, f)
	case "linux":
	default:
		return usagef("--os %q: want linux or freebsd", f.hostOS)
	}
	if f.boot != "" && f.boot != bootInitramfs {
		return usagef("--vmm jail runs the initramfs; --boot %s needs a VM", f.boot)
	}
	if f.data != "" {
		abs, err := filepath.Abs(f.data)
		if err != nil {
			return err
		}
		f.data = abs
	}
	uid, gid := os.Getuid(), os.Getgid()
	jt, err := loadJail(ctx, e, t, uid)
	if err != nil {
		return err
	}
	epoch := jail.BootTime()
	spec, err := jailSpec(jt, t, f, uid, gid, epoch)
	if err != nil {
		return err
	}
	plan, err := jail.NewPlan(spec)
	if err != nil {
		return err
	}
	if f.dryRun {
		b, err := json.MarshalIndent(plan, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s\n", b)
		return nil
	}
	if plan.Data != "" {
		if err := jail.PrepareData(plan); err != nil {
			return err
		}
	}
	ports, err := jailPorts(f)
	if err != nil {
		return err
	}
	mode := "rootless: the jail's root is you"
	if !plan.Rootless {
		mode = fmt.Sprintf("ids mapped to host %d-%d", plan.UIDMap[0].Host, plan.UIDMap[0].Host+plan.UIDMap[0].Size-1)
	}
	fmt.Fprintf(e.Stderr, "turbo-image: starting %s %s in a jail (%s network, %s)\n", t.name, t.version, plan.Net, mode)
	consoleOut := e.Stdout
	if f.json {
		consoleOut = e.Stderr
	}
	res, err := watchJail(ctx, plan, jailWatch{
		console: consoleOut, exitOnReady: f.exitOnReady, timeout: f.timeout, ports: ports,
		log: func(msg string) { fmt.Fprintf(e.Stderr, "turbo-image: %s\n", msg) },
	})
	if errors.Is(err, vmm.ErrInterrupted) {
		err = exitError{exitInterrupted, err}
	}
	if f.json {
		doc := RunJSON{Schema: SchemaRun, Outcome: "ready", ExitCode: exitCode(err),
			Name: t.name, Version: t.version, Boot: "jail", Boots: 1, Ready: res.ready, WallMS: res.wall.Milliseconds()}
		if err != nil {
			doc.Outcome = "error"
			if errors.Is(err, vmm.ErrInterrupted) {
				doc.Outcome = "interrupted"
			}
			doc.Error = err.Error()
		}
		if werr := writeJSON(e.Stdout, doc); werr != nil && err == nil {
			return werr
		}
	}
	return err
}

// jailWatch is how runJail follows a jail.
type jailWatch struct {
	console     interface{ Write([]byte) (int, error) }
	exitOnReady bool
	timeout     time.Duration
	ports       []jail.PortForward
	log         func(string)
	// onReady, when set, is called once the appliance is ready.
	onReady func()
	// stop, when closed, stops the jail in order (the dev loop).
	stop <-chan struct{}
}

type jailResult struct {
	ready *RunReadyJSON
	wall  time.Duration
}

// watchJail starts the jail and follows its console to the end: ready
// (with exitOnReady), power-off, failure, timeout or ctrl-C, each as run
// does for a VM.
func watchJail(ctx context.Context, plan *jail.Plan, w jailWatch) (jailResult, error) {
	var res jailResult
	tail := &vmm.Tail{MaxLines: 40}
	recs := make(chan console.Record, 64)
	began := time.Now()
	proc, err := jail.Start(context.WithoutCancel(ctx), plan, jail.Options{
		Console: w.console,
		OnLine: func(l string) {
			tail.Line(l)
			if rec, ok := console.Parse(l); ok {
				select {
				case recs <- rec:
				default:
				}
			}
		},
	})
	if err != nil {
		return res, err
	}
	fail := func(err error) error {
		return fmt.Errorf("%w\n--- last console lines ---\n%s", err, tail.String())
	}
	if plan.Net == jail.NetPrivate {
		stopNet, err := jail.StartPasta(ctx, proc.Pid(), w.ports)
		if err != nil {
			proc.Stop(jail.DefaultStopGrace)
			if ctx.Err() != nil {
				// ctrl-C while the network was being set up is an
				// interruption like any other, not a failure.
				w.log("jail stopped before its network was up")
				return res, vmm.ErrInterrupted
			}
			return res, err
		}
		defer stopNet()
	}
	var timeout <-chan time.Time
	if w.timeout > 0 {
		timeout = time.After(w.timeout)
	}
	ready, poweroff := false, false
	for {
		select {
		case rec := <-recs:
			switch rec.Kind {
			case console.Ready:
				ready = true
				res.wall = time.Since(began)
				res.ready = &RunReadyJSON{Name: rec.Get("name"), Version: rec.Get("version"), Boot: 1,
					UptimeMS: int64(rec.Int("uptime_ms")), HostWallMS: res.wall.Milliseconds()}
				w.log(fmt.Sprintf("ready: %s %s, jail uptime %d ms, host wall %d ms",
					rec.Get("name"), rec.Get("version"), rec.Int("uptime_ms"), res.wall.Milliseconds()))
				if w.onReady != nil {
					w.onReady()
				}
				if w.exitOnReady {
					proc.Stop(jail.DefaultStopGrace)
					return res, nil
				}
			case console.Poweroff:
				poweroff = true
			case console.Unhealthy, console.Fatal:
				if w.exitOnReady {
					proc.Stop(jail.DefaultStopGrace)
					return res, fail(fmt.Errorf("%s: service=%s reason=%s", strings.TrimPrefix(string(rec.Kind), "TURBO_"), rec.Get("service"), rec.Get("reason")))
				}
			}
		case <-proc.Done():
			st, err := proc.Wait()
			if err != nil {
				return res, err
			}
			if st.Code == 0 && st.Signal == "" && (poweroff || !w.exitOnReady) {
				if w.exitOnReady && !ready {
					return res, fail(errors.New("the jail powered off before it was ready"))
				}
				return res, nil
			}
			return res, fail(fmt.Errorf("the jail's init %s", st))
		case <-w.stop:
			proc.Stop(jail.DefaultStopGrace)
			return res, nil
		case <-timeout:
			proc.Stop(jail.DefaultStopGrace)
			return res, fail(fmt.Errorf("timed out after %v", w.timeout))
		case <-ctx.Done():
			w.log("stopping the jail")
			proc.Stop(jail.DefaultStopGrace)
			st, _ := proc.Wait()
			if poweroff {
				w.log("jail powered off")
			} else {
				w.log("jail " + st.String())
			}
			return res, vmm.ErrInterrupted
		}
	}
}

// jailPorts are the --publish ports of a private network.
func jailPorts(f *runFlags) ([]jail.PortForward, error) {
	if f.net != "private" {
		return nil, nil
	}
	var out []jail.PortForward
	for _, p := range f.publish {
		pm, err := vmm.ParsePortMap(p)
		if err != nil {
			return nil, fmt.Errorf("--publish %s: %w", p, err)
		}
		out = append(out, jail.PortForward{HostAddr: pm.HostAddr, HostPort: pm.HostPort, GuestPort: pm.GuestPort, Proto: pm.Proto})
	}
	return out, nil
}

// runFreeBSDJail prints the jail(8) command for a FreeBSD host (jails run
// there, not here).
func runFreeBSDJail(e *Env, t *bootTarget, f *runFlags) error {
	if !f.dryRun {
		return errors.New("a FreeBSD jail runs on a FreeBSD host; use --dry-run to print the jail(8) command to run there (see the README)")
	}
	if t.initrd == "" {
		return fmt.Errorf("%s has no initramfs: a jail runs the build's initramfs", t.name)
	}
	name := t.name
	path := "/usr/jails/" + name
	argv, err := jail.FreeBSDCommand(jail.FreeBSDSpec{
		Name: strings.ReplaceAll(name, ".", "_"), Path: path, Hostname: name, IP4: f.ip4,
		Env: []string{initconfig.JailEnv + "=1", initconfig.JailCmdlineEnv + "=" + strings.TrimSpace(t.cmdline+" "+f.cmdline)},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "turbo-image: unpack the image there first: turbo-image inspect %s --extract %s (needs the Linux ABI: kldload linux64)\n", filepath.Dir(t.initrd), path)
	fmt.Fprintln(e.Stdout, shellQuote(argv))
	return nil
}
