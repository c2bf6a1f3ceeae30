package signing

import (
	"bytes"
	"errors"
	"testing"
)

// TestPAE: the test vector of the DSSE specification (protocol.md).
func TestPAE(t *testing.T) {
	got := PAE("http://example.com/HelloWorld", []byte("hello world"))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; string(got) != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	// Lengths are bytes, not characters.
	if got := PAE("t", []byte("é")); string(got) != "DSSEv1 1 t 2 é" {
		t.Fatalf("PAE = %q", got)
	}
}

func TestDSSE(t *testing.T) {
	a, b := keyFromSeed(t, seedA), keyFromSeed(t, seedB)
	payload := []byte(`{"_type":"x"}`)
	s, err := SignDSSE(a, "application/vnd.in-toto+json", payload)
	if err != nil {
		t.Fatal(err)
	}
	k, err := VerifyDSSE("application/vnd.in-toto+json", payload, []Signature{s}, []PublicKey{b.Public(), a.Public()})
	if err != nil || !k.Equal(a.Public()) {
		t.Fatalf("verify: %v %v", k, err)
	}
	for name, c := range map[string]struct {
		typ     string
		payload []byte
		sigs    []Signature
		trusted []PublicKey
		want    error
	}{
		"other payload":  {"application/vnd.in-toto+json", []byte(`{"_type":"y"}`), []Signature{s}, []PublicKey{a.Public()}, ErrDSSEBadSignature},
		"other type":     {"application/json", payload, []Signature{s}, []PublicKey{a.Public()}, ErrDSSEBadSignature},
		"wrong key":      {"application/vnd.in-toto+json", payload, []Signature{s}, []PublicKey{b.Public()}, ErrDSSEUntrusted},
		"unsigned":       {"application/vnd.in-toto+json", payload, nil, []PublicKey{a.Public()}, ErrDSSEUnsigned},
		"short sig":      {"application/vnd.in-toto+json", payload, []Signature{{KeyID: s.KeyID, Sig: s.Sig[:10]}}, []PublicKey{a.Public()}, ErrDSSEBadSignature},
		"manifest sig":   {"application/vnd.in-toto+json", payload, manifestSig(t, a, payload), []PublicKey{a.Public()}, ErrDSSEBadSignature},
		"flipped bit":    {"application/vnd.in-toto+json", payload, []Signature{{KeyID: s.KeyID, Sig: flip(s.Sig)}}, []PublicKey{a.Public()}, ErrDSSEBadSignature},
		"no trusted key": {"application/vnd.in-toto+json", payload, []Signature{s}, nil, nil},
	} {
		_, err := VerifyDSSE(c.typ, c.payload, c.sigs, c.trusted)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// manifestSig is a manifest signature over payload: it must not pass as
// a DSSE signature (domain separation).
func manifestSig(t *testing.T, k PrivateKey, payload []byte) []Signature {
	out, err := Sign(k, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := ParseSignatures("x", out)
	if err != nil {
		t.Fatal(err)
	}
	return sigs
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[0] ^= 1
	return c
}
