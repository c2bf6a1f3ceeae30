package signing

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func stmt(t *testing.T, channel string) []byte {
	t.Helper()
	b, err := MarshalStatement(Statement{Schema: StatementSchema, Digest: testDigest, Name: "hello", Version: "1.0.1", Channel: channel})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStatementBytes(t *testing.T) {
	want := `{"schema":"turbo-image-channel-v1","digest":"` + testDigest + `","name":"hello","version":"1.0.1","channel":"prod"}`
	if got := string(stmt(t, "prod")); got != want {
		t.Fatalf("statement bytes changed (signatures made before would break):\n got %s\nwant %s", got, want)
	}
}

func TestStatementSignVerify(t *testing.T) {
	k, _ := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	other, _ := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{2}, 32)))
	at, prod := stmt(t, "at"), stmt(t, "prod")
	sig, err := SignStatement(k, at)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyStatement(at, sig, []PublicKey{other.Public(), k.Public()}); err != nil || !got.Equal(k.Public()) {
		t.Fatalf("verify: %v %v", got, err)
	}
	// An "at" signature is no "prod" signature.
	if _, err := VerifyStatement(prod, sig, []PublicKey{k.Public()}); !errors.Is(err, ErrStatementBadSignature) {
		t.Fatalf("at signature replayed as prod: %v", err)
	}
	if _, err := VerifyStatement(at, sig, []PublicKey{other.Public()}); !errors.Is(err, ErrStatementUntrusted) {
		t.Fatalf("untrusted key: %v", err)
	}
	// A manifest signature over the same bytes is not a channel signature.
	sf, err := Sign(k, at, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := ParseSignatures("s", sf)
	if _, err := VerifyStatement(at, ms[0], []PublicKey{k.Public()}); !errors.Is(err, ErrStatementBadSignature) {
		t.Fatalf("manifest signature accepted as channel signature: %v", err)
	}
	if _, err := SignStatement(k, []byte(`{}`)); err == nil {
		t.Fatal("signed a malformed statement")
	}
}

func TestValidChannel(t *testing.T) {
	for _, ok := range []string{"at", "prod", "qa-2", "canary"} {
		if err := ValidChannel(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Prod", "1.0.1", "-x", "a_b", "a.b", "sha256-abc", strings.Repeat("a", 64), "pr od"} {
		if ValidChannel(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseStatement(f *testing.F) {
	good := `{"schema":"turbo-image-channel-v1","digest":"` + testDigest + `","name":"hello","version":"1.0.1","channel":"prod"}`
	f.Add([]byte(good))
	f.Add([]byte(good + "\n"))
	f.Add([]byte(strings.Replace(good, `"name"`, ` "name"`, 1)))
	f.Add([]byte(strings.Replace(good, `,"channel":"prod"`, `,"channel":"prod","channel":"at"`, 1)))
	f.Add([]byte(strings.Replace(good, `"prod"`, `"pr\u006fd"`, 1)))
	f.Add([]byte(strings.Replace(good, `}`, `,"extra":1}`, 1)))
	f.Add([]byte(strings.Replace(good, `sha256:0`, `sha256:A`, 1)))
	f.Add([]byte(good + good))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStatement("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		b, err := MarshalStatement(s)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("parsed %q but marshals to %q (%v)", data, b, err)
		}
	})
}
