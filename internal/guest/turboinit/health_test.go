package turboinit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

func check(mod func(*initconfig.Health)) *initconfig.Health {
	h := &initconfig.Health{Interval: initconfig.Duration(time.Second), Timeout: initconfig.Duration(time.Second),
		StartPeriod: initconfig.Duration(10 * time.Second), Retries: 3}
	mod(h)
	return h
}

func TestProbeHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprintln(w, "ok")
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			http.Error(w, "nope", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := Probe(ctx, check(func(h *initconfig.Health) { h.HTTP = srv.URL + "/ok" }), nil); err != nil {
		t.Errorf("ok: %v", err)
	}
	if err := Probe(ctx, check(func(h *initconfig.Health) { h.HTTP = srv.URL + "/redirect" }), nil); err != nil {
		t.Errorf("redirect: %v", err)
	}
	err := Probe(ctx, check(func(h *initconfig.Health) { h.HTTP = srv.URL + "/bad" }), nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503 page: %v", err)
	}
}

func TestProbeTCPAndTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := Probe(context.Background(), check(func(h *initconfig.Health) { h.TCP = addr }), nil); err != nil {
		t.Errorf("listening port: %v", err)
	}
	// A server that accepts but never answers must time out, not hang.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	err = Probe(context.Background(), check(func(h *initconfig.Health) {
		h.HTTP = "http://" + addr + "/"
		h.Timeout = initconfig.Duration(200 * time.Millisecond)
	}), nil)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("silent server: err=%v after %v", err, time.Since(start))
	}
	l.Close()
	if err := Probe(context.Background(), check(func(h *initconfig.Health) { h.TCP = addr }), nil); err == nil {
		t.Error("closed port passed")
	}
}

func TestProbeExec(t *testing.T) {
	var got []string
	run := func(ctx context.Context, argv []string) error { got = argv; return errors.New("exit status 1") }
	err := Probe(context.Background(), check(func(h *initconfig.Health) { h.Exec = []string{"/bin/check", "-v"} }), run)
	if err == nil || strings.Join(got, " ") != "/bin/check -v" {
		t.Fatalf("err=%v argv=%v", err, got)
	}
}

func TestHealthState(t *testing.T) {
	t0 := time.Unix(0, 0)
	h := check(func(h *initconfig.Health) {
		h.HTTP = "x"
		h.Retries = 2
		h.StartPeriod = initconfig.Duration(5 * time.Second)
	})
	fail := errors.New("refused")
	s := NewHealthState(h, t0)
	for _, c := range []struct{ at, want time.Duration }{
		{0, 5 * time.Millisecond},
		{30 * time.Millisecond, 5 * time.Millisecond},
		{200 * time.Millisecond, 20 * time.Millisecond},
		{500 * time.Millisecond, 50 * time.Millisecond},
		{3 * time.Second, 50 * time.Millisecond},
	} {
		if got := s.NextDelay(t0.Add(c.at)); got != c.want {
			t.Errorf("before the first success, NextDelay %v after the start = %v, want %v", c.at, got, c.want)
		}
	}
	steps := []struct {
		at   time.Duration
		err  error
		want Transition
	}{
		{time.Second, fail, NoChange},
		{2 * time.Second, nil, BecameHealthy},
		{3 * time.Second, nil, NoChange},
		{4 * time.Second, fail, NoChange},
		{5 * time.Second, fail, BecameUnhealthy},
		{6 * time.Second, fail, NoChange},
		{7 * time.Second, nil, BecameHealthy},
	}
	for i, st := range steps {
		if got := s.Observe(t0.Add(st.at), st.err); got != st.want {
			t.Fatalf("step %d: got %v want %v", i, got, st.want)
		}
	}
	if s.NextDelay(t0.Add(7*time.Second)) != time.Second {
		t.Error("after success, interval")
	}
	s2 := NewHealthState(h, t0)
	if s2.Observe(t0.Add(4*time.Second), fail) != NoChange || s2.Observe(t0.Add(5*time.Second), fail) != BecameUnhealthy {
		t.Fatal("start period")
	}
	if !strings.Contains(s2.Reason(), "not healthy within 5s") {
		t.Fatal(s2.Reason())
	}
}
