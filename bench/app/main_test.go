package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func TestParseNet(t *testing.T) {
	tests := []struct {
		in      string
		addr    [4]byte
		prefix  int
		gw      [4]byte
		wantErr bool
	}{
		{"10.0.2.15/24,10.0.2.2", [4]byte{10, 0, 2, 15}, 24, [4]byte{10, 0, 2, 2}, false},
		{"192.168.1.9/32,192.168.1.1", [4]byte{192, 168, 1, 9}, 32, [4]byte{192, 168, 1, 1}, false},
		{"10.0.2.15/24", [4]byte{}, 0, [4]byte{}, true},
		{"10.0.2.15,10.0.2.2", [4]byte{}, 0, [4]byte{}, true},
		{"10.0.2.15/33,10.0.2.2", [4]byte{}, 0, [4]byte{}, true},
		{"10.0.2.256/24,10.0.2.2", [4]byte{}, 0, [4]byte{}, true},
		{"10.0.2/24,10.0.2.2", [4]byte{}, 0, [4]byte{}, true},
		{"10.0.2.15/24,gw", [4]byte{}, 0, [4]byte{}, true},
	}
	for _, tt := range tests {
		addr, prefix, gw, err := parseNet(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseNet(%q): no error", tt.in)
			}
			continue
		}
		if err != nil || addr != tt.addr || prefix != tt.prefix || gw != tt.gw {
			t.Errorf("parseNet(%q) = %v/%d %v, %v", tt.in, addr, prefix, gw, err)
		}
	}
}

func FuzzParseNet(f *testing.F) {
	f.Add("10.0.2.15/24,10.0.2.2")
	f.Add("1.2.3.4/0,5.6.7.8")
	f.Add("a/b,c")
	f.Fuzz(func(t *testing.T, s string) {
		if _, prefix, _, err := parseNet(s); err == nil && (prefix < 0 || prefix > 32) {
			t.Fatalf("parseNet(%q) accepted prefix %d", s, prefix)
		}
	})
}

func TestFirstRequestPrintsOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		testenv.SkipUnsupported(t, "CLOCK_BOOTTIME is Linux-only; the app runs in a Linux guest")
	}
	consolePath := filepath.Join(t.TempDir(), "console")
	if err := os.WriteFile(consolePath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	served := 0
	h := firstRequest(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }), consolePath)
	for i := 0; i < 3; i++ {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	if served != 3 {
		t.Errorf("served %d requests, want 3", served)
	}
	b, err := os.ReadFile(consolePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 || !regexp.MustCompile(`^BENCH_READY uptime_ms=[0-9]+$`).MatchString(lines[0]) {
		t.Errorf("console got %q, want one BENCH_READY line", b)
	}
}
