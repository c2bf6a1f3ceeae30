package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/stallnet"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Options say how to reach a registry.
type Options struct {
	// PlainHTTP allows http:// to a registry that is not on a loopback
	// address (loopback registries always use plain HTTP).
	PlainHTTP bool
	// CAFile is a PEM file of CA certificates trusted in addition to the
	// system roots.
	CAFile string
	// Getenv reads the caller's environment, for the auth files (see
	// AuthFiles). Nil means no environment: no credentials.
	Getenv func(string) string
	// Progress, if set, hears how far a push or pull is: each layer once
	// when it starts, then as its bytes go by.
	Progress func(Progress)
	// stall is how long the registry may stay silent (no byte moved
	// either way) before a request fails; 0 means stallnet.DefaultStall.
	// Only the package's tests set it: users get the default.
	stall time.Duration
}

// Progress is how far a push or pull is.
type Progress struct {
	// Layer is the file the layer holds; it is layer Index (from 0) of
	// Layers.
	Layer         string
	Index, Layers int
	// Done and Size are the blob's bytes moved so far and in all (the
	// compressed bytes for a compressed disk image).
	Done, Size int64
	// Skipped: the registry has the blob already; nothing is uploaded.
	Skipped bool
}

// report calls o.Progress if set.
func (o Options) report(p Progress) {
	if o.Progress != nil {
		o.Progress(p)
	}
}

// byteCounter counts the bytes through a reader or a writer and reports
// each new total to onBytes.
type byteCounter struct {
	r       io.Reader
	w       io.Writer
	n       int64
	onBytes func(int64)
}

func (c *byteCounter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.add(k)
	return k, err
}

func (c *byteCounter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.add(k)
	return k, err
}

func (c *byteCounter) add(k int) {
	if k > 0 {
		c.n += int64(k)
		c.onBytes(c.n)
	}
}

// AuthFiles returns the auth files credentials are read from, in order,
// following containers-auth.json(5) and Docker's config rules:
// $REGISTRY_AUTH_FILE alone when it is set; otherwise Podman's
// $XDG_RUNTIME_DIR/containers/auth.json and
// $XDG_CONFIG_HOME/containers/auth.json (default ~/.config), then Docker's
// $DOCKER_CONFIG/config.json (default ~/.docker/config.json). Credential
// helpers named in a file (credsStore, credHelpers) are used as Docker
// does.
func AuthFiles(getenv func(string) string) []string {
	if getenv == nil {
		return nil
	}
	if f := getenv("REGISTRY_AUTH_FILE"); f != "" {
		return []string{f}
	}
	home := getenv("HOME")
	var files []string
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	} else if home != "" {
		files = append(files, filepath.Join(home, ".config", "containers", "auth.json"))
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		files = append(files, filepath.Join(d, "config.json"))
	} else if home != "" {
		files = append(files, filepath.Join(home, ".docker", "config.json"))
	}
	return files
}

// credentialStore opens the auth files that exist.
func credentialStore(files []string) (credentials.Store, error) {
	var stores []credentials.Store
	for _, f := range files {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			continue
		}
		s, err := credentials.NewStore(f, credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("auth file %s: %w", f, err)
		}
		stores = append(stores, s)
	}
	if len(stores) == 0 {
		return credentials.NewMemoryStore(), nil
	}
	return credentials.NewStoreWithFallbacks(stores[0], stores[1:]...), nil
}

// isLoopback reports whether a registry host (host or host:port) is on a
// loopback address.
func isLoopback(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// speaksPlainHTTP reports whether the registry at host answers HTTPS with
// plain HTTP (Go's http.ErrSchemeMismatch), as Docker finds out for its
// insecure registries. It is asked only of loopback registries: anywhere
// else plain HTTP needs Options.PlainHTTP.
func speaksPlainHTTP(ctx context.Context, tr *http.Transport, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		resp.Body.Close()
		return false
	}
	return errors.Is(err, http.ErrSchemeMismatch)
}

// remoteRepo is a repository and what is needed to explain its errors.
type remoteRepo struct {
	*remote.Repository
	host      string
	authFiles []string
}

// open returns the repository of ref (registry/name[:tag|@digest]).
func open(ctx context.Context, ref string, o Options) (*remoteRepo, error) {
	repo, err := remote.NewRepository(ref)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", ref, err)
	}
	host := repo.Reference.Registry
	stall := o.stall
	if stall <= 0 {
		stall = stallnet.DefaultStall
	}
	tr := stallnet.Transport(stall)
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", o.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	repo.PlainHTTP = o.PlainHTTP
	if !repo.PlainHTTP && isLoopback(host) {
		repo.PlainHTTP = speaksPlainHTTP(ctx, tr, host)
	}
	files := AuthFiles(o.Getenv)
	store, err := credentialStore(files)
	if err != nil {
		return nil, err
	}
	repo.Client = &auth.Client{
		Client:     &http.Client{Transport: tr},
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
	}
	// Never delete from the user's registry: an old referrers index left
	// behind by the tag-schema fallback is harmless, and CNCF
	// Distribution refuses deletes unless configured to allow them.
	repo.SkipReferrersGC = true
	return &remoteRepo{Repository: repo, host: host, authFiles: files}, nil
}

// explain wraps an error from the registry, naming it, and says what to do
// about refused credentials.
func (r *remoteRepo) explain(what string, err error) error {
	src := "no auth file found"
	if len(r.authFiles) > 0 {
		src = "looked in " + strings.Join(r.authFiles, ", ")
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return fmt.Errorf("registry %s needs a login and has no credentials for it (%s; log in with `docker login %s` or `podman login %s`): %s: %w",
			r.host, src, r.host, r.host, what, err)
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden) {
		if len(r.authFiles) > 0 {
			src = "credentials from " + strings.Join(r.authFiles, ", ")
		}
		return fmt.Errorf("registry %s refused access (%d %s) to %s (%s; log in with `docker login %s` or `podman login %s`): %w",
			r.host, er.StatusCode, http.StatusText(er.StatusCode), what, src, r.host, r.host, err)
	}
	return fmt.Errorf("registry %s: %s: %w", r.host, what, err)
}
