package signing

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

func TestPublicKeyPath(t *testing.T) {
	for in, want := range map[string]string{
		"release.key":         "release.pub",
		"/etc/keys/a.key":     "/etc/keys/a.pub",
		"release":             "release.pub",
		"release.pem":         "release.pem.pub",
		"release.key.bak":     "release.key.bak.pub",
		"dir.key/release":     "dir.key/release.pub",
		"release.KEY":         "release.KEY.pub",
		"keys/release.v2.key": "keys/release.v2.pub",
	} {
		if got := PublicKeyPath(in); got != want {
			t.Errorf("PublicKeyPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteKeyPair(t *testing.T) {
	dir := t.TempDir()
	k := keyFromSeed(t, seedA)
	priv := filepath.Join(dir, "release.key")
	pub, err := WriteKeyPair(priv, k)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "release.pub"); pub != want {
		t.Errorf("public key path %s, want %s", pub, want)
	}
	for _, c := range []struct {
		path string
		perm fs.FileMode
		data string
	}{
		{priv, 0o600, "turbo-image-ed25519-private " + seedAB64 + "\n"},
		{pub, 0o644, "turbo-image-ed25519 " + pubAB64 + "\n"},
	} {
		st, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != c.perm {
			t.Errorf("%s: mode %v, want %v", c.path, st.Mode().Perm(), c.perm)
		}
		if b, _ := os.ReadFile(c.path); string(b) != c.data {
			t.Errorf("%s: %q, want %q", c.path, b, c.data)
		}
	}
	if got := strings.Join(dirNames(t, dir), " "); got != "release.key release.pub" {
		t.Errorf("directory holds %s", got)
	}
	// The written files parse back to the same key.
	kb, _ := os.ReadFile(priv)
	if k2, err := ParsePrivateKey(priv, kb); err != nil || !bytes.Equal(k2.key, k.key) {
		t.Errorf("read back private key: %v", err)
	}
}

func TestWriteKeyPairRefusesOverwrite(t *testing.T) {
	k := keyFromSeed(t, seedA)
	other := keyFromSeed(t, seedB)
	for _, existing := range []string{"release.key", "release.pub"} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			old := []byte("precious\n")
			if err := os.WriteFile(filepath.Join(dir, existing), old, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := WriteKeyPair(filepath.Join(dir, "release.key"), k)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), existing) {
				t.Fatalf("got %v, want ErrExist naming %s", err, existing)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, existing)); !bytes.Equal(b, old) {
				t.Errorf("%s was modified", existing)
			}
			if got := dirNames(t, dir); len(got) != 1 {
				t.Errorf("directory holds %v, want only %s", got, existing)
			}
		})
	}
	// A second WriteKeyPair over a full pair fails and keeps the first key.
	dir := t.TempDir()
	priv := filepath.Join(dir, "k")
	if _, err := WriteKeyPair(priv, k); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteKeyPair(priv, other); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "k.pub"))
	if string(b) != string(k.Public().MarshalText()) {
		t.Error("public key was overwritten")
	}
}

func TestWriteKeyPairMissingDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteKeyPair(filepath.Join(dir, "no", "release.key"), keyFromSeed(t, seedA)); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}

// buildDir writes a small build directory with three artifacts and its
// manifest, and sets every file's mtime to a fixed past time so a rewrite
// is visible.
func buildDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	arts := map[string][]byte{
		"kernel":             []byte("kernel bytes"),
		"initramfs.cpio.zst": bytes.Repeat([]byte{0x28, 0xb5, 0x2f, 0xfd}, 1000),
		"disk.img":           make([]byte, 4096),
	}
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "b1", Tries: 3,
		Toolchain: manifest.Toolchain{Go: "go1.26"}}
	for name, data := range arts {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m.Artifacts = append(m.Artifacts, manifest.Digest(name, data))
	}
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range dirNames(t, dir) {
		if err := os.Chtimes(filepath.Join(dir, n), old, old); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type fileState struct {
	data  []byte
	mtime time.Time
	mode  fs.FileMode
}

func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	for _, n := range dirNames(t, dir) {
		p := filepath.Join(dir, n)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = fileState{b, st.ModTime(), st.Mode()}
	}
	return out
}

