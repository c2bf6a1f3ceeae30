package update

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/turbo-image/turbo-image/bootloader"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

func mf(name, version string, trusted ...string) *manifest.Manifest {
	return &manifest.Manifest{Schema: manifest.Schema, Name: name, Version: version, Arch: "amd64", Cmdline: "console=ttyS0",
		Tries: 3, TrustedKeys: trusted,
		Artifacts: []manifest.File{manifest.Digest("kernel", []byte("k")), manifest.Digest("root.squashfs", []byte("root")),
			manifest.Digest("slot-initramfs.cpio.zst", []byte("i"))}}
}

// withArch returns m built for arch: an arm64 build offered to the amd64
// disk that current() describes.
func withArch(m *manifest.Manifest, arch string) *manifest.Manifest {
	m.Arch = arch
	return m
}

func state(t *testing.T, names ...string) *slots.State {
	t.Helper()
	st := &slots.State{}
	for _, n := range names {
		slot := n[strings.Index(n, "-")+1:]
		slot = slot[strings.Index(slot, "-")+1:][:1]
		e, err := bootloader.ParseEntry(n, []byte("version x\nlinux /"+slot+"/linux\ninitrd /"+slot+"/initrd\noptions turbo.slot="+slot+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		st.Entries = append(st.Entries, e)
	}
	return st
}

func current(t *testing.T, running string, entries ...string) Current {
	return Current{State: state(t, entries...), Running: running,
		Manifests:      map[string]*manifest.Manifest{"a": mf("hello", "1.0.0"), "b": mf("hello", "1.0.5")},
		PartitionSizes: map[string]int64{"a": 1 << 20, "b": 1 << 20}}
}

// asUKI turns the state's Type #1 entries into the Type #2 entries of the
// same names and counters (EFI/Linux/<id><counter>.efi).
func asUKI(cur Current) Current {
	st := &slots.State{Loader: cur.State.Loader}
	for _, e := range cur.State.Entries {
		u := bootloader.Entry{ID: e.ID, Counter: e.Counter, UKI: true, Version: e.Version, Options: e.Options}
		u.FileName = strings.TrimSuffix(e.FileName, ".conf") + ".efi"
		u.EFI = "/EFI/Linux/" + u.FileName
		st.Entries = append(st.Entries, u)
	}
	cur.State = st
	return cur
}

// withUKIs adds the slot UKIs of a build with disk.boot_entries: uki.
func withUKIs(m *manifest.Manifest) *manifest.Manifest {
	c := *m
	c.Artifacts = append(append([]manifest.File(nil), m.Artifacts...),
		manifest.Digest("slot-a.efi", []byte("uki a")), manifest.Digest("slot-b.efi", []byte("uki b")))
	return &c
}

// TestPlanFlash runs each case with Type #1 entries and again with Type
// #2 (UKI) entries on the disk and in the build: the same slot, the same
// generation, the same entries removed, under the other names.
func TestPlanFlash(t *testing.T) {
	for _, kind := range []string{"type1", "uki"} {
		t.Run(kind, func(t *testing.T) { testPlanFlash(t, kind == "uki") })
	}
}

func testPlanFlash(t *testing.T, uki bool) {
	cases := []struct {
		name     string
		cur      Current
		req      Request
		inactive string
		gen      int
		removes  []string
		err      error
	}{
		{"fresh image", current(t, "", "turbo-1-a.conf"), Request{Manifest: mf("hello", "1.1.0")}, "b", 2, nil, nil},
		{"b blessed is active", current(t, "", "turbo-1-a.conf", "turbo-2-b.conf"), Request{Manifest: mf("hello", "1.1.0")}, "a", 3,
			[]string{"loader/entries/turbo-1-a.conf"}, nil},
		{"pending trial b is replaced", current(t, "", "turbo-1-a.conf", "turbo-2-b+2-1.conf"), Request{Manifest: mf("hello", "1.1.0")}, "b", 3,
			[]string{"loader/entries/turbo-2-b+2-1.conf"}, nil},
		{"bad b is replaced", current(t, "", "turbo-1-a.conf", "turbo-2-b+0-3.conf"), Request{Manifest: mf("hello", "1.1.0")}, "b", 3,
			[]string{"loader/entries/turbo-2-b+0-3.conf"}, nil},
		{"running slot wins", current(t, "b", "turbo-1-a.conf", "turbo-2-b.conf"), Request{Manifest: mf("hello", "1.1.0")}, "a", 3,
			[]string{"loader/entries/turbo-1-a.conf"}, nil},
		{"refused while the running slot is on trial", current(t, "b", "turbo-1-a.conf", "turbo-2-b+2-1.conf"), Request{Manifest: mf("hello", "1.1.0")}, "", 0, nil, ErrOnTrial},
		{"not newer", current(t, "", "turbo-1-a.conf"), Request{Manifest: mf("hello", "1.0.0")}, "", 0, nil, ErrNotNewer},
		{"older", current(t, "", "turbo-1-a.conf"), Request{Manifest: mf("hello", "0.9")}, "", 0, nil, ErrNotNewer},
		{"downgrade allowed", current(t, "", "turbo-1-a.conf"), Request{Manifest: mf("hello", "0.9"), AllowDowngrade: true}, "b", 2, nil, nil},
		{"other appliance", current(t, "", "turbo-1-a.conf"), Request{Manifest: mf("other", "2")}, "", 0, nil, ErrOtherAppliance},
		{"other architecture", current(t, "", "turbo-1-a.conf"), Request{Manifest: withArch(mf("hello", "1.1.0"), "arm64")}, "", 0, nil, ErrOtherAppliance},
	}
	entryDir, suffix := "loader/entries/", ".conf"
	if uki {
		entryDir, suffix = "EFI/Linux/", ".efi"
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if uki {
				c.cur, c.req.Manifest = asUKI(c.cur), withUKIs(c.req.Manifest)
				for i, r := range c.removes {
					c.removes[i] = entryDir + strings.TrimSuffix(strings.TrimPrefix(r, "loader/entries/"), ".conf") + ".efi"
				}
			}
			p, err := PlanFlash(c.cur, c.req)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("got %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Inactive != c.inactive || p.Generation != c.gen {
				t.Fatalf("inactive %s gen %d", p.Inactive, p.Generation)
			}
			var removes []string
			for _, op := range p.Ops {
				if op.Kind == RemoveEntry && !strings.HasSuffix(op.Path, suffix+".new") {
					removes = append(removes, op.Path)
				}
			}
			if strings.Join(removes, ",") != strings.Join(c.removes, ",") {
				t.Errorf("removes %v, want %v", removes, c.removes)
			}
			last := p.Switch
			if last.Kind != Rename || !strings.HasSuffix(last.To, "+3"+suffix) || !strings.HasPrefix(last.To, entryDir+"turbo-") ||
				last.Path != entryDir+fmt.Sprintf("turbo-%d-%s%s.new", c.gen, c.inactive, suffix) {
				t.Errorf("last op %v is not the switch", last)
			}
			for _, op := range p.Ops {
				if op.Kind == Rename {
					t.Errorf("rename %v before the switch", op)
				}
			}
			// Nothing may touch the active slot or the data partition.
			for _, op := range append(p.Ops, p.Switch) {
				if strings.HasPrefix(op.Path, OtherSlot(p.Inactive)+"/") || op.Path == slots.PartitionName(OtherSlot(p.Inactive)) || op.Path == slots.DataPartition {
					t.Errorf("op %v touches the active slot or the data", op)
				}
			}
			// Every write is verified before the switch (but the small
			// Type #1 entry file, which the switch checks by its name).
			writes, verifies := 0, 0
			for _, op := range p.Ops {
				switch op.Kind {
				case WritePartition, WriteFile:
					if !strings.HasSuffix(op.Path, ".conf.new") {
						writes++
					}
				case VerifyPartition, VerifyFile:
					verifies++
				}
			}
			if writes != verifies {
				t.Errorf("%d writes but %d verifies before the switch", writes, verifies)
			}
			// A UKI flash writes the slot's UKI and no loose kernel or
			// initrd; a Type #1 flash the other way round.
			wrote := map[string]bool{}
			for _, op := range p.Ops {
				if op.Kind == WriteFile {
					wrote[op.Artifact.Name] = true
				}
			}
			if wrote["slot-"+c.inactive+".efi"] != uki || wrote["kernel"] == uki || wrote["slot-"+OtherSlot(c.inactive)+".efi"] {
				t.Errorf("uki %v: wrote %v", uki, wrote)
			}
		})
	}
}

