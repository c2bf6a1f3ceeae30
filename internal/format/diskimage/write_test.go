package diskimage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func testImage(seed string) Image {
	return Image{
		Layout: Layout{Arch: "amd64", Seed: seed},
		ESP:    sampleESP(),
		SlotA:  append([]byte("hsqs"), patterned(1<<20, 11)...),
	}
}

func writeTestImage(t *testing.T, img Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := Write(p, img); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteOpenRoundTrip(t *testing.T) {
	img := testImage("roundtrip 1")
	p := writeTestImage(t, img)
	plan, _ := PlanLayout(img.Layout)
	d, err := Open(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Size() != plan.Size || d.SectorSize() != 512 || d.GUID() != plan.DiskGUID {
		t.Errorf("disk size %d sector %d GUID %s, want %d 512 %s", d.Size(), d.SectorSize(), d.GUID(), plan.Size, plan.DiskGUID)
	}
	parts, err := d.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	var got []Partition
	for _, p := range parts {
		got = append(got, Partition{Index: p.Index, Name: p.Name, TypeGUID: p.TypeGUID, GUID: p.GUID, Start: p.Start, Size: p.Size})
	}
	if !reflect.DeepEqual(got, plan.Partitions) {
		t.Errorf("partitions\n got %+v\nwant %+v", got, plan.Partitions)
	}
	esp, err := d.ESP()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range img.ESP {
		if b := mustRead(t, esp, f.Path); !bytes.Equal(b, f.Data) {
			t.Errorf("ESP %s: %d bytes, want %d", f.Path, len(b), len(f.Data))
		}
	}
	r, err := d.ReadPartition(PartA)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, len(img.SlotA)+4096)
	if _, err := io.ReadFull(r, a); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[:len(img.SlotA)], img.SlotA) || !allZero(a[len(img.SlotA):]) {
		t.Error("slot a content differs")
	}
	for _, name := range []string{PartB, PartData} {
		r, _ := d.ReadPartition(name)
		buf := make([]byte, 1<<20)
		if _, err := io.ReadFull(r, buf); err != nil || !allZero(buf) {
			t.Errorf("%s is not blank (%v)", name, err)
		}
	}
	if _, err := d.Partition("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Partition(nope): %v", err)
	}
	if err := d.WritePartition(PartB, bytes.NewReader([]byte("x")), 1); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("WritePartition on read-only disk: %v", err)
	}
	if err := esp.WriteFile("x", nil); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("ESP write on read-only disk: %v", err)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func sha(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestWriteReproducible(t *testing.T) {
	img := testImage("repro 1")
	a := writeTestImage(t, img)
	time.Sleep(1100 * time.Millisecond) // a different second for any clock reader
	b := writeTestImage(t, img)
	if sha(t, a) != sha(t, b) {
		t.Error("two writes of the same image differ")
	}
	img.Layout.Seed = "repro 2"
	if c := writeTestImage(t, img); sha(t, a) == sha(t, c) {
		t.Error("a different seed gave the same image")
	}
}

func TestWriteContentTooLarge(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.img")
	img := testImage("big")
	img.SlotA = make([]byte, 70*MiB+MiB/5)
	img.SlotB = make([]byte, 65*MiB)
	err := Write(p, img)
	for _, want := range []string{
		"partition turbo-a: content needs 70.2 MiB, partition has 64 MiB",
		"partition turbo-b: content needs 65 MiB, partition has 64 MiB",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	img = testImage("big")
	img.ESP = append(img.ESP, File{Path: "a/huge", Data: make([]byte, 40*MiB)}, File{Path: "b/huge", Data: make([]byte, 30*MiB)})
	err = Write(p, img)
	if err == nil || !strings.Contains(err.Error(), "partition turbo-esp: content needs 72 MiB, partition has 64 MiB") {
		t.Errorf("err = %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("failed writes left %v behind", ents)
	}
	// The needed size is the smallest that works.
	img.Layout.ESPSize = 71 * MiB
	if err := Write(p, img); err == nil {
		t.Error("content fits 71 MiB, but 72 MiB was reported as needed")
	}
	img.Layout.ESPSize = 72 * MiB
	if err := Write(p, img); err != nil {
		t.Errorf("with the reported size: %v", err)
	}
}

func TestWriteBadESPFiles(t *testing.T) {
	for _, tt := range []struct {
		files []File
		want  string
	}{
		{[]File{{Path: "/abs"}}, "relative and clean"},
		{[]File{{Path: "a/../b"}}, "relative and clean"},
		{[]File{{Path: "A/x"}, {Path: "a/X"}}, "listed twice"},
		{[]File{{Path: "a"}, {Path: "a/b"}}, `"a" is also a file`},
		{[]File{{Path: "a/b"}, {Path: "a"}}, "is also a directory"},
		{[]File{{Path: "bad:name"}}, "not allowed on FAT"},
	} {
		img := testImage("bad")
		img.ESP = tt.files
		err := Write(filepath.Join(t.TempDir(), "d.img"), img)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "partition turbo-esp") {
			t.Errorf("%v: err = %v, want %q", tt.files, err, tt.want)
		}
	}
}

func TestWritePartitionAndESPEdits(t *testing.T) {
	p := writeTestImage(t, testImage("edit"))
	d, err := Open(p, true)
	if err != nil {
		t.Fatal(err)
	}
	newB := patterned(3<<19, 5)
	if err := d.WritePartition(PartB, bytes.NewReader(newB), int64(len(newB))); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePartition(PartB, bytes.NewReader(newB), 65*MiB); err == nil || !strings.Contains(err.Error(), "partition turbo-b: content needs 65 MiB, partition has 64 MiB") {
		t.Errorf("oversize write: %v", err)
	}
	if err := d.WritePartition(PartB, bytes.NewReader(newB[:10]), 20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v", err)
	}
	esp, err := d.ESP()
	if err != nil {
		t.Fatal(err)
	}
	steps := []error{
		esp.Rename("loader/entries/turbo-2-b+3.conf", "loader/entries/turbo-2-b+2-1.conf"),
		esp.WriteFile("b/linux", patterned(2<<20, 6)),
		esp.WriteFile("loader/loader.conf", []byte("timeout 3\n")),
		esp.Remove("a/initrd"),
		esp.Sync(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	esp, _ = d.ESP()
	if got, want := names(t, esp, "loader/entries"), []string{"turbo-1-a.conf", "turbo-2-b+2-1.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries = %v, want %v", got, want)
	}
	if !bytes.Equal(mustRead(t, esp, "b/linux"), patterned(2<<20, 6)) {
		t.Error("b/linux differs")
	}
	if string(mustRead(t, esp, "loader/loader.conf")) != "timeout 3\n" {
		t.Error("loader.conf not replaced")
	}
	if _, err := esp.Stat("a/initrd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a/initrd: %v", err)
	}
	r, _ := d.ReadPartition(PartB)
	got := make([]byte, len(newB))
	io.ReadFull(r, got)
	if !bytes.Equal(got, newB) {
		t.Error("slot b content differs")
	}
}

func TestOpenUsesBackupGPT(t *testing.T) {
	p := writeTestImage(t, testImage("backup"))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xff}, 512), 512) // destroy the primary header
	f.Close()
	d, err := Open(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if p, err := d.Partition(PartData); err != nil || p.Start != 193*MiB {
		t.Errorf("data partition from backup GPT: %+v, %v", p, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank.img")
	os.WriteFile(blank, make([]byte, 1<<20), 0o644)
	if _, err := Open(blank, false); err == nil || !strings.Contains(err.Error(), "no GPT") {
		t.Errorf("blank disk: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing"), false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A GPT whose partitions run past the end of the (truncated) file.
	p := writeTestImage(t, testImage("trunc"))
	os.Truncate(p, 100*MiB)
	if _, err := Open(p, false); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("truncated disk: %v", err)
	}
}

// TestSfdisk checks the partition table with util-linux's sfdisk.
func TestSfdisk(t *testing.T) {
	tool := testenv.MustHaveTool(t, "sfdisk", "fdisk")
	img := testImage("sfdisk")
	p := writeTestImage(t, img)
	plan, _ := PlanLayout(img.Layout)
	out, err := exec.Command(tool, "--dump", p).CombinedOutput()
	if err != nil {
		t.Fatalf("sfdisk --dump: %v\n%s", err, out)
	}
	dump := string(out)
	want := []string{"label: gpt", "label-id: " + plan.DiskGUID, "first-lba: 34", "sector-size: 512"}
	for _, pp := range plan.Partitions {
		want = append(want, fmt.Sprintf("%s%d : start=%12d, size=%12d, type=%s, uuid=%s, name=%q",
			p, pp.Index, pp.Start/512, pp.Size/512, pp.TypeGUID, pp.GUID, pp.Name))
	}
	for _, w := range want {
		if !strings.Contains(dump, w) {
			t.Errorf("sfdisk --dump lacks %q:\n%s", w, dump)
		}
	}
	if out, err := exec.Command(tool, "--verify", p).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
		t.Errorf("sfdisk --verify: %v\n%s", err, out)
	}
}

// extractESP copies the ESP of disk image p to its own file for tools that
// take no offset.
func extractESP(t *testing.T, p string) string {
	t.Helper()
	d, err := Open(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.ReadPartition(PartESP)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "esp.img")
	f, _ := os.Create(out)
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	return out
}

func fsckClean(t *testing.T, tool, esp string) {
	t.Helper()
	out, err := exec.Command(tool, "-n", "-v", esp).CombinedOutput()
	if err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "32 bit entries") {
		t.Errorf("fsck.fat did not see FAT32:\n%s", out)
	}
}

