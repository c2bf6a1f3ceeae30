package follow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/registry"
	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/shared/update"
	"github.com/turbo-image/turbo-image/internal/shared/update/updatetest"
)

// These tests run the follower against CNCF Distribution (Debian's
// docker-registry, registrytest) and an in-memory appliance disk: what
// the init does, without a VM. The QEMU fleet test boots real ones.

func key(t *testing.T, seed byte) signing.PrivateKey {
	k, err := signing.GenerateKey(mrand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// slotBuild writes a build folder with slot payloads only (no kernel
// build): name, version and pseudo-random payloads from seed; rootSize
// sets the root's size.
func slotBuild(t *testing.T, name, version string, seed uint64, rootSize int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name+"-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rnd := mrand.New(mrand.NewPCG(seed, 7))
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	m := &manifest.Manifest{Schema: manifest.Schema, Name: name, Version: version, Arch: "amd64", BuildID: fmt.Sprintf("b%d", seed),
		Cmdline: "console=ttyS0", Tries: 3}
	for n, data := range map[string][]byte{"kernel": payload(64 << 10), "root.squashfs": payload(rootSize), "slot-initramfs.cpio.zst": payload(16 << 10)} {
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m.Artifacts = append(m.Artifacts, manifest.Digest(n, data))
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// appliance is an in-memory disk running hello 1.0.0 from slot a.
func appliance(t *testing.T) *updatetest.MemTarget {
	const part = 4 << 20
	m := &updatetest.MemTarget{Files: map[string][]byte{}, Parts: map[string][]byte{
		"turbo-a": bytes.Repeat([]byte{'A'}, part), "turbo-b": bytes.Repeat([]byte{'B'}, part)}}
	old := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "b0", Cmdline: "console=ttyS0", Tries: 3,
		Artifacts: []manifest.File{manifest.Digest("kernel", []byte("k")), manifest.Digest("root.squashfs", []byte("r")), manifest.Digest("slot-initramfs.cpio.zst", []byte("i"))}}
	sm, err := old.Slot().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m.Files["loader/loader.conf"] = slots.LoaderConf()
	m.Files["a/manifest.json"] = sm
	m.Files["a/linux"] = []byte("old kernel")
	m.Files["a/initrd"] = []byte("old initrd")
	m.Files["loader/entries/turbo-1-a.conf"] = slots.NewEntry(1, "a", old.Name, old.Version, old.Cmdline).Format()
	return m
}

// disk is Poller.Disk over an in-memory appliance running slot a. wrap,
// if not nil, wraps the partitions (to cut the registry mid-pull).
func disk(tg *updatetest.MemTarget, wrap func(update.Partitions) update.Partitions) func(func(Target) error) error {
	return func(flash func(Target) error) error {
		st, err := slots.Read(tg)
		if err != nil {
			return err
		}
		cur := update.Current{State: st, Running: "a", Manifests: map[string]*manifest.Manifest{}, PartitionSizes: map[string]int64{}}
		for _, s := range []string{"a", "b"} {
			cur.PartitionSizes[s] = int64(len(tg.Parts[slots.PartitionName(s)]))
			if b, ok := tg.Files[s+"/manifest.json"]; ok {
				if cur.Manifests[s], err = manifest.Parse(b); err != nil {
					return err
				}
			}
		}
		var parts update.Partitions = updatetest.MemParts{M: tg}
		if wrap != nil {
			parts = wrap(parts)
		}
		return flash(Target{Current: cur, ESP: tg, Partitions: parts})
	}
}

type fixture struct {
	reg        *registrytest.Registry
	repo       string
	prod, at   signing.PrivateKey
	ctx        context.Context
	opt        registry.Options
	pushed     map[string]string // version -> repo@digest
	client     *Client
	tg         *updatetest.MemTarget
	poller     *Poller
	wrapParts  func(update.Partitions) update.Partitions
	registryCA []byte
}

func newFixture(t *testing.T, rc registrytest.Config) *fixture {
	f := &fixture{reg: registrytest.Start(t, rc), prod: key(t, 1), at: key(t, 2), ctx: context.Background(), pushed: map[string]string{}}
	f.repo = f.reg.Host + "/acme/hello"
	if f.reg.CA != "" {
		f.opt.CAFile = f.reg.CA
		ca, err := os.ReadFile(f.reg.CA)
		if err != nil {
			t.Fatal(err)
		}
		f.registryCA = ca
	}
	f.tg = appliance(t)
	c, err := New(Config{Registry: f.reg.Host, Repository: "acme/hello", Channel: "prod", PlainHTTP: rc.TLS == false,
		CA: f.registryCA, Keys: []signing.PublicKey{f.prod.Public()}, StallTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	f.poller = &Poller{Client: c, Disk: disk(f.tg, func(p update.Partitions) update.Partitions {
		if f.wrapParts != nil {
			return f.wrapParts(p)
		}
		return p
	})}
	return f
}

// push pushes a build under its version tag and returns repo@digest.
func (f *fixture) push(t *testing.T, dir string) string {
	t.Helper()
	m, err := manifest.LoadDir(f.ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	tag := m.Manifest.Name + "-" + m.Manifest.Version
	r, err := registry.Push(f.ctx, dir, f.repo+":"+tag, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	return f.repo + "@" + r.Digest.String()
}

func (f *fixture) promote(t *testing.T, ref, channel string, k signing.PrivateKey) {
	t.Helper()
	if _, err := registry.Promote(f.ctx, ref, channel, k, f.opt); err != nil {
		t.Fatal(err)
	}
}

// tagAs moves a tag to a build without signing it (a push of the same
// folder under another tag: same digest).
func (f *fixture) tagAs(t *testing.T, dir, tag string) {
	t.Helper()
	if _, err := registry.Push(f.ctx, dir, f.repo+":"+tag, f.opt); err != nil {
		t.Fatal(err)
	}
}

// refused polls and wants the outcome Refused with an error containing
// want, and the disk unchanged.
func (f *fixture) refused(t *testing.T, want string) {
	t.Helper()
	before := f.tg.Digest()
	r, err := f.poller.Poll(f.ctx)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if r.Outcome != Refused || r.Err == nil || !strings.Contains(r.Err.Error(), want) {
		t.Fatalf("Poll = outcome %d, %v; want Refused with %q", r.Outcome, r.Err, want)
	}
	t.Logf("refused: %v", r.Err)
	if f.tg.Digest() != before {
		t.Fatal("a refused build changed the disk")
	}
	// Refused once: the same digest is not fetched again.
	if r2, err := f.poller.Poll(f.ctx); err != nil || r2.Outcome != Unchanged {
		t.Fatalf("second poll: %d, %v; want Unchanged", r2.Outcome, err)
	}
}

// failed polls and wants an error containing want, the disk unchanged.
func (f *fixture) failed(t *testing.T, want string) {
	t.Helper()
	before := bootState(f.tg)
	r, err := f.poller.Poll(f.ctx)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Poll = outcome %d, %v; want an error with %q", r.Outcome, err, want)
	}
	t.Logf("failed: %v", err)
	if bootState(f.tg) != before {
		t.Fatal("a failed poll changed the boot state")
	}
}

// bootState is what decides and makes the next boot: every ESP file and
// the running slot's partition. The inactive slot's partition is scratch
// until the switch.
func bootState(tg *updatetest.MemTarget) [32]byte {
	c := &updatetest.MemTarget{Files: tg.Files, Parts: map[string][]byte{"turbo-a": tg.Parts["turbo-a"]}}
	return c.Digest()
}

func bootsSlotB(t *testing.T, tg *updatetest.MemTarget) string {
	t.Helper()
	st, err := slots.Read(tg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range st.Entries {
		if slots.SlotOf(e) == "b" && e.Counter.Set && e.Counter.Left == 3 {
			return e.Version
		}
	}
	return ""
}

// TestFollowRefusals runs every refusal of a following appliance against
// the real registry, each changing nothing, then the good build.
func TestFollowRefusals(t *testing.T) {
	f := newFixture(t, registrytest.Config{})

	// Nothing in the channel yet: the registry says 404.
	f.failed(t, "not found")

	// Unsigned for the channel: the tag "prod" moved by a plain push.
	v2 := slotBuild(t, "hello", "1.0.2", 2, 1<<20)
	f.push(t, v2)
	f.tagAs(t, v2, "prod")
	f.refused(t, `is not signed for the channel "prod": it has no channel signatures`)

	// Signed for another channel: an "at" signature on a "prod" appliance.
	v3 := slotBuild(t, "hello", "1.0.3", 3, 1<<20)
	ref3 := f.push(t, v3)
	f.promote(t, ref3, "at", f.at)
	f.tagAs(t, v3, "prod")
	f.refused(t, `it is signed for channel "at"`)

	// Signed for prod by a key the appliance does not trust.
	v4 := slotBuild(t, "hello", "1.0.4", 4, 1<<20)
	ref4 := f.push(t, v4)
	f.promote(t, ref4, "prod", f.at)
	f.refused(t, `its "prod" signatures are by key `+f.at.Public().ID()+`, not by a trusted key`)

	// Another appliance's build, properly signed for prod.
	other := slotBuild(t, "other", "9.0.0", 5, 1<<20)
	f.promote(t, f.push(t, other), "prod", f.prod)
	f.refused(t, `the build is for another appliance: build is "other", the disk runs "hello"`)

	// A downgrade, properly signed.
	old := slotBuild(t, "hello", "0.9.0", 6, 1<<20)
	f.promote(t, f.push(t, old), "prod", f.prod)
	f.refused(t, "version 0.9.0 is older than the active slot's 1.0.0")

	// The version it runs: up to date, quietly.
	same := slotBuild(t, "hello", "1.0.0", 7, 1<<20)
	f.promote(t, f.push(t, same), "prod", f.prod)
	if r, err := f.poller.Poll(f.ctx); err != nil || r.Outcome != UpToDate {
		t.Fatalf("same version: outcome %d, %v; want UpToDate", r.Outcome, err)
	}

	// A layer altered in the registry's storage: refused while it is,
	// retried (not remembered as refused) until it is good again.
	v5 := slotBuild(t, "hello", "1.0.5", 8, 1<<20)
	ref5 := f.push(t, v5)
	f.promote(t, ref5, "prod", f.prod)
	m5, _ := manifest.LoadDir(f.ctx, v5)
	root, _ := m5.Manifest.Artifact("root.squashfs")
	blob := filepath.Join(f.reg.Storage, "docker/registry/v2/blobs/sha256", root.SHA256[:2], root.SHA256, "data")
	good, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(blob, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	f.failed(t, "its bytes in the registry were altered; refusing it")
	f.failed(t, "its bytes in the registry were altered; refusing it")
	if err := os.WriteFile(blob, good, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := f.poller.Poll(f.ctx)
	if err != nil || r.Outcome != Flashed {
		t.Fatalf("after the blob was restored: outcome %d, %v; want Flashed", r.Outcome, err)
	}
	if v := bootsSlotB(t, f.tg); v != "1.0.5" {
		t.Fatalf("slot b's new entry has version %q, want 1.0.5 on trial", v)
	}
	if !bytes.Equal(f.tg.Parts["turbo-b"][:len(good)], mustRead(t, filepath.Join(v5, "root.squashfs"))) {
		t.Fatal("slot b does not hold the build's root")
	}
	if r.Build.Channel == nil || r.Build.Channel.Key.ID() != f.prod.Public().ID() || r.Build.Digest.String() != strings.TrimPrefix(ref5, f.repo+"@") {
		t.Fatalf("flashed build %s signed by %+v", r.Build.Digest, r.Build.Channel)
	}

	// The trial of 1.0.5 fails (the boot loader marks the entry bad) and
	// slot a runs again: the follower, starting afresh after the reboot,
	// does not flash 1.0.5 into another failing trial.
	var trial string
	for n := range f.tg.Files {
		if strings.HasPrefix(n, "loader/entries/turbo-2-b+") {
			trial = n
		}
	}
	f.tg.Files["loader/entries/turbo-2-b+0-3.conf"] = f.tg.Files[trial]
	delete(f.tg.Files, trial)
	f.poller = &Poller{Client: f.client, Disk: f.poller.Disk}
	f.refused(t, "version 1.0.5 failed its trial on this appliance (boot entry turbo-2-b+0-3.conf)")
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cutAfter kills the registry once n bytes of a partition were written.
type cutAfter struct {
	update.Partitions
	n    int64
	kill func()
}

func (c *cutAfter) WritePartition(name string, r io.Reader, size int64) error {
	return c.Partitions.WritePartition(name, io.TeeReader(r, writerFunc(func(p []byte) (int, error) {
		if c.n -= int64(len(p)); c.n < 0 && c.kill != nil {
			c.kill()
			c.kill = nil
		}
		return len(p), nil
	})), size)
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// TestFollowRegistryKilledMidPull kills the registry while the root is
// streaming into the inactive slot: the flash fails before the switch and
// the disk still boots the running slot.
func TestFollowRegistryKilledMidPull(t *testing.T) {
	f := newFixture(t, registrytest.Config{})
	v2 := slotBuild(t, "hello", "1.0.2", 2, 3<<20)
	f.promote(t, f.push(t, v2), "prod", f.prod)
	f.wrapParts = func(p update.Partitions) update.Partitions {
		return &cutAfter{Partitions: p, n: 64 << 10, kill: f.reg.Kill}
	}
	before, _ := slots.Read(f.tg)
	_, err := f.poller.Poll(f.ctx)
	if err == nil {
		t.Fatal("a pull cut by the registry's death succeeded")
	}
	t.Logf("failed: %v", err)
	after, _ := slots.Read(f.tg)
	if fmt.Sprint(before.Entries) != fmt.Sprint(after.Entries) || bootsSlotB(t, f.tg) != "" {
		t.Fatalf("boot entries changed: %v -> %v", before.Entries, after.Entries)
	}
	// The next poll fails too (nothing listens) and changes nothing.
	f.failed(t, "connection refused")
}

// TestFollowTLS follows over TLS with the registry's CA, and says what is
// wrong when the registry wants credentials an appliance does not have.
func TestFollowTLS(t *testing.T) {
	f := newFixture(t, registrytest.Config{TLS: true})
	v2 := slotBuild(t, "hello", "1.0.2", 2, 1<<20)
	f.promote(t, f.push(t, v2), "prod", f.prod)
	if r, err := f.poller.Poll(f.ctx); err != nil || r.Outcome != Flashed {
		t.Fatalf("outcome %d, %v; want Flashed", r.Outcome, err)
	}

	// Without the CA: the certificate is not trusted.
	c, err := New(Config{Registry: f.reg.Host, Repository: "acme/hello", Channel: "prod", Keys: []signing.PublicKey{f.prod.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Resolve(f.ctx); err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), f.reg.Host) {
		t.Fatalf("without the CA: %v", err)
	}

	// A registry with basic auth: the appliance pulls anonymously.
	auth := registrytest.Start(t, registrytest.Config{TLS: true, User: "ci", Password: "s3cret"})
	ca, _ := os.ReadFile(auth.CA)
	c, err = New(Config{Registry: auth.Host, Repository: "acme/hello", Channel: "prod", CA: ca, Keys: []signing.PublicKey{f.prod.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Resolve(f.ctx)
	if err == nil || !strings.Contains(err.Error(), "registry "+auth.Host+" asks for credentials (Basic)") {
		t.Fatalf("basic auth registry: %v", err)
	}
	t.Logf("refused: %v", err)
}

func TestNextDelay(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{30 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 1, time.Minute},
		{30 * time.Second, 3, 4 * time.Minute},
		{30 * time.Second, 4, 5 * time.Minute}, // ten intervals
		{30 * time.Second, 40, 5 * time.Minute},
		{2 * time.Minute, 9, 10 * time.Minute}, // ten minutes
		{time.Hour, 5, time.Hour},              // never below the interval
	} {
		if got := NextDelay(c.interval, c.failures); got != c.want {
			t.Errorf("NextDelay(%v, %d) = %v, want %v", c.interval, c.failures, got, c.want)
		}
	}
}

// TestFollowGarbageAndStall: a "registry" that answers garbage, or sends
// headers and then nothing, is a failed poll that changes nothing. (A
// stand-in server is right here: no real registry sends garbage.)
func TestFollowGarbageAndStall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("\x00\xffnot a manifest{"))
	}))
	defer srv.Close()
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("{"))
		w.(http.Flusher).Flush()
		<-release
	}))
	defer stall.Close()
	defer close(release)
	for name, host := range map[string]string{"garbage": srv.Listener.Addr().String(), "stall": stall.Listener.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			tg := appliance(t)
			c, err := New(Config{Registry: host, Repository: "acme/hello", Channel: "prod", PlainHTTP: true,
				Keys: []signing.PublicKey{key(t, 1).Public()}, StallTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			p := &Poller{Client: c, Disk: disk(tg, nil)}
			before := bootState(tg)
			_, err = p.Poll(context.Background())
			if err == nil {
				t.Fatal("a garbage or stalled registry gave no error")
			}
			t.Logf("%s: %v", name, err)
			if bootState(tg) != before {
				t.Fatal("the poll changed the boot state")
			}
		})
	}
}