func TestPlanChecksSizesAndKeys(t *testing.T) {
	cur := current(t, "", "turbo-1-a.conf")
	cur.PartitionSizes["b"] = 2
	if _, err := PlanFlash(cur, Request{Manifest: mf("hello", "2")}); err == nil || !strings.Contains(err.Error(), "partition turbo-b") {
		t.Fatalf("oversized root: %v", err)
	}
	cur = current(t, "", "turbo-1-a.conf")
	cur.Manifests["a"] = mf("hello", "1", "turbo-image-ed25519 ZmFrZWtleWZha2VrZXlmYWtla2V5ZmFrZWtleWZha2U=")
	if _, err := PlanFlash(cur, Request{Manifest: mf("hello", "2")}); !errors.Is(err, ErrSignature) {
		t.Fatalf("unsigned with trusted keys: %v", err)
	}
	cur = current(t, "", "turbo-1-a.conf")
	delete(cur.Manifests, "a")
	if _, err := PlanFlash(cur, Request{Manifest: mf("hello", "2")}); err == nil || !strings.Contains(err.Error(), "no manifest") {
		t.Fatalf("no slot manifest: %v", err)
	}
}

// TestPlanRefusesASlotThatWouldNotBoot: after planning, what systemd-boot
// would select must be the new entry (issue 9, defect 7).
func TestPlanRefusesASlotThatWouldNotBoot(t *testing.T) {
	pinned := current(t, "", "turbo-1-a.conf")
	pinned.State.Loader = bootloader.LoaderConf{Default: "turbo-1-a.conf", Timeout: bootloader.TimeoutUnset}
	_, err := PlanFlash(pinned, Request{Manifest: mf("hello", "1.1.0")})
	if !errors.Is(err, ErrNotSelected) || !strings.Contains(err.Error(), `"default turbo-1-a.conf"`) || !strings.Contains(err.Error(), "would boot turbo-1-a.conf") {
		t.Fatalf("loader.conf pinning the old entry: %v", err)
	}
	// A glob that matches the new entry too is fine.
	globbed := current(t, "", "turbo-1-a.conf")
	globbed.State.Loader = bootloader.LoaderConf{Default: "turbo-*", Timeout: bootloader.TimeoutUnset}
	if _, err := PlanFlash(globbed, Request{Manifest: mf("hello", "1.1.0")}); err != nil {
		t.Fatal(err)
	}
	// A generation of more than 10 digits is ours to count on from.
	long := current(t, "", "turbo-12345678901-a.conf")
	p, err := PlanFlash(long, Request{Manifest: mf("hello", "1.1.0")})
	if err != nil || p.Generation != 12345678902 || p.Entry != "turbo-12345678902-b+3.conf" {
		t.Fatalf("long generation: %+v, %v", p, err)
	}
	// Beyond what we count, the selection check refuses.
	huge := current(t, "", "turbo-123456789012345678901234-a.conf")
	if _, err := PlanFlash(huge, Request{Manifest: mf("hello", "1.1.0")}); !errors.Is(err, ErrNotSelected) {
		t.Fatalf("huge generation: %v", err)
	}
	// An entry with a sort key sorts before ours (systemd-boot's rule).
	sk := current(t, "", "turbo-1-a.conf")
	e, _ := bootloader.ParseEntry("zz.conf", []byte("sort-key x\nlinux /a/linux\ninitrd /a/initrd\noptions turbo.slot=a\n"))
	sk.State.Entries = append(sk.State.Entries, e)
	if _, err := PlanFlash(sk, Request{Manifest: mf("hello", "1.1.0")}); !errors.Is(err, ErrNotSelected) || !strings.Contains(err.Error(), "zz.conf") {
		t.Fatalf("sort-key entry: %v", err)
	}
}

