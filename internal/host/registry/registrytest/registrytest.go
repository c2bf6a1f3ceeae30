// Package registrytest runs a real OCI registry for tests: CNCF
// Distribution 2.8 from Debian's docker-registry package, with its own
// config, storage in t.TempDir and a free port on 127.0.0.1 (the system
// service is never touched). Without the package the test skips, and
// fails under TURBO_CI=1 (internal/testenv).
package registrytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// Registry is a CNCF Distribution registry (Debian's docker-registry)
// run by a test.
type Registry struct {
	Host    string // 127.0.0.1:port
	Storage string // its filesystem storage root
	CA      string // PEM of the CA that signed its certificate, or ""
	kill    func()
	logs    *bytes.Buffer
}

// Kill stops the registry at once (SIGKILL), as a crash or a pulled cable
// would; killing it again does nothing more.
func (r *Registry) Kill() { r.kill() }

// Config says how the registry is served: TLS with a certificate from a
// CA made by the test, and htpasswd basic auth when User is set.
type Config struct {
	TLS            bool
	User, Password string
}

// Start runs `docker-registry serve` with its own config, storage
// in a temporary folder and a free port on 127.0.0.1.
func Start(t *testing.T, rc Config) *Registry {
	t.Helper()
	bin := testenv.MustHaveTool(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	var extra string
	var ca string
	if rc.TLS {
		caFile, cert, key := makeCerts(t, dir)
		ca = caFile
		extra += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	if rc.User != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(rc.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		pw := filepath.Join(dir, "htpasswd")
		os.WriteFile(pw, []byte(rc.User+":"+string(h)+"\n"), 0o600)
		extra += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", pw)
	}
	r, err := Serve(bin, dir, extra)
	if err != nil {
		t.Fatal(err)
	}
	r.CA = ca
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			t.Logf("registry log:\n%s", r.logs.String())
		}
	})
	return r
}

// Serve runs the registry program bin (`docker-registry serve`) with a
// config of its own in dir (extra is appended to its http section, then
// the rest: tls, auth), storage in dir/storage and a free port on
// 127.0.0.1, and returns once it accepts connections. The caller stops
// it with Kill. Start is Serve for tests; the bench calls Serve.
func Serve(bin, dir, extra string) (*Registry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	l.Close()
	return ServeAt(bin, dir, host, extra)
}

// ServeAt is Serve on a given address (127.0.0.1:port), for a caller
// whose images name the registry's port (the bench's fleet row keeps
// its builds, and so its port, from run to run).
func ServeAt(bin, dir, host, extra string) (*Registry, error) {
	r := &Registry{Host: host, Storage: filepath.Join(dir, "storage"), logs: &bytes.Buffer{}}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", r.Storage, r.Host) + extra
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfgFile)
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.kill = func() {
		cmd.Process.Kill()
		<-exited
	}
	// Wait until it accepts connections (not a timing assert: it fails
	// only if it never comes up).
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", r.Host, time.Second)
		if err == nil {
			c.Close()
			return r, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("docker-registry exited: %s", r.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if i > 600 {
			r.Kill()
			return nil, fmt.Errorf("docker-registry did not listen on %s: %s", r.Host, r.logs.String())
		}
	}
}

// makeCerts writes a CA and a server certificate for 127.0.0.1.
func makeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turbo-image test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return caFile, certFile, keyFile
}
