package signing

import (
	"bytes"
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
)

// The parsers are strict and canonical: whatever parses must marshal back
// to the input itself (plus the final newline if it was missing), except
// that signature lines come back sorted by key id.

// withNewline returns data with a final newline added if it lacks one.
func withNewline(data []byte) []byte {
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return append(bytes.Clone(data), '\n')
	}
	return data
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add([]byte("turbo-image-ed25519 " + pubAB64 + "\n"))
	f.Add([]byte("turbo-image-ed25519 " + pubBB64))
	f.Add([]byte("turbo-image-ed25519 " + pubAB64 + "\r\n"))
	f.Add([]byte("turbo-image-ed25519-private " + seedAB64 + "\n"))
	f.Add([]byte("turbo-image-ed25519  " + pubAB64 + "\n"))
	f.Add([]byte(""))
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicKey("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out := k.MarshalText()
		if !bytes.Equal(out, withNewline(data)) {
			t.Fatalf("parsed %q but marshals to %q", data, out)
		}
		k2, err := ParsePublicKey("f", out)
		if err != nil || !k2.Equal(k) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	f.Add([]byte("turbo-image-ed25519-private " + seedAB64 + "\n"))
	f.Add([]byte("turbo-image-ed25519-private " + seedAB64))
	f.Add([]byte("turbo-image-ed25519-private " + seedAB64 + "\n\n"))
	f.Add([]byte("turbo-image-ed25519 " + pubAB64 + "\n"))
	f.Add([]byte("turbo-image-ed25519-private AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out := k.MarshalText()
		if !bytes.Equal(out, withNewline(data)) {
			t.Fatalf("parsed %q but marshals to %q", data, out)
		}
		k2, err := ParsePrivateKey("f", out)
		if err != nil || !bytes.Equal(k2.key, k.key) {
			t.Fatalf("re-parse: %v", err)
		}
		// The parsed key is a working key pair.
		sig := ed25519.Sign(k.key, []byte("x"))
		if !ed25519.Verify(k.Public().Key, []byte("x"), sig) {
			t.Fatal("parsed key does not sign verifiably")
		}
	})
}

func FuzzParseSignatures(f *testing.F) {
	a := keyFromSeed(f, seedA)
	b := keyFromSeed(f, seedB)
	one, _ := Sign(a, testManifest, nil)
	two, _ := Sign(b, testManifest, one)
	f.Add(one)
	f.Add(two)
	f.Add(bytes.TrimSuffix(two, []byte("\n")))
	f.Add(append(bytes.Clone(one), one...))
	f.Add([]byte(""))
	f.Add([]byte("\n"))
	f.Add([]byte("turbo-image-ed25519-sig 0123456789abcdef AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sigs, err := ParseSignatures("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out, err := MarshalSignatures(sigs)
		if err != nil {
			t.Fatalf("parsed signatures do not marshal: %v", err)
		}
		// Same lines, sorted.
		in := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) == 0 {
			in = nil
		}
		slices.SortFunc(in, func(x, y string) int {
			return strings.Compare(strings.Fields(x)[1], strings.Fields(y)[1])
		})
		want := ""
		for _, l := range in {
			want += l + "\n"
		}
		if string(out) != want {
			t.Fatalf("parsed %q but marshals to %q", data, out)
		}
		sigs2, err := ParseSignatures("f", out)
		if err != nil || len(sigs2) != len(sigs) {
			t.Fatalf("re-parse: %v", err)
		}
		// Verify never panics on parsed input either.
		Verify(testManifest, data, []PublicKey{a.Public(), b.Public()})
	})
}
