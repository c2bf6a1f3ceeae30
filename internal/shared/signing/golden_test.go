package signing

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// Regenerate the golden files with:
//
//	go test ./signing/ -run TestGolden -update
//
// testdata/golden/manifest.json is an input fixture and is only written by
// -update when it is missing.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func goldenManifest() ([]byte, error) {
	m := &manifest.Manifest{
		Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "golden",
		Cmdline: "console=ttyS0", Tries: 3,
		Artifacts: []manifest.File{manifest.Digest("kernel", []byte("kernel")), manifest.Digest("initramfs.cpio.zst", []byte("initramfs"))},
		Toolchain: manifest.Toolchain{Go: "go1.26"},
	}
	return m.Marshal()
}

func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	mpath := filepath.Join(dir, "manifest.json")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(mpath); err != nil {
			mb, err := goldenManifest()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(mpath, mb, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mb, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	a, b := keyFromSeed(t, seedA), keyFromSeed(t, seedB)
	sig, err := Sign(a, mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sig, err = Sign(b, mb, sig); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"release.key", a.MarshalText()},
		{"release.pub", a.Public().MarshalText()},
		{"second.pub", b.Public().MarshalText()},
		{SignatureFile, sig},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if *update {
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(f.data, want) {
			t.Errorf("%s differs from the golden file:\ngot  %q\nwant %q", f.name, f.data, want)
		}
	}

	// The golden files must also read back: keys parse, and the golden
	// signature verifies under each public key with plain crypto/ed25519
	// over the documented message (domain prefix + manifest bytes).
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	priv, err := ParsePrivateKey("release.key", read("release.key"))
	if err != nil {
		t.Fatal(err)
	}
	var pubs []PublicKey
	for _, n := range []string{"release.pub", "second.pub"} {
		p, err := ParsePublicKey(n, read(n))
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, p)
	}
	if !priv.Public().Equal(pubs[0]) {
		t.Error("release.pub is not the public half of release.key")
	}
	sigs, err := ParseSignatures(SignatureFile, read(SignatureFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs[0].KeyID != idA || sigs[1].KeyID != idB {
		t.Fatalf("golden signature lines: %+v", sigs)
	}
	msg := append([]byte("turbo-image manifest v1\n"), mb...)
	for i, p := range pubs {
		if !ed25519.Verify(p.Key, msg, sigs[i].Sig) {
			t.Errorf("golden signature %d does not verify with crypto/ed25519", i)
		}
	}
	if _, err := manifest.Parse(mb); err != nil {
		t.Errorf("golden manifest: %v", err)
	}
}
