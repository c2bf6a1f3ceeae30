package diskimage

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Golden digests pin the output across runs, machines and Go versions:
// reproducibility is a feature of this package, so any change to these
// bytes must be deliberate. If a format change is intended, replace the
// constants with the digests the failing test prints. Compression "none"
// keeps the squashfs digest independent of compressor library versions.
const (
	goldenSquashfsNone = "a27080497ee30273518764c530d10f448758b13eec608ea0bf461297aad9f20b"
	goldenSmallDisk    = "8a3483f4834143a42edcc58259cbdf242dd8f3c8c75c8699e5ca91b8fdfcdbf7"
)

func goldenTree() []TreeEntry {
	var es []TreeEntry
	for _, e := range sampleTree() {
		if !strings.HasPrefix(e.Path, "many/") {
			es = append(es, e)
		}
	}
	return es
}

func TestGoldenSquashfs(t *testing.T) {
	img, err := BuildSquashfs(goldenTree(), "none")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(img)); got != goldenSquashfsNone {
		t.Errorf("squashfs digest %s, want %s", got, goldenSquashfsNone)
	}
}

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
