package console

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		line string
		ok   bool
		kind Kind
		f    map[string]string
	}{
		{"TURBO_READY name=hello version=1.0.0 uptime_ms=412", true, Ready,
			map[string]string{"name": "hello", "version": "1.0.0", "uptime_ms": "412"}},
		{"[    0.9] TURBO_READY name=hello version=1.0.0 slot=a uptime_ms=9\r", true, Ready,
			map[string]string{"name": "hello", "version": "1.0.0", "slot": "a", "uptime_ms": "9"}},
		{"TURBO_UNHEALTHY service=web reason=gave up after 3 deaths in 30s", true, Unhealthy,
			map[string]string{"service": "web", "reason": "gave up after 3 deaths in 30s"}},
		{"TURBO_POWEROFF", true, Poweroff, map[string]string{}},
		{"TURBO_ROLLBACK from=b version=1.0.1", true, Rollback, map[string]string{"from": "b", "version": "1.0.1"}},
		{"Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100", true, Panic,
			map[string]string{"reason": ": Attempted to kill init! exitcode=0x00000100"}},
		{"hello: listening on :8080", false, "", nil},
		{"TURBO_SOMETHING x=1", false, "", nil},
	}
	for _, c := range cases {
		r, ok := Parse(c.line)
		if ok != c.ok {
			t.Errorf("%q: ok=%v", c.line, ok)
			continue
		}
		if !ok {
			continue
		}
		if r.Kind != c.kind || !reflect.DeepEqual(r.Fields, c.f) {
			t.Errorf("%q: got %v %v", c.line, r.Kind, r.Fields)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	line := Format(Unhealthy, "reason", "not healthy\nwithin 30s", "service", "web")
	if line != "TURBO_UNHEALTHY service=web reason=not healthy within 30s" {
		t.Fatal(line)
	}
	r, ok := Parse(line)
	if !ok || r.Get("service") != "web" || r.Get("reason") != "not healthy within 30s" {
		t.Fatal(r)
	}
	if got := Format(Ready, "name", "hello", "version", "1.0", "uptime_ms", "12"); got != "TURBO_READY name=hello version=1.0 uptime_ms=12" {
		t.Fatal(got)
	}
	if r, _ := Parse(Format(Ready, "uptime_ms", "12")); r.Int("uptime_ms") != 12 || r.Int("nope") != -1 {
		t.Fatal(r)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("TURBO_READY name=hello version=1.0.0 uptime_ms=412")
	f.Add("TURBO_UNHEALTHY service=web reason=x y z")
	f.Fuzz(func(t *testing.T, line string) {
		r, ok := Parse(line)
		if ok && r.Fields == nil {
			t.Fatal("record without fields map")
		}
	})
}
