package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// Row IDs, as -rows takes them.
const (
	RowTurbo        = "turbo"
	RowTurboLZ4     = "turbo-lz4"
	RowTurboPCIe    = "turbo-pcie"
	RowDebianKernel = "debian-kernel"
	RowURoot        = "uroot"
	RowDebian       = "debian"
	RowFloor        = "floor"
	RowDisk         = "disk"
	RowUEFI         = "uefi"
	RowJail         = "jail"
	RowJailHost     = "jail-host"
	RowDev          = "dev"
	RowRegistry     = "registry"
	RowFleet        = "fleet"
	RowArm64        = "arm64"
)

// allRows is every row in report order, with its number in the report.
var allRows = append([]struct{ id, number string }{
	{RowTurbo, "1"},
	{RowTurboLZ4, "1b"},
	{RowTurboPCIe, "1c"},
	{RowDebianKernel, "2"},
	{RowURoot, "3"},
	{RowDebian, "4"},
	{RowFloor, "5"},
	{RowDisk, "6a"},
	{RowUEFI, "6b"},
	{RowJail, "7"},
	{RowDev, "7b"},
	{RowRegistry, "7c"},
	{RowJailHost, "7d"},
	{RowFleet, "7e"},
}, append(bigAppRowIDs(), struct{ id, number string }{RowArm64, "10"})...)

// bigAppRowIDs are the big apps' rows (bench/bigapp.go): per app, its
// initramfs, disk first boot, disk later boot and app-as-init floor.
func bigAppRowIDs() []struct{ id, number string } {
	var out []struct{ id, number string }
	for _, a := range bigApps {
		for _, p := range bigAppPaths {
			out = append(out, struct{ id, number string }{a.id + p.suffix, a.number + p.letter})
		}
		for _, v := range a.variants {
			out = append(out, struct{ id, number string }{a.id + v.suffix, a.number + v.letter})
		}
	}
	return out
}

// rowNumber returns a row's number in the report ("6a"), or "?".
func rowNumber(id string) string {
	for _, r := range allRows {
		if r.id == id {
			return r.number
		}
	}
	return "?"
}

// rowIDList is every row ID, comma-separated, in report order.
func rowIDList() string {
	var ids []string
	for _, r := range allRows {
		ids = append(ids, r.id)
	}
	return strings.Join(ids, ",")
}

// ParseRows turns the -rows flag ("all" or a comma-separated subset) into
// row IDs in report order.
func ParseRows(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		ids := make([]string, len(allRows))
		for i, r := range allRows {
			ids[i] = r.id
		}
		return ids, nil
	}
	want := map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		known := false
		for _, r := range allRows {
			known = known || r.id == w
		}
		if !known {
			var names []string
			for _, r := range allRows {
				names = append(names, r.id)
			}
			return nil, fmt.Errorf("-rows: unknown row %q (want all, or some of %s)", w, strings.Join(names, ","))
		}
		want[w] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("-rows %q names no row", s)
	}
	var ids []string
	for _, r := range allRows {
		if want[r.id] {
			ids = append(ids, r.id)
		}
	}
	return ids, nil
}

// Report is everything latest.md and latest.svg show.
type Report struct {
	Env   Env
	Rows  []Row
	Notes []string
}

// Env describes the machine and tools of a run.
type Env struct {
	QEMU     string // first line of `qemu-system-x86_64 --version`
	Go       string // go version
	CPU      string // host CPU model
	Cores    int    // host CPUs
	Load     string // load averages when the run started
	Accel    string // QEMU accelerator (tcg)
	TSCkHz   int    // tsc_early_khz passed to direct kernel boots
	Runs     int    // boots per row
	Rows     string // the -rows flag
	Builds   bool   // whether build times were measured
	GuestCPU string // -cpu, -smp and -m of every VM
}

// Row is one benchmark row.
type Row struct {
	ID    string
	Title string
	// Boot says what boots: kernel, init, machine type.
	Boot string
	// Machine is the QEMU machine type.
	Machine string
	// Guest is the guest's CLOCK_BOOTTIME at ready (ms), Wall the host's
	// wall time from QEMU start to ready (ms). TurboReady is turbo-init's
	// TURBO_READY uptime (ms) where there is one; Start the app's
	// BENCH_START uptime (ms), when it began to listen.
	Guest, Wall, TurboReady, Start Stats
	// Init is when the init started (turbo.debug, or the app-as-init
	// shim's BENCH_EXEC); AppStart the app's own start (turbo.debug's
	// service started to first healthy check), both in ms.
	Init, AppStart Stats
	Size           Size
	Build          Build
	// Commands reproduce the row, in order.
	Commands []string
	Notes    []string
	// Err is set when the row could not be measured.
	Err string
}

