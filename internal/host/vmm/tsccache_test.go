package vmm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	bootA = "0f6d3c1e-8a54-4c1e-9b7a-2d5e7f901234"
	bootB = "a1b2c3d4-e5f6-4a5b-8c9d-0e1f2a3b4c5d"
)

// TestCachedTSCkHz: the first run measures and records, a later run in
// the same host boot reads the record without measuring, and a reboot, a
// damaged record or a failed measurement measure (or fail) again.
func TestCachedTSCkHz(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache", "tsc")
	calls := 0
	measure := func(k int) func() (int, error) {
		return func() (int, error) { calls++; return k, nil }
	}
	k, cached, err := CachedTSCkHz(file, bootA, measure(2096028))
	if err != nil || k != 2096028 || cached || calls != 1 {
		t.Fatalf("first run: %d %v %v, %d measurements", k, cached, err, calls)
	}
	k, cached, err = CachedTSCkHz(file, bootA, measure(1))
	if err != nil || k != 2096028 || !cached || calls != 1 {
		t.Fatalf("same boot: %d %v %v, %d measurements; want the record, no measurement", k, cached, err, calls)
	}
	// Another boot (or another machine sharing the cache): measured again
	// and the record replaced.
	k, cached, err = CachedTSCkHz(file, bootB, measure(2600000))
	if err != nil || k != 2600000 || cached || calls != 2 {
		t.Fatalf("new boot: %d %v %v, %d measurements", k, cached, err, calls)
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "boot_id "+bootB+"\nkhz 2600000\n") {
		t.Fatalf("record not replaced: %q", b)
	}
	// A damaged record is measured over.
	os.WriteFile(file, []byte(tscCacheHeader+"\nboot_id "+bootB+"\nkhz 99\n"), 0o644)
	if k, cached, _ = CachedTSCkHz(file, bootB, measure(2600001)); k != 2600001 || cached {
		t.Fatalf("implausible record used: %d %v", k, cached)
	}
	// A failed measurement is the caller's error, and records nothing.
	os.Remove(file)
	boom := errors.New("host too busy")
	if _, _, err = CachedTSCkHz(file, bootA, func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed measurement: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a failed measurement left a record: %v", err)
	}
	// No boot id (not Linux, or /proc unreadable): measured every time.
	calls = 0
	for i := 0; i < 2; i++ {
		CachedTSCkHz(file, "", measure(2096028))
	}
	if calls != 2 {
		t.Fatalf("without a boot id: %d measurements, want 2", calls)
	}
}

func TestParseTSCCache(t *testing.T) {
	good := string(formatTSCCache(bootA, 2096028))
	if id, k, ok := parseTSCCache([]byte(good)); !ok || id != bootA || k != 2096028 {
		t.Fatalf("parse of our own record: %q %d %v", id, k, ok)
	}
	for _, bad := range []string{
		"",
		good[:len(good)-1],                   // no final newline
		good + "\n",                          // an extra line
		strings.Replace(good, "v1", "v2", 1), // another version
		strings.Replace(good, bootA, "x", 1), // not a boot id
		strings.Replace(good, bootA, strings.ToUpper(bootA), 1),
		strings.Replace(good, "2096028", "+2096028", 1),
		strings.Replace(good, "2096028", "02096028", 1),
		strings.Replace(good, "2096028", "99999", 1),
		strings.Replace(good, "2096028", "20000001", 1),
		strings.Replace(good, "2096028", "99999999999999999999", 1),
		strings.Replace(good, "khz ", "khz  ", 1),
		strings.ReplaceAll(good, "\n", "\r\n"),
	} {
		if _, _, ok := parseTSCCache([]byte(bad)); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

// FuzzParseTSCCache: whatever the file holds, a record that parses is one
// formatTSCCache would write.
func FuzzParseTSCCache(f *testing.F) {
	f.Add(formatTSCCache(bootA, 2096028))
	f.Add([]byte(tscCacheHeader + "\nboot_id " + bootA + "\nkhz -1\n"))
	f.Add([]byte("\x00\xff\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, k, ok := parseTSCCache(b)
		if ok && string(formatTSCCache(id, k)) != string(b) {
			t.Fatalf("parsed %q as (%q, %d), which formats differently", b, id, k)
		}
	})
}
