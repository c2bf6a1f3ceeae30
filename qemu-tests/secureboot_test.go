package qemutests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestSecureBootSigned builds hello (real kernel) with --sb-key/--sb-cert
// and outputs disk and uki: sbverify accepts the kernel artifact, the
// UKI, and systemd-boot and slot a's kernel on the disk's ESP against the
// certificate, and refuses them against another one. No boot: OVMF with
// a test key enrolled was not available here (see the README).
func TestSecureBootSigned(t *testing.T) {
	setup(t)
	openssl := testenv.MustHaveTool(t, "openssl", "openssl")
	sbverify := testenv.MustHaveTool(t, "sbverify", "sbsigntool")
	testenv.MustHaveTool(t, "sbsign", "sbsigntool")
	keys := t.TempDir()
	for _, name := range []string{"db", "other"} {
		if o, err := exec(openssl, "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=turbo-image test "+name+"/",
			"-days", "3650", "-keyout", filepath.Join(keys, name+".key"), "-out", filepath.Join(keys, name+".crt")); err != nil {
			t.Fatalf("openssl: %v\n%s", err, o)
		}
	}
	out, _ := helloWithOutputs(t, "[disk, uki]", "--sb-key", filepath.Join(keys, "db.key"), "--sb-cert", filepath.Join(keys, "db.crt"))

	// The EFI binaries on the disk's ESP, copied out.
	d, err := diskimage.Open(filepath.Join(out, "disk.img"), false)
	if err != nil {
		t.Fatal(err)
	}
	esp, err := d.ESP()
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(out, "kernel"), filepath.Join(out, "uki.efi")}
	for _, p := range []string{"EFI/BOOT/BOOTX64.EFI", "a/linux"} {
		b, err := esp.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), filepath.Base(p))
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	d.Close()
	for _, f := range files {
		if o, err := exec(sbverify, "--cert", filepath.Join(keys, "db.crt"), f); err != nil || !strings.Contains(o, "Signature verification OK") {
			t.Errorf("sbverify %s: %v\n%s", f, err, o)
		}
		if o, err := exec(sbverify, "--cert", filepath.Join(keys, "other.crt"), f); err == nil {
			t.Errorf("sbverify %s accepted another certificate:\n%s", f, o)
		}
	}
	// Without the certificate, a half-given pair is a usage error.
	r := turbo(t, t.Context(), "build", "../recipes/hello/recipe.yaml", "-o", filepath.Join(t.TempDir(), "x"), "--sb-key", filepath.Join(keys, "db.key"))
	if r.code != 2 || !strings.Contains(r.stderr, "--sb-key and --sb-cert go together") {
		t.Errorf("--sb-key alone: %s", r)
	}
}
