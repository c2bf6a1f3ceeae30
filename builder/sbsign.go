package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Secure Boot signing of the EFI binaries a build writes, with sbsign
// from Debian's sbsigntool (Authenticode signatures in the PE certificate
// table, as UEFI 2.10 section 32.2.4 "Code Definitions" and Microsoft's
// "Windows Authenticode Portable Executable Signature Format" define
// them). sbsign is used rather than a Go library because it is the tool
// distributions sign their boot chain with, and its result is checked by
// sbverify and by firmware alike.
//
// Not reproducible: sbsign (through OpenSSL's PKCS7_sign) puts the
// signing time into the signature as an authenticated attribute and
// offers no option to leave it out, so two signed builds differ in the
// signature bytes (and the PE checksum); everything a signature covers is
// still byte-identical.

// SecureBoot names a db key and certificate (PEM files) to sign with.
type SecureBoot struct {
	Key, Cert string
}

// sbsignTool is the sbsign binary; a test may name another.
const sbsignTool = "sbsign"

// checkSecureBoot checks, before any work, that the key, the certificate
// and sbsign are there.
func checkSecureBoot(sb *SecureBoot) error {
	if sb == nil {
		return nil
	}
	if sb.Key == "" || sb.Cert == "" {
		return errors.New("secure boot signing needs both a key (--sb-key) and a certificate (--sb-cert)")
	}
	for _, c := range []struct{ flag, path, want string }{{"--sb-key", sb.Key, "PRIVATE KEY-----"}, {"--sb-cert", sb.Cert, "-----BEGIN CERTIFICATE-----"}} {
		b, err := os.ReadFile(c.path)
		if err != nil {
			return fmt.Errorf("%s: %w", c.flag, err)
		}
		if !bytes.Contains(b, []byte(c.want)) {
			return fmt.Errorf("%s %s: not a PEM file with %q", c.flag, c.path, strings.Trim(c.want, "-"))
		}
	}
	if _, err := exec.LookPath(sbsignTool); err != nil {
		return fmt.Errorf("secure boot signing: %w (on Debian: apt-get install sbsigntool)", err)
	}
	return nil
}

// sbsign returns data (a PE image) signed with sb's key and certificate;
// work is a scratch folder. name says what is signed, for errors.
func sbsign(ctx context.Context, sb *SecureBoot, data []byte, work, name string) ([]byte, error) {
	dir, err := os.MkdirTemp(work, "sbsign-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.efi"), filepath.Join(dir, "out.efi")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, sbsignTool, "--key", sb.Key, "--cert", sb.Cert, "--output", out, in)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("signing %s: sbsign: %w: %s", name, err, strings.TrimSpace(string(msg)))
	}
	return os.ReadFile(out)
}
