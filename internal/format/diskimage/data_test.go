package diskimage

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// dataImage is a test image whose data partition is ext4.
func dataImage(seed string, dataSize int64) Image {
	img := testImage(seed)
	img.Layout.DataSize = dataSize
	img.DataExt4 = true
	img.Epoch = 1234567890
	return img
}

// TestWriteDataExt4 checks the data partition of a written image with
// e2fsck -fn, its identity, that two writes give the same bytes, and that
// the image stays sparse.
func TestWriteDataExt4(t *testing.T) {
	e2fsck := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	dumpe2fs := testenv.MustHaveTool(t, "dumpe2fs", "e2fsprogs")
	img := dataImage("data 1", 64*MiB)
	p := writeTestImage(t, img)
	q := writeTestImage(t, img)
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(q)
	if !bytes.Equal(a, b) {
		t.Error("two images from the same input differ")
	}
	d, err := Open(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.ReadPartition(PartData)
	if err != nil {
		t.Fatal(err)
	}
	fsPath := filepath.Join(t.TempDir(), "data.ext4")
	out, err := os.Create(fsPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, r); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if o, err := exec.Command(e2fsck, "-fn", fsPath).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn on the data partition: %v\n%s", err, o)
	}
	cmd := exec.Command(dumpe2fs, "-h", fsPath)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	dump, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v\n%s", err, dump)
	}
	plan, _ := PlanLayout(img.Layout)
	u := plan.DataUUID
	for _, want := range []string{
		"Filesystem volume name:   turbo-data",
		"Filesystem UUID:          " + formatUUID(u),
		"Filesystem created:       Fri Feb 13 23:31:30 2009",
	} {
		if !strings.Contains(string(dump), want) {
			t.Errorf("dumpe2fs lacks %q:\n%s", want, dump)
		}
	}
	// Another seed, another identity.
	if other, _ := PlanLayout(dataImage("data 2", 64*MiB).Layout); other.DataUUID == plan.DataUUID || other.DataHashSeed == plan.DataHashSeed {
		t.Error("data file system identity does not depend on the seed")
	}
	fi, _ := os.Stat(p)
	payload := int64(len(img.SlotA))
	for _, f := range img.ESP {
		payload += int64(len(f.Data))
	}
	// ext4 metadata of a 64 MiB file system is about 1.5 MiB (mostly the
	// journal's superblock and the bitmaps; the inode tables are holes).
	if alloc := fi.Sys().(*syscall.Stat_t).Blocks * 512; alloc > payload+2*MiB {
		t.Errorf("allocated %d KiB for %d KiB of payload", alloc>>10, payload>>10)
	}
}

// TestWriteDataTooSmall checks that a data partition ext4 cannot hold is
// refused before anything is written.
func TestWriteDataTooSmall(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk.img")
	err := Write(p, dataImage("small", 4*MiB))
	if err == nil || !strings.Contains(err.Error(), "partition turbo-data: ext4: 4 MiB is too small") {
		t.Fatalf("got %v", err)
	}
	if _, serr := os.Stat(p); serr == nil {
		t.Error("image written despite the error")
	}
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
