package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
)

// runDev is `turbo-image dev RECIPE`: build, run in a jail, and on every
// saved change of the recipe, its files or its Go packages, build again
// and restart the jail. A failed build leaves the last good one running.
func runDev(ctx context.Context, e *Env, args []string) error {
	f := &runFlags{}
	fs := newFlagSet(e, "dev", commands()["dev"].usage)
	fs.Var(&f.publish, "publish", "with --net private: publish a jail port on the host: `PORTS` is HOST:GUEST[/udp] or ADDR:HOST:GUEST (repeatable)")
	fs.StringVar(&f.net, "net", "host", "the jail's `NETWORK`: host (ports bind on the host) or private (pasta; --publish maps ports)")
	fs.StringVar(&f.data, "data", "", "mount host `DIR` at /data (created if missing; it persists across restarts)")
	cache := fs.String("cache", "", "cache `DIR` (default $TURBO_CACHE, else $XDG_CACHE_HOME/turbo-image, else ~/.cache/turbo-image)")
	poll := fs.Duration("poll", 100*time.Millisecond, "how often to look for saved changes")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one recipe file, got %d arguments", len(pos))
	}
	if *poll < 10*time.Millisecond {
		return usagef("--poll must be at least 10ms")
	}
	if f.data != "" {
		if f.data, err = filepath.Abs(f.data); err != nil {
			return err
		}
	}
	if *cache == "" {
		if *cache, err = builder.DefaultCacheDir(e.Getenv); err != nil {
			return err
		}
	}
	recipePath, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(recipePath))
	out := filepath.Join(*cache, "dev", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	log := func(format string, a ...any) { fmt.Fprintf(e.Stderr, "turbo-image dev: "+format+"\n", a...) }

	var running *devJail
	defer func() {
		if running != nil {
			running.stop()
		}
	}()
	var watch []string
	var last fingerprint
	for gen := 1; ; gen++ {
		changedAt := time.Now()
		// What the build reads now, by the last watch list; the new list
		// (go list, as slow as a small build) is made beside the build.
		early := takeFingerprint(watch)
		lists := make(chan watchListResult, 1)
		go func() {
			l, err := devWatchList(ctx, recipePath)
			lists <- watchListResult{l, err}
		}()
		var wl watchListResult
		if watch == nil {
			// The first build: nothing to fingerprint yet but the list.
			wl = <-lists
			early = takeFingerprint(wl.list)
		}
		began := time.Now()
		res, err := builder.Build(ctx, builder.Options{Recipe: recipePath, Out: out, CacheDir: *cache,
			Outputs: []string{recipe.OutputInitramfs}, Compression: string(initramfs.None), NoAttestations: true,
			BuilderVersion: Version()})
		built := time.Since(began)
		if watch != nil {
			wl = <-lists
		}
		if wl.err != nil {
			// The recipe itself is broken: watch it alone until it is fixed.
			wl.list = []string{recipePath}
		}
		watch = wl.list
		last = takeFingerprint(watch).since(early)
		if ctx.Err() != nil {
			return exitError{exitInterrupted, vmm.ErrInterrupted}
		}
		if err != nil {
			if running != nil {
				log("build failed; version %s keeps running:\n%s", running.version, terminalSafe(err.Error()))
			} else {
				log("build failed:\n%s", terminalSafe(err.Error()))
			}
		} else {
			log("built %s %s in %s", res.Manifest.Name, res.Manifest.Version, built.Round(10*time.Millisecond))
			// The new build is unpacked and planned while the old jail
			// still runs; the old one stops only then, as it holds the
			// ports (its own on the host's network, pasta's with --net
			// private).
			t := devPhases{changedAt: changedAt, build: built}
			prepAt := time.Now()
			prep, err := prepareDevJail(ctx, e, res, f)
			t.prepare = time.Since(prepAt)
			if err != nil {
				log("cannot start the new build: %s", terminalSafe(err.Error()))
			} else {
				oldRoot := ""
				if running != nil {
					stopAt := time.Now()
					running.stop()
					t.stop = time.Since(stopAt)
					oldRoot = running.root
					running = nil
				}
				running = startDevJail(ctx, e, prep, gen, t, log)
				if oldRoot != "" && running.root != oldRoot {
					removeUnpacked(oldRoot)
				}
			}
		}
		log("watching %d files for changes (ctrl-C to stop)", len(last))
		for {
			select {
			case <-ctx.Done():
				return exitError{exitInterrupted, vmm.ErrInterrupted}
			case <-time.After(*poll):
			}
			if running != nil && running.ended() {
				log("the jail ended (%s); waiting for a change", running.status())
				running = nil
			}
			if now := takeFingerprint(watch); !now.equal(last) {
				log("changed: %s", strings.Join(now.diff(last, 3), ", "))
				break
			}
		}
	}
}

