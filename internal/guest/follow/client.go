// Package follow is the appliance's side of a registry channel
// (docs/registry.md, "Appliances that follow a channel"): a small client
// of the OCI distribution API that reads the channel's build, checks its
// channel signature against the keys the recipe trusts for the channel,
// and hands its slot payloads to update.Apply as a streaming Source,
// every blob checked against its digest. The init (package turboinit,
// build tag turbo_follow) polls with Poller and carries out the flash.
//
// Why a small client here and oras-go on the host: the follower needs
// four read-only GETs (a manifest by tag, a manifest or index by digest
// or tag, a blob, the referrers API) and anonymous access (plus the
// anonymous bearer token Docker Hub and GHCR hand out for public
// repositories); no pushes, no credential stores or helpers. Size is not
// the reason: measured with -trimpath -s -w, the slot init is 3.8 MB,
// 7.4 MB with this follower (net/http and crypto/tls are most of it),
// and 7.2 MB with oras-go's remote and auth packages alone, before any
// follow logic. The reasons are what runs in PID 1: the only third-party
// code on this path is go-digest and the image-spec structs; every read
// is bounded, a stalled connection is cut (Config.StallTimeout), and
// every error names the registry in the words the tests check. What
// must agree with the host (media types, the checks of a build's OCI
// manifest against its manifest.json, channel signature manifests,
// CheckChannel's refusals) is shared in internal/shared/ociartifact,
// not duplicated. The trust is in the channel signature, not in the
// registry or the transport.
package follow

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// Config says which channel to follow and whom to trust.
type Config struct {
	Registry   string // host or host:port
	Repository string // e.g. acme/hello
	Channel    string
	PlainHTTP  bool
	CA         []byte              // PEM, trusted besides the system roots
	Keys       []signing.PublicKey // trusted for Channel
	// StallTimeout ends a request that delivers no byte for this long
	// (default 60s): a registry that hangs mid-blob is a failed poll.
	StallTimeout time.Duration
}

// Client reads one repository of one registry.
type Client struct {
	cfg   Config
	base  string // scheme://host/v2/name
	http  *http.Client
	token string // an anonymous bearer token, once the registry asked for one
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if err := signing.ValidChannel(cfg.Channel); err != nil {
		return nil, err
	}
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("channel %q: no trusted keys", cfg.Channel)
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 60 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 nil,
		ResponseHeaderTimeout: cfg.StallTimeout,
		TLSHandshakeTimeout:   cfg.StallTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          2,
	}
	if len(cfg.CA) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(cfg.CA) {
			return nil, errors.New("update.follow.ca: no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	scheme := "https"
	if cfg.PlainHTTP {
		scheme = "http"
	}
	return &Client{cfg: cfg, base: scheme + "://" + cfg.Registry + "/v2/" + cfg.Repository, http: &http.Client{Transport: tr}}, nil
}

// Ref is the channel's reference, for messages.
func (c *Client) Ref() string {
	return c.cfg.Registry + "/" + c.cfg.Repository + ":" + c.cfg.Channel
}

// get fetches path under the repository. The body is bounded by limit and
// guarded by the stall timeout; a 404 is reported as errNotFound.
func (c *Client) get(ctx context.Context, path string, accept []string) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(ctx)
	for attempt := 0; attempt < 2; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		if len(accept) > 0 {
			req.Header.Set("Accept", strings.Join(accept, ", "))
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("registry %s: %w", c.cfg.Registry, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			resp.Body = &stallReader{r: resp.Body, cancel: cancel, d: c.cfg.StallTimeout}
			return resp, cancel, nil
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			chal := resp.Header.Get("Www-Authenticate")
			resp.Body.Close()
			if err := c.anonymousToken(ctx, chal); err != nil {
				cancel()
				return nil, nil, err
			}
			continue
		case resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			cancel()
			return nil, nil, fmt.Errorf("registry %s: %s: %w", c.cfg.Registry, path, errNotFound)
		default:
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			cancel()
			return nil, nil, fmt.Errorf("registry %s: GET %s: %s: %q", c.cfg.Registry, path, resp.Status, bytes.TrimSpace(b))
		}
	}
	cancel()
	return nil, nil, fmt.Errorf("registry %s refused anonymous access to %s (401 Unauthorized); a following appliance pulls without credentials: allow anonymous pulls of the repository", c.cfg.Registry, c.cfg.Repository)
}

var errNotFound = errors.New("not found")

