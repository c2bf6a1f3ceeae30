package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// RFC 8032 section 7.1, TEST 1 and TEST 2: seeds and their public keys.
// The base64 forms and key ids below were computed outside Go (Python's
// base64 and hashlib), not by this package.
const (
	seedA    = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	pubA     = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	seedAB64 = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
	pubAB64  = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	idA      = "21fe31dfa154a261"

	seedB   = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
	pubB    = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
	pubBB64 = "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw="
	idB     = "39f713d0a644253f"
)

// keyFromSeed generates a key through GenerateKey with a deterministic
// reader that yields the hex seed.
func keyFromSeed(t testing.TB, seedHex string) PrivateKey {
	t.Helper()
	seed, err := hex.DecodeString(seedHex)
	if err != nil {
		t.Fatal(err)
	}
	k, err := GenerateKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testManifest = []byte(`{"schema":1,"name":"hello","version":"1.0.0"}` + "\n")

func TestGenerateKeyRFC8032(t *testing.T) {
	for _, c := range []struct{ seed, pub, pubB64, id string }{
		{seedA, pubA, pubAB64, idA},
		{seedB, pubB, pubBB64, idB},
	} {
		k := keyFromSeed(t, c.seed)
		pub := k.Public()
		if got := hex.EncodeToString(pub.Key); got != c.pub {
			t.Errorf("seed %s: public key %s, want %s", c.seed[:8], got, c.pub)
		}
		if got := KeyID(pub); got != c.id {
			t.Errorf("KeyID = %s, want %s", got, c.id)
		}
		if got := pub.ID(); got != c.id {
			t.Errorf("ID() = %s, want %s", got, c.id)
		}
		if got, want := string(pub.MarshalText()), "turbo-image-ed25519 "+c.pubB64+"\n"; got != want {
			t.Errorf("public key file %q, want %q", got, want)
		}
	}
	k := keyFromSeed(t, seedA)
	if got, want := string(k.MarshalText()), "turbo-image-ed25519-private "+seedAB64+"\n"; got != want {
		t.Errorf("private key file %q, want %q", got, want)
	}
}

func TestGenerateKeyShortReader(t *testing.T) {
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("GenerateKey accepted a reader with 31 bytes")
	}
	// nil means crypto/rand: two keys must differ.
	k1, err1 := GenerateKey(nil)
	k2, err2 := GenerateKey(nil)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if k1.Public().Equal(k2.Public()) {
		t.Fatal("two random keys are equal")
	}
}

func TestKeyTextRoundTrip(t *testing.T) {
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivateKey("release.key", k.MarshalText())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.key, k2.key) {
		t.Fatal("private key changed in round trip")
	}
	p, err := ParsePublicKey("release.pub", k.Public().MarshalText())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(k.Public()) {
		t.Fatal("public key changed in round trip")
	}
	// A missing final newline is tolerated.
	if _, err := ParsePublicKey("p", bytes.TrimSuffix(k.Public().MarshalText(), []byte("\n"))); err != nil {
		t.Errorf("no final newline: %v", err)
	}
}

