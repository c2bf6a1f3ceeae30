package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/registry"
	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/console"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// Row 7e: a fleet update through a real registry.
const (
	// fleetSize is how many appliances follow the channel.
	fleetSize = 3
	// fleetChannel is the channel they follow.
	fleetChannel = "prod"
	// fleetRepo is the repository in the registry.
	fleetRepo = "bench/hello"
	// fleetV1 and fleetV2 are the two versions: v1 is the recipe's own,
	// v2 the same recipe built with --version.
	fleetV1, fleetV2 = "1.0.0", "1.0.1"
	// fleetTimeout bounds each phase (three appliances ready on v1; all
	// three ready on v2 after the promote). Three VMs under TCG on a
	// loaded two-core host are slow; this only ends a stuck run.
	fleetTimeout = 15 * time.Minute
	// fleetCacheVersion is bumped when the cached set-up changes form.
	fleetCacheVersion = "fleet v1"
	// fleetAppFile is the app binary's name next to the derived recipe.
	fleetAppFile = "hello"
)

// FleetUpdate is the update section the bench appends to
// bench/recipes/hello-disk/recipe.yaml for row 7e: the appliance follows
// channel prod of ref (host:port/repository, as the guest reaches the
// registry), polling every second over plain HTTP, and trusts pub (a
// file name next to the recipe) for prod. It refuses a recipe that has
// an update section of its own (the row owns that section).
func FleetUpdate(src []byte, ref, pub string) ([]byte, error) {
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "update:") {
			return nil, fmt.Errorf("line %d: the recipe has an update section; the fleet row writes its own", i+1)
		}
	}
	if ref == "" || pub == "" || strings.ContainsAny(ref+pub, "\"\n{}[],") {
		return nil, fmt.Errorf("fleet recipe: ref %q or key %q cannot go into the recipe as is", ref, pub)
	}
	out := strings.TrimRight(string(src), "\n") + "\n"
	out += "# Added by the bench (row 7e, bench/fleet.go): follow " + fleetChannel + " of a registry on the host.\n"
	out += "update:\n"
	out += "  settle: 1s\n"
	out += "  trial_deadline: 600s\n"
	out += "  channels: {" + fleetChannel + ": [" + pub + "]}\n"
	out += "  follow: {ref: \"" + ref + "\", channel: " + fleetChannel + ", interval: 1s, plain_http: true}\n"
	return []byte(out), nil
}

// fleetEventKind is what a console line says about a following appliance.
type fleetEventKind int

const (
	fleetNone     fleetEventKind = iota
	fleetReady                   // TURBO_READY: version, slot, build
	fleetUpToDate                // the follower saw its channel hold what runs here
	fleetFlashed                 // the follower flashed a build and reboots into it
	fleetFailed                  // TURBO_FATAL, a kernel panic or a rollback
)

// FleetEvent is a parsed console line of a following appliance.
type FleetEvent struct {
	Kind    fleetEventKind
	Version string // the version ready, or flashed
	Slot    string // TURBO_READY's slot
	Build   string // TURBO_READY's build= digest
	Text    string // the line
}

// ParseFleetLine recognises the console lines row 7e waits for:
// TURBO_READY (with its version, slot and build digest), the follower's
// "holds V (...), which runs here" and "NAME V (...): ...; rebooting into
// its trial", and the lines that end a run (TURBO_FATAL, TURBO_ROLLBACK,
// a kernel panic).
func ParseFleetLine(line string) (FleetEvent, bool) {
	if r, ok := console.Parse(line); ok {
		switch r.Kind {
		case console.Ready:
			return FleetEvent{Kind: fleetReady, Version: r.Get("version"), Slot: r.Get("slot"), Build: r.Get("build"), Text: line}, true
		case console.Fatal, console.Panic, console.Rollback:
			return FleetEvent{Kind: fleetFailed, Text: line}, true
		}
		return FleetEvent{}, false
	}
	i := strings.Index(line, "turbo-init: follow: ")
	if i < 0 {
		return FleetEvent{}, false
	}
	msg := strings.TrimSpace(line[i+len("turbo-init: follow: "):])
	if strings.HasSuffix(msg, "rebooting into its trial") {
		// "hello 1.0.1 (sha256:…, build=sha256:…) from REF, signed for …"
		f := strings.Fields(msg)
		if len(f) >= 3 && strings.HasPrefix(f[2], "(sha256:") {
			return FleetEvent{Kind: fleetFlashed, Version: f[1], Text: line}, true
		}
		return FleetEvent{}, false
	}
	if strings.HasSuffix(msg, "which runs here") {
		// "REF:CHANNEL holds V (sha256:…), which runs here"
		_, rest, ok := strings.Cut(msg, " holds ")
		if !ok {
			return FleetEvent{}, false
		}
		v, _, _ := strings.Cut(rest, " ")
		return FleetEvent{Kind: fleetUpToDate, Version: v, Text: line}, true
	}
	return FleetEvent{}, false
}

