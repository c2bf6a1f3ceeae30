// Package signing signs and verifies turbo-image releases with Ed25519.
//
// A build directory holds its artifacts plus manifest.json, which records
// every artifact's sha256 and size (see the manifest package). A release is
// signed by signing the manifest's exact bytes; because the manifest pins
// every payload, one signature covers the whole build without touching any
// payload byte. The signatures live next to the manifest in a detached file,
// manifest.json.sig, so signing never modifies the manifest or an artifact.
//
// The package uses only the Go standard library (crypto/ed25519, RFC 8032
// "Edwards-Curve Digital Signature Algorithm", pure Ed25519 mode): it is
// compiled into the appliance's init, whose update agent verifies updates.
//
// # Signed message and domain separation
//
// The message that is signed is not the manifest alone but
//
//	"turbo-image manifest v1\n" || manifest.json bytes
//
// (the constant [ManifestDomain]). The prefix binds the signature to its
// purpose: a signature made by a turbo-image key can never be replayed as a
// signature over some other kind of document, and a raw Ed25519 signature
// over the manifest made by another tool with the same key does not verify.
// The same idea appears in OpenSSH's SSHSIG format (PROTOCOL.sshsig, its
// "SSHSIG" magic preamble and namespace) and in RFC 8032's Ed25519ctx; the
// plain prefix was chosen so a signature can be checked with any pure
// Ed25519 implementation. A future, incompatible message format gets a new
// prefix ("... v2").
//
// # File formats
//
// All three files are ASCII text; fields are separated by exactly one space,
// binary values are base64 in the standard alphabet with padding (RFC 4648
// section 4) and must be canonical (what encoding them again would produce).
//
// Private key file (written with mode 0600), one line, the 32-byte Ed25519
// seed of RFC 8032 section 5.1.5:
//
//	turbo-image-ed25519-private <base64 of the 32-byte seed>
//
// Public key file, one line, the 32-byte Ed25519 public key:
//
//	turbo-image-ed25519 <base64 of the 32-byte public key>
//
// Signature file manifest.json.sig, one line per signing key:
//
//	turbo-image-ed25519-sig <key id> <base64 of the 64-byte signature>
//
// The key id is the first 16 hexadecimal digits (lowercase) of the sha256 of
// the 32 raw public key bytes (see [KeyID]). [Sign] writes the lines sorted
// by key id with at most one line per key, so the file is a deterministic
// function of the manifest and the set of keys that signed it (Ed25519
// signatures are deterministic). An empty signature file holds no
// signatures.
//
// Parsing is strict. Every line ends with "\n"; only the final newline of a
// file may be missing. Carriage returns are rejected, so a file whose line
// endings were converted to CRLF fails with an error that says so rather
// than being silently accepted. Empty lines, extra fields, extra spaces,
// leading or trailing blanks, a second line in a key file, non-canonical
// base64, wrong lengths and upper-case key ids are errors. In a signature
// file the lines may come in any order (so two files can be combined), but
// a key id may appear only once. Keys are accepted only in the text formats
// above, never as raw 32-byte files. Errors name the file and line as
// "name:line: problem".
package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
)

// SignatureFile is the name of the detached signature file in a build
// directory, next to manifest.json.
const SignatureFile = "manifest.json.sig"

// ManifestDomain is the domain-separation prefix: the signed message is
// ManifestDomain followed by the exact bytes of manifest.json.
const ManifestDomain = "turbo-image manifest v1\n"

// Line prefixes of the three file formats (see the package documentation).
const (
	privateKeyPrefix = "turbo-image-ed25519-private"
	publicKeyPrefix  = "turbo-image-ed25519"
	signaturePrefix  = "turbo-image-ed25519-sig"
)

// keyIDLen is the number of hex digits in a key id.
const keyIDLen = 16

// PublicKey is an Ed25519 public key trusted to sign releases.
type PublicKey struct {
	// Key holds the 32 raw public key bytes.
	Key ed25519.PublicKey
}

// ID returns the key's id; see [KeyID].
func (k PublicKey) ID() string { return KeyID(k) }

// Equal reports whether k and o hold the same key bytes.
func (k PublicKey) Equal(o PublicKey) bool { return bytes.Equal(k.Key, o.Key) }

