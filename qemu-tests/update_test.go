package qemutests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/host/cli"
	"github.com/turbo-image/turbo-image/internal/host/flash"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/shared/update"
	"github.com/turbo-image/turbo-image/internal/shared/update/powercut"
)

// helloRecipe writes a variant of the hello recipe (same app) with the
// given health URL, extra kernel command line and update section, and
// returns its path. files are extra files for the recipe folder.
func helloRecipe(t *testing.T, health, cmdline, updateYAML string, files map[string][]byte) string {
	t.Helper()
	return helloRecipeFor(t, "amd64", health, cmdline, updateYAML, files)
}

// helloRecipeFor is helloRecipe for an image of arch.
func helloRecipeFor(t *testing.T, arch, health, cmdline, updateYAML string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile("../recipes/hello/app/main.go")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "app"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "main.go"), src, 0o644)
	os.WriteFile(filepath.Join(dir, "app", "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"), 0o644)
	for name, b := range files {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	y := `name: hello
version: 1.0.0
arch: ` + arch + `
kernel: {fragments: [builtin:virt]}
network: {mode: static, address: 10.0.2.15/24, gateway: 10.0.2.2}
cmdline: [quiet` + cmdline + `]
outputs: [disk]
services:
  - name: hello
    package: ./app
    health: {http: "` + health + `"}
` + updateYAML
	p := filepath.Join(dir, "recipe.yaml")
	os.WriteFile(p, []byte(y), 0o644)
	return p
}

const goodHealth = "http://127.0.0.1:8080/healthz"

func flashDisk(t *testing.T, build, disk string) *update.Plan {
	t.Helper()
	p, err := flash.FlashDisk(context.Background(), disk, build, flash.Options{})
	if err != nil {
		t.Fatalf("flash: %v", err)
	}
	return p
}