// fleetSetup is row 7e's cached set-up: the channel's key pair, the
// registry port the images name, and the v1 and v2 builds.
type fleetSetup struct {
	key            signing.PrivateKey
	pub            string // the public key file
	port           int
	recipe         string // the derived recipe
	v1, v2         string // build folders
	v2Build        string // v2's build digest (manifest.BuildDigest)
	built          bool   // the builds were made in this run
	buildV1, build time.Duration
}

// prepareFleet makes or reuses row 7e's set-up under $C/fleet: a key
// pair made once; the registry port of the last run when it is free
// (the images name it), else a new one; and the builds of the derived
// recipe, cached by the recipe, the turbo-image binary and the app
// binary.
func (b *bench) prepareFleet(ctx context.Context, app []byte) (*fleetSetup, error) {
	dir := filepath.Join(b.cache, "fleet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &fleetSetup{}
	keyPath := filepath.Join(dir, fleetChannel+".key")
	data, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := signing.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		if _, err := signing.WriteKeyPair(keyPath, k); err != nil {
			return nil, err
		}
		data, err = os.ReadFile(keyPath)
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if s.key, err = signing.ParsePrivateKey(keyPath, data); err != nil {
		return nil, err
	}
	s.pub = signing.PublicKeyPath(keyPath)
	pubData, err := os.ReadFile(s.pub)
	if err != nil {
		return nil, err
	}

	portFile := filepath.Join(dir, "port")
	if p, err := os.ReadFile(portFile); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(p))); err == nil && portFree(n) {
			s.port = n
		}
	}
	if s.port == 0 {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFileAll(portFile, []byte(strconv.Itoa(s.port)+"\n"), 0o644); err != nil {
			return nil, err
		}
	}

	src, err := os.ReadFile(filepath.Join(b.root, helloDiskRecipe))
	if err != nil {
		return nil, err
	}
	// The service is row 1's app binary (`binary:`): a recipe outside
	// the repository cannot name the bench app's package.
	rec, err := DeriveRecipe(src, fleetAppFile, []string{"disk"})
	if err == nil {
		rec, err = FleetUpdate(rec, fmt.Sprintf("10.0.2.2:%d/%s", s.port, fleetRepo), fleetChannel+".pub")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", helloDiskRecipe, err)
	}
	turboSum, err := fileSHA256(b.turbo)
	if err != nil {
		return nil, err
	}
	key := keyOf(fleetCacheVersion, string(rec), string(pubData), turboSum, sha256Hex(app))
	bdir := filepath.Join(dir, "builds", key)
	s.recipe = filepath.Join(bdir, "recipe", "recipe.yaml")
	s.v1, s.v2 = filepath.Join(bdir, "v1"), filepath.Join(bdir, "v2")
	if !isBuild(s.v1) || !isBuild(s.v2) {
		// Old entries name other ports or binaries: one entry is kept.
		if old, err := os.ReadDir(filepath.Join(dir, "builds")); err == nil {
			for _, e := range old {
				if e.Name() != key {
					_ = removeTree(filepath.Join(dir, "builds", e.Name()))
				}
			}
		}
		_ = removeTree(bdir)
		if err := os.MkdirAll(filepath.Dir(s.recipe), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(s.recipe), fleetChannel+".pub"), pubData, 0o644); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFileAll(filepath.Join(filepath.Dir(s.recipe), fleetAppFile), app, 0o755); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFileAll(s.recipe, rec, 0o644); err != nil {
			return nil, err
		}
		for _, v := range []struct {
			out   string
			extra []string
			took  *time.Duration
		}{{s.v1, nil, &s.buildV1}, {s.v2, []string{"--version", fleetV2}, &s.build}} {
			tmp := v.out + ".tmp"
			_ = removeTree(tmp)
			d, err := b.buildTurbo(ctx, s.recipe, tmp, nil, append([]string{"-q"}, v.extra...)...)
			if err != nil {
				return nil, err
			}
			if err := os.Rename(tmp, v.out); err != nil {
				return nil, err
			}
			*v.took = d
		}
		s.built = true
	}
	m, _, err := manifest.Load(s.v2)
	if err != nil {
		return nil, err
	}
	if s.v2Build, err = m.BuildDigest(); err != nil {
		return nil, err
	}
	return s, nil
}