type watchListResult struct {
	list []string
	err  error
}

// devPhases is where the time from a seen change to the new version went.
type devPhases struct {
	changedAt            time.Time
	build, prepare, stop time.Duration
}

// devJail is the jail of one dev build.
type devJail struct {
	version string
	root    string
	stopC   chan struct{}
	done    chan struct{}
	err     error
}

func (d *devJail) stop() {
	select {
	case <-d.stopC:
	default:
		close(d.stopC)
	}
	<-d.done
}

func (d *devJail) ended() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *devJail) status() string {
	if d.err != nil {
		return firstLine(d.err.Error())
	}
	return "powered off"
}

// devPrepared is a dev build unpacked and planned, ready to start.
type devPrepared struct {
	version string
	root    string
	plan    *jail.Plan
	ports   []jail.PortForward
}

// prepareDevJail unpacks the build (the dev loop wrote the folder just
// now, so it is taken from the build's own manifest rather than read and
// verified again) and plans its jail.
func prepareDevJail(ctx context.Context, e *Env, res *builder.Result, f *runFlags) (*devPrepared, error) {
	t := targetOf(res.Dir, res.Manifest)
	uid, gid := os.Getuid(), os.Getgid()
	jt, err := loadJail(ctx, e, t, uid)
	if err != nil {
		return nil, err
	}
	// The uptime origin is set again at the start.
	spec, err := jailSpec(jt, t, f, uid, gid, 0)
	if err != nil {
		return nil, err
	}
	plan, err := jail.NewPlan(spec)
	if err != nil {
		return nil, err
	}
	if err := jail.PrepareData(plan); err != nil {
		return nil, err
	}
	ports, err := jailPorts(f)
	if err != nil {
		return nil, err
	}
	return &devPrepared{version: t.version, root: jt.root, plan: plan, ports: ports}, nil
}

// startDevJail starts a prepared build in a jail; the console goes to
// stdout, and the ready line says where the time since the change went.
func startDevJail(ctx context.Context, e *Env, p *devPrepared, gen int, t devPhases, log func(string, ...any)) *devJail {
	setJailEpoch(p.plan, jail.BootTime())
	d := &devJail{version: p.version, root: p.root, stopC: make(chan struct{}), done: make(chan struct{})}
	startAt := time.Now()
	go func() {
		defer close(d.done)
		_, d.err = watchJail(context.WithoutCancel(ctx), p.plan, jailWatch{
			console: e.Stdout, ports: p.ports, stop: d.stopC,
			log: func(msg string) { log("%s", msg) },
			onReady: func() {
				if gen > 1 {
					log("build %d ready %d ms after the change was seen (build %d ms, unpack %d ms, old jail's stop %d ms, start to ready %d ms)",
						gen, time.Since(t.changedAt).Milliseconds(), t.build.Milliseconds(), t.prepare.Milliseconds(),
						t.stop.Milliseconds(), time.Since(startAt).Milliseconds())
				}
			},
		})
	}()
	return d
}

