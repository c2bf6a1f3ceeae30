package qemutests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// TestNetworkFlashCuts: one booted appliance takes more than 20 network
// flashes that are cut at random points of the stream (the connection
// closed, reset, or the client's body failing mid-request), including
// inside the end-of-archive marker. After every cut the appliance still
// runs 1.0.0 from slot a and answers healthy, the disk's boot entries are
// unchanged and nothing rebooted. A flash whose client stops sending is
// cut after the agent's stall limit. Then a full flash succeeds and boots
// 1.0.1 from slot b (issue 9).
func TestNetworkFlashCuts(t *testing.T) {
	setup(t)
	key, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	token := "correct-horse-battery-staple"
	files := map[string][]byte{"release.pub": key.Public().MarshalText(), "agent.token": []byte(token + "\n")}
	upd := "update: {settle: 1s, trusted_keys: [release.pub], agent: {listen: \":8443\", token_file: agent.token}}\n"
	recipe := helloRecipe(t, goodHealth, "", upd, files)
	v1 := buildOnce(t, recipe)
	v2 := copyBuild(t, buildOnce(t, recipe, "--version", "1.0.1"))
	if r := turbo(t, context.Background(), "sign", v2, "--key", writeKey(t, key)); r.code != 0 {
		t.Fatalf("sign: %s", r)
	}
	// The whole stream, as turbo-image flash sends it.
	m, mb, err := manifest.Load(v2)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(v2, signing.SignatureFile))
	if err != nil {
		t.Fatal(err)
	}
	var full bytes.Buffer
	if err := update.WriteStream(&full, m, mb, sig, func(a manifest.File) (io.ReadCloser, error) {
		return os.Open(filepath.Join(v2, a.Name))
	}); err != nil {
		t.Fatal(err)
	}
	stream := full.Bytes()
	endOfLast := len(stream) - 1024 // where the end-of-archive marker starts

	disk := copyDisk(t, v1)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	base := "http://" + addr
	v := startVM(t, disk, "--boot", "disk", "--max-boots", "3", "--publish", fmt.Sprintf("%d:8443", port), "--timeout", "1500s")
	v.waitFor(`update agent listening on :8443`, bootTimeout)
	v.waitFor(`TURBO_READY name=hello version=1\.0\.0 slot=a`, bootTimeout)

	// Cut points: random ones over the whole stream, and the ones a tar
	// reader is lenient about (right after the last payload, after one
	// zero block, one byte short of the end).
	seed := time.Now().UnixNano()
	t.Logf("cut seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	cuts := []int{endOfLast, endOfLast + 512, len(stream) - 1}
	for len(cuts) < 24 {
		cuts = append(cuts, 1+rng.Intn(len(stream)-1))
	}
	kinds := []string{"close", "reset", "body-error"}
	for i, n := range cuts {
		kind := kinds[i%len(kinds)]
		t.Logf("cut %d: %s after %d of %d bytes", i, kind, n, len(stream))
		cutFlash(t, addr, token, stream[:n], len(stream), kind)
		// The agent answers status (it may still be finishing the cut
		// request; it holds no lock for status) and runs slot a.
		st := agentStatus(t, base, token)
		if !st.OK || st.Slot != "a" || st.Version != "1.0.0" {
			t.Fatalf("cut %d (%s at %d): status %+v\nconsole:\n%s", i, kind, n, st, v.console())
		}
		waitIdle(t, base, token)
		if got := strings.Join(entries(t, disk), " "); got != "turbo-1-a.conf" {
			t.Fatalf("cut %d (%s at %d): the boot entries are now %s", i, kind, n, got)
		}
		if c := v.console(); strings.Contains(c, "TURBO_REBOOT") || strings.Contains(c, "TURBO_UNHEALTHY") || strings.Contains(c, "TURBO_FATAL") {
			t.Fatalf("cut %d (%s at %d): the appliance rebooted or is unhealthy:\n%s", i, kind, n, c)
		}
	}
	// A client that stops sending half-way and keeps its connection open
	// (hung, or its network gone without a reset): the agent gives up
	// after its stall limit (clientStall, 20 s) and takes flashes again.
	// Beside it, a kept-alive connection left idle after one request: the
	// agent closes it after the same 20 s, so idle connections cannot
	// pile up.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /v1/status HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	idleR := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleR, nil); err != nil || resp.StatusCode != http.StatusUnauthorized || resp.Close {
		t.Fatalf("status without a token on a kept-alive connection: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	c, br := sendFlash(t, addr, token, stream[:len(stream)/2], len(stream))
	v.waitFor(`update agent: flash refused: .*the client sent nothing for 20s`, 3*time.Minute)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if reply, _ := io.ReadAll(br); !bytes.HasPrefix(reply, []byte("HTTP/1.1 422")) || !bytes.Contains(reply, []byte("the client sent nothing for 20s")) {
		t.Errorf("the stalled flash was answered %q, want 422 naming the stall", reply)
	}
	c.Close()
	idle.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := idleR.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("an idle kept-alive connection: read %d bytes, %v; want the agent to have closed it (EOF)", n, err)
	}
	waitIdle(t, base, token)

	// Every cut request reached the flash handler and was refused, and so
	// was every idle probe: one line each.
	v.waitCount("update agent: flash refused: ", 2*len(cuts)+2, time.Minute)
	r := turbo(t, context.Background(), "flash", v2, "--target", base, "--token", token)
	if r.code != 0 {
		t.Fatalf("full flash after %d cuts: %s\nconsole:\n%s", len(cuts), r, v.console())
	}
	v.waitFor(`TURBO_TRIAL slot=b version=1\.0\.1`, bootTimeout)
	v.waitFor(`TURBO_READY name=hello version=1\.0\.1 slot=b`, bootTimeout)
	v.waitFor(`TURBO_BLESSED slot=b`, 60*time.Second)
	v.stop()
}