// Size is an image's size; 0 means unknown.
type Size struct {
	// Disk is what is stored: compressed kernel, initramfs, disk images
	// (allocated blocks of sparse files).
	Disk int64
	// Loaded is what the guest holds once it is unpacked: the kernel's
	// init_size, the uncompressed initramfs, root file system contents.
	Loaded int64
	// DiskParts and LoadedParts say what the sums are made of.
	DiskParts, LoadedParts string
}

// Build holds build times; zero means not measured or not applicable.
type Build struct {
	Cold, Warm time.Duration
	// Kernel is the one-time kernel build (cached afterwards), if known.
	Kernel time.Duration
	// KernelHow says where Kernel was read from.
	KernelHow string
}

// Target is one of the project's benchmark goals, checked against the
// measurements.
type Target struct {
	Goal     string
	Measured string
	Ratio    string
	Verdict  string // PASS, MISS or n/a
}

// row returns the row with the given ID that has measurements, or nil.
func (r *Report) row(id string) *Row {
	for i := range r.Rows {
		if r.Rows[i].ID == id && r.Rows[i].Err == "" {
			return &r.Rows[i]
		}
	}
	return nil
}

// The targets' limits.
const (
	floorSlack     = 1.15 // turbo ready <= 1.15 x floor
	debianKernelX  = 3.0  // Debian-kernel row >= 3 x turbo
	verdictPass    = "PASS"
	verdictMiss    = "MISS"
	verdictMissing = "n/a"
)

// jailX is the issue-12 target: a jail is at least this much faster to
// ready than the microvm.
const jailX = 10.0

// devLimitS is the issue-12 target for the dev loop's save-to-answer.
const devLimitS = 2.0