func entries(t *testing.T, disk string) []string {
	t.Helper()
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	esp, err := d.ESP()
	if err != nil {
		t.Fatal(err)
	}
	st, err := slots.Read(esp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range st.Entries {
		names = append(names, e.FileName)
	}
	return names
}

func dataHash(t *testing.T, disk string) string {
	t.Helper()
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.ReadPartition("turbo-data")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

// entryKind is how a test disk's slots boot: Type #1 entries under turbo
// direct boot (fast), or Unified Kernel Images as Type #2 entries under
// OVMF and systemd-boot (the loader itself counts, the init blesses or
// marks bad by renaming the .efi file).
type entryKind struct {
	arch    string
	recipe  string        // recipe YAML that picks the entries
	boot    string        // run --boot
	suffix  string        // of the entry file names
	timeout time.Duration // for one boot
	run     string        // run --timeout, for a whole run
	full    bool          // every check; the slow runs (arm64, UEFI) keep to the few that prove the point
}

// type1Entries is the default for an image of arch.
func type1Entries(arch string) entryKind {
	return entryKind{arch: arch, boot: "disk", suffix: ".conf", timeout: bootTimeoutFor(arch), run: "300s", full: arch == "amd64"}
}

// names is the entry file names, e.g. "turbo-1-a.conf turbo-2-b.conf",
// in the kind's suffix.
func (k entryKind) names(ids ...string) string {
	for i := range ids {
		ids[i] += k.suffix
	}
	return strings.Join(ids, " ")
}

// TestUpgradeIsBlessedAndStays: a -> b offline; b boots on trial, is
// blessed once healthy for the settle period, and stays selected across
// three more boots. The data partition survives the flash byte for byte.
func TestUpgradeIsBlessedAndStays(t *testing.T) {
	setup(t)
	upgradeIsBlessedAndStays(t, "amd64")
}

// upgradeIsBlessedAndStays is TestUpgradeIsBlessedAndStays for an image
// of arch. arm64 boots under TCG on an amd64 host are several times
// slower, so there it checks one boot after the blessing instead of three
// and leaves out the second trial under run --exit-on-ready (the same run
// code for every arch).
func upgradeIsBlessedAndStays(t *testing.T, arch string) { upgradeBlessed(t, type1Entries(arch)) }

// upgradeBlessed is the body of the blessing tests for one kind of entry.
func upgradeBlessed(t *testing.T, k entryKind) {
	bootTimeout := k.timeout
	recipe := helloRecipeFor(t, k.arch, goodHealth, "", "update: {settle: 1s}\n"+k.recipe, nil)
	v1 := buildOnce(t, recipe)
	v2 := buildOnce(t, recipe, "--version", "1.0.1")
	disk := copyDisk(t, v1)
	if k.full {
		// One boot of v1 creates the data file system and writes to it.
		if r := turbo(t, context.Background(), "run", disk, "--boot", k.boot, "--exit-on-ready", "--timeout", k.run); r.code != 0 {
			t.Fatalf("v1: %s", r)
		}
	}
	before := dataHash(t, disk)
	flashDisk(t, v2, disk)
	if dataHash(t, disk) != before {
		t.Fatal("the flash changed the data partition")
	}
	v := startVM(t, disk, "--boot", k.boot, "--timeout", k.run)
	v.waitFor(`TURBO_TRIAL slot=b version=1\.0\.1 left=2 done=1`, bootTimeout)
	v.waitFor(`TURBO_READY name=hello version=1\.0\.1 slot=b`, bootTimeout)
	v.waitFor(`TURBO_BLESSED slot=b version=1\.0\.1`, 60*time.Second)
	if r := v.stop(); !strings.Contains(r.stderr, "guest powered off") {
		t.Fatalf("no orderly power-off: %s", r.stderr)
	}
	if got, want := strings.Join(entries(t, disk), " "), k.names("turbo-1-a", "turbo-2-b"); got != want {
		t.Fatalf("entries after blessing: %s, want %s", got, want)
	}
	reboots := 1
	if k.full {
		reboots = 3
	}
	for i := 0; i < reboots; i++ {
		r := turbo(t, context.Background(), "run", disk, "--boot", k.boot, "--exit-on-ready", "--timeout", k.run)
		if r.code != 0 || !strings.Contains(r.stdout, "TURBO_READY name=hello version=1.0.1 slot=b") || strings.Contains(r.stdout, "TURBO_TRIAL") {
			t.Fatalf("reboot %d after blessing: %s", i+1, r)
		}
	}
	if !k.full {
		return
	}

	// The same trial under `run --exit-on-ready` (issue 9, defect 14): the
	// run waits past READY for the blessing and exits 0.
	disk = copyDisk(t, v1)
	flashDisk(t, v2, disk)
	// With --json: the outcome on stdout, the console on stderr.
	r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s", "--json")
	if r.code != 0 || !strings.Contains(r.stderr, "trial of slot b (version 1.0.1): blessed") ||
		!strings.Contains(r.stderr, "TURBO_BLESSED slot=b version=1.0.1") {
		t.Fatalf("run --exit-on-ready on a good trial: %s", r)
	}
	var doc cli.RunJSON
	decodeStrict(t, r.stdout, &doc)
	if doc.Outcome != "blessed" || doc.ExitCode != 0 || doc.Boot != "disk" || doc.Trial == nil || doc.Trial.Slot != "b" ||
		doc.Trial.Version != "1.0.1" || doc.Ready == nil || doc.Ready.Slot != "b" || doc.Ready.Version != "1.0.1" {
		t.Fatalf("run --json on a good trial: %+v %+v %+v", doc, doc.Trial, doc.Ready)
	}
	if got := strings.Join(entries(t, disk), " "); got != "turbo-1-a.conf turbo-2-b.conf" {
		t.Fatalf("entries after the followed blessing: %s", got)
	}
}

// TestUnhealthyTrialRollsBack: b's service never passes its health check;
// at the trial deadline the init marks b bad and reboots; a boots and says
// so with TURBO_ROLLBACK. `run --exit-on-ready` follows such a trial to
// its outcome and exits 3.
func TestUnhealthyTrialRollsBack(t *testing.T) {
	setup(t)
	unhealthyTrialRollsBack(t, "amd64")
}

// unhealthyTrialRollsBack is TestUnhealthyTrialRollsBack for an image of
// arch; for arm64 (slow under TCG) it leaves out the second trial under
// run --exit-on-ready.
func unhealthyTrialRollsBack(t *testing.T, arch string) { trialRollsBack(t, type1Entries(arch)) }

// trialRollsBack is the body of the rollback tests for one kind of entry.
func trialRollsBack(t *testing.T, k entryKind) {
	bootTimeout := k.timeout
	good := helloRecipeFor(t, k.arch, goodHealth, "", "update: {settle: 1s, trial_deadline: 4s}\n"+k.recipe, nil)
	bad := helloRecipeFor(t, k.arch, "http://127.0.0.1:9999/healthz", "", "update: {settle: 1s, trial_deadline: 4s}\n"+k.recipe, nil)
	v1 := buildOnce(t, good)
	v2 := buildOnce(t, bad, "--version", "1.0.1")
	disk := copyDisk(t, v1)
	flashDisk(t, v2, disk)
	v := startVM(t, disk, "--boot", k.boot, "--max-boots", "5", "--timeout", k.run)
	v.waitFor(`TURBO_TRIAL slot=b`, bootTimeout)
	v.waitFor(`turbo-init: trial of slot b failed`, 60*time.Second)
	v.waitFor(`TURBO_REBOOT`, 30*time.Second)
	v.waitFor(`TURBO_ROLLBACK from=b version=1\.0\.1`, bootTimeout)
	v.waitFor(`TURBO_READY name=hello version=1\.0\.0 slot=a`, bootTimeout)
	v.stop()
	if got, want := strings.Join(entries(t, disk), " "), k.names("turbo-1-a", "turbo-2-b+0-1"); got != want {
		t.Fatalf("entries after rollback: %s, want %s", got, want)
	}
	if !k.full {
		return
	}

	// The same trial under `run --exit-on-ready` (issue 9, defect 14): the
	// run follows the trial through the reboot by itself (no --max-boots)
	// and exits 3, rolled back, with the disk no longer mid-trial.
	disk = copyDisk(t, v1)
	flashDisk(t, v2, disk)
	r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s", "--json")
	if r.code != 3 || !strings.Contains(r.stderr, "trial of slot b (version 1.0.1): rolled back") ||
		!strings.Contains(r.stderr, "TURBO_READY name=hello version=1.0.0 slot=a") {
		t.Fatalf("run --exit-on-ready on a failing trial: %s", r)
	}
	var doc cli.RunJSON
	decodeStrict(t, r.stdout, &doc)
	if doc.Outcome != "rolled_back" || doc.ExitCode != 3 || doc.Error == "" || doc.Boots < 2 || doc.Trial == nil ||
		doc.Trial.Slot != "b" || doc.Ready == nil || doc.Ready.Slot != "a" || doc.Ready.Boot != doc.Boots {
		t.Fatalf("run --json on a failing trial: %+v %+v %+v", doc, doc.Trial, doc.Ready)
	}
	if got := strings.Join(entries(t, disk), " "); got != "turbo-1-a.conf turbo-2-b+0-1.conf" {
		t.Fatalf("entries after the followed rollback: %s", got)
	}
}

// TestPanickingKernelRollsBack: b cannot start its init (the kernel
// panics); every attempt costs a try, and after the third a boots again.
// The data partition is not touched by any of it.
func TestPanickingKernelRollsBack(t *testing.T) {
	setup(t)
	good := helloRecipe(t, goodHealth, "", "", nil)
	panics := helloRecipe(t, goodHealth, ", rdinit=/no/such/init", "", nil)
	v1 := buildOnce(t, good)
	v2 := buildOnce(t, panics, "--version", "1.0.1")
	disk := copyDisk(t, v1)
	before := dataHash(t, disk)
	flashDisk(t, v2, disk)
	// Three boots, each a panic: the run gives up after --max-boots.
	r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--max-boots", "3", "--timeout", "300s")
	if r.code == 0 || strings.Count(r.stdout, "Kernel panic") != 3 {
		t.Fatalf("want three panicking boots: %s", r)
	}
	if got := strings.Join(entries(t, disk), " "); got != "turbo-1-a.conf turbo-2-b+0-3.conf" {
		t.Fatalf("entries after three failed tries: %s", got)
	}
	if dataHash(t, disk) != before {
		t.Fatal("the data partition changed during flash and failed boots")
	}
	r = turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s")
	if r.code != 0 || !strings.Contains(r.stdout, "TURBO_ROLLBACK from=b version=1.0.1") || !strings.Contains(r.stdout, "TURBO_READY name=hello version=1.0.0 slot=a") {
		t.Fatalf("after the tries ran out: %s", r)
	}
	rb, rd := strings.Index(r.stdout, "TURBO_ROLLBACK"), strings.Index(r.stdout, "TURBO_READY")
	if rb > rd {
		t.Error("TURBO_ROLLBACK must come before TURBO_READY")
	}
}

// TestPowerCutStatesBoot boots disks materialised at cut points of a
// recorded flash: cut in the middle of the root partition write, between
// the ESP writes, just before the switch (old slot), and after it (new
// slot). The full set of cut points is checked in Go by package flash.
func TestPowerCutStatesBoot(t *testing.T) {
	setup(t)
	recipe := helloRecipe(t, goodHealth, "", "", nil)
	v1 := buildOnce(t, recipe)
	v2 := buildOnce(t, recipe, "--version", "1.0.1")
	states := recordedCuts(t, v1, v2)
	for _, s := range states {
		t.Run(s.name, func(t *testing.T) {
			r := turbo(t, context.Background(), "run", s.disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s")
			want := "TURBO_READY name=hello version=" + s.version + " slot=" + s.slot
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Fatalf("cut %s: want %q: %s", s.name, want, r)
			}
		})
	}
}

// TestNetworkFlash: a live appliance with the update agent takes a signed
// build through a published port, refuses every bad stream, and ends up
// running the new version. It also follows a channel (of a registry that
// is not there: its polls fail and change nothing), so that `channel set
// http://...` can move it through the agent: a channel the recipe does not
// trust is refused, canary is written to the ESP file, the follower
// switches to it at once, and the flashed v2 boots following it.
func TestNetworkFlash(t *testing.T) {
	setup(t)
	key, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := signing.GenerateKey(nil)
	token := "correct-horse-battery-staple"
	files := map[string][]byte{"release.pub": key.Public().MarshalText(), "agent.token": []byte(token + "\n")}
	upd := "update: {settle: 1s, trusted_keys: [release.pub], agent: {listen: \":8443\", token_file: agent.token},\n" +
		"  channels: {prod: [release.pub], canary: [release.pub]}, follow: {ref: \"10.0.2.2:1/acme/hello\", channel: prod, interval: 1s, plain_http: true}}\n"
	recipe := helloRecipe(t, goodHealth, "", upd, files)
	v1 := buildOnce(t, recipe)
	v2 := copyBuild(t, buildOnce(t, recipe, "--version", "1.0.1"))
	if r := turbo(t, context.Background(), "sign", v2, "--key", writeKey(t, key)); r.code != 0 {
		t.Fatalf("sign: %s", r)
	}
	disk := copyDisk(t, v1)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	v := startVM(t, disk, "--boot", "disk", "--max-boots", "3", "--publish", fmt.Sprintf("%d:8443", port), "--timeout", "400s")
	v.waitFor(`update agent listening on :8443`, bootTimeout)
	v.waitFor(`TURBO_READY name=hello version=1\.0\.0 slot=a`, bootTimeout)

	m, mb, err := manifest.Load(v2)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := os.ReadFile(filepath.Join(v2, signing.SignatureFile))
	otherSig, _ := signing.Sign(other, mb, nil)
	open := func(a manifest.File) (io.ReadCloser, error) { return os.Open(filepath.Join(v2, a.Name)) }
	v1m, v1mb, _ := manifest.Load(v1)
	v1sig, _ := signing.Sign(key, v1mb, nil)
	refusals := []struct {
		name, token string
		stream      func(w io.Writer) error
		want        string
	}{
		{"bad token", "nope", func(w io.Writer) error { return update.WriteStream(w, m, mb, sig, open) }, "bad or missing token"},
		{"unsigned", token, func(w io.Writer) error { return update.WriteStream(w, m, mb, nil, open) }, "not signed"},
		{"wrong key", token, func(w io.Writer) error { return update.WriteStream(w, m, mb, otherSig, open) }, "signature check failed"},
		{"not newer", token, func(w io.Writer) error { return update.WriteStream(w, v1m, v1mb, v1sig, open) }, "not newer"},
		{"tampered byte", token, func(w io.Writer) error {
			return update.WriteStream(w, m, mb, sig, func(a manifest.File) (io.ReadCloser, error) {
				b, err := os.ReadFile(filepath.Join(v2, a.Name))
				if a.Name == "root.squashfs" {
					b[len(b)/2] ^= 0x40
				}
				return io.NopCloser(bytes.NewReader(b)), err
			})
		}, "sha256"},
		{"truncated", token, func(w io.Writer) error {
			var buf bytes.Buffer
			update.WriteStream(&buf, m, mb, sig, open)
			_, err := w.Write(buf.Bytes()[:buf.Len()/2])
			return err
		}, "unexpected EOF"},
		{"more bytes than the manifest says", token, func(w io.Writer) error {
			// Headers announce one more kernel byte than the (true)
			// manifest inside the stream says.
			big := *m
			big.Artifacts = nil
			for _, a := range m.Artifacts {
				if a.Name == "kernel" {
					a.Size++
				}
				big.Artifacts = append(big.Artifacts, a)
			}
			return update.WriteStream(w, &big, mb, sig, func(a manifest.File) (io.ReadCloser, error) {
				b, err := os.ReadFile(filepath.Join(v2, a.Name))
				if a.Name == "kernel" {
					b = append(b, 0)
				}
				return io.NopCloser(bytes.NewReader(b)), err
			})
		}, "more than"},
		{"another appliance", token, func(w io.Writer) error {
			om := *m
			om.Name = "other"
			omb, _ := om.Marshal()
			osig, _ := signing.Sign(key, omb, nil)
			return update.WriteStream(w, &om, omb, osig, open)
		}, "another appliance"},
	}
	for _, c := range refusals {
		t.Run("refuses "+c.name, func(t *testing.T) {
			body, status := post(t, base, c.token, c.stream)
			if status == http.StatusOK || !strings.Contains(body, c.want) {
				t.Fatalf("status %d, reply %s; want a refusal containing %q", status, body, c.want)
			}
		})
	}
	if got := strings.Join(entries(t, disk), " "); got != "turbo-1-a.conf" {
		t.Fatalf("a refused flash switched something: %s", got)
	}

	// The channel, through the agent (`channel set http://...`).
	// The follower's first line may come before or after TURBO_READY.
	v.waitCount("follow: channel 10.0.2.2:1/acme/hello:prod (from update.follow.channel)", 1, bootTimeout)
	tokFile := filepath.Join(t.TempDir(), "agent.token")
	os.WriteFile(tokFile, []byte(token+"\n"), 0o600)
	if r := turbo(t, context.Background(), "channel", "set", base, "canary", "--token", "nope"); r.code == 0 || !strings.Contains(r.stderr, "bad or missing token") {
		t.Fatalf("channel set with a bad token: %s", r)
	}
	if r := turbo(t, context.Background(), "channel", "set", base, "qa", "--token-file", tokFile); r.code == 0 || !strings.Contains(r.stderr, `"qa" is not in this appliance's update.channels (it trusts canary, prod)`) {
		t.Fatalf("channel set qa (untrusted): %s", r)
	}
	if r := turbo(t, context.Background(), "channel", "set", base, "canary", "--token-file", tokFile); r.code != 0 || !strings.Contains(r.stdout, "follows channel canary (from the ESP file turbo/channel)") {
		t.Fatalf("channel set canary: %s\nconsole:\n%s", r, v.console())
	}
	v.waitFor(`follow: channel 10\.0\.2\.2:1/acme/hello:canary \(from the ESP file turbo/channel\)`, bootTimeout)

	start := time.Now()
	r := turbo(t, context.Background(), "flash", v2, "--target", base, "--token", token)
	if r.code != 0 {
		t.Fatalf("network flash: %s\nconsole:\n%s", r, v.console())
	}
	t.Logf("network flash took %v", time.Since(start))
	v.waitFor(`TURBO_REBOOT`, 60*time.Second)
	v.waitFor(`TURBO_TRIAL slot=b version=1\.0\.1`, bootTimeout)
	// The file outlived the flash and the reboot: v2 follows canary too
	// (the follower's first line and TURBO_READY may come in either order).
	if _, err := v.expectAll(bootTimeout, `follow: channel 10\.0\.2\.2:1/acme/hello:canary \(from the ESP file turbo/channel\)`,
		`TURBO_READY name=hello version=1\.0\.1 slot=b`); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, v.console())
	}
	v.waitFor(`TURBO_BLESSED slot=b`, 60*time.Second)
	v.stop()
	if r := turbo(t, context.Background(), "channel", "show", disk); r.code != 0 || !strings.Contains(r.stdout, "channel canary") {
		t.Fatalf("channel show after the run: %s", r)
	}
}

