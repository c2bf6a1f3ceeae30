// Command bench is turbo-image's benchmark harness (`make bench`, issue 5).
// It boots the same small HTTP app (bench/app) along seven paths in one run
// with the same QEMU binary under TCG and writes bench/results/latest.md (a
// table, the commands that reproduce each row, the project's targets as
// ratios with PASS/MISS, notes) and latest.svg (a bar chart).
//
// Rows: 1 turbo-image's initramfs on its kernel (-M microvm, the argv of
// `turbo-image run --dry-run`); 2 the same initramfs on Debian's generic
// kernel plus the modules it needs; 3 u-root's init with the app as uinit
// on turbo-image's kernel; 4 a minimal Debian system (debootstrap, systemd,
// systemd-networkd); 5 the floor: turbo-image's kernel with a static C init
// that prints its uptime and ends QEMU through isa-debug-exit; 6 the disk
// image booted by `turbo-image run --boot disk` and `--boot uefi`.
//
// Readiness is the same for every row: the host polls GET / through a
// hostfwd port every 10 ms from QEMU's start (host wall), and the app
// prints its CLOCK_BOOTTIME when it serves its first request (guest
// uptime). Each row is the median of -runs boots, booted round-robin.
//
// Expensive set-up (Debian tree, Debian kernel, u-root CLI and image, the
// floor init) is cached under $TURBO_CACHE/bench, keyed by its inputs.
// The pure parts (statistics, targets, markdown, SVG, modules.dep, argv
// handling, header and console parsing) are functions tested in
// bench/*_test.go; booting is not unit-tested.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// options are the command-line flags.
type options struct {
	out     string
	runs    int
	rows    string
	work    string
	keep    bool
	builds  bool
	verbose bool
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench/results", "directory for latest.md and latest.svg")
	flag.IntVar(&o.runs, "runs", 5, "boots per row (the median is reported)")
	flag.StringVar(&o.rows, "rows", "all", "rows to run: all, or a comma-separated subset of "+rowIDList())
	flag.StringVar(&o.work, "work", "", "cache directory for expensive set-up (default $TURBO_CACHE/bench, i.e. ~/.cache/turbo-image/bench)")
	flag.BoolVar(&o.keep, "keep", false, "keep the run's temporary directory (builds, console logs, disk copies)")
	flag.BoolVar(&o.builds, "builds", true, "measure cold and warm build times (turbo-image and u-root)")
	flag.BoolVar(&o.verbose, "v", false, "show the output of builds, debootstrap and other tools")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// bench holds what every row needs.
type bench struct {
	root        string // repository root
	turbo       string // bin/turbo-image
	cache       string // -work
	kernelCache string // the builder's kernel cache
	tmp         string // this run's temporary directory
	goVersion   string
	stderr      io.Writer
	verboseOut  bool
	vars        pathVars
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", a...)
}

// verbose is where tool output goes: stderr with -v, else nowhere (it is
// still shown when a tool fails).
func (b *bench) verbose() io.Writer {
	if b.verboseOut {
		return b.stderr
	}
	return nil
}

// rowRun is a prepared row: how to boot it once.
type rowRun struct {
	row *Row
	// plan returns the boot plan for one boot on the given host port, and
	// a cleanup to run after it.
	plan func(ctx context.Context, i, port int) (bootPlan, func(), error)
	// samples
	guest, wall, turbo, start []float64
	init, appStart            []float64
	exits                     []string
	failures                  []string
}

func run(ctx context.Context, o options, stderr io.Writer) error {
	ids, err := ParseRows(o.rows)
	if err != nil {
		return err
	}
	if o.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	sel := map[string]bool{}
	for _, id := range ids {
		sel[id] = true
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	b := &bench{stderr: stderr, verboseOut: o.verbose}
	if b.root, err = findRepoRoot(cwd); err != nil {
		return err
	}
	b.turbo = filepath.Join(b.root, "bin", "turbo-image")
	if _, err := os.Stat(b.turbo); err != nil {
		return fmt.Errorf("%s: %w (run `make build` or `make bench`)", b.turbo, err)
	}
	turboCache, err := builder.DefaultCacheDir(os.Getenv)
	if err != nil {
		return err
	}
	b.kernelCache = filepath.Join(turboCache, "kernel")
	b.cache = o.work
	if b.cache == "" {
		b.cache = filepath.Join(turboCache, "bench")
	}
	if b.cache, err = filepath.Abs(b.cache); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(b.cache, "tmp"), 0o755); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp(filepath.Join(b.cache, "tmp"), "run-"); err != nil {
		return err
	}
	if o.keep {
		defer b.logf("kept the run's files in %s", b.tmp)
	} else {
		defer func() {
			if err := removeTree(b.tmp); err != nil {
				b.logf("cleanup: %v", err)
			}
		}()
	}
	b.vars = newPathVars([2]string{b.tmp, "$W"}, [2]string{b.cache, "$C"}, [2]string{b.kernelCache, "$TURBO_CACHE/kernel"}, [2]string{b.root + "/", ""})
	if v, err := runOutput(ctx, b.root, nil, nil, "go", "env", "GOVERSION"); err == nil {
		b.goVersion = strings.TrimSpace(v)
	}
	rep := &Report{Env: environment(ctx, b, o, ids)}
	started := time.Now()

	// Row 1's build is what every other row starts from.
	hello := filepath.Join(b.tmp, "hello")
	b.logf("building %s (turbo-image, warm caches)", helloRecipe)
	if _, err := b.buildTurbo(ctx, helloRecipe, hello, nil, "-q"); err != nil {
		return fmt.Errorf("row 1 build: %w", err)
	}
	argv, err := b.dryRun(ctx, hello)
	if err != nil {
		return err
	}
	base, tsc, err := SpecFromDryRun(argv)
	if err != nil {
		return err
	}
	if tsc == 0 {
		rep.Notes = append(rep.Notes, "`turbo-image run --dry-run` passed no tsc_early_khz (the host TSC could not be measured); the guests calibrate their TSC themselves.")
	}
	rep.Env.TSCkHz = tsc
	if _, again, err := vmm.QEMUCommand(base); err != nil {
		return fmt.Errorf("rebuilding row 1's QEMU command: %w", err)
	} else if same, diff := equalArgs(argv[1:], again); !same {
		rep.Notes = append(rep.Notes, "vmm.QEMUCommand of the spec read back from row 1's dry-run differs from it ("+diff+"): rows 2, 3 and 5 may not boot with exactly row 1's arguments.")
	}
	app, err := extractFile(filepath.Join(hello, "initramfs.cpio.zst"), appInImage)
	if err != nil {
		return err
	}

	runs := map[string]*rowRun{}
	prep := func(id string, f func(r *Row) (*rowRun, error)) {
		if !sel[id] || ctx.Err() != nil {
			return
		}
		r := &Row{ID: id}
		b.logf("preparing row %s (%s)", rowNumber(id), id)
		rr, err := f(r)
		if err != nil {
			r.Err = firstLine(err.Error(), 300)
			b.logf("row %s (%s) cannot run: %v", rowNumber(id), id, err)
			runs[id] = &rowRun{row: r}
			return
		}
		rr.row = r
		runs[id] = rr
	}

	var uroot *urootTool
	urootErr := errors.New("u-root row not selected")
	if sel[RowURoot] {
		uroot, urootErr = b.urootCLI(ctx)
	}
	var debk *debKernel
	debkErr := errors.New("no Debian row selected")
	if sel[RowDebianKernel] || sel[RowDebian] {
		debk, debkErr = b.debianKernel(ctx)
	}

	prep(RowTurbo, func(r *Row) (*rowRun, error) { return b.prepTurbo(ctx, r, hello, argv) })
	prep(RowTurboLZ4, func(r *Row) (*rowRun, error) { return b.prepTurboLZ4(ctx, r) })
	prep(RowTurboPCIe, func(r *Row) (*rowRun, error) { return b.prepTurboPCIe(ctx, r, hello, argv) })
	prep(RowDebianKernel, func(r *Row) (*rowRun, error) {
		if debkErr != nil {
			return nil, debkErr
		}
		return b.prepDebianKernel(ctx, r, hello, debk, base)
	})
	prep(RowURoot, func(r *Row) (*rowRun, error) {
		if urootErr != nil {
			return nil, urootErr
		}
		return b.prepURoot(ctx, r, hello, uroot, app, base)
	})
	prep(RowDebian, func(r *Row) (*rowRun, error) {
		if debkErr != nil {
			return nil, debkErr
		}
		return b.prepDebian(ctx, r, debk, app, base)
	})
	prep(RowFloor, func(r *Row) (*rowRun, error) { return b.prepFloor(ctx, r, hello, base) })
	var diskBuild string
	var diskErr error
	if sel[RowDisk] || sel[RowUEFI] {
		diskBuild = filepath.Join(b.tmp, "hello-disk")
		b.logf("building %s", helloDiskRecipe)
		var d time.Duration
		if d, diskErr = b.buildTurbo(ctx, helloDiskRecipe, diskBuild, nil, "-q"); diskErr == nil {
			b.logf("disk build took %s", seconds(d))
		}
	}
	prep(RowJail, func(r *Row) (*rowRun, error) { return b.prepJail(ctx, r, hello) })
	prep(RowJailHost, func(r *Row) (*rowRun, error) { return b.prepJailHost(ctx, r, hello) })
	prep(RowArm64, func(r *Row) (*rowRun, error) { return b.prepArm64(ctx, r) })
	prep(RowDisk, func(r *Row) (*rowRun, error) {
		if diskErr != nil {
			return nil, diskErr
		}
		return b.prepDisk(ctx, r, diskBuild, "disk")
	})
	prep(RowUEFI, func(r *Row) (*rowRun, error) {
		if diskErr != nil {
			return nil, diskErr
		}
		return b.prepDisk(ctx, r, diskBuild, "uefi")
	})

	for _, a := range bigApps {
		var bb *bigAppBuild
		var bErr error
		want := false
		for _, p := range bigAppPaths {
			want = want || sel[a.id+p.suffix]
		}
		for _, v := range a.variants {
			want = want || sel[a.id+v.suffix] && v.extra == ""
		}
		if want && ctx.Err() == nil {
			bb, bErr = b.buildBigApp(ctx, a, "", "")
		}
		prep(a.id+pathInitramfs, func(r *Row) (*rowRun, error) {
			if bErr != nil {
				return nil, bErr
			}
			return b.prepBigInitramfs(ctx, r, bb)
		})
		prep(a.id+pathDisk1, func(r *Row) (*rowRun, error) {
			if bErr != nil {
				return nil, bErr
			}
			return b.prepBigDisk(ctx, r, bb, false, bigAppVariant{})
		})
		prep(a.id+pathDisk, func(r *Row) (*rowRun, error) {
			if bErr != nil {
				return nil, bErr
			}
			return b.prepBigDisk(ctx, r, bb, true, bigAppVariant{})
		})
		prep(a.id+pathFloor, func(r *Row) (*rowRun, error) {
			if bErr != nil {
				return nil, bErr
			}
			return b.prepBigFloor(ctx, r, bb, base)
		})
		for _, v := range a.variants {
			prep(a.id+v.suffix, func(r *Row) (*rowRun, error) {
				vb := bb
				if v.extra != "" {
					var err error
					if vb, err = b.buildBigApp(ctx, a, v.suffix, v.extra); err != nil {
						return nil, err
					}
				} else if bErr != nil {
					return nil, bErr
				}
				var rr *rowRun
				var err error
				if v.disk {
					rr, err = b.prepBigDisk(ctx, r, vb, true, v)
				} else {
					rr, err = b.prepBigInitramfs(ctx, r, vb)
				}
				r.Title = a.title + ", " + v.title
				r.Notes = append(r.Notes, "A lever measured against rows "+a.number+"a and "+a.number+"c: "+v.lever()+".")
				return rr, err
			})
		}
	}

	if o.builds && (sel[RowTurbo] || sel[RowURoot]) && ctx.Err() == nil {
		if err := b.buildTimes(ctx, runs[RowTurbo], runs[RowURoot], uroot, hello); err != nil {
			b.logf("build times: %v", err)
			rep.Notes = append(rep.Notes, "Build times could not be measured: "+firstLine(err.Error(), 200))
		}
	}

	// Boot round-robin.
	var order []*rowRun
	for _, id := range ids {
		if rr := runs[id]; rr != nil && rr.row.Err == "" && rr.plan != nil {
			order = append(order, rr)
		}
	}
	b.logf("booting %d rows × %d runs under TCG", len(order), o.runs)
	for i := 0; i < o.runs && ctx.Err() == nil; i++ {
		for _, rr := range order {
			if ctx.Err() != nil {
				break
			}
			b.bootRow(ctx, rr, i, o.runs)
		}
	}
	// Make up for failed boots (a loaded machine can time a boot out), at
	// most two extra boots per row.
	for _, rr := range order {
		for extra := 0; extra < 2 && len(rr.wall) < o.runs && len(rr.failures) > 0 && ctx.Err() == nil; extra++ {
			b.bootRow(ctx, rr, o.runs+extra, o.runs)
		}
	}
	if sel[RowDev] && ctx.Err() == nil {
		r := &Row{ID: RowDev}
		rr := &rowRun{row: r}
		b.logf("row %s (%s): %d saved changes under turbo-image dev", rowNumber(RowDev), RowDev, o.runs)
		if err := b.measureDev(ctx, rr, o.runs); err != nil {
			r.Err = firstLine(err.Error(), 300)
			b.logf("row %s (%s): %v", rowNumber(RowDev), RowDev, err)
		}
		runs[RowDev] = rr
	}
	if sel[RowRegistry] && ctx.Err() == nil {
		r := &Row{ID: RowRegistry}
		rr := &rowRun{row: r}
		b.logf("row %s (%s): %d × push, push of v2, pull through docker-registry", rowNumber(RowRegistry), RowRegistry, o.runs)
		if err := b.measureRegistry(ctx, rr, o.runs, hello); err != nil {
			r.Err = firstLine(err.Error(), 300)
			b.logf("row %s (%s): %v", rowNumber(RowRegistry), RowRegistry, err)
		}
		runs[RowRegistry] = rr
	}
	if sel[RowFleet] && ctx.Err() == nil {
		r := &Row{ID: RowFleet}
		rr := &rowRun{row: r}
		b.logf("row %s (%s): %d × %d appliances following a channel, promote of v2", rowNumber(RowFleet), RowFleet, o.runs, fleetSize)
		if err := b.measureFleet(ctx, rr, o.runs, app); err != nil {
			r.Err = firstLine(err.Error(), 300)
			b.logf("row %s (%s): %v", rowNumber(RowFleet), RowFleet, err)
		}
		runs[RowFleet] = rr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}

	failed := 0
	for _, id := range ids {
		rr := runs[id]
		if rr == nil {
			continue
		}
		r := rr.row
		if r.Err == "" {
			r.Guest, _ = Summarize(rr.guest)
			r.Wall, _ = Summarize(rr.wall)
			r.TurboReady, _ = Summarize(rr.turbo)
			r.Start, _ = Summarize(rr.start)
			r.Init, _ = Summarize(rr.init)
			r.AppStart, _ = Summarize(rr.appStart)
			if len(rr.failures) > 0 {
				r.Notes = append(r.Notes, fmt.Sprintf("%d boot(s) failed and were not counted: %s", len(rr.failures), strings.Join(rr.failures, "; ")))
			}
			if id == RowFloor && len(rr.exits) > 0 {
				r.Notes = append(r.Notes, "How QEMU ended: "+floorNote(rr.exits)+".")
			}
			if !r.Wall.Valid() {
				r.Err = "no boot succeeded"
				if len(rr.failures) > 0 {
					r.Err += ": " + rr.failures[0]
				}
			} else if r.Wall.N < o.runs {
				r.Notes = append(r.Notes, fmt.Sprintf("only %d of %d boots succeeded", r.Wall.N, o.runs))
			}
		}
		if r.Err != "" {
			failed++
		}
		rep.Rows = append(rep.Rows, *r)
	}
	rep.Notes = append(rep.Notes, globalNotes(b, time.Since(started))...)

	md, svg := RenderMarkdown(rep), RenderSVG(rep)
	out := o.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(cwd, out)
	}
	if err := atomicfile.WriteFileAll(filepath.Join(out, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := atomicfile.WriteFileAll(filepath.Join(out, "latest.svg"), []byte(svg), 0o644); err != nil {
		return err
	}
	b.logf("wrote %s and %s in %s", filepath.Join(o.out, "latest.md"), filepath.Join(o.out, "latest.svg"), time.Since(started).Round(time.Second))
	for _, t := range EvaluateTargets(rep) {
		b.logf("target %s: %s — %s, %s", t.Verdict, t.Goal, t.Measured, t.Ratio)
	}
	if failed > 0 {
		return fmt.Errorf("%d row(s) could not be measured (see latest.md)", failed)
	}
	return nil
}

// bootRow boots a row once and records the sample or the failure.
func (b *bench) bootRow(ctx context.Context, rr *rowRun, i, runs int) {
	id := rr.row.ID
	port, err := freePort()
	if err != nil {
		rr.failures = append(rr.failures, err.Error())
		return
	}
	p, cleanup, err := rr.plan(ctx, i, port)
	if err != nil {
		rr.failures = append(rr.failures, firstLine(err.Error(), 200))
		b.logf("row %s (%s) boot %d: %v", rowNumber(id), id, i+1, err)
		return
	}
	if cleanup != nil {
		defer cleanup()
	}
	logPath := filepath.Join(b.tmp, "console", fmt.Sprintf("%s-%d.log", id, i+1))
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err == nil {
		if f, err := openConsoleLog(logPath); err == nil {
			defer f.Close()
			p.consoleLog = f
		}
	}
	s, err := bootOnce(ctx, p)
	if err != nil {
		rr.failures = append(rr.failures, fmt.Sprintf("boot %d: %s", i+1, firstLine(err.Error(), 200)))
		b.logf("row %s (%s) boot %d/%d FAILED: %v", rowNumber(id), id, i+1, runs, err)
		return
	}
	if s.guestMS >= 0 {
		rr.guest = append(rr.guest, float64(s.guestMS))
	}
	rr.wall = append(rr.wall, s.wallMS)
	if s.initMS >= 0 {
		rr.init = append(rr.init, float64(s.initMS))
	}
	if s.appStartMS >= 0 {
		rr.appStart = append(rr.appStart, float64(s.appStartMS))
	}
	if s.turboReadyMS >= 0 {
		rr.turbo = append(rr.turbo, float64(s.turboReadyMS))
	}
	if s.startMS >= 0 {
		rr.start = append(rr.start, float64(s.startMS))
	}
	rr.exits = append(rr.exits, s.exit)
	extra := ""
	if s.turboReadyMS >= 0 {
		extra = fmt.Sprintf(", TURBO_READY %d ms", s.turboReadyMS)
	}
	if s.debugExit {
		extra += ", " + s.exit
	}
	if s.initMS >= 0 {
		extra += fmt.Sprintf(", init at %d ms", s.initMS)
	}
	if s.appStartMS >= 0 {
		extra += fmt.Sprintf(", app's own start %d ms", s.appStartMS)
	}
	b.logf("row %s (%s) boot %d/%d: guest %d ms, host wall %.0f ms%s", rowNumber(id), id, i+1, runs, s.guestMS, s.wallMS, extra)
}

// environment describes the machine and tools.
func environment(ctx context.Context, b *bench, o options, ids []string) Env {
	e := Env{Go: b.goVersion, Cores: runtime.NumCPU(), Accel: string(vmm.AccelTCG), Runs: o.runs, Rows: strings.Join(ids, ","), Builds: o.builds,
		GuestCPU: fmt.Sprintf("-cpu %s, %d vCPU, %d MiB", vmm.TCGCPU, vmm.DefaultCPUs, vmm.DefaultMemoryMiB)}
	if v, err := runOutput(ctx, "", nil, nil, vmm.DefaultBinary, "--version"); err == nil {
		e.QEMU = firstLine(v, 120)
	}
	if c, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		e.CPU = CPUModel(string(c))
	}
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(l)); len(f) >= 3 {
			e.Load = strings.Join(f[:3], " ")
		}
	}
	return e
}

// CPUModel returns the first "model name" of /proc/cpuinfo.
func CPUModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
