package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/channelfile"
)

// TestChannelCommand sets, shows and clears an appliance's channel on its
// disk's ESP; a bad name and a file that is not a disk are refused with
// the disk unchanged.
func TestChannelCommand(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "appliance.img")
	if err := diskimage.Write(disk, diskimage.Image{Layout: diskimage.Layout{SlotSize: 8 << 20, DataSize: 8 << 20, Arch: "amd64", Seed: "chan"},
		SlotA: []byte("slot"), ESP: []diskimage.File{
			{Path: "loader/loader.conf", Data: []byte("timeout 0\ndefault turbo-*\n")},
			{Path: "a/linux", Data: []byte("k")}, {Path: "a/initrd", Data: []byte("i")},
			{Path: "loader/entries/turbo-1-a.conf", Data: []byte("title x\nversion 1.0.0\nlinux /a/linux\ninitrd /a/initrd\noptions console=ttyS0 turbo.slot=a\n")},
		}}); err != nil {
		t.Fatal(err)
	}
	// A disk that is not an appliance's (no boot entries) is refused.
	if code, _, errs := runCLI(t, "channel", "set", dataDisk(t, "plain"), "canary"); code == 0 || !strings.Contains(errs, "not a turbo-image A/B disk") {
		t.Errorf("set on a disk with no boot entries: exit %d, %q", code, errs)
	}
	espFile := func() (string, bool) {
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
		b, err := esp.ReadFile(channelfile.Name)
		return string(b), err == nil
	}
	if code, out, errs := runCLI(t, "channel", "show", disk); code != 0 || !strings.Contains(out, "no channel set") {
		t.Fatalf("show before set: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "channel", "set", disk, "canary"); code != 0 || !strings.Contains(out, "follows channel canary") {
		t.Fatalf("set: exit %d %q %q", code, out, errs)
	}
	if b, ok := espFile(); !ok || b != "canary\n" {
		t.Fatalf("ESP %s holds %q (%v)", channelfile.Name, b, ok)
	}
	if code, out, _ := runCLI(t, "channel", "show", disk); code != 0 || !strings.Contains(out, "channel canary") {
		t.Fatalf("show: exit %d %q", code, out)
	}
	before := fileSum(t, disk)
	for _, bad := range [][]string{{"set", disk, "Canary"}, {"set", disk, "sha256-x"}, {"set", disk}, {"frob", disk}} {
		if code, _, errs := runCLI(t, append([]string{"channel"}, bad...)...); code == 0 || errs == "" {
			t.Errorf("channel %q: exit %d, %q", bad, code, errs)
		}
	}
	notDisk := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notDisk, []byte("mine"), 0o644)
	if code, _, errs := runCLI(t, "channel", "set", notDisk, "canary"); code == 0 || !strings.Contains(errs, notDisk) {
		t.Errorf("set on a non-disk: exit %d, %q", code, errs)
	}
	if b, _ := os.ReadFile(notDisk); string(b) != "mine" {
		t.Errorf("the user's file was changed: %q", b)
	}
	if fileSum(t, disk) != before {
		t.Fatal("a refused channel command changed the disk")
	}
	if code, _, errs := runCLI(t, "channel", "clear", disk); code != 0 {
		t.Fatalf("clear: %q", errs)
	}
	if _, ok := espFile(); ok {
		t.Fatal("clear left the file")
	}
}
