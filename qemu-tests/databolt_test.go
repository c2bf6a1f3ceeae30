package qemutests

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/data"
	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/testenv"
	"github.com/turbo-image/turbo-image/qemu-tests/testapp/boltapp"
)

// boltRecipe is an appliance whose one service writes a bbolt database
// continuously (testapp bolt: a transaction every 5 ms, counter and
// records, qemu-tests/testapp/boltapp), with limits so it has a cgroup of
// its own (the agent freezes it with cgroup.freeze), the update agent for
// the live export, and data.scrub naming the testapp's scrub mode.
const boltRecipe = `
name: boltapp
version: "1"
kernel: {fragments: [builtin:virt]}
network: {mode: static, address: 10.0.2.15/24, gateway: 10.0.2.2}
cmdline: [quiet]
outputs: [initramfs, disk]
services:
  - name: writer
    binary: testapp
    args: [bolt, /data/bolt/app.db]
    limits: {memory: 96MiB, processes: 64}
data:
  scrub: [/bin/writer, boltscrub, /data/bolt/app.db]
update: {settle: 1s, trusted_keys: [release.pub], agent: {listen: ":8443", token_file: agent.token}}
`

// TestDataBoltRoundTrip is issue 13's round trip on an app that writes
// all the time (two boots and one jail run). Appliance A writes its bbolt
// database every 5 ms; `data export http://…` takes /data while it
// writes. It proves:
//   - the live export is consistent: the exported database passes bbolt's
//     page check and its counter equals its records (a copy taken
//     mid-commit would mix pages of two transactions), and the agent
//     froze the writer through its cgroup (cgroup.freeze: the service has
//     limits) and /data (FIFREEZE), and the writer went on after;
//   - `data scrub --with BUILD` runs the recipe's data.scrub in a real
//     jail and its output has every address masked, none left in the
//     file's bytes, the archive marked scrubbed; a damaged database makes
//     the scrub program fail, and then no archive is written;
//   - offline import into a second appliance's disk (B): B boots and its
//     writer opens the scrubbed database, checks it and sees the same
//     counter;
//   - import into a jail's --data folder: the same app in `run --vmm jail
//     --data DIR` reads it and goes on writing there.
//
// It needs root (data scrub and the jail's id range). TURBO_DATA_MIB=100
// adds 100 MiB of other files to A's /data first, for the numbers in
// docs/data.md ("Round trip"); make test runs it without.
func TestDataBoltRoundTrip(t *testing.T) {
	setup(t)
	if os.Geteuid() != 0 {
		testenv.Missing(t, "data scrub and the jail import need root")
	}
	start := time.Now()
	token := "correct-horse-battery-staple"
	key, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	recipe := writeRecipe(t, boltRecipe, map[string]string{"testapp": "@testapp",
		"release.pub": string(key.Public().MarshalText()), "agent.token": token + "\n"})
	out := buildOnce(t, recipe)
	diskA, diskB := copyDisk(t, out), copyDisk(t, out)
	dir := t.TempDir()
	const db = "bolt/app.db"
	// Archives are unpacked into folders of this dir; jail-shifted owners.
	unpack := func(arch, name string) (string, data.Source) {
		t.Helper()
		f, err := os.Open(arch)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		d := filepath.Join(dir, name)
		src, _, err := data.ImportFolder(context.Background(), f, d, data.ImportOptions{})
		if err != nil {
			t.Fatalf("unpacking %s: %v", arch, err)
		}
		return d, src
	}
	consoleLine := regexp.MustCompile(`bolt open /data/bolt/app\.db counter=(\d+) records=(\d+) scrubbed=(\d+) unmasked=(\d+) check=ok`)

	// TURBO_DATA_MIB=N (a measurement, off in make test): A's /data first
	// gets N MiB of other files by offline import, which every later step
	// carries too and the scrubbed archive must hold byte for byte.
	var files string
	if v := os.Getenv("TURBO_DATA_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib < 1 || mib > 110 {
			t.Fatalf("TURBO_DATA_MIB=%q: want 1-110 (the data partition is 128 MiB)", v)
		}
		files = filepath.Join(t.TempDir(), "files")
		fillFiles(t, files, mib)
		in := filepath.Join(dir, "files.tar.zst")
		f, err := os.Create(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := data.ExportFolder(context.Background(), filepath.Dir(files), data.Source{Name: "boltapp"}, 0, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		r := turbo(t, context.Background(), "data", "import", in, "--target", diskA)
		if r.code != 0 {
			t.Fatalf("offline import of %d MiB: %s", mib, r)
		}
		t.Logf("offline import of %d MiB into A: %s", mib, r.stdout)
	}

	// A: write, export live while writing.
	port := freePort(t)
	v := startVM(t, diskA, "--boot", "disk", "--publish", fmt.Sprintf("%d:8443", port), "--timeout", "600s")
	defer v.stop()
	v.waitFor(`update agent listening on :8443`, bootTimeout)
	v.waitFor(`writer: bolt wrote counter=1000$`, bootTimeout)
	live := filepath.Join(dir, "prod.tar.zst")
	st := time.Now()
	r := turbo(t, context.Background(), "data", "export", fmt.Sprintf("http://127.0.0.1:%d", port), "--token", token, "-o", live, "--channel", "prod")
	took := time.Since(st)
	if r.code != 0 {
		t.Fatalf("live export: %s\nconsole:\n%s", r, v.console())
	}
	t.Logf("live export in %v:\n%s%s", took, r.stdout, r.stderr)
	pause := regexp.MustCompile(`paused its app for (\S+): (.*)`).FindStringSubmatch(r.stderr)
	if pause == nil || !strings.Contains(pause[2], "froze writer (cgroup.freeze)") || !strings.Contains(pause[2], "/data frozen (FIFREEZE)") {
		t.Errorf("the pause was not cgroup.freeze + FIFREEZE: %q", r.stderr)
	}
	prodDir, prodSrc := unpack(live, "prod")
	prod, err := boltapp.CheckFile(filepath.Join(prodDir, db))
	if err != nil {
		t.Fatalf("the live-exported database: %v\nconsole:\n%s", err, v.console())
	}
	if prod.Counter < 1000 || prod.Unmasked != prod.Records || prodSrc.From != "live" || prodSrc.Channel != "prod" {
		t.Fatalf("live export: %v, source %+v", prod, prodSrc)
	}
	// Resumed: the writer commits past what was exported.
	for {
		m := v.waitFor(`writer: bolt wrote counter=(\d+)$`, 60*time.Second)
		if n, _ := strconv.ParseUint(m[1], 10, 64); n > prod.Counter {
			break
		}
	}
	if c := v.console(); strings.Contains(c, "bolt write:") || strings.Contains(c, "TURBO_UNHEALTHY") {
		t.Fatalf("the writer failed around the export:\n%s", c)
	}
	v.stop()
	fi, _ := os.Stat(filepath.Join(prodDir, db))
	t.Logf("A: exported %v with the writer at %d commits; database %d bytes; app paused %s (%s)", took, prod.Counter, fi.Size(), pause[1], pause[2])

	// Scrub in a jail, with the recipe's program.
	qa := filepath.Join(dir, "qa.tar.zst")
	if r := turbo(t, context.Background(), "data", "scrub", live, "--with", out, "-o", qa); r.code != 0 {
		t.Fatalf("data scrub: %s", r)
	} else {
		t.Logf("scrub:\n%s%s", r.stdout, r.stderr)
	}
	qaDir, qaSrc := unpack(qa, "qa")
	want := boltapp.Summary{Counter: prod.Counter, Records: prod.Records, Scrubbed: prod.Records}
	if s, err := boltapp.CheckFile(filepath.Join(qaDir, db)); err != nil || s != want {
		t.Fatalf("scrubbed database: %v %v, want %v", s, err, want)
	}
	raw, err := os.ReadFile(filepath.Join(qaDir, db))
	if err != nil || bytes.Contains(raw, []byte(boltapp.Domain)) {
		t.Fatalf("an address is left in the scrubbed file's bytes (%v)", err)
	}
	if qaSrc.Scrubbed != "/bin/writer boltscrub /data/bolt/app.db" || qaSrc.From != "live" {
		t.Errorf("scrubbed archive's source: %+v", qaSrc)
	}
	if files != "" {
		sameFiles(t, files, filepath.Join(qaDir, "files"))
	}
	// A scrub program that fails (a damaged database) gates the output.
	damaged := filepath.Join(dir, "damaged")
	if err := os.Rename(prodDir, damaged); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(damaged, "files"))
	half, err := os.ReadFile(filepath.Join(damaged, db))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(damaged, db), half[:len(half)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.tar.zst")
	bf, _ := os.Create(bad)
	if _, err := data.ExportFolder(context.Background(), damaged, prodSrc, jail.DefaultRangeBase, bf); err != nil {
		t.Fatal(err)
	}
	bf.Close()
	badQA := filepath.Join(dir, "bad-qa.tar.zst")
	if r := turbo(t, context.Background(), "data", "scrub", bad, "--with", out, "-o", badQA); r.code == 0 || !strings.Contains(r.stderr, "scrub program failed") {
		t.Errorf("scrub of a damaged database: %s", r)
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, "*bad-qa*")); len(ents) != 0 {
		t.Errorf("a failed scrub left %q", ents)
	}

	// B: offline import, boot, the writer opens the scrubbed database.
	if r := turbo(t, context.Background(), "data", "import", qa, "--target", diskB, "--channel", "qa"); r.code != 0 {
		t.Fatalf("import into B: %s", r)
	}
	vb := startVM(t, diskB, "--boot", "disk", "--timeout", "600s")
	defer vb.stop()
	m := vb.waitFor(consoleLine.String(), bootTimeout)
	if m[1] != strconv.FormatUint(want.Counter, 10) || m[3] != m[1] || m[4] != "0" {
		t.Errorf("B opened %q, want counter %d scrubbed", m[0], want.Counter)
	}
	vb.waitFor(fmt.Sprintf(`writer: bolt wrote counter=%d$`, (want.Counter/100+1)*100), 60*time.Second)
	vb.stop()
	t.Logf("B: %s", m[0])

	// Jail: import into its --data folder, the app reads it and writes on.
	// The jail's root (host uid 2000000000) must be able to enter the
	// folder's parents: t.TempDir's are mode 700.
	jparent, err := os.MkdirTemp("", "turbo-jail-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(jparent) })
	jdir := filepath.Join(jparent, "data")
	if err := os.Chmod(jparent, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(jdir, 0o755); err != nil { // --target DIR wants an empty folder
		t.Fatal(err)
	}
	if r := turbo(t, context.Background(), "data", "import", qa, "--target", jdir, "--channel", "dev"); r.code != 0 {
		t.Fatalf("import into a jail folder: %s", r)
	}
	vj := startVM(t, out, "--vmm", "jail", "--data", jdir)
	m = vj.waitFor(consoleLine.String(), 60*time.Second)
	if m[1] != strconv.FormatUint(want.Counter, 10) || m[3] != m[1] || m[4] != "0" {
		t.Errorf("the jail opened %q, want counter %d scrubbed", m[0], want.Counter)
	}
	vj.waitFor(fmt.Sprintf(`writer: bolt wrote counter=%d$`, (want.Counter/100+1)*100), 60*time.Second)
	vj.stop()
	t.Logf("jail: %s", m[0])
	s, err := boltapp.CheckFile(filepath.Join(jdir, db))
	if err != nil || s.Counter <= want.Counter || s.Scrubbed != want.Scrubbed {
		t.Errorf("the jail's database after it ran: %v %v", s, err)
	}
	t.Logf("round trip in %v", time.Since(start))
}

// fillFiles writes mib MiB under dir: folders of ten 1 MiB files, half
// random (seeded), half text, and 20 files of 100 bytes per MiB.
func fillFiles(t *testing.T, dir string, mib int) {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 1<<20/44+1)[:1<<20]
	for i := 0; i < mib; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%d", i/10))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		b := text
		if i%2 == 0 {
			b = make([]byte, 1<<20)
			rng.Read(b)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("big%d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 20; j++ {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("small%d-%d", i, j)), bytes.Repeat([]byte{'x'}, 100), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// sameFiles fails the test unless every regular file under want is in
// got with the same bytes, and got has no other file.
func sameFiles(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(got, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(got, p)
		a, err := os.ReadFile(filepath.Join(want, rel))
		if err != nil {
			return fmt.Errorf("%s is not in the source: %w", rel, err)
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("%s differs from the source (%v)", rel, err)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var m int
	filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			m++
		}
		return nil
	})
	if n != m {
		t.Fatalf("%d files came through, the source has %d", n, m)
	}
}
