package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBootOnceOverSession drives bootOnce (which runs its boot through
// vmm.Session) with /bin/sh standing in for QEMU.
func TestBootOnceOverSession(t *testing.T) {
	sh := func(script string) bootPlan {
		return bootPlan{bin: "/bin/sh", args: []string{"-c", script}, timeout: time.Minute}
	}
	s, err := bootOnce(context.Background(), sh("echo 'BENCH_FLOOR uptime_ms=12'; exit 0"))
	if err != nil {
		t.Fatal(err)
	}
	if s.guestMS != 12 || s.exit != "exited with code 0" {
		t.Errorf("floor sample %+v", s)
	}
	s, err = bootOnce(context.Background(), sh("echo 'BENCH_FLOOR uptime_ms=7'; exec sleep 60"))
	if err != nil || s.guestMS != 7 || !strings.HasPrefix(s.exit, "stopped by us") {
		t.Errorf("floor that does not end by itself: %+v, %v", s, err)
	}
	_, err = bootOnce(context.Background(), sh("echo booting; echo 'last words'; exit 0"))
	if err == nil || !strings.Contains(err.Error(), "ended before it was ready") || !strings.Contains(err.Error(), "last words") {
		t.Errorf("VM that ends unready: %v", err)
	}
	_, err = bootOnce(context.Background(), sh("echo 'Kernel panic - not syncing: x'; echo 'PANIC'; exec sleep 60"))
	if err == nil {
		t.Error("a panicking guest passed")
	}
}

// TestPollHTTPOneAtATimeOnceAnswered checks that the probe stops
// overlapping its GETs once the app has answered (issue 10: etcd's
// /health, slow while the member elects itself, was flooded): the server
// answers 503 at once until it has answered three, then holds each GET
// until released; a second GET arriving while one is held fails the test.
// The probe must still deliver the 200 that follows.
func TestPollHTTPOneAtATimeOnceAnswered(t *testing.T) {
	var mu sync.Mutex
	answered, held := 0, 0
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if answered < 3 {
			answered++
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		held++
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := pollHTTP(ctx, srv.URL)
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no GET after the app answered 503 three times")
	}
	// Twenty poll intervals: the old probe started a GET in each.
	select {
	case <-arrived:
		t.Error("a second GET while the first one is still unanswered")
	case <-time.After(20 * pollEvery):
	}
	close(release)
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the 200 was not delivered")
	}
}