// post sends a hand-made flash stream to the agent.
func post(t *testing.T, base, token string, stream func(io.Writer) error) (string, int) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(stream(pw)) }()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/flash", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func writeKey(t *testing.T, k signing.PrivateKey) string {
	p := filepath.Join(t.TempDir(), "release.key")
	if _, err := signing.WriteKeyPair(p, k); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyBuild copies a build directory (its small files; the disk image is
// left out) so a test can sign it.
func copyBuild(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "build")
	os.MkdirAll(dst, 0o755)
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		// The provenance names disk.img and the original manifest as its
		// subjects; a hand-trimmed copy is no longer that build, so it
		// goes too (sign then signs the manifest alone).
		if de.Name() == "disk.img" || de.Name() == "provenance.intoto.jsonl" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, de.Name()), b, 0o644)
	}
	// The copy lacks disk.img, which the manifest lists: drop it from the
	// manifest so the directory verifies (slot payloads are what a flash
	// needs).
	m, _, err := manifest.Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	var keep []manifest.File
	for _, a := range m.Artifacts {
		if a.Name != "disk.img" {
			keep = append(keep, a)
		}
	}
	m.Artifacts = keep
	b, _ := m.Marshal()
	os.WriteFile(filepath.Join(dst, manifest.FileName), b, 0o644)
	return dst
}

