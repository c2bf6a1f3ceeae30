package main

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// update rewrites the golden files: go test ./bench/ -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/*.golden.* from the current output")

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Stats
	}{
		{"empty", nil, Stats{}},
		{"one", []float64{7}, Stats{N: 1, Median: 7, Min: 7, Max: 7}},
		{"odd unsorted", []float64{500, 100, 300, 900, 200}, Stats{N: 5, Median: 300, Min: 100, Max: 900}},
		{"even takes the mean of the middle two", []float64{4, 1, 3, 2}, Stats{N: 4, Median: 2.5, Min: 1, Max: 4}},
		{"equal values", []float64{5, 5, 5}, Stats{N: 3, Median: 5, Min: 5, Max: 5}},
		{"outlier does not move the median", []float64{410, 400, 99999, 405, 395}, Stats{N: 5, Median: 405, Min: 395, Max: 99999}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			got, err := Summarize(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Errorf("Summarize reordered its input: %v, was %v", tt.in, in)
			}
		})
	}
	if _, err := Summarize([]float64{1, math.NaN()}); err == nil {
		t.Error("Summarize with a NaN sample: no error")
	}
}

func TestStatsCell(t *testing.T) {
	tests := []struct {
		s    Stats
		want string
	}{
		{Stats{}, "–"},
		{Stats{N: 1, Median: 412.4, Min: 412.4, Max: 412.4}, "412"},
		{Stats{N: 5, Median: 412.5, Min: 398, Max: 460.2}, "412 (398–460)"},
	}
	for _, tt := range tests {
		if got := tt.s.msCell(); got != tt.want {
			t.Errorf("%+v.msCell() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestParseRows(t *testing.T) {
	all := []string{RowTurbo, RowTurboLZ4, RowTurboPCIe, RowDebianKernel, RowURoot, RowDebian, RowFloor, RowDisk, RowUEFI, RowJail, RowDev, RowRegistry, RowJailHost, RowFleet,
		"caddy", "caddy-disk1", "caddy-disk", "caddy-floor", "caddy-zstd", "caddy-none", "caddy-disk-zstd", "caddy-disk-none", "caddy-disk-lz4-128k",
		"caddy-disk-cache-none", "caddy-disk-cache-unsafe", "caddy-disk-io-uring", "caddy-disk-queue-1024", "caddy-disk-ra32", "caddy-disk-ra2048",
		"etcd", "etcd-disk1", "etcd-disk", "etcd-floor", "arm64"}
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", all, ""},
		{"all", all, ""},
		{"turbo,floor", []string{RowTurbo, RowFloor}, ""},
		{"floor, turbo", []string{RowTurbo, RowFloor}, ""}, // report order, spaces allowed
		{"uefi,uefi", []string{RowUEFI}, ""},
		{"caddy-floor,turbo,caddy", []string{RowTurbo, "caddy", "caddy-floor"}, ""},
		{"turbo,kvm", nil, `unknown row "kvm"`},
		{",", nil, "names no row"},
	}
	for _, tt := range tests {
		got, err := ParseRows(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRows(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRows(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// timeRow is a measured row with the given guest and wall medians.
func timeRow(id string, guest, wall float64) Row {
	return Row{ID: id, Title: id, Guest: Stats{N: 5, Median: guest, Min: guest, Max: guest}, Wall: Stats{N: 5, Median: wall, Min: wall, Max: wall}}
}

func TestEvaluateTargets(t *testing.T) {
	base := func() *Report {
		turbo := timeRow(RowTurbo, 400, 600)
		turbo.Size.Disk = 5 << 20
		turbo.Build = Build{Cold: 60 * time.Second, Warm: 3 * time.Second}
		uroot := timeRow(RowURoot, 800, 1000)
		uroot.Size.Disk = 6 << 20
		uroot.Build = Build{Cold: 30 * time.Second, Warm: 10 * time.Second}
		return &Report{Rows: []Row{turbo, timeRow(RowDebianKernel, 1200, 4000), uroot, timeRow(RowFloor, 360, 550)}}
	}
	verdicts := func(r *Report) []string {
		var v []string
		for _, t := range EvaluateTargets(r) {
			v = append(v, t.Verdict)
		}
		return v
	}
	tests := []struct {
		name   string
		modify func(r *Report)
		want   []string
	}{
		{"all pass", func(r *Report) {}, []string{"PASS", "PASS", "PASS", "PASS", "PASS"}},
		{"exactly 15% over the floor passes", func(r *Report) {
			r.Rows[0].Wall.Median, r.Rows[3].Wall.Median, r.Rows[1].Wall.Median = 460, 400, 1380
		}, []string{"PASS", "PASS", "PASS", "PASS", "PASS"}},
		{"just over 15% misses", func(r *Report) { r.Rows[3].Wall.Median = 521 }, []string{"MISS", "PASS", "PASS", "PASS", "PASS"}},
		{"guest uptime does not decide", func(r *Report) { r.Rows[3].Guest.Median = 100 }, []string{"PASS", "PASS", "PASS", "PASS", "PASS"}},
		{"exactly 3x passes", func(r *Report) { r.Rows[1].Wall.Median = 1800 }, []string{"PASS", "PASS", "PASS", "PASS", "PASS"}},
		{"2.99x misses", func(r *Report) { r.Rows[1].Wall.Median = 1794 }, []string{"PASS", "MISS", "PASS", "PASS", "PASS"}},
		{"a tie with u-root is not faster", func(r *Report) { r.Rows[2].Wall.Median = 600 }, []string{"PASS", "PASS", "MISS", "PASS", "PASS"}},
		{"bigger than u-root misses", func(r *Report) { r.Rows[2].Size.Disk = 4 << 20 }, []string{"PASS", "PASS", "PASS", "MISS", "PASS"}},
		{"warm build slower than u-root's misses", func(r *Report) { r.Rows[2].Build.Warm = 2 * time.Second }, []string{"PASS", "PASS", "PASS", "PASS", "MISS"}},
		{"failed rows are n/a", func(r *Report) { r.Rows[3].Err = "boom"; r.Rows[2].Err = "boom" }, []string{"n/a", "PASS", "n/a", "n/a", "n/a"}},
		{"missing rows are n/a", func(r *Report) { r.Rows = r.Rows[:1] }, []string{"n/a", "n/a", "n/a", "n/a", "n/a"}},
		{"unmeasured sizes and builds are n/a", func(r *Report) { r.Rows[0].Size.Disk = 0; r.Rows[2].Build.Warm = 0 }, []string{"PASS", "PASS", "PASS", "n/a", "n/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.modify(r)
			if got := verdicts(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verdicts = %v, want %v\n%+v", got, tt.want, EvaluateTargets(r))
			}
		})
	}
	// The measured column carries the ratio against the limit.
	ts := EvaluateTargets(base())
	if !strings.Contains(ts[0].Ratio, "1.09×") || !strings.Contains(ts[1].Ratio, "6.67×") || !strings.Contains(ts[1].Measured, "guest uptime 400 vs 1200 ms: 3.00×") {
		t.Errorf("ratios: %+v", ts)
	}
}

// goldenReport is a fixed report exercising every part of the markdown
// and SVG renderers.
func goldenReport() *Report {
	turbo := timeRow(RowTurbo, 412, 655)
	turbo.Title, turbo.Machine, turbo.Boot = "turbo-image hello", "microvm", "The build's kernel and initramfs."
	turbo.Guest = Stats{N: 5, Median: 412, Min: 398, Max: 460}
	turbo.TurboReady = Stats{N: 5, Median: 420, Min: 405, Max: 470}
	turbo.Start = Stats{N: 5, Median: 380, Min: 370, Max: 400}
	turbo.Size = Size{Disk: 5_900_000, Loaded: 23_800_000, DiskParts: "kernel 2.8 MiB + initramfs 2.8 MiB", LoadedParts: "kernel init_size 14.2 MiB + initramfs 8.5 MiB uncompressed"}
	turbo.Build = Build{Cold: 61200 * time.Millisecond, Warm: 3400 * time.Millisecond, Kernel: 649 * time.Second, KernelHow: "from the kernel cache's build log"}
	turbo.Commands = []string{"bin/turbo-image build bench/recipes/hello/recipe.yaml -o $W/hello", "qemu-system-x86_64 -machine microvm &"}
	turbo.Notes = []string{"A note with a | pipe."}
	debk := timeRow(RowDebianKernel, 1381, 4058)
	debk.Title, debk.Machine = "same initramfs, Debian kernel", "microvm"
	uroot := timeRow(RowURoot, 671, 900)
	uroot.Title, uroot.Machine = "u-root v0.16.0 init + app", "microvm"
	uroot.Size.Disk = 6_400_000
	uroot.Start = Stats{N: 5, Median: 640, Min: 600, Max: 700}
	uroot.Build = Build{Cold: 25 * time.Second, Warm: 9 * time.Second}
	debian := Row{ID: RowDebian, Title: "minimal Debian 12 + systemd", Machine: "microvm", Err: "debootstrap is not installed <here> & now"}
	floor := timeRow(RowFloor, 288, 506)
	floor.Title, floor.Machine = "floor: same kernel, trivial C init", "microvm"
	uefi := timeRow(RowUEFI, 1633, 5266)
	uefi.Title, uefi.Machine = "disk.img, UEFI (OVMF + systemd-boot)", "q35 + OVMF"
	caddy := timeRow("caddy", 3100, 3900)
	caddy.Title, caddy.Machine = "Caddy v2.10.2, initramfs", "microvm"
	caddy.Init = Stats{N: 5, Median: 1500, Min: 1400, Max: 1600}
	caddy.AppStart = Stats{N: 5, Median: 1300, Min: 1200, Max: 1450}
	caddyFloor := Row{ID: "caddy-floor", Title: "Caddy v2.10.2, app as init (floor)", Machine: "microvm", Wall: Stats{N: 5, Median: 2900, Min: 2800, Max: 3000}, Init: Stats{N: 5, Median: 900, Min: 880, Max: 950}}
	return &Report{
		Env: Env{QEMU: "QEMU emulator version 7.2.22", Go: "go1.26.8", CPU: "AMD EPYC", Cores: 2, Load: "0.31 1.63 2.77",
			Accel: "tcg", TSCkHz: 2596096, Runs: 5, Rows: "all", Builds: true, GuestCPU: "-cpu qemu64, 1 vCPU, 256 MiB"},
		Rows:  []Row{turbo, debk, uroot, debian, floor, uefi, caddy, caddyFloor},
		Notes: []string{"A closing note."},
	}
}

func TestRenderMarkdownGolden(t *testing.T) {
	got := RenderMarkdown(goldenReport())
	golden := filepath.Join("testdata", "report.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./bench/ -run Golden -update)", err)
	}
	if got != string(want) {
		t.Errorf("RenderMarkdown differs from %s (rerun with -update if the change is intended):\n%s", golden, got)
	}
	if RenderMarkdown(goldenReport()) != got {
		t.Error("RenderMarkdown is not deterministic")
	}
}

func TestRenderMarkdownContent(t *testing.T) {
	md := RenderMarkdown(goldenReport())
	for _, want := range []string{
		"| 1 | turbo-image hello | microvm | 412 (398–460) | 655 (655–655) |",
		"| 4 | minimal Debian 12 + systemd | microvm | failed | failed |",
		"**Not measured:** debootstrap is not installed &lt;here&gt; &amp; now",
		`A note with a | pipe.`,
		"61.2 s (+ kernel 10 min 49 s once)",
		"TURBO_READY uptime_ms` in row 1 (every service healthy): 420 (405–470) ms",
		"(its `BENCH_START` line; median): 1. 380 ms · 3. 640 ms.",
		"| turbo-image ready within 15% of the floor (host wall to ready) | host wall 655 vs 506 ms; guest uptime 412 vs 288 ms: 1.43× | 1.29× (limit 1.15×) | **MISS** |",
		"```sh\nbin/turbo-image build bench/recipes/hello/recipe.yaml -o $W/hello\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestJailTarget(t *testing.T) {
	for _, id := range []string{RowJail, RowJailHost} {
		for _, tc := range []struct {
			jailWall float64
			verdict  string
		}{{80, verdictPass}, {120, verdictMiss}} {
			r := &Report{Rows: []Row{timeRow(RowTurbo, 640, 1000), timeRow(id, 60, tc.jailWall)}}
			found := 0
			for _, tg := range EvaluateTargets(r) {
				if strings.Contains(tg.Goal, "jail") {
					found++
					if !strings.Contains(tg.Goal, "row "+rowNumber(id)+" vs") {
						t.Errorf("%s: goal %q does not name its row", id, tg.Goal)
					}
					if tg.Verdict != tc.verdict {
						t.Errorf("%s %v ms vs 1000 ms: %s, want %s (%s)", id, tc.jailWall, tg.Verdict, tc.verdict, tg.Ratio)
					}
				}
			}
			if found != 1 {
				t.Errorf("%s: %d jail targets, want 1", id, found)
			}
		}
	}
}

func TestDevTarget(t *testing.T) {
	for _, tc := range []struct {
		wall    float64
		verdict string
	}{{1500, verdictPass}, {2500, verdictMiss}} {
		r := &Report{Rows: []Row{timeRow(RowDev, 300, tc.wall)}}
		found := false
		for _, tg := range EvaluateTargets(r) {
			if strings.Contains(tg.Goal, "dev") {
				found = true
				if tg.Verdict != tc.verdict {
					t.Errorf("save-to-answer %v ms: %s, want %s", tc.wall, tg.Verdict, tc.verdict)
				}
			}
		}
		if !found {
			t.Error("no dev target")
		}
	}
}