// cutFlash sends a flash request announcing total bytes but sends only
// part, then: "close" closes the connection (FIN), "reset" resets it (RST,
// SO_LINGER 0), "body-error" lets Go's HTTP client abort a chunked body.
//
// Every request says "Expect: 100-continue" and sends no body byte before
// the agent's "100 Continue", which Go's server sends when the handler
// first reads the body: by then that handler holds the agent (it takes it
// before it reads). Without this, a cut request could still be on its way
// into the guest when waitIdle's probe ran, take the agent after the probe
// and refuse the next flash with "another flash is in progress" (CI saw
// that once, after a body-error cut).
func cutFlash(t *testing.T, addr, token string, part []byte, total int, kind string) {
	t.Helper()
	if kind == "body-error" {
		body := io.MultiReader(bytes.NewReader(part), errReader{})
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/flash", body)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Expect", "100-continue")
		tr := &http.Transport{ExpectContinueTimeout: 5 * time.Minute, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Timeout: 5 * time.Minute, Transport: tr}).Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// A refusal of the cut stream (422) may win the race with
			// the client's own error; 409 would mean the agent was busy
			// before this request, and 200 that a cut stream was taken.
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("a cut stream was answered %s: %s", resp.Status, b)
			}
		}
		return
	}
	c, br := sendFlash(t, addr, token, part, total)
	defer c.Close()
	if kind == "reset" {
		c.(*net.TCPConn).SetLinger(0)
		return
	}
	c.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(br)
	if bytes.HasPrefix(reply, []byte("HTTP/1.1 200")) {
		t.Fatalf("a cut stream was accepted: %s", reply)
	}
}

// sendFlash starts a flash request announcing total bytes on a raw
// connection, waits for the agent's 100 Continue and sends part.
func sendFlash(t *testing.T, addr, token string, part []byte, total int) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v1/flash HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-tar\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, token, total)
	c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		rest, _ := io.ReadAll(br)
		c.Close()
		t.Fatalf("flash request: want 100 Continue before the body, got %q %v%s", status, err, rest)
	}
	if l, err := br.ReadString('\n'); err != nil || l != "\r\n" {
		c.Close()
		t.Fatalf("flash request: after 100 Continue: %q %v", l, err)
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Minute))
	if _, err := c.Write(part); err != nil {
		t.Logf("write: %v", err)
	}
	return c, br
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("client killed") }

type agentState struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Version string `json:"version"`
	Slot    string `json:"slot"`
}

func agentStatus(t *testing.T, base, token string) agentState {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	defer resp.Body.Close()
	var s agentState
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("status: %v", err)
	}
	return s
}

// waitIdle waits until the agent takes a flash again (a cut request may
// still hold it); an empty body is refused at once without touching the
// disk. cutFlash's request held the agent before this probe was sent, so
// the probe's own refusal (422) means that request is done.
func waitIdle(t *testing.T, base, token string) {
	t.Helper()
	for i := 0; ; i++ {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/flash", strings.NewReader(""))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatalf("flash of an empty stream: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnprocessableEntity {
			return
		}
		if resp.StatusCode != http.StatusConflict || i > 600 {
			t.Fatalf("flash of an empty stream: %s", resp.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
