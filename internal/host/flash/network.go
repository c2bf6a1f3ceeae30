package flash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/turbo-image/turbo-image/internal/host/stallnet"
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
	// Channel and From answer SetChannel: the channel the appliance
	// follows now and where that comes from.
	Channel string `json:"channel,omitempty"`
	From    string `json:"from,omitempty"`
}

// NetworkOptions are the options of Network.
type NetworkOptions struct {
	// Client sends the request (nil: stallnet.Client(stallnet.DefaultStall):
	// it fails once the appliance has been silent for two minutes).
	Client *http.Client
	// Progress, if set, hears how much of the stream was sent. Once all
	// of it is, the agent still checks and writes the last payload and
	// switches before it answers.
	Progress func(StreamProgress)
}

// StreamProgress is how much of a flash stream was sent.
type StreamProgress struct {
	Sent, Size int64 // bytes; Size is update.StreamSize
}

// Network streams a build directory to the update agent at baseURL
// (http://host:port). The payloads are checked against the manifest here
// first, and again by the agent while it writes them.
func Network(ctx context.Context, baseURL, token, buildDir string, o NetworkOptions) (*Reply, error) {
	b, err := LoadBuild(ctx, buildDir)
	if err != nil {
		return nil, err
	}
	return NetworkFrom(ctx, baseURL, token, Source{Manifest: b.Manifest, ManifestBytes: b.ManifestBytes, Signature: b.Signature, Payloads: b}, o)
}

// NetworkFrom streams s (a registry build, say) to the update agent at
// baseURL; the agent checks every payload as it writes it.
func NetworkFrom(ctx context.Context, baseURL, token string, b Source, o NetworkOptions) (*Reply, error) {
	size, err := update.StreamSize(b.Manifest, b.ManifestBytes, b.Signature)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(update.WriteStream(pw, b.Manifest, b.ManifestBytes, b.Signature, b.Payloads.Open))
	}()
	var body io.Reader = pr
	if o.Progress != nil {
		o.Progress(StreamProgress{Size: size})
		body = &sentCounter{r: pr, size: size, report: o.Progress}
	}
	r, err := postAgent(ctx, o.Client, baseURL, "/v1/flash", token, "application/x-tar", body, "flash", "")
	if err != nil {
		pr.Close()
		return r, err
	}
	return r, nil
}

// postAgent sends body to the update agent's path with the token and
// reads its JSON reply (at most 1 MiB). A refusal (not 200, or ok false)
// is an error that names what was refused; the reply is returned with it
// when there is one. hint is added to a reply that is not JSON.
func postAgent(ctx context.Context, client *http.Client, baseURL, path, token, contentType string, body io.Reader, what, hint string) (*Reply, error) {
	if client == nil {
		client = stallnet.Client(stallnet.DefaultStall)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, baseURL, err)
	}
	defer resp.Body.Close()
	var r Reply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s %s: %s, and the reply is not JSON%s: %w", what, baseURL, resp.Status, hint, err)
	}
	if resp.StatusCode != http.StatusOK || !r.OK {
		if r.Error == "" {
			r.Error = resp.Status
		}
		return &r, fmt.Errorf("the appliance at %s refused the %s: %s", baseURL, what, r.Error)
	}
	return &r, nil
}

// sentCounter reports the bytes read from r (by the HTTP client, as it
// sends them).
type sentCounter struct {
	r      io.Reader
	sent   int64
	size   int64
	report func(StreamProgress)
}

func (c *sentCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.sent += int64(n)
		c.report(StreamProgress{Sent: c.sent, Size: c.size})
	}
	return n, err
}

// SetChannel asks the update agent at baseURL to follow channel (one of
// its recipe's update.channels; "" for the recipe's update.follow.channel
// again): it writes the ESP file turbo/channel, as `channel set DISK`
// does offline, and its follower chooses again before its next poll. A
// channel the appliance does not trust is refused and nothing changes.
func SetChannel(ctx context.Context, baseURL, token, channel string, o NetworkOptions) (*Reply, error) {
	body, err := json.Marshal(struct {
		Channel string `json:"channel"`
	}{channel})
	if err != nil {
		return nil, err
	}
	return postAgent(ctx, o.Client, baseURL, "/v1/channel", token, "application/json", bytes.NewReader(body), "channel", " (an agent without POST /v1/channel?)")
}
