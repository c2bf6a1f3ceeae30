package provenance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

func key(t testing.TB, seed byte) signing.PrivateKey {
	t.Helper()
	k, err := signing.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeBuild writes a build folder: two artifacts, manifest.json and the
// unsigned provenance, as the builder does.
func fakeBuild(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "abc", Cmdline: "console=ttyS0", Tries: 3,
		Toolchain: manifest.Toolchain{Go: "go1.26.8", KernelRelease: "6.1.192"}}
	for name, data := range map[string]string{"kernel": "KERNEL", "initramfs.cpio.zst": "INITRAMFS"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		m.Artifacts = append(m.Artifacts, manifest.Digest(name, []byte(data)))
	}
	m.Inputs = []manifest.File{manifest.Digest("recipe", []byte("name: hello\n")), manifest.Digest("init", []byte("INIT")), manifest.Digest("kernel:config", []byte("CONFIG"))}
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	stmt, err := Make(m, mb, Params{BuilderVersion: "v1.2.3", SourceDateEpoch: 1700000000,
		Packages: []Resource{{Name: "deb:systemd-boot-efi", URI: "pkg:deb/debian/systemd-boot-efi@252.39-1~deb12u1?arch=amd64&upstream=systemd"}}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := Unsigned(stmt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), env, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMakeStatement(t *testing.T) {
	dir := fakeBuild(t)
	e, _, err := Read(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(e.Payload, &s); err != nil {
		t.Fatal(err)
	}
	pred := s["predicate"].(map[string]any)
	bd := pred["buildDefinition"].(map[string]any)
	for path, want := range map[string]any{
		"_type":         StatementType,
		"predicateType": PredicateType,
		"buildType":     BuildType,
		"builder.id":    BuilderID,
		"version":       "v1.2.3",
		"epoch":         float64(1700000000),
		"subjects":      float64(3),
		"deps":          float64(4),
	} {
		var got any
		switch path {
		case "_type", "predicateType":
			got = s[path]
		case "buildType":
			got = bd["buildType"]
		case "builder.id":
			got = pred["runDetails"].(map[string]any)["builder"].(map[string]any)["id"]
		case "version":
			got = pred["runDetails"].(map[string]any)["builder"].(map[string]any)["version"].(map[string]any)["turbo-image"]
		case "epoch":
			got = bd["externalParameters"].(map[string]any)["sourceDateEpoch"]
		case "subjects":
			got = float64(len(s["subject"].([]any)))
		case "deps":
			got = float64(len(bd["resolvedDependencies"].([]any)))
		}
		if got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if !bytes.Contains(e.Payload, []byte(`"recipe":{"name":"recipe","digest":{"sha256":"`)) {
		t.Errorf("externalParameters.recipe missing: %s", e.Payload)
	}
	// Reproducible: the same build gives the same bytes.
	again, err := os.ReadFile(filepath.Join(fakeBuild(t), FileName))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, FileName))
	if !bytes.Equal(first, again) {
		t.Error("two provenance files of the same build differ")
	}
	if bytes.Count(first, []byte("\n")) != 1 || !bytes.HasSuffix(first, []byte("\n")) {
		t.Error("the envelope is not one line")
	}
}

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	dir := fakeBuild(t)
	a, b := key(t, 1), key(t, 2)
	if _, err := VerifyDir(ctx, dir, []signing.PublicKey{a.Public()}); !errors.Is(err, signing.ErrDSSEUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	if err := SignDir(ctx, dir, a); err != nil {
		t.Fatal(err)
	}
	one, _ := os.ReadFile(filepath.Join(dir, FileName))
	if err := SignDir(ctx, dir, a); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, FileName)); !bytes.Equal(one, again) {
		t.Error("signing twice with one key changed the file")
	}
	r, err := VerifyDir(ctx, dir, []signing.PublicKey{a.Public()})
	if err != nil || !r.Key.Equal(a.Public()) {
		t.Fatalf("verify: %v", err)
	}
	if _, err := VerifyDir(ctx, dir, []signing.PublicKey{b.Public()}); !errors.Is(err, signing.ErrDSSEUntrusted) {
		t.Errorf("wrong key: %v", err)
	}
	if err := SignDir(ctx, dir, b); err != nil {
		t.Fatal(err)
	}
	e, _, _ := Read(ctx, dir)
	if len(e.Signatures) != 2 {
		t.Fatalf("%d signatures after two keys", len(e.Signatures))
	}
	for _, k := range []signing.PrivateKey{a, b} {
		if _, err := VerifyDir(ctx, dir, []signing.PublicKey{k.Public()}); err != nil {
			t.Errorf("key %s: %v", k.Public().ID(), err)
		}
	}
}

// TestTamper: every change is refused, with a message that says what.
func TestTamper(t *testing.T) {
	ctx := context.Background()
	a := key(t, 1)
	for name, c := range map[string]struct {
		change func(t *testing.T, dir string)
		want   string
	}{
		"altered artifact": {func(t *testing.T, dir string) { write(t, dir, "kernel", "KERNEL!") }, "kernel has sha256"},
		"altered statement": {func(t *testing.T, dir string) {
			editEnvelope(t, dir, func(e *Envelope) {
				e.Payload = bytes.Replace(e.Payload, []byte(`"version":"1.0.0"`), []byte(`"version":"9.0.0"`), 1)
			})
		}, "does not match the payload"},
		"altered manifest": {func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, manifest.FileName))
			write(t, dir, manifest.FileName, strings.Replace(string(b), `"tries": 3`, `"tries": 4`, 1))
		}, "subject manifest.json has sha256"},
		"missing provenance": {func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, FileName)) }, "has no provenance"},
		"signature removed":  {func(t *testing.T, dir string) { editEnvelope(t, dir, func(e *Envelope) { e.Signatures = nil }) }, "no signatures"},
		"other build's provenance": {func(t *testing.T, dir string) {
			other := fakeBuild(t)
			write(t, other, "kernel", "OTHER")
			b, _ := os.ReadFile(filepath.Join(other, manifest.FileName))
			m, _ := manifest.Parse(b)
			for i := range m.Artifacts {
				if m.Artifacts[i].Name == "kernel" {
					m.Artifacts[i] = manifest.Digest("kernel", []byte("OTHER"))
				}
			}
			mb, _ := m.Marshal()
			stmt, _ := Make(m, mb, Params{})
			e := &Envelope{PayloadType: PayloadType, Payload: stmt}
			e, _ = e.AddSignature(a)
			out, _ := e.Marshal()
			write(t, dir, FileName, string(out))
		}, "the provenance is not about this build"},
		"not a DSSE envelope": {func(t *testing.T, dir string) { write(t, dir, FileName, "{}\n") }, "payloadType is missing"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := fakeBuild(t)
			if err := SignDir(ctx, dir, a); err != nil {
				t.Fatal(err)
			}
			c.change(t, dir)
			_, err := VerifyDir(ctx, dir, []signing.PublicKey{a.Public()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func editEnvelope(t *testing.T, dir string, f func(*Envelope)) {
	t.Helper()
	e, _, err := Read(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	f(e)
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, FileName, string(b))
}

func TestSignDirRefuses(t *testing.T) {
	ctx := context.Background()
	dir := fakeBuild(t)
	write(t, dir, "kernel", "KERNEL!")
	before, _ := os.ReadFile(filepath.Join(dir, FileName))
	if err := SignDir(ctx, dir, key(t, 1)); err == nil {
		t.Fatal("signed a folder that does not match its manifest")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, FileName)); !bytes.Equal(before, after) {
		t.Error("a refused sign changed the provenance")
	}
	dir = fakeBuild(t)
	os.Remove(filepath.Join(dir, FileName))
	if err := SignDir(ctx, dir, key(t, 1)); !errors.Is(err, ErrMissing) {
		t.Errorf("no provenance: %v", err)
	}
}

func TestParseEnvelope(t *testing.T) {
	good := `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AAAA"}]}`
	if e, err := ParseEnvelope("f", []byte(good+"\n")); err != nil || string(e.Payload) != "{}" || len(e.Signatures) != 1 {
		t.Fatalf("%v %v", e, err)
	}
	// DSSE allows URL-safe base64, a missing keyid and unknown members.
	if _, err := ParseEnvelope("f", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"-_8=","signatures":[{"sig":"AAAA"}],"x":1}`)); err != nil {
		t.Errorf("URL-safe base64, no keyid, unknown member: %v", err)
	}
	for name, in := range map[string]string{
		"two lines":       good + "\n" + good + "\n",
		"no signatures":   `{"payloadType":"application/vnd.in-toto+json","payload":"e30="}`,
		"null signature":  `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[null]}`,
		"no sig":          `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k"}]}`,
		"other type":      strings.Replace(good, "vnd.in-toto+json", "json", 1),
		"bad base64":      strings.Replace(good, "e30=", "e30", 1),
		"base64 newline":  strings.Replace(good, "e30=", `e3\n0=`, 1),
		"trailing data":   good + " {}",
		"array":           `[]`,
		"payload number":  `{"payloadType":"application/vnd.in-toto+json","payload":1,"signatures":[]}`,
		"too big":         strings.Repeat(" ", MaxBytes+1),
		"CRLF two lines":  good + "\r\n" + good,
		"sig not base64":  strings.Replace(good, "AAAA", "!!!!", 1),
		"non-canonical":   strings.Replace(good, "e30=", "e31=", 1),
		"empty":           ``,
		"payload missing": `{"payloadType":"application/vnd.in-toto+json","signatures":[]}`,
	} {
		if _, err := ParseEnvelope("f", []byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "f") {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
}

func TestParseStatementRefuses(t *testing.T) {
	dir := fakeBuild(t)
	e, _, _ := Read(context.Background(), dir)
	good := string(e.Payload)
	for name, in := range map[string]string{
		"v0.1 statement":  strings.Replace(good, "Statement/v1", "Statement/v0.1", 1),
		"slsa 0.2":        strings.Replace(good, "provenance/v1", "provenance/v0.2", 1),
		"no subjects":     `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`,
		"subject twice":   strings.Replace(good, `"name":"kernel"`, `"name":"initramfs.cpio.zst"`, 1),
		"upper-case hex":  strings.Replace(good, `"sha256":"`, `"sha256":"A`, 1),
		"no builder id":   strings.Replace(good, `"id":"`, `"xid":"`, 1),
		"trailing object": good + "{}",
		"null":            "null",
		"subject null":    `{"_type":"https://in-toto.io/Statement/v1","subject":[null],"predicateType":"https://slsa.dev/provenance/v1"}`,
	} {
		if _, err := ParseStatement([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// hostileEnvelopes are seeds for FuzzParseEnvelope: shapes a forger or a
// broken tool could write.
var hostileEnvelopes = []string{
	`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`,
	`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"0123456789abcdef","sig":"` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `"}]}` + "\n",
	`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[null]}`,
	`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","payload":"e31=","signatures":[]}`,
	`{"payloadType":"application/vnd.in-toto+json","payload":"` + strings.Repeat("A", 1000) + `","signatures":[{"sig":""}]}`,
	`{"payloadType":null,"payload":null,"signatures":null}`,
	`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":{}}`,
	"{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"e30=\",\"signatures\":[]}\n\n",
	"\ufeff{}",
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
}

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range hostileEnvelopes {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// What parses writes back to an envelope that parses to the same.
		out, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ParseEnvelope("g", out)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !bytes.Equal(e.Payload, e2.Payload) || len(e.Signatures) != len(e2.Signatures) {
			t.Fatal("envelope changed on a round trip")
		}
		_, _ = signing.VerifyDSSE(e.PayloadType, e.Payload, e.Signatures, []signing.PublicKey{key(t, 1).Public()})
		if s, err := ParseStatement(e.Payload); err == nil && len(s.Subject) == 0 {
			t.Fatal("statement without subjects accepted")
		}
	})
}

func FuzzParseStatement(f *testing.F) {
	dir := fakeBuild(f)
	e, _, err := Read(context.Background(), dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.Payload)
	for _, s := range []string{
		`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("0", 64) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{"id":"y"}}}}`,
		`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("0", 64) + `"}},{"name":"a","digest":{"sha256":"` + strings.Repeat("1", 64) + `"}}]}`,
		`{"_type":"https://in-toto.io/Statement/v1","_type":"https://in-toto.io/Statement/v0.1"}`,
		`{"subject":[{"name":"../../etc/passwd","digest":{"sha256":"` + strings.Repeat("0", 64) + `"}}]}`,
		`{"predicate":{"buildDefinition":{"externalParameters":{"sourceDateEpoch":1e400}}}}`,
		`{"subject":[{"name":"a","digest":{"sha256":null}}]}`,
		`"` + strings.Repeat(`\u0000`, 100) + `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStatement(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range s.Subject {
			if seen[r.Name] || !validSHA256(r.Digest["sha256"]) {
				t.Fatalf("accepted a bad subject %+v", r)
			}
			seen[r.Name] = true
		}
		if s.Type != StatementType || s.PredicateType != PredicateType {
			t.Fatal("accepted another statement type")
		}
	})
}