// MarshalText returns the public key file content, newline terminated. It
// returns nil if k does not hold a 32-byte key.
func (k PublicKey) MarshalText() []byte {
	if len(k.Key) != ed25519.PublicKeySize {
		return nil
	}
	return []byte(publicKeyPrefix + " " + base64.StdEncoding.EncodeToString(k.Key) + "\n")
}

// PrivateKey is an Ed25519 signing key. The zero value is not a usable key.
//
// Its String and GoString methods do not reveal the key, so printing one by
// mistake does not leak it; use MarshalText to serialize it.
type PrivateKey struct {
	key ed25519.PrivateKey // 64 bytes: seed || public key
}

// valid reports whether k holds a key.
func (k PrivateKey) valid() bool { return len(k.key) == ed25519.PrivateKeySize }

// Public returns the public half of k (a zero PublicKey if k is the zero
// value).
func (k PrivateKey) Public() PublicKey {
	if !k.valid() {
		return PublicKey{}
	}
	return PublicKey{Key: bytes.Clone(k.key[ed25519.SeedSize:])}
}

// MarshalText returns the private key file content, newline terminated. It
// returns nil for the zero PrivateKey.
func (k PrivateKey) MarshalText() []byte {
	if !k.valid() {
		return nil
	}
	return []byte(privateKeyPrefix + " " + base64.StdEncoding.EncodeToString(k.key.Seed()) + "\n")
}

// String describes k by its public key id without revealing the secret.
func (k PrivateKey) String() string {
	if !k.valid() {
		return "turbo-image private key (invalid)"
	}
	return "turbo-image private key " + k.Public().ID()
}

// GoString is like String, so %#v does not reveal the secret either.
func (k PrivateKey) GoString() string { return k.String() }

