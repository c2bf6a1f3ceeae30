package qemutests

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestSecureBootSigned builds hello (real kernel) with --sb-key/--sb-cert
// and outputs disk and uki: sbverify accepts the kernel artifact, the
// UKI, and systemd-boot and slot a's kernel on the disk's ESP against the
// certificate, and refuses them against another one. The boots under
// enforcing firmware are TestSecureBootEnforced.
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

// Debian's ovmf ships a Secure Boot build of OVMF and a variable store
// whose PK, KEK and db hold the "snakeoil" test certificate, with its key
// (passphrase "snakeoil"): a firmware with a test key enrolled, offline.
const (
	snakeoilVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
	snakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	snakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
)

// TestSecureBootEnforced boots hello's UKI under OVMF with Secure Boot
// enforced (run --secure-boot, the snakeoil store as --uefi-vars): signed
// with the enrolled key it reaches TURBO_READY; the same UKI with one byte
// of its command line changed after signing, and an unsigned build, are
// refused by the firmware (Access Denied) and never start.
func TestSecureBootEnforced(t *testing.T) {
	setup(t)
	openssl := testenv.MustHaveTool(t, "openssl", "openssl")
	testenv.MustHaveTool(t, "sbsign", "sbsigntool")
	for _, f := range []string{"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", snakeoilVars, snakeoilKey, snakeoilCert} {
		testenv.MustHaveFile(t, f, "ovmf")
	}
	key := filepath.Join(t.TempDir(), "db.key")
	if o, err := exec(openssl, "pkey", "-in", snakeoilKey, "-passin", "pass:snakeoil", "-out", key); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, o)
	}
	signed, _ := helloWithOutputs(t, "[uki]", "--sb-key", key, "--sb-cert", snakeoilCert)
	sb := []string{"--boot", "uki", "--secure-boot", "--uefi-vars", snakeoilVars}

	r := turbo(t, context.Background(), append([]string{"run", signed, "--exit-on-ready", "--timeout", "240s"}, sb...)...)
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "TURBO_READY name=hello") {
		t.Fatalf("signed UKI under Secure Boot: %s", r)
	}

	// One byte of the signed UKI's command line changed: the signature no
	// longer matches its digest.
	b, err := os.ReadFile(filepath.Join(signed, "uki.efi"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("console=ttyS0"))
	if i < 0 {
		t.Fatal("uki.efi holds no console=ttyS0 in its .cmdline")
	}
	b[i+len("console=tty")] = 'X'
	tampered := filepath.Join(t.TempDir(), "uki.efi")
	if err := os.WriteFile(tampered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	unsigned, _ := helloWithOutputs(t, "[uki]")
	for _, c := range []struct{ name, target string }{{"tampered", tampered}, {"unsigned", unsigned}} {
		v := startVM(t, append([]string{c.target, "--timeout", "240s"}, sb...)...)
		v.waitFor(`Access Denied`, 4*time.Minute)
		res := v.stop()
		if strings.Contains(res.stdout, "TURBO_READY") || strings.Contains(res.stdout, "Linux version") {
			t.Errorf("%s UKI started under Secure Boot:\n%s", c.name, res.stdout)
		}
	}
}