// isBuild tells whether dir holds a finished build (its manifest).
func isBuild(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, manifest.FileName))
	return err == nil
}

// portFree tells whether a TCP port on 127.0.0.1 can be listened on now.
func portFree(port int) bool {
	if port <= 0 || port > 65535 {
		return false
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// appliance is one following VM of row 7e.
type appliance struct {
	events chan FleetEvent
	stop   chan struct{}
	ended  chan error
	once   sync.Once
}

// startAppliance boots a copy of disk through `turbo-image run --boot
// disk` (which boots again after the follower's reboot) and delivers
// the console lines ParseFleetLine recognises.
func (b *bench) startAppliance(ctx context.Context, disk, log string) (*appliance, error) {
	f, err := openConsoleLog(log)
	if err != nil {
		return nil, err
	}
	a := &appliance{events: make(chan FleetEvent, 256), stop: make(chan struct{}), ended: make(chan error, 1)}
	sess := &vmm.Session{
		Next: func() (string, []string, error) {
			return b.turbo, []string{"run", disk, "--boot", "disk", "--max-boots", "4", "--accel", "tcg"}, nil
		},
		Console: f,
		OnLine: func(line string) {
			if ev, ok := ParseFleetLine(line); ok {
				select {
				case a.events <- ev:
				default:
				}
			}
		},
		MaxBoots:  1,
		StopGrace: 30 * time.Second,
		Stop:      a.stop,
	}
	go func() {
		_, err := sess.Run(context.WithoutCancel(ctx))
		f.Close()
		a.ended <- err
	}()
	return a, nil
}

// shutdown stops the appliance and waits for it.
func (a *appliance) shutdown() {
	a.once.Do(func() {
		close(a.stop)
		<-a.ended
	})
}

// waitFor reads the appliance's events until want accepts one, and
// returns when it did. A failure line, the VM's end, the deadline or ctx
// end the wait with an error.
func (a *appliance) waitFor(ctx context.Context, deadline time.Time, what string, want func(FleetEvent) bool) (time.Time, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		select {
		case ev := <-a.events:
			if want(ev) {
				return time.Now(), nil
			}
			if ev.Kind == fleetFailed {
				return time.Time{}, fmt.Errorf("waiting for %s: %s", what, strings.TrimSpace(ev.Text))
			}
		case err := <-a.ended:
			a.ended <- err
			return time.Time{}, fmt.Errorf("waiting for %s: the VM ended (%v)", what, err)
		case <-t.C:
			return time.Time{}, fmt.Errorf("no %s within %v", what, fleetTimeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// fleetRun is what one run of row 7e measured.
type fleetRun struct {
	pushV1, pushV2, promote time.Duration
	v1Ready                 time.Duration   // VMs started to all three ready on v1 and polling
	flashed, ready          []time.Duration // per appliance, from the promote
	up1, up2, bytes2        int64
	skipped2                int
}

// measureFleet is row 7e: N appliances (disk images, turbo direct boot)
// follow channel prod of a real registry; v2 is promoted to prod and the
// row is the time from the promote to the last appliance ready on v2
// with v2's build digest. The notes give each appliance's time and the
// bytes of the v2 push.
func (b *bench) measureFleet(ctx context.Context, rr *rowRun, runs int, app []byte) error {
	r := rr.row
	r.Title = fmt.Sprintf("fleet update: promote v2 → %d appliances ready on v2", fleetSize)
	r.Machine = fmt.Sprintf("%d × microvm + i6300esb", fleetSize)
	r.Boot = fmt.Sprintf("%d VMs at once: copies of one disk image of bench/recipes/hello-disk with an `update` section (follow channel %s of a CNCF Distribution registry, Debian's docker-registry, on the host at 10.0.2.2, plain HTTP, poll interval 1 s), booted by `turbo-image run DISK --boot disk` (turbo direct boot on `-M microvm`). v1 (%s) and v2 (%s, `--version`) are pushed and v1 promoted to %s; once all %d are ready on v1 and have polled, v2 is promoted to %s. Host wall is the promote's start to the last of the %d printing `TURBO_READY version=%s slot=b build=…` with v2's build digest: poll, streaming the changed layers into slot b, checking digests and the channel signature, reboot, boot, health. A fresh registry per run; the %d VMs share the host's cores under TCG and boot together, so this row is not comparable with row 6a's single boot.",
		fleetSize, fleetChannel, fleetV1, fleetV2, fleetChannel, fleetSize, fleetChannel, fleetSize, fleetV2, fleetSize)
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return errors.New("docker-registry is not installed (Debian package docker-registry, scripts/deps.sh): fleet row not measured")
	}
	s, err := b.prepareFleet(ctx, app)
	if err != nil {
		return fmt.Errorf("fleet set-up: %w", err)
	}
	if s.built {
		b.logf("row %s: built v1 in %s and v2 in %s (cached in %s afterwards)", rowNumber(RowFleet), seconds(s.buildV1), seconds(s.build), b.vars.word(filepath.Dir(s.v1)))
	} else {
		b.logf("row %s: v1 and v2 builds from the cache (%s)", rowNumber(RowFleet), b.vars.word(filepath.Dir(s.v1)))
	}
	var done []fleetRun
	for i := range runs {
		if ctx.Err() != nil {
			break
		}
		fr, err := b.fleetOnce(ctx, s, bin, i)
		if err != nil {
			rr.failures = append(rr.failures, fmt.Sprintf("run %d: %s", i+1, firstLine(err.Error(), 300)))
			b.logf("row %s (%s) run %d/%d FAILED: %v", rowNumber(RowFleet), RowFleet, i+1, runs, err)
			continue
		}
		last := slicesMaxDur(fr.ready)
		rr.wall = append(rr.wall, ms(last))
		done = append(done, fr)
		b.logf("row %s (%s) run %d/%d: promote → all %d ready on %s %s (each: %s; flashed and rebooting: %s); v1 ready %s",
			rowNumber(RowFleet), RowFleet, i+1, runs, fleetSize, fleetV2, seconds(last), durList(fr.ready), durList(fr.flashed), seconds(fr.v1Ready))
	}
	if len(done) == 0 {
		return nil // run() reports "no boot succeeded" with the failures
	}
	var perRun []string
	var push2, prom []float64
	for i, fr := range done {
		perRun = append(perRun, fmt.Sprintf("%d: %s (flashed, rebooting at %s)", i+1, durList(fr.ready), durList(fr.flashed)))
		push2 = append(push2, ms(fr.pushV2))
		prom = append(prom, ms(fr.promote))
	}
	last := done[len(done)-1]
	med := func(x []float64) string {
		st, _ := Summarize(x)
		return fmt.Sprintf("%.0f ms", st.Median)
	}
	r.Notes = append(r.Notes,
		"Each appliance, promote → `TURBO_READY` on v2 (and → the follower's `rebooting into its trial` line), per run: "+strings.Join(perRun, "; ")+".",
		fmt.Sprintf("Every appliance reported build=%s, the build digest of v2's manifest.", s.v2Build),
		fmt.Sprintf("Push of v2 after v1: %s uploaded of %s (%d layer(s) already in the registry), median %s; push of v1 %s uploaded; promote (sign, referrer, tag) median %s.",
			mib(last.up2), mib(last.bytes2), last.skipped2, med(push2), mib(last.up1), med(prom)),
		fmt.Sprintf("The appliances poll every second: a poll's share of the row is at most about 1 s; the rest is the download into the inactive slot, the reboot and the new slot's boot and health check with %d VMs sharing %d host CPUs.", fleetSize, runtime.NumCPU()),
		"Set-up cached in $C/fleet: the prod key pair, the registry port (the images name it; a new port when it is taken) and the v1 and v2 builds, keyed by the derived recipe, bin/turbo-image and the app binary (row 1's, as `binary:`).")
	r.Commands = []string{
		"# " + b.vars.word(s.recipe) + ": " + helloDiskRecipe + " with `binary: hello` (row 1's app, next to it), `outputs: [disk]` and the update section of FleetUpdate (bench/fleet.go); " + fleetChannel + ".pub next to it",
		b.vars.command("bin/turbo-image", "build", s.recipe, "-o", s.v1),
		b.vars.command("bin/turbo-image", "build", s.recipe, "-o", s.v2, "--version", fleetV2),
		"docker-registry serve config.yml   # 127.0.0.1:" + strconv.Itoa(s.port) + ", filesystem storage (package registrytest)",
		b.vars.command("bin/turbo-image", "push", s.v1, "127.0.0.1:"+strconv.Itoa(s.port)+"/"+fleetRepo+":"+fleetV1),
		b.vars.command("bin/turbo-image", "push", s.v2, "127.0.0.1:"+strconv.Itoa(s.port)+"/"+fleetRepo+":"+fleetV2),
		"bin/turbo-image promote 127.0.0.1:" + strconv.Itoa(s.port) + "/" + fleetRepo + ":" + fleetV1 + " --channel " + fleetChannel + " --key $C/fleet/" + fleetChannel + ".key",
		fmt.Sprintf("for i in 1 2 3; do cp --sparse=always %s app$i.img; bin/turbo-image run app$i.img --boot disk --max-boots 4 --accel tcg & done   # wait for TURBO_READY version=%s on all three", b.vars.word(filepath.Join(s.v1, "disk.img")), fleetV1),
		"bin/turbo-image promote 127.0.0.1:" + strconv.Itoa(s.port) + "/" + fleetRepo + ":" + fleetV2 + " --channel " + fleetChannel + " --key $C/fleet/" + fleetChannel + ".key   # the clock starts; it stops at the last TURBO_READY version=" + fleetV2,
	}
	return nil
}

// fleetOnce is one run of row 7e with a fresh registry.
func (b *bench) fleetOnce(ctx context.Context, s *fleetSetup, bin string, i int) (fleetRun, error) {
	var fr fleetRun
	dir := filepath.Join(b.tmp, fmt.Sprintf("fleet-%d", i+1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fr, err
	}
	defer removeTree(dir)
	reg, err := registrytest.ServeAt(bin, dir, "127.0.0.1:"+strconv.Itoa(s.port), "")
	if err != nil {
		return fr, err
	}
	defer reg.Kill()
	repo := reg.Host + "/" + fleetRepo
	start := time.Now()
	p1, err := registry.Push(ctx, s.v1, repo+":"+fleetV1, registry.Options{})
	if err != nil {
		return fr, fmt.Errorf("push v1: %w", err)
	}
	fr.pushV1, fr.up1 = time.Since(start), p1.Uploaded
	start = time.Now()
	p2, err := registry.Push(ctx, s.v2, repo+":"+fleetV2, registry.Options{})
	if err != nil {
		return fr, fmt.Errorf("push v2: %w", err)
	}
	fr.pushV2, fr.up2, fr.bytes2, fr.skipped2 = time.Since(start), p2.Uploaded, p2.Bytes, p2.Skipped
	if _, err := registry.Promote(ctx, repo+"@"+p1.Digest.String(), fleetChannel, s.key, registry.Options{}); err != nil {
		return fr, fmt.Errorf("promote v1: %w", err)
	}

	vms := make([]*appliance, fleetSize)
	defer func() {
		var wg sync.WaitGroup
		for _, a := range vms {
			if a != nil {
				wg.Add(1)
				go func() { defer wg.Done(); a.shutdown() }()
			}
		}
		wg.Wait()
	}()
	booted := time.Now()
	for n := range vms {
		disk := filepath.Join(dir, fmt.Sprintf("app%d.img", n+1))
		if err := copySparse(ctx, filepath.Join(s.v1, "disk.img"), disk); err != nil {
			return fr, err
		}
		log := filepath.Join(b.tmp, "console", fmt.Sprintf("%s-%d-app%d.log", RowFleet, i+1, n+1))
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			return fr, err
		}
		if vms[n], err = b.startAppliance(ctx, disk, log); err != nil {
			return fr, err
		}
	}
	// Phase 1: all ready on v1, and each follower has seen prod hold v1
	// (so it polls before the promote; the two lines race).
	err = eachAppliance(vms, func(n int, a *appliance) error {
		deadline := time.Now().Add(fleetTimeout)
		ready, polled := false, false
		_, err := a.waitFor(ctx, deadline, "TURBO_READY version="+fleetV1+" and a poll", func(ev FleetEvent) bool {
			ready = ready || ev.Kind == fleetReady && ev.Version == fleetV1 && ev.Slot == "a"
			polled = polled || ev.Kind == fleetUpToDate && ev.Version == fleetV1
			return ready && polled
		})
		if err != nil {
			return fmt.Errorf("appliance %d: %w", n+1, err)
		}
		return nil
	})
	if err != nil {
		return fr, err
	}
	fr.v1Ready = time.Since(booted)

	// Phase 2: promote v2; the clock runs until each is ready on v2.
	promoted := time.Now()
	if _, err := registry.Promote(ctx, repo+"@"+p2.Digest.String(), fleetChannel, s.key, registry.Options{}); err != nil {
		return fr, fmt.Errorf("promote v2: %w", err)
	}
	fr.promote = time.Since(promoted)
	fr.flashed = make([]time.Duration, fleetSize)
	fr.ready = make([]time.Duration, fleetSize)
	err = eachAppliance(vms, func(n int, a *appliance) error {
		deadline := time.Now().Add(fleetTimeout)
		var wrong string
		at, err := a.waitFor(ctx, deadline, "the follower's flash of "+fleetV2, func(ev FleetEvent) bool {
			return ev.Kind == fleetFlashed && ev.Version == fleetV2
		})
		if err != nil {
			return fmt.Errorf("appliance %d: %w", n+1, err)
		}
		fr.flashed[n] = at.Sub(promoted)
		at, err = a.waitFor(ctx, deadline, "TURBO_READY version="+fleetV2+" slot=b", func(ev FleetEvent) bool {
			if ev.Kind == fleetReady && ev.Version == fleetV2 && ev.Slot == "b" {
				if ev.Build != s.v2Build {
					wrong = ev.Build
				}
				return true
			}
			return false
		})
		if err != nil {
			return fmt.Errorf("appliance %d: %w", n+1, err)
		}
		if wrong != "" {
			return fmt.Errorf("appliance %d runs build=%s, the promoted build is %s", n+1, wrong, s.v2Build)
		}
		fr.ready[n] = at.Sub(promoted)
		return nil
	})
	return fr, err
}

// eachAppliance runs fn for every appliance at once and returns the
// first error.
func eachAppliance(vms []*appliance, fn func(n int, a *appliance) error) error {
	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	for n, a := range vms {
		wg.Add(1)
		go func() { defer wg.Done(); errs[n] = fn(n, a) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func slicesMaxDur(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

// durList formats durations as "41.2 s, 44.0 s, 47.9 s".
func durList(d []time.Duration) string {
	out := make([]string, len(d))
	for i, x := range d {
		out[i] = seconds(x)
	}
	return strings.Join(out, ", ")
}