// TestPlanEntryInjection: no manifest field may add a line to the boot
// entry (issue 9, defect 8). Parse refuses it; a manifest built in memory
// is caught by the planned entry's check.
func TestPlanEntryInjection(t *testing.T) {
	for name, mod := range map[string]func(*manifest.Manifest){
		"version with a newline": func(m *manifest.Manifest) { m.Version = "1.0.1\nefi /EFI/BOOT/BOOTX64.EFI" },
		"cmdline with a newline": func(m *manifest.Manifest) { m.Cmdline = "console=ttyS0\nefi /EFI/BOOT/BOOTX64.EFI" },
		"cmdline with a CR":      func(m *manifest.Manifest) { m.Cmdline = "console=ttyS0\refi /x" },
		"cmdline picks the slot": func(m *manifest.Manifest) { m.Cmdline = "turbo.slot=a" },
		"name with a newline":    func(m *manifest.Manifest) { m.Name = "hello\nlinux /a/linux" },
	} {
		t.Run(name, func(t *testing.T) {
			m := mf("hello", "1.1.0")
			mod(m)
			if err := m.Validate(); err == nil {
				t.Error("manifest.Validate accepted it")
			}
			cur := current(t, "", "turbo-1-a.conf")
			cur.Manifests["a"].Name = m.Name
			if _, err := PlanFlash(cur, Request{Manifest: m}); err == nil {
				t.Error("PlanFlash accepted it")
			}
			// The planned entry's own check, without manifest.Validate.
			p := &Plan{Inactive: "b", Entry: "turbo-2-b+3.conf"}
			if err := checkEntry(slots.NewEntry(2, "b", m.Name, m.Version, m.Cmdline), p); err == nil {
				t.Error("checkEntry accepted it")
			}
		})
	}
}