// GenerateKey returns a new key whose 32-byte seed is read from random. A
// nil random means crypto/rand.Reader. A deterministic reader gives a
// deterministic key (useful for tests only).
func GenerateKey(random io.Reader) (PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(random, seed); err != nil {
		return PrivateKey{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return PrivateKey{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// KeyID returns the id of pub: the first 16 lowercase hex digits of the
// sha256 of its 32 raw bytes. It names a key in signature files and errors.
func KeyID(pub PublicKey) string {
	sum := sha256.Sum256(pub.Key)
	return hex.EncodeToString(sum[:])[:keyIDLen]
}

// Signature is one line of a signature file.
type Signature struct {
	// KeyID is the id of the key that made the signature (see KeyID).
	KeyID string
	// Sig is the 64-byte Ed25519 signature.
	Sig []byte
}

// ParsePrivateKey parses the content of a private key file; name is used in
// error messages only.
func ParsePrivateKey(name string, data []byte) (PrivateKey, error) {
	seed, err := parseKeyFile(name, data, privateKeyPrefix, "private key", ed25519.SeedSize)
	if err != nil {
		return PrivateKey{}, err
	}
	return PrivateKey{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// ParsePublicKey parses the content of a public key file; name is used in
// error messages only.
func ParsePublicKey(name string, data []byte) (PublicKey, error) {
	key, err := parseKeyFile(name, data, publicKeyPrefix, "public key", ed25519.PublicKeySize)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Key: key}, nil
}

// parseKeyFile parses a one-line "<prefix> <base64>" file whose decoded
// value must be size bytes long.
func parseKeyFile(name string, data []byte, prefix, what string, size int) ([]byte, error) {
	lines, err := splitLines(name, data)
	if err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: empty file, want a turbo-image %s", name, what)
	}
	if len(lines) > 1 {
		return nil, fmt.Errorf("%s:2: unexpected data after the %s line (a key file has one line)", name, what)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s:1: %s", name, fmt.Sprintf(format, a...))
	}
	line := lines[0]
	tag, value, ok := strings.Cut(line, " ")
	if tag != prefix {
		if hint := fileKind(tag); hint != "" {
			return nil, bad("this is a turbo-image %s file, want a %s", hint, what)
		}
		return nil, bad("not a turbo-image %s: want a line starting %q", what, prefix+" ")
	}
	if !ok {
		return nil, bad("missing the base64 %s after %q", what, prefix)
	}
	b, err := decodeB64(value, size)
	if err != nil {
		return nil, bad("%s: %v", what, err)
	}
	return b, nil
}

// fileKind names the kind of turbo-image file whose lines start with tag,
// or returns "" if tag is not one of ours.
func fileKind(tag string) string {
	switch tag {
	case privateKeyPrefix:
		return "private key"
	case publicKeyPrefix:
		return "public key"
	case signaturePrefix:
		return "signature"
	}
	return ""
}

// ParseSignatures parses the content of a signature file; name is used in
// error messages only. Empty data yields no signatures and no error.
func ParseSignatures(name string, data []byte) ([]Signature, error) {
	lines, err := splitLines(name, data)
	if err != nil {
		return nil, err
	}
	var sigs []Signature
	seen := make(map[string]int, len(lines))
	for i, line := range lines {
		n := i + 1
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, a...))
		}
		if line == "" {
			return nil, bad("empty line")
		}
		fields := strings.Split(line, " ")
		if fields[0] != signaturePrefix {
			if hint := fileKind(fields[0]); hint != "" {
				return nil, bad("this is a turbo-image %s file, want a signature file", hint)
			}
			return nil, bad("not a turbo-image signature: want a line starting %q", signaturePrefix+" ")
		}
		if len(fields) != 3 {
			return nil, bad("got %d fields, want 3 separated by single spaces: %q", len(fields), signaturePrefix+" <key id> <base64 signature>")
		}
		id := fields[1]
		if !isKeyID(id) {
			return nil, bad("key id %q: want %d lowercase hex digits", id, keyIDLen)
		}
		if prev, dup := seen[id]; dup {
			return nil, bad("second signature by key %s (first on line %d)", id, prev)
		}
		seen[id] = n
		sig, err := decodeB64(fields[2], ed25519.SignatureSize)
		if err != nil {
			return nil, bad("signature: %v", err)
		}
		sigs = append(sigs, Signature{KeyID: id, Sig: sig})
	}
	return sigs, nil
}

// MarshalSignatures returns the signature file content for sigs, one line
// per signature, sorted by key id. It fails on a malformed key id or
// signature length or a key id listed twice.
func MarshalSignatures(sigs []Signature) ([]byte, error) {
	sorted := slices.Clone(sigs)
	slices.SortStableFunc(sorted, func(a, b Signature) int { return strings.Compare(a.KeyID, b.KeyID) })
	var b bytes.Buffer
	for i, s := range sorted {
		if !isKeyID(s.KeyID) {
			return nil, fmt.Errorf("signature key id %q: want %d lowercase hex digits", s.KeyID, keyIDLen)
		}
		if len(s.Sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("signature by key %s: %d bytes, want %d", s.KeyID, len(s.Sig), ed25519.SignatureSize)
		}
		if i > 0 && sorted[i-1].KeyID == s.KeyID {
			return nil, fmt.Errorf("two signatures by key %s", s.KeyID)
		}
		b.WriteString(signaturePrefix + " " + s.KeyID + " " + base64.StdEncoding.EncodeToString(s.Sig) + "\n")
	}
	return b.Bytes(), nil
}

// splitLines splits data into "\n"-terminated lines; the last line's
// newline may be missing. Carriage returns are rejected with the line
// number.
func splitLines(name string, data []byte) ([]string, error) {
	s := string(data)
	if s == "" {
		return nil, nil
	}
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.IndexByte(l, '\r') >= 0 {
			return nil, fmt.Errorf("%s:%d: carriage return in line (CRLF line endings are not accepted)", name, i+1)
		}
	}
	return lines, nil
}

// decodeB64 decodes canonical padded standard base64 of exactly size bytes.
func decodeB64(s string, size int) ([]byte, error) {
	if want := base64.StdEncoding.EncodedLen(size); len(s) != want {
		return nil, fmt.Errorf("base64 value is %d characters, want %d (%d bytes)", len(s), want, size)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64: %w", err)
	}
	// The decoder skips '\r' and '\n' and may accept non-canonical forms;
	// demand the exact encoding of the decoded bytes.
	if len(b) != size {
		return nil, fmt.Errorf("base64 value decodes to %d bytes, want %d", len(b), size)
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("base64 value is not the canonical encoding of %d bytes", size)
	}
	return b, nil
}

// isKeyID reports whether s is 16 lowercase hex digits.
func isKeyID(s string) bool {
	if len(s) != keyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
