package signing

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DSSE signatures (Dead Simple Signing Envelope, secure-systems-lab/dsse
// protocol.md, version 1.0): the signed message is the pre-authentication
// encoding
//
//	PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// where SP is one space and LEN the length in bytes as ASCII decimal
// without leading zeros. The payload type is inside the signed bytes, so a
// signature over a provenance statement cannot be replayed as one over
// another kind of document; and since every PAE starts with "DSSEv1 ", a
// DSSE signature is never a manifest or channel signature of this package
// (those messages start with "turbo-image "), even made with the same key.
//
// The release keys are the same Ed25519 keys (pure Ed25519, RFC 8032) as
// for manifest.json.sig; the DSSE keyid is the key id of [KeyID].

// PAE returns DSSE's pre-authentication encoding of a payload and its type.
func PAE(payloadType string, payload []byte) []byte {
	head := "DSSEv1 " + strconv.Itoa(len(payloadType)) + " " + payloadType + " " + strconv.Itoa(len(payload)) + " "
	msg := make([]byte, 0, len(head)+len(payload))
	msg = append(msg, head...)
	return append(msg, payload...)
}

// Errors of VerifyDSSE (wrapped); test with errors.Is.
var (
	// ErrDSSEUnsigned means the envelope holds no signature.
	ErrDSSEUnsigned = errors.New("envelope has no signatures")
	// ErrDSSEUntrusted means no signature's key id is a trusted key's.
	ErrDSSEUntrusted = errors.New("envelope is signed only by untrusted keys")
	// ErrDSSEBadSignature means a trusted key's signature does not match
	// the payload: the payload, its type or the signature was modified.
	ErrDSSEBadSignature = errors.New("signature does not match the payload")
)

// SignDSSE signs PAE(payloadType, payload) with k.
func SignDSSE(k PrivateKey, payloadType string, payload []byte) (Signature, error) {
	if !k.valid() {
		return Signature{}, errors.New("sign: invalid private key")
	}
	return Signature{KeyID: k.Public().ID(), Sig: ed25519.Sign(k.key, PAE(payloadType, payload))}, nil
}

// VerifyDSSE checks the signatures over PAE(payloadType, payload) and
// returns the first trusted key whose signature verifies. Otherwise the
// error wraps ErrDSSEUnsigned, ErrDSSEBadSignature (a trusted key's
// signature does not match: the payload or the signature was changed) or
// ErrDSSEUntrusted (the error names the keys that signed and the trusted
// ones).
func VerifyDSSE(payloadType string, payload []byte, sigs []Signature, trusted []PublicKey) (PublicKey, error) {
	if len(sigs) == 0 {
		return PublicKey{}, ErrDSSEUnsigned
	}
	if len(trusted) == 0 {
		return PublicKey{}, errors.New("verify: no trusted public keys given")
	}
	msg := PAE(payloadType, payload)
	var failed, unknown []string
	for _, s := range sigs {
		found := false
		for _, k := range trusted {
			if len(k.Key) != ed25519.PublicKeySize || k.ID() != s.KeyID {
				continue
			}
			found = true
			if len(s.Sig) == ed25519.SignatureSize && ed25519.Verify(k.Key, msg, s.Sig) {
				return k, nil
			}
		}
		if found {
			failed = append(failed, s.KeyID)
		} else {
			unknown = append(unknown, s.KeyID)
		}
	}
	if len(failed) > 0 {
		return PublicKey{}, fmt.Errorf("%w: the signature by trusted key %s does not verify (the statement or the signature was changed)",
			ErrDSSEBadSignature, strings.Join(failed, ", "))
	}
	ids := make([]string, 0, len(trusted))
	for _, k := range trusted {
		ids = append(ids, k.ID())
	}
	return PublicKey{}, fmt.Errorf("%w: signed by key %s, trusted keys are %s", ErrDSSEUntrusted, strings.Join(unknown, ", "), strings.Join(ids, ", "))
}
