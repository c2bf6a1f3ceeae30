package main

import (
	"context"
	"strings"
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
