package flash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/shared/update"
	"github.com/turbo-image/turbo-image/internal/shared/update/powercut"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// builds holds builds shared by the tests: the hello recipe (fake kernel,
// so no kernel build) at several versions, and signed variants.
var builds struct {
	once   sync.Once
	dir    string
	err    error
	keyA   signing.PrivateKey
	keyB   signing.PrivateKey
	recipe string
}

func requireSystemdBoot(t *testing.T) {
	testenv.MustHaveFile(t, builder.DefaultSystemdBoot, "systemd-boot-efi")
}

// build builds the test recipe at version into a directory (cached per
// test binary run).
func build(t *testing.T, name, version string, signedRecipe bool) string {
	t.Helper()
	requireSystemdBoot(t)
	builds.once.Do(func() {
		builds.dir, builds.err = os.MkdirTemp("", "update-test-")
		if builds.err != nil {
			return
		}
		builds.keyA, _ = signing.GenerateKey(nil)
		builds.keyB, _ = signing.GenerateKey(nil)
		// A fake kernel (the flash does not boot it) with the bzImage
		// boot-protocol header the recipe check looks for.
		fake := make([]byte, 0x400)
		copy(fake, "a fake kernel: the flash does not boot it")
		fake[0x1fe], fake[0x1ff] = 0x55, 0xaa
		copy(fake[0x202:], "HdrS")
		os.WriteFile(filepath.Join(builds.dir, "kernel"), fake, 0o644)
		src, _ := os.ReadFile("../../../recipes/hello/app/main.go")
		os.MkdirAll(filepath.Join(builds.dir, "src", "app"), 0o755)
		os.WriteFile(filepath.Join(builds.dir, "src", "app", "main.go"), src, 0o644)
		os.WriteFile(filepath.Join(builds.dir, "src", "app", "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"), 0o644)
		os.WriteFile(filepath.Join(builds.dir, "src", "release.pub"), builds.keyA.Public().MarshalText(), 0o644)
	})
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	out := filepath.Join(builds.dir, name+"-"+version)
	if signedRecipe {
		out += "-signed"
	}
	if _, err := os.Stat(out); err == nil {
		return out
	}
	keys := ""
	if signedRecipe {
		keys = "update: {trusted_keys: [release.pub], tries: 2}\n"
	}
	recipe := filepath.Join(builds.dir, "src", "recipe-"+name+".yaml")
	os.WriteFile(recipe, []byte("name: "+name+"\nversion: \"1\"\nkernel: {fragments: [builtin:virt]}\noutputs: [disk]\n"+
		"disk: {esp_size: 40MiB, root_size: 8MiB, data_size: 8MiB}\n"+keys+
		"services:\n  - name: hello\n    package: ./app\n"), 0o644)
	_, err := builder.Build(context.Background(), builder.Options{Recipe: recipe, Out: out, Version: version,
		Kernel: filepath.Join(builds.dir, "kernel"), CacheDir: filepath.Join(builds.dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diskCopy copies a build's disk.img for a test to modify.
func diskCopy(t *testing.T, buildDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(buildDir, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadManifest(t *testing.T, dir string) *manifest.Manifest {
	m, _, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func partitionSHA(t *testing.T, disk, name string) [32]byte {
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.ReadPartition(name)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, r)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

func TestFlashAtoB(t *testing.T) {
	v1, v2 := build(t, "hello", "1.0.0", false), build(t, "hello", "1.0.1", false)
	disk := diskCopy(t, v1)
	dataBefore := partitionSHA(t, disk, "turbo-data")
	aBefore := partitionSHA(t, disk, "turbo-a")
	var ops []string
	p, err := FlashDisk(context.Background(), disk, v2, Options{Progress: func(p update.Progress) { ops = append(ops, p.Op.Kind.String()) }})
	if err != nil {
		t.Fatal(err)
	}
	if p.Active != "a" || p.Inactive != "b" || p.Generation != 2 || p.Entry != "turbo-2-b+3.conf" {
		t.Fatalf("plan %+v", p)
	}
	if ops[len(ops)-1] != "rename" {
		t.Errorf("the switch must be the last operation: %v", ops)
	}
	if partitionSHA(t, disk, "turbo-data") != dataBefore {
		t.Error("flash wrote the data partition")
	}
	if partitionSHA(t, disk, "turbo-a") != aBefore {
		t.Error("flash wrote the active slot")
	}
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	slot, err := powercut.CheckBootable(d, map[string]*manifest.Manifest{"a": loadManifest(t, v1), "b": loadManifest(t, v2)})
	if err != nil || slot != "b" {
		t.Fatalf("after the flash the disk boots %q: %v", slot, err)
	}
	esp, _ := d.ESP()
	st, _ := slots.Read(esp)
	if len(st.Entries) != 2 || st.Entries[0].FileName != "turbo-1-a.conf" || st.Entries[1].FileName != "turbo-2-b+3.conf" {
		t.Fatalf("entries %v", st.Entries)
	}
}

func TestFlashRefusals(t *testing.T) {
	v1 := build(t, "hello", "1.0.0", false)
	v0 := build(t, "hello", "0.9.0", false)
	other := build(t, "other", "2.0.0", false)
	cases := []struct {
		name  string
		build string
		opts  Options
		want  error
		text  string
	}{
		{"same version", v1, Options{}, update.ErrNotNewer, "the same as"},
		{"downgrade", v0, Options{}, update.ErrNotNewer, "--allow-downgrade"},
		{"other appliance", other, Options{}, update.ErrOtherAppliance, `"other"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			disk := diskCopy(t, v1)
			before, _ := os.ReadFile(disk)
			_, err := FlashDisk(context.Background(), disk, c.build, c.opts)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v containing %q", err, c.want, c.text)
			}
			after, _ := os.ReadFile(disk)
			if !bytes.Equal(before, after) {
				t.Fatal("a refused flash changed the disk")
			}
		})
	}
	t.Run("downgrade allowed", func(t *testing.T) {
		disk := diskCopy(t, v1)
		if _, err := FlashDisk(context.Background(), disk, v0, Options{AllowDowngrade: true}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("tampered payload", func(t *testing.T) {
		v2 := build(t, "hello", "1.0.1", false)
		tampered := copyBuild(t, v2)
		flipByte(t, filepath.Join(tampered, "root.squashfs"))
		disk := diskCopy(t, v1)
		before, _ := os.ReadFile(disk)
		if _, err := FlashDisk(context.Background(), disk, tampered, Options{}); err == nil || !strings.Contains(err.Error(), "root.squashfs") {
			t.Fatalf("tampered root accepted: %v", err)
		}
		after, _ := os.ReadFile(disk)
		if !bytes.Equal(before, after) {
			t.Fatal("a refused flash changed the disk")
		}
	})
}

func TestFlashSignatures(t *testing.T) {
	v1 := build(t, "hello", "1.0.0", true)
	v2 := build(t, "hello", "1.0.1", true)
	signedDir := func(k signing.PrivateKey) string {
		dir := copyBuild(t, v2)
		sig, err := signing.Sign(k, mustRead(t, filepath.Join(dir, "manifest.json")), nil)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, signing.SignatureFile), sig, 0o644)
		return dir
	}
	if _, err := FlashDisk(context.Background(), diskCopy(t, v1), v2, Options{}); !errors.Is(err, update.ErrSignature) || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("unsigned: %v", err)
	}
	if _, err := FlashDisk(context.Background(), diskCopy(t, v1), signedDir(builds.keyB), Options{}); !errors.Is(err, update.ErrSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	p, err := FlashDisk(context.Background(), diskCopy(t, v1), signedDir(builds.keyA), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.SignedBy != builds.keyA.Public().ID() || p.Tries != 2 {
		t.Fatalf("plan %+v", p)
	}
}

// copyBuild copies a build folder (regular files only) for a test to
// modify.
func copyBuild(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "b")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, de.Name()), mustRead(t, filepath.Join(src, de.Name())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// flipByte changes one byte in the middle of a file.
func flipByte(t *testing.T, p string) {
	t.Helper()
	b := mustRead(t, p)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPowerCut flashes through a recording device and checks, for a cut
// after every write and at random offsets inside the big writes, that the
// disk still boots a whole slot: the old one until the switch, the new one
// after it.
func TestPowerCut(t *testing.T) {
	v1, v2 := build(t, "hello", "1.0.0", false), build(t, "hello", "1.0.1", false)
	base, err := os.Open(filepath.Join(v1, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	st, _ := base.Stat()
	rec := powercut.NewRecorder(base, st.Size())
	d, err := diskimage.OpenDevice(rec, st.Size(), "recorded", true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadBuild(context.Background(), v2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FlashOpened(d, b, Options{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]*manifest.Manifest{"a": loadManifest(t, v1), "b": loadManifest(t, v2)}
	cuts := powercut.Cuts(rec.Log, 3, 1)
	bootsB := 0
	for _, c := range cuts {
		m, err := powercut.Materialize(base, st.Size(), rec.Log, c)
		if err != nil {
			t.Fatal(err)
		}
		dd, err := diskimage.OpenDevice(m, st.Size(), c.String(), false)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		slot, err := powercut.CheckBootable(dd, want)
		if err != nil {
			t.Fatalf("cut %v: %v", c, err)
		}
		if slot == "b" {
			bootsB++
		}
	}
	// Only the states after the final rename boot b.
	if bootsB == 0 || bootsB > 2 {
		t.Errorf("%d of %d cut states boot the new slot; want only those after the switch", bootsB, len(cuts))
	}
	t.Logf("%d writes, %d cut points checked, all bootable; %d boot the new slot", len(rec.Log), len(cuts), bootsB)
}

// TestMain removes the shared builds after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}
