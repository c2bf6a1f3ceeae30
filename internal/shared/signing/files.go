package signing

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// PublicKeyPath returns the public key file name that goes with the private
// key file privPath: a ".key" suffix is replaced by ".pub" ("release.key" ->
// "release.pub"), any other name gets ".pub" appended.
func PublicKeyPath(privPath string) string {
	if base, ok := strings.CutSuffix(privPath, ".key"); ok {
		return base + ".pub"
	}
	return privPath + ".pub"
}

// WriteKeyPair writes k's private key file to privPath (mode 0600) and its
// public key file (mode 0644) next to it, named by PublicKeyPath, which it
// returns. It refuses to overwrite either file: if one exists nothing is
// written. Each file is written to a temporary file in the same directory,
// synced and then linked into place, so no half-written key is ever
// visible; if the second file cannot be placed the first is removed again.
func WriteKeyPair(privPath string, k PrivateKey) (pubPath string, err error) {
	if !k.valid() {
		return "", errors.New("write key pair: invalid private key")
	}
	pubPath = PublicKeyPath(privPath)
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("write key pair: %s: %w (refusing to overwrite a key)", p, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("write key pair: %w", err)
		}
	}
	if err := atomicfile.Create(privPath, k.MarshalText(), 0o600); err != nil {
		return "", fmt.Errorf("write private key: %w", err)
	}
	if err := atomicfile.Create(pubPath, k.Public().MarshalText(), 0o644); err != nil {
		os.Remove(privPath)
		return "", fmt.Errorf("write public key: %w", err)
	}
	return pubPath, nil
}

// SignDir signs buildDir/manifest.json with k and writes
// buildDir/manifest.json.sig atomically, keeping the lines of other keys
// (see Sign). Before signing it checks that the manifest is valid and that
// every artifact in buildDir matches it, so a tampered or incomplete build
// is never signed. No other file is written or modified; if the signature
// file would not change it is not rewritten.
func SignDir(buildDir string, k PrivateKey) error {
	mpath := filepath.Join(buildDir, manifest.FileName)
	data, err := os.ReadFile(mpath)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		return fmt.Errorf("sign: %s: %w", mpath, err)
	}
	if err := m.Verify(buildDir); err != nil {
		return fmt.Errorf("sign: %s does not match its manifest: %w", buildDir, err)
	}
	spath := filepath.Join(buildDir, SignatureFile)
	old, err := os.ReadFile(spath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sign: %w", err)
	}
	out, err := Sign(k, data, old)
	if err != nil {
		return fmt.Errorf("sign: %s: %w", buildDir, err)
	}
	if old != nil && bytes.Equal(out, old) {
		return nil
	}
	if err := atomicfile.WriteFile(spath, out, 0o644); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// VerifyDir checks a build directory: the signature file against
// manifest.json and the trusted keys (see Verify), then every artifact's
// size and sha256 against the manifest. It returns the key that verified.
//
// manifest.json is read once: the bytes whose signature was checked are the
// bytes that are parsed, so the file cannot change in between. Artifacts
// are hashed from disk; a caller that then copies them (flash) should hash
// what it writes, or it relies on nobody modifying the directory meanwhile.
func VerifyDir(buildDir string, trusted []PublicKey) (PublicKey, error) {
	mpath := filepath.Join(buildDir, manifest.FileName)
	data, err := os.ReadFile(mpath)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify: %w", err)
	}
	spath := filepath.Join(buildDir, SignatureFile)
	sig, err := os.ReadFile(spath)
	if errors.Is(err, fs.ErrNotExist) {
		return PublicKey{}, fmt.Errorf("verify: %s: %w (%w)", spath, ErrNoSignatures, err)
	}
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify: %w", err)
	}
	key, err := Verify(data, sig, trusted)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify %s: %w", buildDir, err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify: %s: %w", mpath, err)
	}
	if err := m.Verify(buildDir); err != nil {
		return PublicKey{}, fmt.Errorf("verify %s: %w", buildDir, err)
	}
	return key, nil
}
