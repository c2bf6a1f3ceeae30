package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Channel statements.
//
// A build is promoted to a channel ("at", "qa", "prod") by signing a small
// statement that names the build by its registry digest and the channel:
//
//	{"schema":"turbo-image-channel-v1","digest":"sha256:<64 hex>","name":"hello","version":"1.0.1","channel":"prod"}
//
// The statement's bytes are exactly what [MarshalStatement] writes: the
// JSON object above with its five members in that order, no white space,
// no trailing newline (Go's encoding/json output for [Statement]).
// [ParseStatement] accepts only those canonical bytes, so one statement
// has one byte form and one signature.
//
// The signed message is
//
//	"turbo-image channel v1\n" || statement bytes
//
// (the constant [ChannelDomain]), the same domain separation as the
// manifest signature ([ManifestDomain]): a manifest signature is never a
// channel signature and the other way round. Because the channel is inside
// the signed bytes, a signature for "at" cannot be replayed as one for
// "prod"; because the digest is, it cannot be moved to another build.

// ChannelDomain is the domain-separation prefix of channel signatures.
const ChannelDomain = "turbo-image channel v1\n"

// StatementSchema is the schema member of a channel statement.
const StatementSchema = "turbo-image-channel-v1"

// MaxStatementBytes bounds a channel statement.
const MaxStatementBytes = 4 << 10

// Statement says that the build with Digest (its OCI manifest digest),
// named Name at Version, belongs to Channel.
type Statement struct {
	Schema  string `json:"schema"`
	Digest  string `json:"digest"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Channel string `json:"channel"`
}

// ValidChannel checks a channel name: 1 to 63 characters of lowercase
// letters, digits and '-', starting with a letter, and not of the form
// "sha256-..." (the OCI referrers tag schema, distribution-spec
// "Referrers Tag Schema", uses such tags). Every channel name is a valid
// OCI tag, and none looks like a version ("1.0.1"), so version tags and
// channel tags never collide.
func ValidChannel(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("channel %q: want 1 to 63 characters", name)
	}
	if !('a' <= name[0] && name[0] <= 'z') {
		return fmt.Errorf("channel %q: must start with a lowercase letter", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("channel %q: character %q at %d: only lowercase letters, digits and '-'", name, c, i+1)
		}
	}
	if strings.HasPrefix(name, "sha256-") {
		return fmt.Errorf("channel %q: sha256-... tags belong to the OCI referrers tag schema", name)
	}
	return nil
}

// validDigest checks "sha256:" and 64 lowercase hex digits.
func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s Statement) check() error {
	switch {
	case s.Schema != StatementSchema:
		return fmt.Errorf("schema %q, want %q", s.Schema, StatementSchema)
	case !validDigest(s.Digest):
		return fmt.Errorf("digest %q: want sha256: and 64 lowercase hex digits", s.Digest)
	case s.Name == "":
		return errors.New("name is empty")
	case s.Version == "":
		return errors.New("version is empty")
	}
	return ValidChannel(s.Channel)
}

// MarshalStatement returns the canonical bytes of s (see the package
// documentation above). It fails if a member is missing or malformed.
func MarshalStatement(s Statement) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("channel statement: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("channel statement: %w", err)
	}
	if len(b) > MaxStatementBytes {
		return nil, fmt.Errorf("channel statement: %d bytes, over %d", len(b), MaxStatementBytes)
	}
	return b, nil
}

// ParseStatement parses channel statement bytes; name is used in error
// messages only. Only canonical bytes are accepted: exactly what
// MarshalStatement writes for the parsed statement.
func ParseStatement(name string, data []byte) (Statement, error) {
	if len(data) > MaxStatementBytes {
		return Statement{}, fmt.Errorf("%s: %d bytes, over the %d limit of a channel statement", name, len(data), MaxStatementBytes)
	}
	var s Statement
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Statement{}, fmt.Errorf("%s: channel statement: %w", name, err)
	}
	if err := s.check(); err != nil {
		return Statement{}, fmt.Errorf("%s: channel statement: %w", name, err)
	}
	canon, err := MarshalStatement(s)
	if err != nil {
		return Statement{}, fmt.Errorf("%s: %w", name, err)
	}
	if !bytes.Equal(canon, data) {
		return Statement{}, fmt.Errorf("%s: channel statement is not in canonical form (members in order schema, digest, name, version, channel; no spaces, no trailing newline)", name)
	}
	return s, nil
}

func channelMessage(stmt []byte) []byte {
	msg := make([]byte, 0, len(ChannelDomain)+len(stmt))
	msg = append(msg, ChannelDomain...)
	return append(msg, stmt...)
}

// Errors of VerifyStatement (wrapped); test with errors.Is.
var (
	// ErrStatementUntrusted means no trusted key has the signature's key id.
	ErrStatementUntrusted = errors.New("channel signature is by an untrusted key")
	// ErrStatementBadSignature means a trusted key's signature does not
	// match the statement: the statement or the signature was modified,
	// or a signature for another statement was put beside it.
	ErrStatementBadSignature = errors.New("channel signature does not match its statement")
)

// SignStatement signs statement bytes (which must parse) with k.
func SignStatement(k PrivateKey, stmt []byte) (Signature, error) {
	if !k.valid() {
		return Signature{}, errors.New("sign channel statement: invalid private key")
	}
	if _, err := ParseStatement("statement", stmt); err != nil {
		return Signature{}, err
	}
	return Signature{KeyID: k.Public().ID(), Sig: ed25519.Sign(k.key, channelMessage(stmt))}, nil
}

// VerifyStatement checks one signature over statement bytes against the
// trusted keys and returns the key that made it. The error wraps
// ErrStatementUntrusted when no trusted key has the signature's key id,
// and ErrStatementBadSignature when one has but the signature does not
// match.
func VerifyStatement(stmt []byte, sig Signature, trusted []PublicKey) (PublicKey, error) {
	msg := channelMessage(stmt)
	found := false
	for _, k := range trusted {
		if len(k.Key) != ed25519.PublicKeySize || k.ID() != sig.KeyID {
			continue
		}
		found = true
		if ed25519.Verify(k.Key, msg, sig.Sig) {
			return k, nil
		}
	}
	if found {
		return PublicKey{}, fmt.Errorf("%w (key %s)", ErrStatementBadSignature, sig.KeyID)
	}
	ids := make([]string, 0, len(trusted))
	for _, k := range trusted {
		ids = append(ids, k.ID())
	}
	return PublicKey{}, fmt.Errorf("%w: key %s, trusted keys are %s", ErrStatementUntrusted, sig.KeyID, strings.Join(ids, ", "))
}
