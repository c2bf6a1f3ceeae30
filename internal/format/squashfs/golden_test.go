package squashfs

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

// goldenNone pins the output across runs, machines and Go versions:
// reproducibility is a feature of this package, so any change to these
// bytes must be deliberate. If a format change is intended, replace the
// constant with the digest the failing test prints. Compression "none"
// keeps the digest independent of compressor library versions.
const goldenNone = "a27080497ee30273518764c530d10f448758b13eec608ea0bf461297aad9f20b"

func goldenTree() []Entry {
	var es []Entry
	for _, e := range sampleTree() {
		if !strings.HasPrefix(e.Path, "many/") {
			es = append(es, e)
		}
	}
	return es
}

func TestGoldenSquashfs(t *testing.T) {
	img, err := Build(goldenTree(), "none")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(img)); got != goldenNone {
		t.Errorf("squashfs digest %s, want %s", got, goldenNone)
	}
}

// patterned returns n deterministic, poorly compressible bytes.
func patterned(n int, seed uint32) []byte {
	out := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}
