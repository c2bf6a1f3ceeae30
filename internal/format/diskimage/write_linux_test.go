package diskimage

import (
	"os"
	"syscall"
	"testing"
)

// TestWriteSparse checks that the image file only allocates what holds
// data: the slot content, the ESP's files and metadata, the GPT.
func TestWriteSparse(t *testing.T) {
	img := testImage("sparse")
	p := writeTestImage(t, img)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	allocated := fi.Sys().(*syscall.Stat_t).Blocks * 512
	payload := int64(len(img.SlotA))
	for _, f := range img.ESP {
		payload += int64(len(f.Data))
	}
	if fi.Size() != 322*MiB {
		t.Errorf("size %d", fi.Size())
	}
	// Payload plus at most 512 KiB of metadata and block rounding.
	if allocated > payload+512<<10 {
		t.Errorf("allocated %d bytes for %d bytes of payload in a %d-byte image", allocated, payload, fi.Size())
	}
	t.Logf("image %d MiB, allocated %d KiB, payload %d KiB", fi.Size()>>20, allocated>>10, payload>>10)
}

// BenchmarkWrite writes a default-size image (64/64/64/128 MiB) holding a
// 3 MB kernel, a 1 MB initrd and a 5 MB squashfs, and reports the allocated
// size of the sparse file.
func BenchmarkWrite(b *testing.B) {
	img := Image{
		Layout: Layout{Arch: "amd64", Seed: "bench"},
		ESP: []File{
			{Path: "EFI/BOOT/BOOTX64.EFI", Data: patterned(100<<10, 1)},
			{Path: "loader/loader.conf", Data: []byte("timeout 0\n")},
			{Path: "loader/entries/turbo-1-a+3.conf", Data: []byte("title t\nlinux /a/linux\ninitrd /a/initrd\n")},
			{Path: "a/linux", Data: patterned(3_000_000, 2)},
			{Path: "a/initrd", Data: patterned(1_000_000, 3)},
		},
		SlotA: patterned(5_000_000, 4),
	}
	p := b.TempDir() + "/disk.img"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Write(p, img); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Sys().(*syscall.Stat_t).Blocks*512)/(1<<20), "allocated-MiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "size-MiB")
}
