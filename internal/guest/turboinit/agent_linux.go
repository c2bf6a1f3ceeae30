//go:build linux && turbo_agent

package turboinit

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/turbo-image/turbo-image/internal/guest/supervise"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// startAgent serves the network update agent when the recipe asks for one
// (built only with the turbo_agent tag). POST /v1/flash takes a flash
// stream (package update) with a bearer token; GET /v1/status reports what
// runs. A flash that passes every check reboots into the new slot's trial.
func (in *Init) startAgent() error {
	a := in.cfg.Update.Agent
	if a == nil {
		return nil
	}
	if in.cmdline.Slot == "" {
		return errors.New("update agent: not booted from a disk slot; nothing to update")
	}
	ag := &agent{in: in}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", ag.auth(ag.status))
	mux.HandleFunc("POST /v1/flash", ag.auth(ag.flash))
	mux.HandleFunc("POST /v1/data/export", ag.auth(ag.exportData))
	mux.HandleFunc("POST /v1/channel", ag.auth(ag.setChannel))
	// Headers must come within 10 s and a kept-alive connection is closed
	// after clientStall idle, so that connections nobody uses (anyone can
	// open one; the token is checked per request) cannot pile up until
	// the init runs out of file descriptors. Bodies and answers have the
	// same limit per read and per write.
	srv := &http.Server{Addr: a.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: clientStall}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			in.con.Logf("update agent: %v", err)
		}
	}()
	in.con.Logf("update agent listening on %s", a.Listen)
	return nil
}

type agent struct {
	in   *Init
	busy sync.Mutex
}

type agentReply struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Slot    string `json:"slot,omitempty"`
	Entry   string `json:"entry,omitempty"`
	Trial   bool   `json:"trial,omitempty"`
	Channel string `json:"channel,omitempty"`
	From    string `json:"from,omitempty"` // where the channel comes from (channelfile.Choice)
}

func reply(w http.ResponseWriter, code int, r agentReply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(r)
}

// auth checks the bearer token against the sha256 in the config, in
// constant time.
func (ag *agent) auth(h http.HandlerFunc) http.HandlerFunc {
	want, _ := hex.DecodeString(ag.in.cfg.Update.Agent.TokenSHA256)
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want) != 1 {
			reply(w, http.StatusUnauthorized, agentReply{Error: "bad or missing token"})
			return
		}
		h(w, r)
	}
}

func (ag *agent) status(w http.ResponseWriter, r *http.Request) {
	c := ag.in.cfg
	reply(w, http.StatusOK, agentReply{OK: true, Name: c.Name, Version: c.Version, Slot: ag.in.cmdline.Slot})
}

// setChannel writes the channel this appliance follows into the ESP file
// turbo/channel, as `turbo-image channel set DISK` does offline, and has
// the follower choose its channel again before its next poll. A channel
// the recipe does not trust is refused and nothing is written.
func (ag *agent) setChannel(w http.ResponseWriter, r *http.Request) {
	var req channelRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, agentReply{Error: "the body must be JSON {\"channel\": NAME}: " + err.Error()})
		return
	}
	data, choice, err := planChannel(ag.in.cfg.Update, ag.in.cmdline.Params["turbo.channel"], req.Channel)
	if err == nil {
		err = ag.in.withESP(true, func(esp string) error { return writeChannelFile(esp, data) })
	}
	if err != nil {
		ag.in.con.Logf("update agent: channel %q refused: %v", req.Channel, err)
		reply(w, http.StatusUnprocessableEntity, agentReply{Error: err.Error()})
		return
	}
	if data == nil {
		ag.in.con.Logf("update agent: removed the ESP file turbo/channel; following %s (from %s)", choice.Channel, choice.From)
	} else {
		ag.in.con.Logf("update agent: wrote channel %s to the ESP file turbo/channel; following %s (from %s)", req.Channel, choice.Channel, choice.From)
	}
	ag.in.rechoose.Store(true)
	reply(w, http.StatusOK, agentReply{OK: true, Name: ag.in.cfg.Name, Version: ag.in.cfg.Version, Slot: ag.in.cmdline.Slot, Channel: choice.Channel, From: choice.From})
}

func (ag *agent) flash(w http.ResponseWriter, r *http.Request) {
	if !ag.busy.TryLock() {
		reply(w, http.StatusConflict, agentReply{Error: "another flash is in progress"})
		return
	}
	// The agent stays busy after a flash that switched (the reboot into
	// the trial follows: no second flash may come after the switch), and
	// is free again before a refusal is answered, so that a client that
	// retries at once does not find its own refused flash still holding it.
	limit := ag.in.cfg.Update.Agent.MaxBytes
	// A client that stops sending is cut after clientStall, freeing the
	// agent for the next flash.
	body := &stallReader{r: http.MaxBytesReader(w, r.Body, limit+update.MaxManifestBytes+update.MaxSignatureBytes+64<<10), rc: http.NewResponseController(w)}
	var plan *update.Plan
	switched := false
	err := ag.in.withESP(true, func(esp string) error {
		var err error
		plan, err = ag.apply(esp, body, limit)
		switched = err == nil || errors.Is(err, update.ErrSwitched)
		return err
	})
	if err != nil && switched {
		// The switch is on the ESP (only a sync or the unmount after it
		// failed): the next boot runs the trial, so the flash is not
		// refused; the reboot below syncs again.
		ag.in.con.Logf("update agent: after the switch: %v", err)
		err = nil
	}
	if err != nil {
		ag.busy.Unlock() // before the line: a reader of the console may retry at once
		ag.in.con.Logf("update agent: flash refused: %v", err)
		reply(w, http.StatusUnprocessableEntity, agentReply{Error: err.Error()})
		return
	}
	ag.in.con.Logf("update agent: %s", plan.Summary())
	reply(w, http.StatusOK, agentReply{OK: true, Version: plan.NewVersion, Slot: plan.Inactive, Entry: plan.Entry, Trial: true})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		ag.in.events <- supervise.Shutdown{Reason: "update to " + plan.NewVersion + " in slot " + plan.Inactive, Reboot: true}
	}()
}

// apply reads the stream head, plans against the running disk and applies
// the plan, streaming payloads straight to the inactive partition and the
// ESP.
func (ag *agent) apply(esp string, body io.Reader, limit int64) (*update.Plan, error) {
	s, err := update.ReadStream(body)
	if err != nil {
		return nil, err
	}
	order, err := update.StreamOrder(s.Manifest)
	if err != nil {
		return nil, err
	}
	var payload int64
	for _, a := range order {
		payload += a.Size
	}
	if payload > limit {
		return nil, fmt.Errorf("the build's slot payloads are %d bytes, more than this agent's limit of %d", payload, limit)
	}
	cur, parts, err := ag.in.currentDisk(esp)
	if err != nil {
		return nil, err
	}
	defer parts.close()
	p, err := update.PlanFlash(cur, update.Request{Manifest: s.Manifest, ManifestBytes: s.ManifestBytes, Signature: s.Signature})
	if err != nil {
		return nil, err
	}
	// Apply consumes the stream in plan order, then reads it to its very
	// end (Stream.Finish: the end-of-archive marker and nothing after it),
	// and only then makes the switch: a stream with anything wrong, up to
	// its last byte, leaves the disk on the running slot.
	if err := update.Apply(p, newDirESP(esp), parts, s, nil); err != nil {
		return nil, err
	}
	return p, nil
}