// EvaluateTargets checks the project's goals against the rows. Time goals
// are judged on the guest uptime at ready (the stricter measure: it leaves
// out QEMU's start-up, common to all rows, and the firmware's loading and
// decompressing of the kernel, which is larger for bigger kernels); the
// host-wall ratio is shown alongside. A goal whose rows were not measured
// is "n/a", never a pass.
func EvaluateTargets(r *Report) []Target {
	turbo, floor, uroot, debk := r.row(RowTurbo), r.row(RowFloor), r.row(RowURoot), r.row(RowDebianKernel)
	var ts []Target
	verdict := func(ok bool) string {
		if ok {
			return verdictPass
		}
		return verdictMiss
	}
	missing := func(goal string, rows ...string) Target {
		return Target{Goal: goal, Measured: "not measured (row " + strings.Join(rows, ", ") + ")", Ratio: "–", Verdict: verdictMissing}
	}

	// Time targets are judged on host wall time to ready, the time a user
	// waits: guest uptime leaves out QEMU start, firmware and kernel
	// decompression (issue 5: "guest uptime alone misses firmware,
	// decompression and QEMU start"). Guest uptime is shown beside it.
	timeTarget := func(goal string, other *Row, otherName string, need string, ok func(ratio float64) bool, inverse bool) Target {
		if turbo == nil || other == nil || !turbo.Wall.Valid() || !other.Wall.Valid() || turbo.Wall.Median <= 0 || other.Wall.Median <= 0 {
			return missing(goal, rowNumber(RowTurbo), otherName)
		}
		ratio := turbo.Wall.Median / other.Wall.Median
		if inverse {
			ratio = 1 / ratio
		}
		m := fmt.Sprintf("host wall %.0f vs %.0f ms", turbo.Wall.Median, other.Wall.Median) + guestRatio(turbo, other, inverse)
		return Target{goal, m, fmt.Sprintf("%.2f× (%s)", ratio, need), verdict(ok(ratio))}
	}
	ts = append(ts, timeTarget("turbo-image ready within 15% of the floor (host wall to ready)", floor, rowNumber(RowFloor),
		fmt.Sprintf("limit %.2f×", floorSlack), func(r float64) bool { return r <= floorSlack }, false))
	ts = append(ts, timeTarget("at least 3× faster to ready than the same initramfs on Debian's kernel", debk, rowNumber(RowDebianKernel),
		fmt.Sprintf("need ≥ %.0f×", debianKernelX), func(r float64) bool { return r >= debianKernelX }, true))
	ts = append(ts, timeTarget("faster to ready than u-root on the same kernel", uroot, rowNumber(RowURoot),
		"need > 1×", func(r float64) bool { return r > 1 }, true))

	// The target is judged on the jail as `run --vmm jail` starts it by
	// default (the host's network, row 7d); row 7 adds pasta's private
	// network and is reported beside it.
	for _, id := range []string{RowJailHost, RowJail} {
		jail := r.row(id)
		if jail == nil {
			continue
		}
		goal := fmt.Sprintf("a jail at least 10× faster to ready than the microvm (row %s vs row 1, host wall)", rowNumber(id))
		if id == RowJail {
			goal = "with a private network (pasta): " + goal
		}
		if turbo == nil || !turbo.Wall.Valid() || !jail.Wall.Valid() || jail.Wall.Median <= 0 {
			ts = append(ts, missing(goal, rowNumber(RowTurbo), rowNumber(id)))
		} else {
			ratio := turbo.Wall.Median / jail.Wall.Median
			ts = append(ts, Target{goal, fmt.Sprintf("host wall %.0f vs %.0f ms", jail.Wall.Median, turbo.Wall.Median),
				fmt.Sprintf("%.2f× (need ≥ %.0f×)", ratio, jailX), verdict(ratio >= jailX)})
		}
	}

	if dev := r.row(RowDev); dev != nil {
		goal := "turbo-image dev: a saved change answers HTTP in under 2 s (row 7b)"
		if !dev.Wall.Valid() {
			ts = append(ts, missing(goal, rowNumber(RowDev)))
		} else {
			ts = append(ts, Target{goal, fmt.Sprintf("save to new answer %.0f ms", dev.Wall.Median),
				fmt.Sprintf("%.2f s (limit %.0f s)", dev.Wall.Median/1000, devLimitS), verdict(dev.Wall.Median < devLimitS*1000)})
		}
	}

	goal := "smaller image than u-root's (kernel + initramfs on disk)"
	if turbo != nil && uroot != nil && turbo.Size.Disk > 0 && uroot.Size.Disk > 0 {
		ratio := float64(uroot.Size.Disk) / float64(turbo.Size.Disk)
		m := fmt.Sprintf("%s vs %s", bytesize.Format(turbo.Size.Disk), bytesize.Format(uroot.Size.Disk))
		ts = append(ts, Target{goal, m, fmt.Sprintf("%.2f× (need > 1×)", ratio), verdict(turbo.Size.Disk < uroot.Size.Disk)})
	} else {
		ts = append(ts, missing(goal, rowNumber(RowTurbo), rowNumber(RowURoot)))
	}

	goal = "warm rebuild faster than u-root's warm build of the same app"
	if turbo != nil && uroot != nil && turbo.Build.Warm > 0 && uroot.Build.Warm > 0 {
		ratio := uroot.Build.Warm.Seconds() / turbo.Build.Warm.Seconds()
		m := fmt.Sprintf("%s vs %s", seconds(turbo.Build.Warm), seconds(uroot.Build.Warm))
		ts = append(ts, Target{goal, m, fmt.Sprintf("%.2f× (need > 1×)", ratio), verdict(turbo.Build.Warm < uroot.Build.Warm)})
	} else {
		ts = append(ts, missing(goal, rowNumber(RowTurbo), rowNumber(RowURoot)))
	}
	for _, a := range bigApps {
		ts = append(ts, bigAppTargets(r, a)...)
	}
	return ts
}

// The big-app targets' limits (issue 10), on host wall to ready.
const (
	diskVsInitramfs = 1.2 // disk later boot <= 1.2 x initramfs
	firstVsLater    = 1.1 // disk first boot <= 1.1 x later boot
	bestVsFloor     = 1.3 // best path <= 1.3 x app-as-init floor
)

