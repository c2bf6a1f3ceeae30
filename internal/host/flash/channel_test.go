package flash

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSetChannel checks the request SetChannel sends (POST /v1/channel,
// the bearer token, {"channel": NAME}) and how it reads the agent's
// answers: a refusal is an error carrying the agent's reason, and a
// reply that is not JSON says so.
func TestSetChannel(t *testing.T) {
	var got struct {
		method, path, auth, ctype string
		body                      map[string]any
	}
	answer := func(w http.ResponseWriter, code int, v any) {
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.auth, got.ctype = r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		got.body = nil
		json.NewDecoder(r.Body).Decode(&got.body)
		switch got.body["channel"] {
		case "canary":
			answer(w, http.StatusOK, map[string]any{"ok": true, "channel": "canary", "from": "the ESP file turbo/channel"})
		case "":
			answer(w, http.StatusOK, map[string]any{"ok": true, "channel": "prod", "from": "update.follow.channel"})
		case "garbage":
			w.Write([]byte("<html>"))
		default:
			answer(w, http.StatusUnprocessableEntity, map[string]any{"error": `channel "qa" is not in this appliance's update.channels`})
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	r, err := SetChannel(ctx, srv.URL+"/", "tok", "canary", NetworkOptions{})
	if err != nil || r.Channel != "canary" || r.From != "the ESP file turbo/channel" {
		t.Fatalf("set canary: %+v, %v", r, err)
	}
	if got.method != http.MethodPost || got.path != "/v1/channel" || got.auth != "Bearer tok" || got.ctype != "application/json" || len(got.body) != 1 {
		t.Errorf("request: %+v", got)
	}
	if r, err := SetChannel(ctx, srv.URL, "tok", "", NetworkOptions{}); err != nil || r.Channel != "prod" || got.body["channel"] != "" {
		t.Errorf("clear: %+v, %v, sent %v", r, err, got.body)
	}
	if _, err := SetChannel(ctx, srv.URL, "tok", "qa", NetworkOptions{}); err == nil || !strings.Contains(err.Error(), "refused the channel") || !strings.Contains(err.Error(), `"qa" is not in`) {
		t.Errorf("refusal: %v", err)
	}
	if _, err := SetChannel(ctx, srv.URL, "tok", "garbage", NetworkOptions{}); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("a reply that is not JSON: %v", err)
	}
	srv.Close()
	if _, err := SetChannel(ctx, srv.URL, "tok", "canary", NetworkOptions{}); err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("agent down: %v", err)
	}
}
