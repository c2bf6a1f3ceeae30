package diskimage

import (
	"path/filepath"
	"testing"
)

// goldenSmallDisk pins the output across runs, machines and Go versions:
// reproducibility is a feature of this package, so any change to these
// bytes must be deliberate. If a format change is intended, replace the
// constant with the digest the failing test prints.
const goldenSmallDisk = "8a3483f4834143a42edcc58259cbdf242dd8f3c8c75c8699e5ca91b8fdfcdbf7"

func TestGoldenDisk(t *testing.T) {
	img := testImage("golden")
	img.Layout.ESPSize, img.Layout.SlotSize, img.Layout.DataSize = 33*MiB, 2*MiB, MiB
	img.SlotA = img.SlotA[:MiB]
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := Write(p, img); err != nil {
		t.Fatal(err)
	}
	if got := sha(t, p); got != goldenSmallDisk {
		t.Errorf("disk digest %s, want %s", got, goldenSmallDisk)
	}
}