// bigAppTargets checks a big app's rows: the disk path's later boots
// against the initramfs, the first boot against later boots, and the
// faster of the initramfs and later disk boots against the app-as-init
// floor. Only rows that selected none of the app's rows are left out; a
// goal with a missing row is n/a.
func bigAppTargets(r *Report, a bigApp) []Target {
	ini, first, later, floor := r.row(a.id+pathInitramfs), r.row(a.id+pathDisk1), r.row(a.id+pathDisk), r.row(a.id+pathFloor)
	if ini == nil && first == nil && later == nil && floor == nil {
		return nil
	}
	wall := func(x *Row) (float64, bool) {
		if x == nil || !x.Wall.Valid() || x.Wall.Median <= 0 {
			return 0, false
		}
		return x.Wall.Median, true
	}
	check := func(goal string, x, y *Row, limit float64) Target {
		wx, okx := wall(x)
		wy, oky := wall(y)
		if !okx || !oky {
			return Target{Goal: goal, Measured: "not measured (a row is missing)", Ratio: "–", Verdict: verdictMissing}
		}
		ratio := wx / wy
		v := verdictMiss
		if ratio <= limit {
			v = verdictPass
		}
		return Target{goal, fmt.Sprintf("host wall %.0f (row %s) vs %.0f ms (row %s)", wx, rowNumber(x.ID), wy, rowNumber(y.ID)), fmt.Sprintf("%.2f× (limit %.2f×)", ratio, limit), v}
	}
	ts := []Target{
		check(a.title+": disk path, later boots, within 1.2× the initramfs path", later, ini, diskVsInitramfs),
		check(a.title+": disk path, first boot, within 1.1× later boots", first, later, firstVsLater),
	}
	best := ini
	if wl, ok := wall(later); ok {
		if wi, ok := wall(ini); !ok || wl < wi {
			best = later
		}
	}
	ts = append(ts, check(a.title+": best path within 1.3× the app-as-init floor", best, floor, bestVsFloor))
	return ts
}

// guestRatio describes the guest-uptime comparison of two rows for the
// "measured" column: other/turbo when inverse, else turbo/other.
func guestRatio(turbo, other *Row, inverse bool) string {
	if !turbo.Guest.Valid() || !other.Guest.Valid() || turbo.Guest.Median <= 0 || other.Guest.Median <= 0 {
		return ""
	}
	r := turbo.Guest.Median / other.Guest.Median
	if inverse {
		r = 1 / r
	}
	return fmt.Sprintf("; guest uptime %.0f vs %.0f ms: %.2f×", turbo.Guest.Median, other.Guest.Median, r)
}

