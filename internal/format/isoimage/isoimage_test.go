package isoimage

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/fat32"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// mem is an in-memory Device.
type mem struct{ b []byte }

func (m *mem) ReadAt(p []byte, off int64) (int, error)  { return copy(p, m.b[off:]), nil }
func (m *mem) WriteAt(p []byte, off int64) (int, error) { return copy(m.b[off:], p), nil }

func testImage() Image {
	return Image{
		VolumeID: "HELLO_1_0_0", Epoch: 1700000000, ESPVolumeID: 0x1234abcd,
		ESP: []fat32.File{{Path: "EFI/BOOT/BOOTX64.EFI", Data: bytes.Repeat([]byte("uki!"), 100000)}},
	}
}

func build(t *testing.T, im Image) []byte {
	t.Helper()
	n, err := Size(im)
	if err != nil {
		t.Fatal(err)
	}
	m := &mem{b: make([]byte, n)}
	if err := Write(m, im); err != nil {
		t.Fatal(err)
	}
	return m.b
}

func TestWrite(t *testing.T) {
	im := testImage()
	b := build(t, im)
	if !bytes.Equal(b, build(t, im)) {
		t.Fatal("two writes differ")
	}
	if len(b)%BlockSize != 0 || len(b) != blkESP*BlockSize+33<<20 {
		t.Errorf("size %d: want the fixed blocks and a 33 MiB ESP", len(b))
	}
	pv := b[blkPVD*BlockSize:]
	if string(pv[1:6]) != "CD001" || pv[0] != 1 || !bytes.HasPrefix(pv[40:], []byte("HELLO_1_0_0 ")) {
		t.Errorf("primary volume descriptor: % x", pv[:48])
	}
	if got := binary.LittleEndian.Uint32(pv[80:]); int64(got)*BlockSize != int64(len(b)) {
		t.Errorf("volume space size %d blocks, file %d bytes", got, len(b))
	}
	if got := string(pv[813:829]); got != "2023111422132000" {
		t.Errorf("creation date %q, want the epoch 1700000000", got)
	}
	cat := b[blkCatalog*BlockSize:]
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(cat[i:])
	}
	if sum != 0 || cat[1] != platformEFI || cat[32] != bootable {
		t.Errorf("boot catalog: checksum sum %#x, platform %#x, indicator %#x", sum, cat[1], cat[32])
	}
	// The ESP in the image is a FAT32 volume holding the file.
	esp := b[blkESP*BlockSize:]
	v, err := fat32.Open(&mem{b: bytes.Clone(esp)}, int64(len(esp)), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.ReadFile("EFI/BOOT/BOOTX64.EFI"); err != nil || !bytes.Equal(got, im.ESP[0].Data) {
		t.Errorf("ESP file: %v", err)
	}
	// A different epoch changes the dates only.
	im2 := im
	im2.Epoch = 0
	b2 := build(t, im2)
	if bytes.Equal(b, b2) || !bytes.Equal(b[blkESP*BlockSize:], b2[blkESP*BlockSize:]) {
		t.Error("the epoch should change the ISO's dates and nothing in the ESP")
	}
}

func TestWriteRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Image)
		want string
	}{
		{"lower case volume id", func(im *Image) { im.VolumeID = "hello" }, "d-characters"},
		{"empty volume id", func(im *Image) { im.VolumeID = "" }, "1-32"},
		{"long volume id", func(im *Image) { im.VolumeID = strings.Repeat("A", 33) }, "1-32"},
		{"negative epoch", func(im *Image) { im.Epoch = -1 }, "epoch"},
		{"bad ESP path", func(im *Image) { im.ESP = []fat32.File{{Path: "/abs", Data: []byte{1}}} }, ""},
	} {
		im := testImage()
		c.mod(&im)
		n, _ := Size(testImage())
		err := Write(&mem{b: make([]byte, n)}, im)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestVolumeID(t *testing.T) {
	for in, want := range map[string]string{
		"hello 1.0.0": "HELLO_1_0_0", "": "TURBO", strings.Repeat("x", 40): strings.Repeat("X", 32),
	} {
		if got := VolumeID(in); got != want || checkVolumeID(got) != nil {
			t.Errorf("VolumeID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestXorriso reads the ISO with xorriso (libisofs/libisoburn, an
// independent ISO 9660 and El Torito implementation): the boot catalog has
// one EFI no-emulation image at block 23, the system area one 0xEF
// partition, and the extracted EFIBOOT.IMG passes fsck.fat and holds
// the file.
func TestXorriso(t *testing.T) {
	xorriso := testenv.MustHaveTool(t, "xorriso", "xorriso")
	fsck := testenv.MustHaveTool(t, "fsck.fat", "dosfstools")
	im := testImage()
	dir := t.TempDir()
	iso := filepath.Join(dir, "live.iso")
	if err := os.WriteFile(iso, build(t, im), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xorriso, "-indev", iso, "-report_el_torito", "plain", "-report_system_area", "plain",
		"-osirrox", "on", "-extract", "/EFIBOOT.IMG", filepath.Join(dir, "esp.img")).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	s := strings.Join(strings.Fields(string(out)), " ") // spacing is xorriso's business
	for _, want := range []string{"El Torito boot img : 1 UEFI y none 0x0000 0x00 1 23", "El Torito img path : 1 /EFIBOOT.IMG",
		"Volume id : 'HELLO_1_0_0'", "MBR partition : 1 0x00 0xef 92 67584", "MBR partition path : 1 /EFIBOOT.IMG"} {
		if !strings.Contains(s, want) {
			t.Errorf("xorriso output lacks %q:\n%s", want, s)
		}
	}
	if o, err := exec.Command(fsck, "-n", filepath.Join(dir, "esp.img")).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, o)
	}
	esp, err := os.ReadFile(filepath.Join(dir, "esp.img"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := fat32.Open(&mem{b: esp}, int64(len(esp)), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.ReadFile("EFI/BOOT/BOOTX64.EFI"); err != nil || !bytes.Equal(got, im.ESP[0].Data) {
		t.Errorf("EFI/BOOT/BOOTX64.EFI from the extracted image: %v", err)
	}
}
