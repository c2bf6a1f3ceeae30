package signing

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
)

// Errors returned (wrapped) by Verify and VerifyDir; test with errors.Is.
var (
	// ErrNoSignatures means the signature file is absent or holds no
	// signature.
	ErrNoSignatures = errors.New("manifest is not signed")
	// ErrUntrustedKey means the manifest is signed only by keys that are
	// not trusted. The message names their key ids.
	ErrUntrustedKey = errors.New("manifest is signed only by untrusted keys")
	// ErrBadSignature means a signature by a trusted key does not match
	// the manifest: the manifest or the signature was modified.
	ErrBadSignature = errors.New("signature does not match the manifest")
)

// message returns the signed message for manifest: ManifestDomain followed
// by the manifest bytes.
func message(manifest []byte) []byte {
	msg := make([]byte, 0, len(ManifestDomain)+len(manifest))
	msg = append(msg, ManifestDomain...)
	return append(msg, manifest...)
}

// Sign signs the exact manifest bytes with k and returns the new content of
// the signature file: existingSigFile (which may be empty) with k's line
// added, or replaced if k had signed before, sorted by key id. Lines of
// other keys are kept as they are, without being checked against the
// manifest. A malformed existingSigFile is an error, not overwritten.
func Sign(k PrivateKey, manifest []byte, existingSigFile []byte) ([]byte, error) {
	if !k.valid() {
		return nil, errors.New("sign: invalid private key")
	}
	sigs, err := ParseSignatures(SignatureFile, existingSigFile)
	if err != nil {
		return nil, fmt.Errorf("sign: existing signatures: %w", err)
	}
	id := k.Public().ID()
	mine := Signature{KeyID: id, Sig: ed25519.Sign(k.key, message(manifest))}
	out := sigs[:0:0]
	for _, s := range sigs {
		if s.KeyID != id {
			out = append(out, s)
		}
	}
	out = append(out, mine)
	return MarshalSignatures(out)
}

// Verify checks the signature file sigFile against the exact manifest bytes.
// It succeeds if any signature verifies under any of the trusted keys and
// returns that key. Otherwise the error wraps ErrNoSignatures (no
// signatures), ErrBadSignature (a trusted key's signature does not match:
// the manifest or signature was tampered with) or ErrUntrustedKey (signed
// only by keys not in trusted; the error names their ids). A malformed
// signature file is an error even if one of its lines would verify.
func Verify(manifest []byte, sigFile []byte, trusted []PublicKey) (PublicKey, error) {
	sigs, err := ParseSignatures(SignatureFile, sigFile)
	if err != nil {
		return PublicKey{}, err
	}
	if len(sigs) == 0 {
		return PublicKey{}, fmt.Errorf("%s: %w: no signatures in the file", SignatureFile, ErrNoSignatures)
	}
	if len(trusted) == 0 {
		return PublicKey{}, errors.New("verify: no trusted public keys given")
	}
	byID := make(map[string][]PublicKey, len(trusted))
	var trustedIDs []string
	for i, k := range trusted {
		if len(k.Key) != ed25519.PublicKeySize {
			return PublicKey{}, fmt.Errorf("verify: trusted key %d: %d bytes, want %d", i, len(k.Key), ed25519.PublicKeySize)
		}
		id := k.ID()
		if _, ok := byID[id]; !ok {
			trustedIDs = append(trustedIDs, id)
		}
		byID[id] = append(byID[id], k)
	}
	msg := message(manifest)
	var failed, unknown []string
	for _, s := range sigs {
		keys, ok := byID[s.KeyID]
		if !ok {
			unknown = append(unknown, s.KeyID)
			continue
		}
		// Key ids are 64 bits, so two trusted keys could share one:
		// try each.
		for _, k := range keys {
			if ed25519.Verify(k.Key, msg, s.Sig) {
				return k, nil
			}
		}
		failed = append(failed, s.KeyID)
	}
	if len(failed) > 0 {
		err := fmt.Errorf("%s: %w: signature by trusted key %s does not verify (%s or the signature was modified)",
			SignatureFile, ErrBadSignature, strings.Join(failed, ", "), "manifest.json")
		if len(unknown) > 0 {
			err = fmt.Errorf("%w; also signed by untrusted key %s", err, strings.Join(unknown, ", "))
		}
		return PublicKey{}, err
	}
	return PublicKey{}, fmt.Errorf("%s: %w: signed by key %s, trusted keys are %s",
		SignatureFile, ErrUntrustedKey, strings.Join(unknown, ", "), strings.Join(trustedIDs, ", "))
}
