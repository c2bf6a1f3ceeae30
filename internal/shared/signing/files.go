package signing

import (
	"bytes"
	"context"
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

// MaxSignatureFileBytes bounds manifest.json.sig.
const MaxSignatureFileBytes = 64 << 10

// SignDir signs buildDir/manifest.json with k and writes
// buildDir/manifest.json.sig atomically, keeping the lines of other keys
// (see Sign). The folder is loaded by manifest.LoadDir first: the manifest
// must be valid and every artifact a regular file that matches it, so a
// tampered or incomplete build is never signed. No other file is written
// or modified; if the signature file would not change it is not rewritten.
// Reads stop when ctx is done.
func SignDir(ctx context.Context, buildDir string, k PrivateKey) error {
	d, err := manifest.LoadDir(ctx, buildDir)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	spath := filepath.Join(buildDir, SignatureFile)
	old, err := readSignatureFile(ctx, spath)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	out, err := Sign(k, d.Bytes, old)
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

// ReadSignatureFile reads a build folder's manifest.json.sig (a regular
// file of at most MaxSignatureFileBytes); nil, nil if there is none.
func ReadSignatureFile(ctx context.Context, buildDir string) ([]byte, error) {
	return readSignatureFile(ctx, filepath.Join(buildDir, SignatureFile))
}

func readSignatureFile(ctx context.Context, spath string) ([]byte, error) {
	b, err := manifest.ReadRegular(ctx, spath, MaxSignatureFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// VerifyDir checks a build directory: the signature file against
// manifest.json and the trusted keys (see Verify), then the folder as
// manifest.LoadDir does (every artifact a regular file matching the
// manifest). It returns the key that verified.
//
// manifest.json is read once: the bytes whose signature was checked are the
// bytes that are parsed, so the file cannot change in between. Artifacts
// are hashed from disk; a caller that then copies them (flash) should hash
// what it writes, or it relies on nobody modifying the directory meanwhile.
func VerifyDir(ctx context.Context, buildDir string, trusted []PublicKey) (PublicKey, error) {
	d, err := manifest.ReadDir(ctx, buildDir)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify: %w", err)
	}
	spath := filepath.Join(buildDir, SignatureFile)
	sig, err := readSignatureFile(ctx, spath)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify: %w", err)
	}
	if sig == nil {
		return PublicKey{}, fmt.Errorf("verify: %s: %w (%w)", spath, ErrNoSignatures, fs.ErrNotExist)
	}
	key, err := Verify(d.Bytes, sig, trusted)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify %s: %w", buildDir, err)
	}
	if err := d.Verify(ctx); err != nil {
		return PublicKey{}, fmt.Errorf("verify: %w", err)
	}
	return key, nil
}