// TestNoBootableSlotSaysWhy: a disk with no slot to keep is refused with
// the reason for every entry (issue 9, defect 11).
func TestNoBootableSlotSaysWhy(t *testing.T) {
	entry := func(slot string) *fstest.MapFile {
		opt, dir := "", "a"
		if slot != "" {
			opt, dir = "options turbo.slot="+slot+"\n", slot
		}
		return &fstest.MapFile{Data: []byte("title x\nlinux /" + dir + "/linux\ninitrd /" + dir + "/initrd\n" + opt)}
	}
	kernel := &fstest.MapFile{Data: []byte("k")}
	cases := []struct {
		name string
		esp  fstest.MapFS
		want []string
	}{
		{"no entries", fstest.MapFS{"loader/entries": {Mode: fs.ModeDir}}, []string{"no boot entries in loader/entries"}},
		{"initrd missing", fstest.MapFS{"loader/entries/turbo-1-a.conf": entry("a"), "a/linux": kernel},
			[]string{"turbo-1-a.conf: /a/initrd is missing"}},
		{"kernel missing", fstest.MapFS{"loader/entries/turbo-1-a.conf": entry("a"), "a/initrd": kernel},
			[]string{"turbo-1-a.conf: /a/linux is missing"}},
		{"no slot option", fstest.MapFS{"loader/entries/turbo-1-a.conf": entry(""), "a/linux": kernel, "a/initrd": kernel},
			[]string{"turbo-1-a.conf: names no slot"}},
		{"tries used up", fstest.MapFS{"loader/entries/turbo-1-a+0-3.conf": entry("a"), "a/linux": kernel, "a/initrd": kernel},
			[]string{"turbo-1-a+0-3.conf: marked bad"}},
		{"every reason at once", fstest.MapFS{"loader/entries/turbo-1-a+0-3.conf": entry("a"), "loader/entries/turbo-2-b.conf": entry("b"),
			"a/linux": kernel, "a/initrd": kernel}, []string{"turbo-1-a+0-3.conf: marked bad", "turbo-2-b.conf: /b/linux is missing"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := slots.Read(c.esp)
			if err != nil {
				t.Fatal(err)
			}
			_, err = activeSlot(Current{State: st})
			if err == nil {
				t.Fatal("a disk without a bootable slot was accepted")
			}
			for _, w := range append([]string{"no bootable slot on the disk: "}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