func TestSignDirVerifyDir(t *testing.T) {
	dir := buildDir(t)
	a, b := keyFromSeed(t, seedA), keyFromSeed(t, seedB)
	before := snapshot(t, dir)

	if err := SignDir(context.Background(), dir, a); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for n, st := range before {
		got := after[n]
		if !bytes.Equal(got.data, st.data) || !got.mtime.Equal(st.mtime) || got.mode != st.mode {
			t.Errorf("SignDir touched %s", n)
		}
	}
	if len(after) != len(before)+1 {
		t.Errorf("after SignDir the directory holds %v", dirNames(t, dir))
	}
	sig, ok := after[SignatureFile]
	if !ok {
		t.Fatal("no signature file")
	}
	if sig.mode.Perm() != 0o644 {
		t.Errorf("signature file mode %v", sig.mode)
	}
	want, _ := Sign(a, before[manifest.FileName].data, nil)
	if !bytes.Equal(sig.data, want) {
		t.Errorf("signature file %q, want %q", sig.data, want)
	}

	got, err := VerifyDir(context.Background(), dir, []PublicKey{b.Public(), a.Public()})
	if err != nil || !got.Equal(a.Public()) {
		t.Fatalf("VerifyDir = %s, %v", got.ID(), err)
	}
	if _, err := VerifyDir(context.Background(), dir, []PublicKey{b.Public()}); !errors.Is(err, ErrUntrustedKey) || !strings.Contains(err.Error(), idA) {
		t.Errorf("untrusted: %v", err)
	}

	// A second key adds its line.
	if err := SignDir(context.Background(), dir, b); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, SignatureFile))
	if sigs, err := ParseSignatures("s", data); err != nil || len(sigs) != 2 {
		t.Fatalf("after second SignDir: %v, %q", err, data)
	}
	if _, err := VerifyDir(context.Background(), dir, []PublicKey{b.Public()}); err != nil {
		t.Errorf("trusting B: %v", err)
	}
	// Signing again with the same key leaves the file alone.
	st1, _ := os.Stat(filepath.Join(dir, SignatureFile))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, SignatureFile), old, old)
	if err := SignDir(context.Background(), dir, a); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(dir, SignatureFile))
	if !st2.ModTime().Equal(old) || st1.Size() != st2.Size() {
		t.Errorf("re-signing an unchanged manifest rewrote the signature file")
	}
	if n := len(dirNames(t, dir)); n != len(before)+1 {
		t.Errorf("stray files: %v", dirNames(t, dir))
	}
}

func TestVerifyDirTampered(t *testing.T) {
	a := keyFromSeed(t, seedA)
	trusted := []PublicKey{a.Public()}
	flip := func(t *testing.T, path string, i int) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[i] ^= 0x01
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		is     error
		want   string
	}{
		{"artifact byte", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, "initramfs.cpio.zst"), 2000) }, nil, "artifact initramfs.cpio.zst: sha256"},
		{"artifact truncated", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, "disk.img"), 4095) }, nil, "artifact disk.img: 4095 bytes"},
		{"artifact removed", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "kernel")) }, nil, "artifact kernel"},
		{"manifest byte", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, manifest.FileName), 30) }, ErrBadSignature, idA},
		{"signature removed", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, SignatureFile)) }, ErrNoSignatures, SignatureFile},
		{"signature emptied", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, SignatureFile), nil, 0o644) }, ErrNoSignatures, ""},
		{"signature byte", func(t *testing.T, dir string) {
			p := filepath.Join(dir, SignatureFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, flipSig(t, b, 10), 0o644)
		}, ErrBadSignature, idA},
		{"signature garbled", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, SignatureFile), 0) }, nil, SignatureFile + ":1: not a turbo-image signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := buildDir(t)
			if err := SignDir(context.Background(), dir, a); err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyDir(context.Background(), dir, trusted); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			c.tamper(t, dir)
			_, err := VerifyDir(context.Background(), dir, trusted)
			if err == nil {
				t.Fatal("tampered build verified")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %q", err, c.is)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestSignDirRefuses(t *testing.T) {
	a := keyFromSeed(t, seedA)
	t.Run("tampered artifact", func(t *testing.T) {
		dir := buildDir(t)
		os.WriteFile(filepath.Join(dir, "kernel"), []byte("evil"), 0o644)
		if err := SignDir(context.Background(), dir, a); err == nil || !strings.Contains(err.Error(), "artifact kernel") {
			t.Fatalf("signed a build whose kernel does not match: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, SignatureFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Error("signature file written")
		}
	})
	t.Run("invalid manifest", func(t *testing.T) {
		dir := buildDir(t)
		os.WriteFile(filepath.Join(dir, manifest.FileName), []byte("{}\n"), 0o644)
		if err := SignDir(context.Background(), dir, a); err == nil || !strings.Contains(err.Error(), manifest.FileName) {
			t.Fatalf("signed an invalid manifest: %v", err)
		}
	})
	t.Run("no manifest", func(t *testing.T) {
		if err := SignDir(context.Background(), t.TempDir(), a); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("malformed signature file kept", func(t *testing.T) {
		dir := buildDir(t)
		junk := []byte("not a signature\n")
		os.WriteFile(filepath.Join(dir, SignatureFile), junk, 0o644)
		if err := SignDir(context.Background(), dir, a); err == nil || !strings.Contains(err.Error(), SignatureFile+":1:") {
			t.Fatalf("got %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, SignatureFile)); !bytes.Equal(b, junk) {
			t.Error("malformed signature file was overwritten")
		}
	})
}