// anonymousToken answers a Bearer challenge anonymously (the token
// protocol of the distribution spec, as Docker Hub and GHCR use for
// public repositories). A Basic challenge cannot be answered without
// credentials.
func (c *Client) anonymousToken(ctx context.Context, challenge string) error {
	scheme, params, _ := strings.Cut(challenge, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf("registry %s asks for credentials (%s); a following appliance pulls anonymously: allow anonymous pulls of %s", c.cfg.Registry, scheme, c.cfg.Repository)
	}
	kv := map[string]string{}
	for _, p := range strings.Split(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			kv[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	realm, err := url.Parse(kv["realm"])
	if err != nil || (realm.Scheme != "https" && !(realm.Scheme == "http" && c.cfg.PlainHTTP)) {
		return fmt.Errorf("registry %s: token realm %q is not usable", c.cfg.Registry, kv["realm"])
	}
	q := realm.Query()
	if s := kv["service"]; s != "" {
		q.Set("service", s)
	}
	scope := kv["scope"]
	if scope == "" {
		scope = "repository:" + c.cfg.Repository + ":pull"
	}
	q.Set("scope", scope)
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("registry %s: token: %w", c.cfg.Registry, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("registry %s: no anonymous token (%s); a following appliance pulls anonymously: allow anonymous pulls of %s", c.cfg.Registry, resp.Status, c.cfg.Repository)
	}
	var t struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&t); err != nil {
		return fmt.Errorf("registry %s: token: %w", c.cfg.Registry, err)
	}
	c.token = t.Token
	if c.token == "" {
		c.token = t.AccessToken
	}
	if c.token == "" || strings.ContainsAny(c.token, "\r\n") {
		return fmt.Errorf("registry %s: token answer without a usable token", c.cfg.Registry)
	}
	return nil
}

// stallReader cancels the request when no byte arrives for d.
type stallReader struct {
	r      io.ReadCloser
	cancel context.CancelFunc
	d      time.Duration
	t      *time.Timer
	fired  atomic.Bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.t == nil {
		s.t = time.AfterFunc(s.d, func() { s.fired.Store(true); s.cancel() })
	} else {
		s.t.Reset(s.d)
	}
	n, err := s.r.Read(p)
	if n > 0 {
		s.t.Reset(s.d)
	}
	if err != nil && err != io.EOF && s.fired.Load() {
		err = fmt.Errorf("no data for %s, gave up (stalled connection): %w", s.d, err)
	}
	return n, err
}

func (s *stallReader) Close() error {
	if s.t != nil {
		s.t.Stop()
	}
	err := s.r.Close()
	s.cancel()
	return err
}

// manifestBytes fetches a manifest (or index) by tag or digest, bounded,
// and returns its bytes and digest; a digest reference must match.
func (c *Client) manifestBytes(ctx context.Context, ref string, accept ...string) ([]byte, digest.Digest, error) {
	resp, cancel, err := c.get(ctx, "/manifests/"+ref, accept)
	if err != nil {
		return nil, "", err
	}
	defer cancel()
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, ociartifact.MaxManifestBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("registry %s: manifest %s: %w", c.cfg.Registry, ref, err)
	}
	if len(data) > ociartifact.MaxManifestBytes {
		return nil, "", fmt.Errorf("registry %s: manifest %s is over %d bytes", c.cfg.Registry, ref, ociartifact.MaxManifestBytes)
	}
	d := digest.FromBytes(data)
	if strings.HasPrefix(ref, "sha256:") && d.String() != ref {
		return nil, "", fmt.Errorf("registry %s: manifest %s has digest %s: refusing it", c.cfg.Registry, ref, d)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != d.String() {
		return nil, "", fmt.Errorf("registry %s: manifest %s has digest %s, the registry says %s: refusing it", c.cfg.Registry, ref, d, h)
	}
	return data, d, nil
}

// blob streams a blob; the reader checks size and digest and fails at
// the end (or on a byte too many) when they do not match.
func (c *Client) blob(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	resp, _, err := c.get(ctx, "/blobs/"+d.Digest.String(), nil)
	if err != nil {
		return nil, err
	}
	return ociartifact.VerifyBlob(resp.Body, d, c.cfg.Registry), nil
}

// smallBlob reads a whole small blob, verified.
func (c *Client) smallBlob(ctx context.Context, d ocispec.Descriptor, limit int64) ([]byte, error) {
	if d.Size < 0 || d.Size > limit {
		return nil, fmt.Errorf("registry %s: blob %s is %d bytes, over %d", c.cfg.Registry, d.Digest, d.Size, limit)
	}
	rc, err := c.blob(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