// RenderMarkdown renders latest.md. The output depends only on r.
func RenderMarkdown(r *Report) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	p("# turbo-image benchmarks\n\n")
	p("Generated by `make bench` (`go run ./bench -out bench/results`); do not edit by hand.\n")
	p("The chart is [latest.svg](latest.svg).\n\n")

	p("## Setup\n\n")
	e := r.Env
	p("- QEMU: %s, accelerator **%s** (no KVM), guest %s; every row in the same run with the same QEMU binary\n", orUnknown(e.QEMU), orUnknown(e.Accel), orUnknown(e.GuestCPU))
	p("- host: %s, %d CPUs, load average at start %s; Go: %s\n", orUnknown(e.CPU), e.Cores, orUnknown(e.Load), orUnknown(e.Go))
	if e.TSCkHz > 0 {
		p("- direct kernel boots get `tsc_early_khz=%d` (measured host TSC, as `turbo-image run` passes it under TCG)\n", e.TSCkHz)
	}
	p("- %d boots per row, booted round-robin (boot 1 of every row, then boot 2, ...); cells are median (min–max); rows: `%s`\n", e.Runs, e.Rows)
	p("- **guest uptime at ready**: the app's `BENCH_READY uptime_ms` (CLOCK_BOOTTIME, from kernel start) printed when it serves its first HTTP request; for the floor, what its init prints\n")
	p("- **host wall to ready**: from starting QEMU to the first `HTTP 200` of `GET http://127.0.0.1:PORT/` (a new request every 10 ms through a `hostfwd` port); for the floor, to its console line\n")
	p("- big apps (rows 8 and up: third-party servers that print no marker): **guest uptime at ready** is turbo-init's `TURBO_READY uptime_ms` (unknown for the app-as-init floor); **init starts** is turbo-init's first moment (`turbo.debug`'s `started at uptime`) or the floor shim's `BENCH_EXEC`; **app's own start** is from `turbo.debug`'s `service … started` to its first passing health check (`service … healthy`)\n\n")

	p("## Results\n\n")
	p("| # | row | machine | guest uptime at ready, ms | host wall to ready, ms | init starts, ms | app's own start, ms | image on disk | loaded / uncompressed | build cold | build warm |\n")
	p("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		if row.Err != "" {
			p("| %s | %s | %s | failed | failed | – | – | %s | %s | %s | %s |\n", rowNumber(row.ID), mdCell(row.Title), mdCell(orDash(row.Machine)),
				sizeCell(row.Size.Disk), sizeCell(row.Size.Loaded), buildCell(row.Build.Cold, row.Build.Kernel), buildCell(row.Build.Warm, 0))
			continue
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rowNumber(row.ID), mdCell(row.Title), mdCell(orDash(row.Machine)),
			row.Guest.msCell(), row.Wall.msCell(), row.Init.msCell(), row.AppStart.msCell(), sizeCell(row.Size.Disk), sizeCell(row.Size.Loaded),
			buildCell(row.Build.Cold, row.Build.Kernel), buildCell(row.Build.Warm, 0))
	}
	p("\n")
	var starts []string
	for _, row := range r.Rows {
		if row.Err == "" && row.Start.Valid() {
			starts = append(starts, fmt.Sprintf("%s. %.0f ms", rowNumber(row.ID), row.Start.Median))
		}
	}
	if len(starts) > 0 {
		p("- Guest uptime when the app began to listen (its `BENCH_START` line; median): %s.\n", strings.Join(starts, " · "))
	}
	if t := r.row(RowTurbo); t != nil && t.TurboReady.Valid() {
		p("- turbo-init's own `TURBO_READY uptime_ms` in row 1 (every service healthy): %s ms.\n", t.TurboReady.msCell())
	}
	p("\n")

	p("## Targets\n\n")
	p("| target | measured | ratio | verdict |\n|---|---|---|---|\n")
	for _, t := range EvaluateTargets(r) {
		p("| %s | %s | %s | **%s** |\n", mdCell(t.Goal), mdCell(t.Measured), mdCell(t.Ratio), t.Verdict)
	}
	p("\n")

	p("## Rows: how each was built and booted\n\n")
	for _, row := range r.Rows {
		p("### %s. %s\n\n", rowNumber(row.ID), row.Title)
		if row.Boot != "" {
			p("%s\n\n", row.Boot)
		}
		if row.Err != "" {
			p("**Not measured:** %s\n\n", mdText(row.Err))
		}
		if row.Size.DiskParts != "" || row.Size.LoadedParts != "" {
			p("Size: on disk %s = %s; loaded %s = %s.\n\n", sizeCell(row.Size.Disk), orDash(row.Size.DiskParts), sizeCell(row.Size.Loaded), orDash(row.Size.LoadedParts))
		}
		if row.Build.Kernel > 0 {
			p("One-time kernel build (cached by content hash afterwards): %s, %s.\n\n", seconds(row.Build.Kernel), row.Build.KernelHow)
		}
		if len(row.Commands) > 0 {
			p("```sh\n")
			for _, c := range row.Commands {
				p("%s\n", c)
			}
			p("```\n\n")
		}
		for _, n := range row.Notes {
			p("- %s\n", n)
		}
		if len(row.Notes) > 0 {
			p("\n")
		}
	}

	if len(r.Notes) > 0 {
		p("## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// mdCell makes text safe inside a markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func sizeCell(n int64) string {
	if n <= 0 {
		return "–"
	}
	return bytesize.Format(n)
}

func buildCell(d, kernel time.Duration) string {
	if d <= 0 {
		return "–"
	}
	if kernel > 0 {
		return seconds(d) + " (+ kernel " + seconds(kernel) + " once)"
	}
	return seconds(d)
}

// seconds formats a duration as "12.3 s", or "10 min 49 s" from 100 s on.
func seconds(d time.Duration) string {
	if d >= 100*time.Second {
		s := int64(d.Round(time.Second) / time.Second)
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// mdText escapes text that may hold HTML-like characters (error messages)
// for markdown prose.
func mdText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