// removeUnpacked removes an unpacked image of an older dev build from the
// jail cache (only a folder Unpack made: under a "jail" folder).
func removeUnpacked(root string) {
	if filepath.Base(filepath.Dir(root)) != jail.UnpackDir {
		return
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(root)
}

// devWatchList is every file a build of the recipe reads that a developer
// edits: the recipe, its files (trees walked), kernel fragments, prebuilt
// binaries and kernel, and the source folders of its Go packages and of
// every package they import from the same module tree (go list -deps),
// with go.mod and go.sum. Packages from the module cache and the standard
// library do not change under an editor and are left out.
func devWatchList(ctx context.Context, recipePath string) ([]string, error) {
	b, err := os.ReadFile(recipePath)
	if err != nil {
		return nil, err
	}
	r, err := recipe.Parse(recipePath, b)
	if err != nil {
		return nil, err
	}
	paths := []string{recipePath}
	for _, fl := range r.Files {
		if fl.Src != "" {
			paths = append(paths, fl.Src)
		}
	}
	for _, fr := range r.Kernel.Fragments {
		if fr.Path != "" {
			paths = append(paths, fr.Path)
		}
	}
	if r.Kernel.Prebuilt != "" {
		paths = append(paths, r.Kernel.Prebuilt)
	}
	for _, s := range r.Services {
		if s.Binary != "" {
			paths = append(paths, s.Binary)
			continue
		}
		dir := s.PackageDir
		if dir == "" {
			dir = r.Dir
		}
		pkg := s.Package
		if s.PackageDir != "" {
			pkg = "."
		}
		cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{if .Module}} {{.Module.Dir}}{{end}}{{end}}", pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		outb, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("service %s: go list %s: %w", s.Name, s.Package, err)
		}
		modCache := goEnv(ctx, dir, "GOMODCACHE")
		for _, line := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || (modCache != "" && strings.HasPrefix(fields[0], modCache)) {
				continue
			}
			// A package is the files of one folder, not its subfolders.
			paths = append(paths, filepath.Join(fields[0], "*"))
			if len(fields) > 1 {
				paths = append(paths, filepath.Join(fields[1], "go.mod"), filepath.Join(fields[1], "go.sum"))
			}
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

func goEnv(ctx context.Context, dir, name string) string {
	cmd := exec.CommandContext(ctx, "go", "env", name)
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// fingerprint is what a poll sees of the watched files: size, mode and
// modification time by path. Polling was chosen over inotify (fsnotify):
// it sees editors' save-by-rename, folders created later and network or
// bind-mounted checkouts alike, needs no watch per folder nor a new
// dependency, and stat of a few hundred files every 200 ms costs well
// under a millisecond.
type fingerprint map[string]string

// takeFingerprint stats every path; a folder contributes its whole tree
// (a files: source), "DIR/*" the files directly in DIR (a Go package).
func takeFingerprint(paths []string) fingerprint {
	fp := fingerprint{}
	add := func(p string, info fs.FileInfo) {
		fp[p] = fmt.Sprintf("%d %v %d", info.Size(), info.Mode(), info.ModTime().UnixNano())
	}
	for _, p := range paths {
		if strings.HasSuffix(p, string(filepath.Separator)+"*") {
			matches, _ := filepath.Glob(p)
			for _, m := range matches {
				if info, err := os.Stat(m); err == nil && !info.IsDir() && !strings.HasPrefix(filepath.Base(m), ".") {
					add(m, info)
				}
			}
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			fp[p] = "missing"
			continue
		}
		if !info.IsDir() {
			add(p, info)
			continue
		}
		filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			name := d.Name()
			if d.IsDir() && q != p && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
				return nil // editors' swap and backup files
			}
			if d.IsDir() {
				return nil // a new or removed file shows by itself
			}
			if i, err := d.Info(); err == nil {
				add(q, i)
			}
			return nil
		})
	}
	return fp
}

// since is a with the values of early where early has the path: a file
// the last watch list already covered counts as it was before the build
// read it, so a save during the build is seen as a change afterwards.
func (a fingerprint) since(early fingerprint) fingerprint {
	for k := range a {
		if v, ok := early[k]; ok {
			a[k] = v
		}
	}
	return a
}

func (a fingerprint) equal(b fingerprint) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// diff names up to max paths that differ between a and b.
func (a fingerprint) diff(b fingerprint, max int) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("and %d more", len(out)-max))
	}
	return out
}