func mtoolsEnv() []string { return append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "TZ=UTC") }

func mtype(t *testing.T, tool, esp, p string) []byte {
	t.Helper()
	cmd := exec.Command(tool, "-i", esp, "::/"+p)
	cmd.Env = mtoolsEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("mtype %s: %v", p, err)
	}
	return out
}

// TestESPWithDosfstoolsAndMtools checks the ESP with fsck.fat and reads it
// with mtools, before and after edits through Disk.ESP.
func TestESPWithDosfstoolsAndMtools(t *testing.T) {
	fsck := testenv.MustHaveTool(t, "fsck.fat", "dosfstools")
	mdir := testenv.MustHaveTool(t, "mdir", "mtools")
	mtypeTool := testenv.MustHaveTool(t, "mtype", "mtools")
	img := testImage("tools")
	p := writeTestImage(t, img)
	esp := extractESP(t, p)
	fsckClean(t, fsck, esp)
	cmd := exec.Command(mdir, "-/", "-i", esp, "::")
	cmd.Env = mtoolsEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, out)
	}
	plan, _ := PlanLayout(img.Layout)
	serial := fmt.Sprintf("%04X-%04X", plan.VolumeID>>16, plan.VolumeID&0xffff)
	for _, w := range []string{"Volume in drive : is TURBO-ESP", "Serial Number is " + serial, "turbo-2-b+3.conf", "BOOTX64  EFI", "1980-01-01"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("mdir output lacks %q:\n%s", w, out)
		}
	}
	for _, f := range img.ESP {
		if got := mtype(t, mtypeTool, esp, f.Path); !bytes.Equal(got, f.Data) {
			t.Errorf("mtype %s: %d bytes, want %d", f.Path, len(got), len(f.Data))
		}
	}

	d, err := Open(p, true)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := d.ESP()
	if err := e.Rename("loader/entries/turbo-2-b+3.conf", "loader/entries/turbo-2-b+2-1.conf"); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile("b/linux", patterned(100000, 4)); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove("a/linux"); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile("loader/entries/"+strings.Repeat("long-name-", 12)+".conf", []byte("l")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	esp = extractESP(t, p)
	fsckClean(t, fsck, esp)
	cmd = exec.Command(mdir, "-b", "-/", "-i", esp, "::")
	cmd.Env = mtoolsEnv()
	out, _ = cmd.CombinedOutput()
	for _, w := range []string{"turbo-2-b+2-1.conf", "b/linux", strings.Repeat("long-name-", 12) + ".conf"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("mdir -b lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(string(out), "turbo-2-b+3.conf") || strings.Contains(string(out), "a/linux") {
		t.Errorf("old names still listed:\n%s", out)
	}
	if got := mtype(t, mtypeTool, esp, "loader/entries/turbo-2-b+2-1.conf"); !bytes.Equal(got, img.ESP[2].Data) {
		t.Errorf("renamed entry reads %q", got)
	}
	if got := mtype(t, mtypeTool, esp, "b/linux"); !bytes.Equal(got, patterned(100000, 4)) {
		t.Error("b/linux differs under mtools")
	}
}
