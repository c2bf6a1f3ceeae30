package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/format/zeroruns"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// runCLI runs turbo-image with args and returns its exit code, stdout and
// stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := MainEnv(context.Background(), args, &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// decodeStrict parses a whole stdout as one JSON document into v, refusing
// fields the Go structs do not know (so the docs and structs cannot drift
// from the output unnoticed) and anything after the document.
func decodeStrict(t *testing.T, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not one %T: %v\n%s", v, err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON document:\n%s", stdout)
	}
}

// TestInspectJSONCorpus runs inspect --json on every image of the hostile
// cpio corpus: an image the text listing refuses is refused (nothing on
// stdout), and an image it lists gives a document with one entry per
// listed line, names exactly as stored.
func TestInspectJSONCorpus(t *testing.T) {
	imgs, err := filepath.Glob(corpus("*"))
	if err != nil || len(imgs) < 20 {
		t.Fatalf("corpus: %d images, %v", len(imgs), err)
	}
	listed := 0
	for _, img := range imgs {
		name := strings.TrimSuffix(filepath.Base(img), ".img")
		t.Run(name, func(t *testing.T) {
			var text bytes.Buffer
			textErr := inspectFile(&text, img)
			code, stdout, stderr := runCLI(t, "inspect", "--json", img)
			if textErr != nil {
				if code == 0 || stdout != "" {
					t.Fatalf("text inspect fails (%v) but --json exits %d with stdout %q", textErr, code, stdout)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			listed++
			var doc InspectJSON
			decodeStrict(t, stdout, &doc)
			if doc.Schema != SchemaInspect || doc.Kind != "initramfs" || len(doc.Initramfs) != 1 || doc.Build != nil || doc.Disk != nil {
				t.Fatalf("document: %+v", doc)
			}
			ir := doc.Initramfs[0]
			lines := fileLines(t, text.String())
			if len(ir.Entries) != len(lines) || (len(lines) == 1 && lines[0] == "") {
				if !(len(ir.Entries) == 0 && len(lines) == 1 && lines[0] == "") {
					t.Fatalf("%d entries in JSON, %d lines in the text", len(ir.Entries), len(lines))
				}
			}
			for i, e := range ir.Entries {
				if e.Index != i || !strings.Contains(lines[i], e.Mode) {
					t.Errorf("entry %d (%+v) does not match line %q", i, e, lines[i])
				}
			}
			if len(ir.Members) == 0 || ir.FileSize == 0 {
				t.Errorf("members %v, file size %d", ir.Members, ir.FileSize)
			}
		})
	}
	if listed < 10 {
		t.Errorf("only %d corpus images listed", listed)
	}
}

// TestInspectJSONWhatTheKernelDoes checks the fields that say what the
// kernel does with hostile entries.
func TestInspectJSONWhatTheKernelDoes(t *testing.T) {
	get := func(name string) InitramfsJSON {
		t.Helper()
		code, stdout, stderr := runCLI(t, "inspect", "--json", corpus(name))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		var doc InspectJSON
		decodeStrict(t, stdout, &doc)
		return doc.Initramfs[0]
	}
	names := map[string]bool{}
	for _, e := range get("hostile-names").Entries {
		names[e.Name] = true
		if e.NameRaw != nil {
			names[string(e.NameRaw)] = true
		}
	}
	for _, want := range []string{"a\n  #9 -rwsr-xr-x 0:0 0 init-forged", "b\x1b[2J", "c\u202eexe.txt",
		"d\xff\xfe", "d\ufffd\ufffd", "e\tf"} {
		if !names[want] && !names["/"+want] {
			t.Errorf("no entry named %q in %v", want, names)
		}
	}
	var replaced, replaces bool
	for _, e := range get("duplicate-names").Entries {
		if e.Op == "replace" && e.Prev != nil {
			replaces = true
		}
		if e.ReplacedBy != nil {
			replaced = true
		}
	}
	if !replaced || !replaces {
		t.Errorf("duplicate-names: replaced %v, replaces %v", replaced, replaces)
	}
	var dev bool
	for _, e := range get("device-nodes").Entries {
		if e.Type == "char" && e.Path == "/dev/console" && e.Major == 5 && e.Minor == 1 && e.Mode == "crw-------" {
			dev = true
		}
	}
	if !dev {
		t.Error("device-nodes: no char 5,1 /dev/console")
	}
	if m := get("concat-mixed-padded").Members; len(m) < 2 {
		t.Errorf("concat-mixed-padded: members %v", m)
	}
	var skipped bool
	for _, e := range get("missing-parent").Entries {
		if e.Op == "skip" && e.SkipReason != "" && e.Path == "" {
			skipped = true
		}
	}
	if !skipped {
		t.Error("missing-parent: no skipped entry with its reason")
	}
}

// TestJSONRefusedWhereItMeansNothing checks the flag combinations that
// would mix text into the document.
func TestJSONRefusedWhereItMeansNothing(t *testing.T) {
	for _, args := range [][]string{
		{"inspect", "--json", "--extract", t.TempDir(), corpus("empty")},
		{"run", "--json", "build"},
		{"run", "--json", "--exit-on-ready", "--dry-run", "build"},
	} {
		if code, stdout, _ := runCLI(t, args...); code != 2 || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q", args, code, stdout)
		}
	}
}

// TestBuildAndInspectJSON builds a small appliance (a fake prebuilt
// kernel, the hello service, initramfs and disk) with build --json, then
// inspects the folder and its disk with --json and checks the documents
// against the manifest and each other.
func TestBuildAndInspectJSON(t *testing.T) {
	testenv.MustHaveFile(t, builder.DefaultSystemdBoot, "systemd-boot-efi")
	testenv.MustHaveTool(t, "go", "golang")
	dir, recipe, kernel := helloProject(t, "jsontest", "initramfs, disk")
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCLI(t, "build", recipe, "-o", out, "--kernel", kernel,
		"--cache", filepath.Join(dir, "cache"), "--json")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	var b BuildJSON
	decodeStrict(t, stdout, &b)
	if b.Schema != SchemaBuild || b.Name != "jsontest" || b.Version != "1.0.0" || b.Dir != out || b.Arch == "" || b.BuildID == "" {
		t.Errorf("build document: %+v", b)
	}
	var total int64
	arts := map[string]ArtifactJSON{}
	for _, a := range b.Artifacts {
		total += a.Size
		arts[a.Name] = a
		if len(a.SHA256) != 64 || a.Size <= 0 {
			t.Errorf("artifact %+v", a)
		}
	}
	if total != b.TotalBytes || arts["disk.img"].Name == "" || arts["kernel"].Size != fileSize(t, kernel) {
		t.Errorf("artifacts %+v, total %d", b.Artifacts, b.TotalBytes)
	}
	steps := map[string]bool{}
	for _, s := range b.Steps {
		steps[s.Step] = true
		if s.DurationMS < 0 {
			t.Errorf("step %+v", s)
		}
	}
	for _, want := range []string{"recipe", "services", "init", "kernel", "initramfs", "disk", "manifest"} {
		if !steps[want] {
			t.Errorf("no timing for step %s in %+v", want, b.Steps)
		}
	}
	if steps["done"] {
		t.Errorf("the done event is not a step: %+v", b.Steps)
	}

	code, stdout, stderr = runCLI(t, "inspect", "--json", out)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	var doc InspectJSON
	decodeStrict(t, stdout, &doc)
	if doc.Schema != SchemaInspect || doc.Kind != "build" || doc.Build == nil || doc.Disk == nil || len(doc.Initramfs) != 1 {
		t.Fatalf("inspect document: %+v", doc)
	}
	if doc.Build.Name != b.Name || doc.Build.BuildID != b.BuildID || len(doc.Build.Artifacts) != len(b.Artifacts) || len(doc.Build.Inputs) == 0 {
		t.Errorf("build part: %+v", doc.Build)
	}
	for _, a := range doc.Build.Artifacts {
		if arts[a.Name] != a {
			t.Errorf("inspect says %+v, build said %+v", a, arts[a.Name])
		}
	}
	if doc.Build.BootBytes != arts["kernel"].Size+arts[doc.Initramfs[0].Path[len(out)+1:]].Size {
		t.Errorf("boot bytes %d", doc.Build.BootBytes)
	}
	var parts []string
	for _, p := range doc.Initramfs[0].Breakdown {
		parts = append(parts, p.Part)
	}
	if strings.Join(parts, ",") != "init,service hello,other files" {
		t.Errorf("breakdown %v", doc.Initramfs[0].Breakdown)
	}
	var init bool
	for _, e := range doc.Initramfs[0].Entries {
		if e.Path == "/init" && e.Type == "file" && e.Op == "create" && e.Perm&0o100 != 0 {
			init = true
		}
	}
	if !init {
		t.Error("no executable /init entry")
	}
	d := doc.Disk
	if d.Size != arts["disk.img"].Size || len(d.Partitions) < 3 || len(d.BootEntries) != 1 || len(d.ESPFiles) == 0 {
		t.Fatalf("disk: %+v", d)
	}
	if e := d.BootEntries[0]; !e.Next || e.Slot != "a" || e.Version != "1.0.0" || e.State != "blessed" || e.Counter != nil {
		t.Errorf("boot entry %+v", e)
	}
	if d.Partitions[0].Content != "FAT32" {
		t.Errorf("partitions %+v", d.Partitions)
	}

	// The disk image alone gives the same disk part.
	code, stdout, stderr = runCLI(t, "inspect", "--json", filepath.Join(out, "disk.img"))
	if code != 0 {
		t.Fatalf("inspect disk: exit %d: %s", code, stderr)
	}
	var disk InspectJSON
	decodeStrict(t, stdout, &disk)
	if disk.Kind != "disk" || disk.Disk == nil || len(disk.Disk.ESPFiles) != len(d.ESPFiles) || disk.Disk.GUID != d.GUID {
		t.Errorf("disk document: %+v", disk)
	}
}

// TestRunOutcome checks the outcome and exit code run --json reports for
// each way a session ends.
func TestRunOutcome(t *testing.T) {
	trial := &diskTrial{slot: "b", version: "2", left: 3}
	failed := errors.New("timed out")
	for _, c := range []struct {
		trial *diskTrial
		res   vmm.Result
		err   error
		want  string
		code  int
	}{
		{nil, vmm.Result{Boots: 1}, nil, "ready", 0},
		{nil, vmm.Result{Boots: 1}, failed, "failed", 1},
		{nil, vmm.Result{Boots: 1}, exitError{exitInterrupted, vmm.ErrInterrupted}, "interrupted", exitInterrupted},
		{trial, vmm.Result{Boots: 1, Outcome: vmm.Blessed}, nil, "blessed", 0},
		{trial, vmm.Result{Boots: 2, Outcome: vmm.RolledBack}, nil, "rolled_back", exitRolledBack},
		{trial, vmm.Result{Boots: 4}, failed, "failed", exitTrialFailed},
		{trial, vmm.Result{Boots: 4}, nil, "failed", exitTrialFailed},
	} {
		err := c.err
		if c.trial != nil {
			_, err = trialExit(c.trial, c.res, c.err)
		}
		if got := runOutcome(c.trial, c.res, err); got != c.want {
			t.Errorf("%+v %v: outcome %q, want %q", c.res, c.err, got, c.want)
		}
		if got := exitCode(err); got != c.code {
			t.Errorf("%+v %v: exit code %d, want %d", c.res, c.err, got, c.code)
		}
	}
}

// TestReadyWatch checks that the last ready record is reported with the
// boot it came in and the host time since that boot started.
func TestReadyWatch(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0
	w := &readyWatch{now: func() time.Time { return now }}
	w.start(1, t0)
	w.line("some console line")
	if w.last() != nil {
		t.Fatal("a plain line made a ready report")
	}
	w.start(2, t0.Add(5*time.Second))
	now = t0.Add(5*time.Second + 1500*time.Millisecond)
	w.line("[    1.234] TURBO_READY name=hello version=1.2 slot=b uptime_ms=1234")
	got := w.last()
	want := RunReadyJSON{Name: "hello", Version: "1.2", Slot: "b", Boot: 2, UptimeMS: 1234, HostWallMS: 1500}
	if got == nil || *got != want {
		t.Fatalf("ready %+v, want %+v", got, want)
	}
}

// TestInspectJSONHostileDisks runs inspect --json on every hostile disk
// image: one the text listing refuses is refused (nothing on stdout), one
// that opens gives a disk document with its partitions and ESP files.
func TestInspectJSONHostileDisks(t *testing.T) {
	zimgs, err := filepath.Glob(filepath.Join("..", "..", "format", "diskimage", "testdata", "hostile", "*.zimg"))
	if err != nil || len(zimgs) < 10 {
		t.Fatalf("hostile disks: %d, %v", len(zimgs), err)
	}
	opened := 0
	for _, z := range zimgs {
		name := strings.TrimSuffix(filepath.Base(z), ".zimg")
		t.Run(name, func(t *testing.T) {
			enc, err := os.ReadFile(z)
			if err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(t.TempDir(), name+".img")
			if err := os.WriteFile(img, zeroruns.Decode(enc, 1<<30), 0o644); err != nil {
				t.Fatal(err)
			}
			textCode, text, _ := runCLI(t, "inspect", img)
			code, stdout, stderr := runCLI(t, "inspect", "--json", img)
			if textCode != 0 {
				if code == 0 || stdout != "" {
					t.Fatalf("text inspect exits %d but --json exits %d with stdout %q", textCode, code, stdout)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			opened++
			var doc InspectJSON
			decodeStrict(t, stdout, &doc)
			if doc.Schema != SchemaInspect || doc.Kind != "disk" || doc.Disk == nil || len(doc.Disk.Partitions) == 0 {
				t.Fatalf("document: %+v", doc)
			}
			for _, f := range doc.Disk.ESPFiles {
				if !strings.Contains(text, f.Path) {
					t.Errorf("ESP file %s is not in the text listing", f.Path)
				}
			}
			if !strings.Contains(text, doc.Disk.GUID) {
				t.Errorf("GUID %s is not in the text listing", doc.Disk.GUID)
			}
		})
	}
	if opened < 3 {
		t.Errorf("only %d hostile disks opened (good, no-protective-mbr and primary-crc-broken should)", opened)
	}
}

// TestInspectDiskEscapesHostileNames gives the first partition of a good
// disk a name with an escape sequence and a bidi override (GPT names are
// free UTF-16): the text listing shows it quoted, with no raw control
// character on any line.
func TestInspectDiskEscapesHostileNames(t *testing.T) {
	enc, err := os.ReadFile(filepath.Join("..", "..", "format", "diskimage", "testdata", "hostile", "good.zimg"))
	if err != nil {
		t.Fatal(err)
	}
	disk := zeroruns.Decode(enc, 1<<30)
	const sector = 512
	hdr := disk[sector : 2*sector]
	entLBA := binary.LittleEndian.Uint64(hdr[72:])
	n := binary.LittleEndian.Uint32(hdr[80:])
	size := binary.LittleEndian.Uint32(hdr[84:])
	ents := disk[entLBA*sector : entLBA*sector+uint64(n*size)]
	name := ents[56:128]
	clear(name)
	for i, r := range "esp\x1b[2J\u202e" {
		binary.LittleEndian.PutUint16(name[2*i:], uint16(r))
	}
	binary.LittleEndian.PutUint32(hdr[88:], crc32.ChecksumIEEE(ents))
	hsize := binary.LittleEndian.Uint32(hdr[12:])
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	binary.LittleEndian.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr[:hsize]))
	img := filepath.Join(t.TempDir(), "names.img")
	if err := os.WriteFile(img, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, stderr := runCLI(t, "inspect", img)
	if !strings.Contains(out, `"esp\x1b[2J\u202e"`) {
		t.Fatalf("the hostile partition name is not shown quoted:\n%s%s", out, stderr)
	}
	if strings.ContainsAny(out+stderr, "\x1b\u202e") {
		t.Fatalf("raw control characters reach the terminal: %q", out+stderr)
	}
}

// helloProject writes, under a new temporary folder, a fake prebuilt
// kernel (a bzImage header only: these tests never boot it) and a recipe
// folder with the hello app as service ./app, named name, with the given
// outputs and a small disk. It returns the folder, the recipe and the
// kernel.
func helloProject(t *testing.T, name, outputs string) (dir, recipe, kernel string) {
	t.Helper()
	dir = t.TempDir()
	fake := make([]byte, 0x400)
	copy(fake, "a fake kernel: this test does not boot it")
	fake[0x1fe], fake[0x1ff] = 0x55, 0xaa
	copy(fake[0x202:], "HdrS")
	write := func(p string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kernel = filepath.Join(dir, "kernel")
	write(kernel, fake)
	src, err := os.ReadFile("../../../recipes/hello/app/main.go")
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "src", "app", "main.go"), src)
	write(filepath.Join(dir, "src", "app", "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"))
	recipe = filepath.Join(dir, "src", "recipe.yaml")
	write(recipe, []byte("name: "+name+"\nversion: \"1.0.0\"\nkernel: {fragments: [builtin:virt]}\noutputs: ["+outputs+"]\n"+
		"disk: {esp_size: 40MiB, root_size: 8MiB, data_size: 8MiB}\n"+
		"services:\n  - name: hello\n    package: ./app\n"))
	return dir, recipe, kernel
}

// fileSize is the size of the file at p.
func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