type cutState struct {
	name, disk, slot, version string
}

// recordedCuts flashes v2 onto v1's disk through a recording device and
// materialises four cut states as disk files.
func recordedCuts(t *testing.T, v1, v2 string) []cutState {
	t.Helper()
	base, err := os.Open(filepath.Join(v1, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	st, _ := base.Stat()
	rec := powercut.NewRecorder(base, st.Size())
	d, err := diskimage.OpenDevice(rec, st.Size(), "recorded", true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := flash.LoadBuild(context.Background(), v2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flash.FlashOpened(d, b, flash.Options{}); err != nil {
		t.Fatal(err)
	}
	var writes []int
	for i, w := range rec.Log {
		if !w.Sync {
			writes = append(writes, i)
		}
	}
	last := writes[len(writes)-1]
	// The largest write is a piece of the root partition.
	bigIdx := writes[0]
	for _, i := range writes {
		if len(rec.Log[i].Data) > len(rec.Log[bigIdx].Data) {
			bigIdx = i
		}
	}
	cuts := []struct {
		name string
		cut  powercut.Cut
	}{
		{"inside the root write", powercut.Cut{Writes: bigIdx, Partial: len(rec.Log[bigIdx].Data) / 2}},
		{"two thirds through", powercut.Cut{Writes: writes[2*len(writes)/3]}},
		{"before the switch", powercut.Cut{Writes: last}},
		{"after the switch", powercut.Cut{Writes: last + 1}},
	}
	want := map[string]*manifest.Manifest{}
	for slot, dir := range map[string]string{"a": v1, "b": v2} {
		m, _, err := manifest.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		want[slot] = m
	}
	var out []cutState
	for _, c := range cuts {
		m, err := powercut.Materialize(base, st.Size(), rec.Log, c.cut)
		if err != nil {
			t.Fatal(err)
		}
		dd, err := diskimage.OpenDevice(m, st.Size(), c.name, false)
		if err != nil {
			t.Fatal(err)
		}
		slot, err := powercut.CheckBootable(dd, want)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		p := filepath.Join(t.TempDir(), "disk.img")
		if err := m.WriteFile(p, base); err != nil {
			t.Fatal(err)
		}
		out = append(out, cutState{c.name, p, slot, want[slot].Version})
	}
	if out[2].slot != "a" || out[3].slot != "b" {
		t.Fatalf("the switch is not the last write: before %s, after %s", out[2].slot, out[3].slot)
	}
	return out
}
