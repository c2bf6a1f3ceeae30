package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
)

// provBuild writes a build folder as the builder does: artifacts (with
// an SBOM), manifest.json with a recipe input, and the unsigned
// provenance.
func provBuild(t *testing.T) string {
	t.Helper()
	dir, _ := sbomBuild(t)
	registrytest.AddProvenance(t, dir, "v9.9.9")
	return dir
}

func TestSignVerifyProvenance(t *testing.T) {
	keys := t.TempDir()
	for _, k := range []string{"release", "other"} {
		if code, _, errs := runCLI(t, "keygen", "-o", filepath.Join(keys, k+".key")); code != 0 {
			t.Fatal(errs)
		}
	}
	release, other := filepath.Join(keys, "release.pub"), filepath.Join(keys, "other.pub")
	signed := func(t *testing.T) string {
		dir := provBuild(t)
		code, out, errs := runCLI(t, "sign", dir, "--key", filepath.Join(keys, "release.key"))
		if code != 0 || !strings.Contains(out, provenance.FileName) {
			t.Fatalf("sign: exit %d, %q %q", code, out, errs)
		}
		return dir
	}
	dir := signed(t)
	code, out, errs := runCLI(t, "verify", dir, "--key", release, "--provenance")
	if code != 0 || !strings.Contains(out, "provenance signed by key") || !strings.Contains(out, "turbo-image v9.9.9") {
		t.Fatalf("verify --provenance: exit %d, %q %q", code, out, errs)
	}

	unsigned := provBuild(t)
	if code, _, errs := runCLI(t, "sign", unsigned, "--key", filepath.Join(keys, "release.key")); code != 0 {
		t.Fatal(errs)
	}
	// The manifest signature alone, the provenance left unsigned.
	env, _ := os.ReadFile(filepath.Join(provBuild(t), provenance.FileName))
	os.WriteFile(filepath.Join(unsigned, provenance.FileName), env, 0o644)

	for name, c := range map[string]struct {
		dir, key, want string
	}{
		"altered artifact": {func() string {
			d := signed(t)
			os.WriteFile(filepath.Join(d, "kernel"), []byte("K"), 0o644)
			return d
		}(), release, "artifact kernel: sha256"},
		"altered statement": {func() string {
			d := signed(t)
			e, _, err := provenance.Read(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			e.Payload = []byte(strings.Replace(string(e.Payload), "v9.9.9", "v9.9.8", 1))
			b, _ := e.Marshal()
			os.WriteFile(filepath.Join(d, provenance.FileName), b, 0o644)
			return d
		}(), release, "signature does not match the payload"},
		"wrong key": {signed(t), other, "signed only by untrusted keys"},
		"missing provenance": {func() string {
			d := signed(t)
			os.Remove(filepath.Join(d, provenance.FileName))
			return d
		}(), release, "has no provenance"},
		"unsigned provenance": {unsigned, release, "envelope has no signatures"},
	} {
		code, out, errs := runCLI(t, "verify", c.dir, "--key", c.key, "--provenance")
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q", name, code, out, errs, c.want)
		}
	}
	// Without --provenance, the provenance is not looked at.
	d := signed(t)
	os.Remove(filepath.Join(d, provenance.FileName))
	if code, _, errs := runCLI(t, "verify", d, "--key", release); code != 0 {
		t.Errorf("verify without --provenance: %s", errs)
	}
	// sign of a build without provenance signs the manifest and says so.
	if code, _, errs := runCLI(t, "sign", d, "--key", filepath.Join(keys, "release.key")); code != 0 || !strings.Contains(errs, "only the manifest is signed") {
		t.Errorf("sign without provenance: exit %d, %q", code, errs)
	}
}

// TestRegistryProvenance: push attaches the SBOM and the signed
// provenance, pull brings the provenance back so that verify
// --provenance passes on the pulled folder, channels shows both, against
// a real registry.
func TestRegistryProvenance(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	run := registryCLI(t)
	keys := t.TempDir()
	run(0, "keygen", "-o", filepath.Join(keys, "release.key"))
	src := provBuild(t)
	run(0, "sign", src, "--key", filepath.Join(keys, "release.key"))
	repo := reg.Host + "/acme/hello"
	out, msg := run(0, "push", src, repo+":1.0.0")
	if !regexp.MustCompile(`attached as referrers: SBOM sha256:[0-9a-f]{64}, provenance sha256:[0-9a-f]{64} \(signed by key [0-9a-f]{16}\)`).MatchString(msg) {
		t.Fatalf("push says %q", msg)
	}
	digest := strings.TrimSpace(strings.TrimPrefix(out, repo+":1.0.0@"))
	dst := filepath.Join(t.TempDir(), "pulled")
	_, msg = run(0, "pull", repo+"@"+digest, "-o", dst)
	if !strings.Contains(msg, "wrote "+filepath.Join(dst, provenance.FileName)) {
		t.Fatalf("pull says %q", msg)
	}
	out, _ = run(0, "verify", dst, "--key", filepath.Join(keys, "release.pub"), "--provenance")
	if !strings.Contains(out, "provenance signed by key") {
		t.Fatalf("verify of the pulled folder: %q", out)
	}
	run(0, "promote", repo+":1.0.0", "--channel", "prod", "--key", filepath.Join(keys, "release.key"))
	out, _ = run(0, "channels", repo, "--key", filepath.Join(keys, "release.pub"))
	t.Logf("channels:\n%s", out)
	for _, w := range []string{"\tSBOM: sha256:", "\tprovenance: sha256:", "verified with " + filepath.Join(keys, "release.pub")} {
		if !strings.Contains(out, w) {
			t.Fatalf("channels does not say %q:\n%s", w, out)
		}
	}
	out, _ = run(0, "channels", repo)
	if !strings.Contains(out, "not verified (no --key)") {
		t.Fatalf("channels without keys:\n%s", out)
	}
}
