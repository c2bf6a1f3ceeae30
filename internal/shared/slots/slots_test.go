package slots

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/turbo-image/turbo-image/internal/format/uki"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

func entryFile(slot string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("title x\nversion 1.0." + slot + "\nlinux /" + slot + "/linux\ninitrd /" + slot + "/initrd\noptions console=ttyS0 turbo.slot=" + slot + "\n")}
}

func esp(entries map[string]string) fstest.MapFS {
	m := fstest.MapFS{
		"loader/loader.conf": {Data: []byte("timeout 0\ndefault turbo-*\n")},
		"a/linux":            {Data: []byte("k")}, "a/initrd": {Data: []byte("i")},
		"b/linux": {Data: []byte("k")}, "b/initrd": {Data: []byte("i")},
	}
	for name, slot := range entries {
		m["loader/entries/"+name] = entryFile(slot)
	}
	return m
}

func TestReadAndPlan(t *testing.T) {
	st, err := Read(esp(map[string]string{"turbo-1-a.conf": "a", "turbo-2-b+3.conf": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if SlotOf(p.Entry) != "b" || !p.Rename || p.NewFileName != "turbo-2-b+2-1.conf" {
		t.Fatalf("plan %+v", p)
	}
	bs, ok := st.Assess("b")
	if !ok || !bs.Trial || len(bs.RolledBack) != 0 {
		t.Fatalf("assess b %+v", bs)
	}
	if BlessedName(bs.Mine) != "turbo-2-b.conf" || BadName(bs.Mine) != "turbo-2-b+0.conf" {
		t.Fatalf("names %s %s", BlessedName(bs.Mine), BadName(bs.Mine))
	}
}

func TestRollbackSeen(t *testing.T) {
	st, err := Read(esp(map[string]string{"turbo-1-a.conf": "a", "turbo-2-b+0-3.conf": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := st.Plan()
	if SlotOf(p.Entry) != "a" || p.Rename {
		t.Fatalf("plan %+v", p)
	}
	bs, ok := st.Assess("a")
	if !ok || bs.Trial || len(bs.RolledBack) != 1 || SlotOf(bs.RolledBack[0]) != "b" {
		t.Fatalf("assess %+v", bs)
	}
	if _, ok := st.Assess("c"); ok {
		t.Fatal("slot c found")
	}
}

func TestEntriesWithMissingFilesAreSkipped(t *testing.T) {
	e := esp(map[string]string{"turbo-1-a.conf": "a", "turbo-2-b+3.conf": "b"})
	delete(e, "b/initrd")
	st, err := Read(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 1 || len(st.Skipped) != 1 || !strings.Contains(st.Skipped[0], "/b/initrd is missing") {
		t.Fatalf("%+v", st)
	}
	p, _ := st.Plan()
	if SlotOf(p.Entry) != "a" {
		t.Fatal("booted an entry without its initrd")
	}
}

func TestGenerations(t *testing.T) {
	for id, want := range map[string]int{"turbo-1-a": 1, "turbo-12-b": 12, "turbo-x-a": 0, "other-1-a": 0, "turbo-1": 0,
		"turbo-12345678901-a": 12345678901, "turbo-99999999999999999-b": 99999999999999999, "turbo-100000000000000000-b": 0} {
		if got := Generation(id); got != want {
			t.Errorf("Generation(%q) = %d, want %d", id, got, want)
		}
	}
	st, _ := Read(esp(map[string]string{"turbo-9-a.conf": "a", "turbo-10-b+0-3.conf": "b"}))
	if st.NextGeneration() != 11 {
		t.Fatal(st.NextGeneration())
	}
	e := NewEntry(11, "b", "hello", "1.0.1", "console=ttyS0 quiet")
	if e.ID != "turbo-11-b" || e.Options != "console=ttyS0 quiet turbo.slot=b" || e.Linux != "/b/linux" || SlotOf(e) != "b" {
		t.Fatalf("%+v", e)
	}
}

// TestReadUKIEntries: Type #2 entries made by uki.Build over Debian's
// systemd stub are read from EFI/Linux beside the Type #1 ones; the
// slot, title, version and counter come out as NewUKIEntry planned them,
// and boot counting renames within EFI/Linux.
func TestReadUKIEntries(t *testing.T) {
	const stubPath = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	testenv.MustHaveFile(t, stubPath, "systemd-boot-efi")
	stub, err := os.ReadFile(stubPath)
	if err != nil {
		t.Fatal(err)
	}
	m := esp(map[string]string{"turbo-1-a.conf": "a"})
	b, err := uki.Build(uki.Image{Stub: stub, Linux: []byte("kernel"), Initrd: []byte("initrd"),
		Cmdline: UKICmdline("b", "console=ttyS0"), OSRelease: UKIOSRelease("b", "hello", "1.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	m["EFI/Linux/turbo-2-b+3.efi"] = &fstest.MapFile{Data: b}
	// A UKI disk alone: no loader/entries at all.
	only := fstest.MapFS{"loader/loader.conf": m["loader/loader.conf"], "EFI/Linux/turbo-2-b+3.efi": m["EFI/Linux/turbo-2-b+3.efi"]}
	if st, err := Read(only); err != nil || len(st.Entries) != 1 {
		t.Fatalf("UKI entries only: %v, %v", st, err)
	}
	m["EFI/Linux/junk.efi"] = &fstest.MapFile{Data: []byte("not a PE file")}
	m["EFI/Linux/turbo-2-b.efi.new"] = &fstest.MapFile{Data: b} // a flash's temporary name
	st, err := Read(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 2 || st.Entries[0].FileName != "turbo-1-a.conf" || st.Entries[1].FileName != "turbo-2-b+3.efi" {
		t.Fatalf("entries %v", st.Entries)
	}
	if len(st.Skipped) != 1 || !strings.Contains(st.Skipped[0], "EFI/Linux/junk.efi") {
		t.Errorf("skipped %q", st.Skipped)
	}
	e, want := st.Entries[1], NewUKIEntry(2, "b", "hello", "1.0.1", "console=ttyS0")
	if !e.UKI || e.ID != want.ID || e.Title != want.Title || e.Version != want.Version || e.Options != want.Options ||
		e.SortKey != "" || SlotOf(e) != "b" || EntryPath(e) != "EFI/Linux/turbo-2-b+3.efi" || BlessedName(e) != "turbo-2-b.efi" || BadName(e) != "turbo-2-b+0.efi" {
		t.Fatalf("entry %+v, want %+v", e, want)
	}
	p, err := st.Plan()
	if err != nil || SlotOf(p.Entry) != "b" || p.NewFileName != "turbo-2-b+2-1.efi" {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if bs, ok := st.Assess("b"); !ok || !bs.Trial {
		t.Fatalf("assess b %+v", bs)
	}
}
