package diskimage

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestOpenBlockDevice attaches an image to a loop device and uses it
// through Open as flash and direct boot do. Needs root and a loop device.
func TestOpenBlockDevice(t *testing.T) {
	testenv.MustBeRoot(t, "attaching a loop device")
	losetup := testenv.MustHaveTool(t, "losetup", "mount")
	img := testImage("blockdev")
	p := writeTestImage(t, img)
	out, err := exec.Command(losetup, "--find", "--show", p).CombinedOutput()
	if err != nil {
		testenv.Missing(t, "no loop device available: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
	d, err := Open(dev, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != 322*MiB {
		t.Errorf("size %d", d.Size())
	}
	esp, err := d.ESP()
	if err != nil {
		t.Fatal(err)
	}
	if err := esp.Rename("loader/entries/turbo-2-b+3.conf", "loader/entries/turbo-2-b+2-1.conf"); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePartition(PartB, bytes.NewReader([]byte("new slot")), 8); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	exec.Command(losetup, "-d", dev).Run()
	// The changes reached the image file behind the device.
	d, err = Open(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e, _ := d.ESP()
	if got := mustRead(t, e, "loader/entries/turbo-2-b+2-1.conf"); !bytes.Equal(got, img.ESP[2].Data) {
		t.Errorf("renamed entry reads %q", got)
	}
	r, _ := d.ReadPartition(PartB)
	buf := make([]byte, 8)
	r.Read(buf)
	if string(buf) != "new slot" {
		t.Errorf("slot b starts with %q", buf)
	}
}