func TestPrivateKeyDoesNotPrint(t *testing.T) {
	k := keyFromSeed(t, seedA)
	seed, _ := hex.DecodeString(seedA)
	out := fmt.Sprintf("%v %+v %#v %s %x %v", k, k, k, k, k, struct{ K PrivateKey }{k})
	for _, secret := range []string{seedA, seedAB64, string(seed), fmt.Sprint(seed), fmt.Sprintf("%x", seed[:8])} {
		if strings.Contains(out, secret) {
			t.Fatalf("formatted private key reveals the seed: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprint(k), idA) {
		t.Errorf("String() %q does not name the key id", k)
	}
}

func TestZeroKeys(t *testing.T) {
	var k PrivateKey
	if k.MarshalText() != nil || k.Public().MarshalText() != nil {
		t.Error("zero key marshals to something")
	}
	if _, err := Sign(k, testManifest, nil); err == nil {
		t.Error("Sign with the zero key succeeded")
	}
	if _, err := WriteKeyPair(t.TempDir()+"/x.key", k); err == nil {
		t.Error("WriteKeyPair with the zero key succeeded")
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	a, b := keyFromSeed(t, seedA), keyFromSeed(t, seedB)
	sigA, err := Sign(a, testManifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(sigA, []byte("\n")); n != 1 || !strings.HasPrefix(string(sigA), "turbo-image-ed25519-sig "+idA+" ") {
		t.Fatalf("signature file %q", sigA)
	}
	got, err := Verify(testManifest, sigA, []PublicKey{a.Public()})
	if err != nil || !got.Equal(a.Public()) {
		t.Fatalf("Verify = %v, %v", got.ID(), err)
	}

	// The signature is a plain Ed25519 signature over the documented
	// domain string and the manifest, checked here with crypto/ed25519.
	sigs, err := ParseSignatures("s", sigA)
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte("turbo-image manifest v1\n"), testManifest...)
	if !ed25519.Verify(a.Public().Key, msg, sigs[0].Sig) {
		t.Fatal("signature is not Ed25519 over the domain prefix and the manifest")
	}

	// A second key adds a line, sorted by key id (idA < idB).
	sigAB, err := Sign(b, testManifest, sigA)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(sigAB), "\n"), "\n")
	if len(lines) != 2 || lines[0] != strings.TrimSuffix(string(sigA), "\n") || !strings.Contains(lines[1], " "+idB+" ") {
		t.Fatalf("after second key:\n%s", sigAB)
	}
	// Order of signing does not matter.
	sigB, _ := Sign(b, testManifest, nil)
	sigBA, err := Sign(a, testManifest, sigB)
	if err != nil || !bytes.Equal(sigAB, sigBA) {
		t.Fatalf("A then B:\n%s\nB then A:\n%s", sigAB, sigBA)
	}
	// Either key alone verifies; the key that verified is returned.
	for _, k := range []PrivateKey{a, b} {
		got, err := Verify(testManifest, sigAB, []PublicKey{k.Public()})
		if err != nil || !got.Equal(k.Public()) {
			t.Errorf("trusting only %s: %v, %v", k.Public().ID(), got.ID(), err)
		}
	}
	// Re-signing with the same key is deterministic and replaces the line.
	again, err := Sign(a, testManifest, sigAB)
	if err != nil || !bytes.Equal(again, sigAB) {
		t.Fatalf("re-sign same manifest changed the file:\n%s\n%s", sigAB, again)
	}
	newManifest := append(bytes.Clone(testManifest), ' ')
	resigned, err := Sign(a, newManifest, sigAB)
	if err != nil {
		t.Fatal(err)
	}
	rl := strings.Split(strings.TrimSuffix(string(resigned), "\n"), "\n")
	if len(rl) != 2 || rl[0] == lines[0] || rl[1] != lines[1] {
		t.Fatalf("re-sign new manifest: want A's line replaced and B's kept:\nold\n%s\nnew\n%s", sigAB, resigned)
	}
	if _, err := Verify(newManifest, resigned, []PublicKey{a.Public()}); err != nil {
		t.Errorf("new manifest with A: %v", err)
	}
	// B's line is now stale: trusting only B fails.
	if _, err := Verify(newManifest, resigned, []PublicKey{b.Public()}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("stale B signature: %v, want ErrBadSignature", err)
	}
}

func TestSignRejectsMalformedExisting(t *testing.T) {
	a := keyFromSeed(t, seedA)
	if _, err := Sign(a, testManifest, []byte("garbage\n")); err == nil || !strings.Contains(err.Error(), "manifest.json.sig:1:") {
		t.Fatalf("Sign over a malformed signature file: %v", err)
	}
}

// flipSig returns the signature file with one bit of its signature
// flipped (re-encoded canonically, so it still parses).
func flipSig(t *testing.T, sigFile []byte, byteIndex int) []byte {
	t.Helper()
	sigs, err := ParseSignatures("s", sigFile)
	if err != nil {
		t.Fatal(err)
	}
	sigs[0].Sig[byteIndex] ^= 0x01
	out, err := MarshalSignatures(sigs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyFailures(t *testing.T) {
	a, b := keyFromSeed(t, seedA), keyFromSeed(t, seedB)
	sigA, _ := Sign(a, testManifest, nil)
	sigB, _ := Sign(b, testManifest, nil)
	sigAB, _ := Sign(b, testManifest, sigA)
	trustA := []PublicKey{a.Public()}

	flipped := func(i int) []byte {
		m := bytes.Clone(testManifest)
		m[i] ^= 0x01
		return m
	}
	raw := ed25519.Sign(a.key, testManifest)
	rawFile, _ := MarshalSignatures([]Signature{{KeyID: idA, Sig: raw}})
	otherDomain := ed25519.Sign(a.key, append([]byte("turbo-image manifest v2\n"), testManifest...))
	otherDomainFile, _ := MarshalSignatures([]Signature{{KeyID: idA, Sig: otherDomain}})
	// A's key id but B's signature.
	sb, _ := ParseSignatures("s", sigB)
	swapped, _ := MarshalSignatures([]Signature{{KeyID: idA, Sig: sb[0].Sig}})

	for _, c := range []struct {
		name     string
		manifest []byte
		sig      []byte
		trusted  []PublicKey
		is       error
		want     []string
	}{
		{"first manifest byte flipped", flipped(0), sigA, trustA, ErrBadSignature, []string{idA}},
		{"middle manifest byte flipped", flipped(len(testManifest) / 2), sigA, trustA, ErrBadSignature, []string{idA}},
		{"last manifest byte flipped", flipped(len(testManifest) - 1), sigA, trustA, ErrBadSignature, nil},
		{"manifest truncated", testManifest[:len(testManifest)-1], sigA, trustA, ErrBadSignature, nil},
		{"manifest extended", append(bytes.Clone(testManifest), '\n'), sigA, trustA, ErrBadSignature, nil},
		{"signature byte 0 flipped", testManifest, flipSig(t, sigA, 0), trustA, ErrBadSignature, nil},
		{"signature byte 63 flipped", testManifest, flipSig(t, sigA, 63), trustA, ErrBadSignature, nil},
		{"raw signature without domain", testManifest, rawFile, trustA, ErrBadSignature, nil},
		{"signature for another domain", testManifest, otherDomainFile, trustA, ErrBadSignature, nil},
		{"key id relabelled", testManifest, swapped, trustA, ErrBadSignature, nil},
		{"untrusted key", testManifest, sigB, trustA, ErrUntrustedKey, []string{idB, idA}},
		{"empty signature file", testManifest, nil, trustA, ErrNoSignatures, nil},
		{"bad and untrusted", flipped(0), sigAB, trustA, ErrBadSignature, []string{idA, "untrusted key " + idB}},
		{"no trusted keys", testManifest, sigA, nil, nil, []string{"no trusted public keys"}},
		{"short trusted key", testManifest, sigA, []PublicKey{{Key: make([]byte, 31)}}, nil, []string{"trusted key 0: 31 bytes"}},
		{"malformed signature file", testManifest, append(bytes.Clone(sigA), "junk\n"...), trustA, nil, []string{"manifest.json.sig:2:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(c.manifest, c.sig, c.trusted)
			if err == nil {
				t.Fatalf("verified by %s", got.ID())
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %q", err, c.is)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got.Key != nil {
				t.Errorf("returned a key with an error")
			}
		})
	}
}

func TestVerifyAnyKey(t *testing.T) {
	a, b := keyFromSeed(t, seedA), keyFromSeed(t, seedB)
	c, _ := GenerateKey(nil)
	sigAB, _ := Sign(a, testManifest, nil)
	sigAB, _ = Sign(b, testManifest, sigAB)
	// B's line is corrupted; A's still verifies.
	sigs, _ := ParseSignatures("s", sigAB)
	sigs[1].Sig[5] ^= 0x80
	mixed, _ := MarshalSignatures(sigs)
	got, err := Verify(testManifest, mixed, []PublicKey{c.Public(), b.Public(), a.Public()})
	if err != nil || !got.Equal(a.Public()) {
		t.Fatalf("got %s, %v; want A", got.ID(), err)
	}
	// Lines in any order parse and verify.
	lines := strings.SplitAfter(string(sigAB), "\n")
	reversed := lines[1] + lines[0]
	if _, err := Verify(testManifest, []byte(reversed), []PublicKey{b.Public()}); err != nil {
		t.Fatalf("reversed lines: %v", err)
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	good := "turbo-image-ed25519 " + pubAB64
	for _, c := range []struct{ name, data, want string }{
		{"empty", "", "pub: empty file"},
		{"only newline", "\n", "pub:1: not a turbo-image public key"},
		{"crlf", good + "\r\n", "pub:1: carriage return"},
		{"two lines", good + "\n" + good + "\n", "pub:2: unexpected data"},
		{"two newlines", good + "\n\n", "pub:2: unexpected data"},
		{"private key file", "turbo-image-ed25519-private " + seedAB64 + "\n", "pub:1: this is a turbo-image private key file"},
		{"signature file", "turbo-image-ed25519-sig " + idA + " x\n", "pub:1: this is a turbo-image signature file"},
		{"ssh key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n", "not a turbo-image public key"},
		{"no value", "turbo-image-ed25519\n", "missing the base64"},
		{"no value after space", "turbo-image-ed25519 \n", "0 characters, want 44"},
		{"two spaces", "turbo-image-ed25519  " + pubAB64 + "\n", "45 characters"},
		{"trailing space", good + " \n", "45 characters"},
		{"trailing field", good + " comment\n", "52 characters"},
		{"leading space", " " + good + "\n", "not a turbo-image public key"},
		{"tab", "turbo-image-ed25519\t" + pubAB64 + "\n", "not a turbo-image public key"},
		{"upper prefix", "TURBO-IMAGE-ED25519 " + pubAB64 + "\n", "not a turbo-image public key"},
		{"short key", "turbo-image-ed25519 " + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n", "decodes to 31 bytes, want 32"},
		{"long key", "turbo-image-ed25519 " + base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n", "decodes to 33 bytes, want 32"},
		{"raw bytes", string(make([]byte, 32)), "not a turbo-image public key"},
		{"unpadded", "turbo-image-ed25519 " + strings.TrimSuffix(pubAB64, "=") + "\n", "43 characters"},
		{"url alphabet", "turbo-image-ed25519 " + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n", "bad base64"},
		{"non-zero padding bits", "turbo-image-ed25519 " + pubAB64[:42] + "p=\n", "bad base64"},
		{"padding in middle", "turbo-image-ed25519 " + "AAAA=AAA" + pubAB64[8:] + "\n", "bad base64"},
		{"non-ascii", "turbo-image-ed25519 " + strings.Repeat("é", 22) + "\n", "bad base64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePublicKey("pub", []byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"empty", "", "key: empty file"},
		{"public key file", "turbo-image-ed25519 " + pubAB64 + "\n", "key:1: this is a turbo-image public key file, want a private key"},
		{"crlf", "turbo-image-ed25519-private " + seedAB64 + "\r\n", "key:1: carriage return"},
		{"64-byte key", "turbo-image-ed25519-private " + base64.StdEncoding.EncodeToString(make([]byte, 64)) + "\n", "want 44"},
		{"second line", "turbo-image-ed25519-private " + seedAB64 + "\nx", "key:2:"},
		{"newline inside base64", "turbo-image-ed25519-private " + seedAB64[:20] + "\n" + seedAB64[20:] + "\n", "key:2:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePrivateKey("key", []byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestParseSignatures(t *testing.T) {
	a := keyFromSeed(t, seedA)
	sigA, _ := Sign(a, testManifest, nil)
	line := strings.TrimSuffix(string(sigA), "\n")
	sigB64 := line[len("turbo-image-ed25519-sig "+idA+" "):]

	for _, data := range []string{"", line, line + "\n"} {
		sigs, err := ParseSignatures("sig", []byte(data))
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if want := min(len(data), 1); len(sigs) != want {
			t.Fatalf("%q: %d signatures, want %d", data, len(sigs), want)
		}
	}

	other := "turbo-image-ed25519-sig " + idB + " " + sigB64
	for _, c := range []struct{ name, data, want string }{
		{"only newline", "\n", "sig:1: empty line"},
		{"blank line between", line + "\n\n" + other + "\n", "sig:2: empty line"},
		{"crlf second line", line + "\n" + other + "\r\n", "sig:2: carriage return"},
		{"duplicate key", line + "\n" + line + "\n", "sig:2: second signature by key " + idA + " (first on line 1)"},
		{"duplicate key, other sig", other + "\n" + line + "\n" + "turbo-image-ed25519-sig " + idA + " " + base64.StdEncoding.EncodeToString(make([]byte, 64)) + "\n", "sig:3: second signature"},
		{"public key line", "turbo-image-ed25519 " + pubAB64 + "\n", "sig:1: this is a turbo-image public key file"},
		{"comment", "# signatures\n", "sig:1: not a turbo-image signature"},
		{"missing sig", "turbo-image-ed25519-sig " + idA + "\n", "got 2 fields, want 3"},
		{"no fields", "turbo-image-ed25519-sig\n", "got 1 fields, want 3"},
		{"extra field", line + " x\n", "got 4 fields"},
		{"trailing space", line + " \n", "got 4 fields"},
		{"double space", "turbo-image-ed25519-sig  " + idA + " " + sigB64 + "\n", "got 4 fields"},
		{"upper-case id", "turbo-image-ed25519-sig " + strings.ToUpper(idA) + " " + sigB64 + "\n", "lowercase hex"},
		{"short id", "turbo-image-ed25519-sig " + idA[:15] + " " + sigB64 + "\n", "lowercase hex"},
		{"long id", "turbo-image-ed25519-sig " + idA + "0 " + sigB64 + "\n", "lowercase hex"},
		{"short sig", "turbo-image-ed25519-sig " + idA + " " + base64.StdEncoding.EncodeToString(make([]byte, 63)) + "\n", "want 88"},
		{"good then junk", line + "\njunk", "sig:2: not a turbo-image signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSignatures("sig", []byte(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestMarshalSignaturesRejects(t *testing.T) {
	ok := Signature{KeyID: idA, Sig: make([]byte, 64)}
	for name, sigs := range map[string][]Signature{
		"bad id":    {{KeyID: "XYZ", Sig: make([]byte, 64)}},
		"short sig": {{KeyID: idA, Sig: make([]byte, 10)}},
		"duplicate": {ok, ok},
	} {
		if _, err := MarshalSignatures(sigs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
