package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

func TestDeriveRecipe(t *testing.T) {
	src := "name: x\noutputs: [initramfs]\nservices:\n  - name: web\n    package: example.com/web/cmd/web\n    args: [a]\n"
	got, err := DeriveRecipe([]byte(src), "web", []string{"initramfs", "disk"})
	if err != nil {
		t.Fatal(err)
	}
	want := "name: x\noutputs: [initramfs, disk]\nservices:\n  - name: web\n    binary: web\n    args: [a]\n"
	if string(got) != want {
		t.Errorf("DeriveRecipe =\n%s\nwant\n%s", got, want)
	}
	// A service written as "- package:" keeps its list dash.
	got, err = DeriveRecipe([]byte("outputs: [initramfs]\nservices:\n  - package: ./x\n    name: x\n"), "x", []string{"disk"})
	if err != nil || !strings.Contains(string(got), "  - binary: x\n") || !strings.Contains(string(got), "outputs: [disk]") {
		t.Errorf("dash form: %q, %v", got, err)
	}
	bad := []struct {
		name, src, bin string
		outputs        []string
		want           string
	}{
		{"no package", "outputs: [initramfs]\nservices:\n  - binary: x\n", "x", []string{"disk"}, "no package"},
		{"two packages", "outputs: [initramfs]\n  package: a\n  package: b\n", "x", []string{"disk"}, "line 3: a second package"},
		{"no outputs", "services:\n  - package: a\n", "x", []string{"disk"}, "no top-level outputs"},
		{"nested outputs only", "services:\n  - package: a\n    outputs: [x]\n", "x", []string{"disk"}, "no top-level outputs"},
		{"two outputs", "outputs: [a]\noutputs: [b]\n  package: a\n", "x", []string{"disk"}, "second outputs"},
		{"binary with a space", "outputs: [a]\n  package: a\n", "a b", []string{"disk"}, "plain relative file name"},
		{"binary with a colon", "outputs: [a]\n  package: a\n", "a:b", []string{"disk"}, "plain relative file name"},
		{"empty binary", "outputs: [a]\n  package: a\n", "", []string{"disk"}, "plain relative file name"},
		{"no outputs wanted", "outputs: [a]\n  package: a\n", "x", nil, "no outputs"},
	}
	for _, tt := range bad {
		if _, err := DeriveRecipe([]byte(tt.src), tt.bin, tt.outputs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

// The big apps' recipes in the repository must derive: each has one
// package line and one outputs line.
func TestBigAppRecipesDerive(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findRepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range bigApps {
		src, err := os.ReadFile(filepath.Join(root, a.recipe))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DeriveRecipe(src, a.service, []string{"initramfs", "disk"})
		if err != nil {
			t.Errorf("%s: %v", a.recipe, err)
			continue
		}
		if !strings.Contains(string(got), "binary: "+a.service+"\n") || !strings.Contains(string(got), "name: "+a.service+"\n") {
			t.Errorf("%s: derived recipe lacks binary: %s or the service name:\n%s", a.recipe, a.service, got)
		}
		if !strings.Contains(string(got), "turbo.debug") {
			t.Errorf("%s: the bench reads turbo.debug timings; the recipe's cmdline lacks it", a.recipe)
		}
		for _, f := range []string{"go.mod", "go.sum"} {
			if _, err := os.Stat(filepath.Join(root, filepath.Dir(a.recipe), f)); err != nil {
				t.Errorf("%s: %v (the recipe folder pins the app's module)", a.recipe, err)
			}
		}
	}
}

func TestFloorExec(t *testing.T) {
	got, err := FloorExec("/srv", []string{"/bin/app", "run", "--x="}, []string{"PATH=/bin", "A="})
	if err != nil {
		t.Fatal(err)
	}
	want := "/srv\x00/bin/app\x00run\x00--x=\x00\x00PATH=/bin\x00A=\x00"
	if string(got) != want {
		t.Errorf("FloorExec = %q, want %q", got, want)
	}
	if got, _ := FloorExec("", []string{"/a"}, nil); string(got) != "/\x00/a\x00\x00" {
		t.Errorf("empty dir: %q", got)
	}
	for _, tt := range []struct {
		name      string
		argv, env []string
		want      string
	}{
		{"no argv", nil, nil, "empty argv"},
		{"empty argument", []string{"/a", ""}, nil, "argument"},
		{"NUL in argument", []string{"/a", "x\x00y"}, nil, "NUL"},
		{"env without =", []string{"/a"}, []string{"PATH"}, "no '='"},
	} {
		if _, err := FloorExec("/", tt.argv, tt.env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestFloorRecords(t *testing.T) {
	cfg := `{"schema":1,"name":"x","version":"1","network":{"mode":"none"},"services":[{"name":"web","path":"/bin/web","args":["run"],"env":["A=b"],"uid":0,"gid":0,"dir":"/","restart":"always","burst":5,"interval":"10s"}]}`
	if _, err := initconfig.Parse([]byte(cfg)); err != nil {
		t.Fatalf("the test's init.json does not parse (update it to initconfig's schema): %v", err)
	}
	recs := []initramfs.Record{
		initramfs.File("init", 0o755, []byte("turbo-init")),
		initramfs.Dir("bin", 0o755),
		initramfs.File("bin/web", 0o755, []byte("app")),
		initramfs.Dir("dev", 0o755),
		initramfs.CharDev("dev/console", 0o600, 5, 1),
		initramfs.Dir("etc", 0o755),
		initramfs.Dir("etc/turbo", 0o755),
		initramfs.File("etc/turbo/init.json", 0o644, []byte(cfg)),
	}
	out, err := FloorRecords(recs, []byte("shim"), "web")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]initramfs.Record{}
	for _, r := range out {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("duplicate record %s", r.Name)
		}
		byName[r.Name] = r
	}
	if r := byName["init"]; !bytes.Equal(r.Data, []byte("shim")) {
		t.Errorf("/init is %q, want the shim (turbo-init must be gone)", r.Data)
	}
	if !bytes.Equal(byName["bin/web"].Data, []byte("app")) {
		t.Error("the app is missing")
	}
	wantExec := "/\x00/bin/web\x00run\x00\x00PATH=/bin:/usr/bin:/sbin:/usr/sbin\x00HOME=/\x00A=b\x00"
	if got := string(byName[floorExecPath].Data); got != wantExec {
		t.Errorf("/%s = %q, want %q", floorExecPath, got, wantExec)
	}
	for _, n := range []string{"bench", "dev/null", "dev/urandom", "tmp"} {
		if _, ok := byName[n]; !ok {
			t.Errorf("no %s", n)
		}
	}
	if _, err := FloorRecords(recs, nil, "db"); err == nil || !strings.Contains(err.Error(), `no service "db"`) {
		t.Errorf("unknown service: %v", err)
	}
	if _, err := FloorRecords(recs[:3], nil, "web"); err == nil || !strings.Contains(err.Error(), "init.json") {
		t.Errorf("no init.json: %v", err)
	}
}

func TestBigAppTargets(t *testing.T) {
	a := bigApps[0]
	rows := func(ini, first, later, floor float64) *Report {
		return &Report{Rows: []Row{timeRow(a.id, 0, ini), timeRow(a.id+pathDisk1, 0, first), timeRow(a.id+pathDisk, 0, later), timeRow(a.id+pathFloor, 0, floor)}}
	}
	verdicts := func(r *Report) []string {
		var v []string
		for _, t := range bigAppTargets(r, a) {
			v = append(v, t.Verdict)
		}
		return v
	}
	tests := []struct {
		name string
		r    *Report
		want []string
	}{
		{"all pass", rows(4000, 4400, 4000, 3200), []string{"PASS", "PASS", "PASS"}},
		{"disk 1.2x the initramfs passes", rows(4000, 4800, 4800, 3700), []string{"PASS", "PASS", "PASS"}},
		{"disk slower than 1.2x misses", rows(4000, 5000, 4900, 3200), []string{"MISS", "PASS", "PASS"}},
		{"slow first boot misses", rows(4000, 4500, 4000, 3200), []string{"PASS", "MISS", "PASS"}},
		{"the best path is judged against the floor", rows(9000, 4400, 4000, 3100), []string{"PASS", "PASS", "PASS"}},
		{"the best path is judged against the floor, missing", rows(9000, 4400, 4000, 3000), []string{"PASS", "PASS", "MISS"}},
		{"both paths far from the floor miss", rows(4000, 4400, 4200, 2000), []string{"PASS", "PASS", "MISS"}},
		{"missing floor is n/a", &Report{Rows: []Row{timeRow(a.id, 0, 4000), timeRow(a.id+pathDisk, 0, 4000)}}, []string{"PASS", "n/a", "n/a"}},
		{"no rows of the app, no targets", &Report{}, nil},
	}
	for _, tt := range tests {
		if got := verdicts(tt.r); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: verdicts = %v, want %v\n%+v", tt.name, got, tt.want, bigAppTargets(tt.r, a))
		}
	}
}

func TestBigAppRowIDs(t *testing.T) {
	for _, a := range bigApps {
		for _, p := range bigAppPaths {
			id := a.id + p.suffix
			got, suffix, ok := bigAppRow(id)
			if !ok || got.id != a.id || suffix != p.suffix {
				t.Errorf("bigAppRow(%q) = %v, %q, %v", id, got.id, suffix, ok)
			}
			if n := rowNumber(id); n != a.number+p.letter {
				t.Errorf("rowNumber(%q) = %q, want %q", id, n, a.number+p.letter)
			}
		}
	}
	if _, _, ok := bigAppRow("turbo"); ok {
		t.Error("bigAppRow(turbo) is a big-app row")
	}
}

// Each tuning variant adds one top-level recipe key the app's recipe does
// not already have (a duplicate would fail the strict decoder at bench
// time), and the variants' row IDs are distinct from the paths'.
func TestBigAppVariants(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findRepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range bigApps {
		src, err := os.ReadFile(filepath.Join(root, a.recipe))
		if err != nil {
			t.Fatal(err)
		}
		top := map[string]bool{}
		for _, l := range strings.Split(string(src), "\n") {
			if k, _, ok := strings.Cut(l, ":"); ok && k != "" && !strings.HasPrefix(k, " ") && !strings.HasPrefix(k, "#") && !strings.HasPrefix(k, "-") {
				top[k] = true
			}
		}
		for _, p := range bigAppPaths {
			seen[a.id+p.suffix] = true
		}
		for _, v := range a.variants {
			if seen[a.id+v.suffix] {
				t.Errorf("%s%s: row ID used twice", a.id, v.suffix)
			}
			seen[a.id+v.suffix] = true
			levers := 0
			for _, set := range []bool{v.extra != "", len(v.qemu) > 0, v.cmdline != ""} {
				if set {
					levers++
				}
			}
			if levers != 1 {
				t.Errorf("%s%s: %d levers (extra, qemu, cmdline); want one", a.id, v.suffix, levers)
			}
			if (len(v.qemu) > 0 || v.cmdline != "") && !v.disk {
				t.Errorf("%s%s: a QEMU or command-line lever on an initramfs row (prepBigInitramfs does not apply it)", a.id, v.suffix)
			}
			if v.extra == "" {
				continue
			}
			k, _, ok := strings.Cut(v.extra, ":")
			if !ok || !strings.HasSuffix(v.extra, "\n") || strings.Count(v.extra, "\n") != 1 {
				t.Errorf("%s%s: extra %q is not one top-level line", a.id, v.suffix, v.extra)
			}
			if top[k] {
				t.Errorf("%s%s: %s already has a top-level %s:", a.id, v.suffix, a.recipe, k)
			}
			if n := rowNumber(a.id + v.suffix); n != a.number+v.letter {
				t.Errorf("rowNumber(%s%s) = %q", a.id, v.suffix, n)
			}
		}
	}
}
