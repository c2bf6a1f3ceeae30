package stallnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// The steps of the slow-but-moving cases are a twentieth of the stall, and
// they last longer than one stall in all: they pass only if every byte
// moved pushes the deadline on.
const (
	stall = 2 * time.Second
	step  = 100 * time.Millisecond
	steps = 30
)

// call runs req with Client(stall) and a context that ends the test's
// wait if the stall limit never fires.
func call(t *testing.T, req *http.Request) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := Client(stall).Do(req.WithContext(ctx))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if ctx.Err() != nil {
		t.Fatalf("the request ran into the test's own minute: %v", err)
	}
	return string(b), err
}

func wantStall(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "no byte moved either way for 2s") {
		t.Fatalf("want the stall error, got %v", err)
	}
}

// blocked is a server whose handler never answers until the test ends.
func blocked(t *testing.T, h func(http.ResponseWriter, *http.Request)) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r)
		<-done
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func TestSilentServerFails(t *testing.T) {
	srv := blocked(t, func(http.ResponseWriter, *http.Request) {})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := call(t, req)
	wantStall(t, err)
}

// A server that stops in the middle of its answer.
func TestAnswerStopsHalfWay(t *testing.T) {
	srv := blocked(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 1000))
		w.(http.Flusher).Flush()
	})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := call(t, req)
	wantStall(t, err)
}

// A server that stops reading the request's body (a flash the agent no
// longer takes): the writes block once the socket buffers are full.
func TestUploadNobodyReads(t *testing.T) {
	srv := blocked(t, func(http.ResponseWriter, *http.Request) {})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(make([]byte, 256<<20)))
	_, err := call(t, req)
	wantStall(t, err)
}

func TestSlowAnswerKeepsGoing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < steps; i++ {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(step)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	body, err := call(t, req)
	if err != nil || body != strings.Repeat("x", steps) {
		t.Fatalf("slow answer: %q %v", body, err)
	}
}

// slowBody yields one byte per step.
type slowBody struct{ left int }

func (s *slowBody) Read(b []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(step)
	s.left--
	b[0] = 'y'
	return 1, nil
}

// A slow upload whose answer comes only after its last byte: the read
// that waits for the answer all along must not fire while the body moves.
func TestSlowUploadThenAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte(strings.ToUpper(string(b))))
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, &slowBody{left: steps})
	body, err := call(t, req)
	if err != nil || body != strings.Repeat("Y", steps) {
		t.Fatalf("slow upload: %q %v", body, err)
	}
}
