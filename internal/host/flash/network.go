package flash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// Reply is the update agent's answer.
type Reply struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Version string `json:"version,omitempty"`
	Slot    string `json:"slot,omitempty"`
	Entry   string `json:"entry,omitempty"`
	Trial   bool   `json:"trial,omitempty"`
}

// Network streams a build directory to the update agent at baseURL
// (http://host:port). The payloads are checked against the manifest here
// first, and again by the agent while it writes them.
func Network(ctx context.Context, baseURL, token, buildDir string, client *http.Client) (*Reply, error) {
	b, err := LoadBuild(ctx, buildDir)
	if err != nil {
		return nil, err
	}
	return NetworkFrom(ctx, baseURL, token, Source{Manifest: b.Manifest, ManifestBytes: b.ManifestBytes, Signature: b.Signature, Payloads: b}, client)
}

// NetworkFrom streams s (a registry build, say) to the update agent at
// baseURL; the agent checks every payload as it writes it.
func NetworkFrom(ctx context.Context, baseURL, token string, b Source, client *http.Client) (*Reply, error) {
	if client == nil {
		client = http.DefaultClient
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(update.WriteStream(pw, b.Manifest, b.ManifestBytes, b.Signature, b.Payloads.Open))
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/v1/flash", pr)
	if err != nil {
		pr.Close()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("flash %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	var r Reply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("flash %s: %s, and the reply is not JSON: %w", baseURL, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || !r.OK {
		if r.Error == "" {
			r.Error = resp.Status
		}
		return &r, errors.New("the appliance refused the flash: " + r.Error)
	}
	return &r, nil
}
