package signing

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
	if err := writeFileAtomic(privPath, k.MarshalText(), 0o600, false); err != nil {
		return "", fmt.Errorf("write private key: %w", err)
	}
	if err := writeFileAtomic(pubPath, k.Public().MarshalText(), 0o644, false); err != nil {
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
	if err := writeFileAtomic(spath, out, 0o644, true); err != nil {
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

// writeFileAtomic writes data to path via a temporary file in the same
// directory: write, chmod perm, fsync, then rename (replace) or hard-link
// (no replace, failing if path exists). The temporary file is removed on
// every path; the directory is synced afterwards.
func writeFileAtomic(path string, data []byte, perm fs.FileMode, replace bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if replace {
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	} else if err := placeNoReplace(tmp, path); err != nil {
		return err
	}
	// Make the new directory entry durable. Some file systems cannot sync
	// a directory; the data itself is already synced, so that is not fatal.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// placeNoReplace moves tmp to path unless path exists. A hard link makes
// the check and the move one atomic step; on file systems without hard
// links it falls back to check-then-rename.
func placeNoReplace(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w (refusing to overwrite)", path, fs.ErrExist)
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("%s: %w (refusing to overwrite)", path, fs.ErrExist)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return serr
	}
	return os.Rename(tmp, path)
}
