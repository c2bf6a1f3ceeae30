package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hostrecipe "github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// TestFleetUpdate checks that the recipe row 7e derives from
// bench/recipes/hello-disk is a valid recipe that follows prod of the
// given registry with the given key, and that a recipe with an update
// section of its own, or a ref that would break the YAML, is refused.
func TestFleetUpdate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("recipes", "hello-disk", "recipe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prod.pub"), k.Public().MarshalText(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := FleetUpdate(src, "10.0.2.2:41234/bench/hello", "prod.pub")
	if err != nil {
		t.Fatal(err)
	}
	r, err := hostrecipe.Parse(filepath.Join(dir, "recipe.yaml"), out)
	if err != nil {
		t.Fatalf("derived recipe does not parse: %v\n%s", err, out)
	}
	f := r.Update.Follow
	if f == nil {
		t.Fatalf("derived recipe follows nothing:\n%s", out)
	}
	if f.Registry != "10.0.2.2:41234" || f.Repository != "bench/hello" || f.Channel != "prod" || !f.PlainHTTP || f.Interval != time.Second {
		t.Errorf("follow = %+v", f)
	}
	if len(r.Update.Channels["prod"]) != 1 {
		t.Errorf("channels = %v, want one prod key", r.Update.Channels)
	}
	if !strings.HasPrefix(string(out), string(src)) {
		t.Error("the derived recipe does not start with the source recipe")
	}

	if _, err := FleetUpdate(append(src, "update:\n  tries: 3\n"...), "10.0.2.2:1/a/b", "prod.pub"); err == nil || !strings.Contains(err.Error(), "update section") {
		t.Errorf("a recipe with its own update section: err = %v", err)
	}
	for _, ref := range []string{"", "10.0.2.2:1/a\", channel: x", "a/b}\nfiles: []"} {
		if _, err := FleetUpdate(src, ref, "prod.pub"); err == nil {
			t.Errorf("ref %q accepted", ref)
		}
	}
}

// TestParseFleetLine covers the console lines row 7e waits for, in the
// forms turbo-init prints them, and lines it must not take for them.
func TestParseFleetLine(t *testing.T) {
	const build = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	for _, c := range []struct {
		line string
		want FleetEvent
		ok   bool
	}{
		{"TURBO_READY name=hello version=1.0.1 slot=b build=" + build + " uptime_ms=2345", FleetEvent{Kind: fleetReady, Version: "1.0.1", Slot: "b", Build: build}, true},
		{"[    2.3] TURBO_READY name=hello version=1.0.0 slot=a uptime_ms=1", FleetEvent{Kind: fleetReady, Version: "1.0.0", Slot: "a"}, true},
		{"turbo-init: follow: 10.0.2.2:5000/bench/hello:prod holds 1.0.0 (sha256:abcd), which runs here", FleetEvent{Kind: fleetUpToDate, Version: "1.0.0"}, true},
		{"turbo-init: follow: hello 1.0.1 (sha256:abcd, build=" + build + ") from 10.0.2.2:5000/bench/hello:prod, signed for prod by key 0123abcd: slot b, 3 layers; rebooting into its trial\r", FleetEvent{Kind: fleetFlashed, Version: "1.0.1"}, true},
		{"TURBO_FATAL reason=no slot", FleetEvent{Kind: fleetFailed}, true},
		{"TURBO_ROLLBACK from=b version=1.0.1", FleetEvent{Kind: fleetFailed}, true},
		{"Kernel panic - not syncing: VFS", FleetEvent{Kind: fleetFailed}, true},
		// Not ours.
		{"turbo-init: follow: 10.0.2.2:5000/bench/hello:prod holds 1.0.1; waiting until this slot is blessed", FleetEvent{}, false},
		{"turbo-init: follow: refused: version 1.0.2 failed its trial on this appliance", FleetEvent{}, false},
		{"turbo-init: follow: dial tcp 10.0.2.2:5000: connection refused (retrying with backoff)", FleetEvent{}, false},
		{"TURBO_BLESSED slot=b version=1.0.1", FleetEvent{}, false},
		{"hello: follow: x holds 1.0.0 (y), which runs here", FleetEvent{}, false},
		{"turbo-init: follow: rebooting into its trial", FleetEvent{}, false},
		{"", FleetEvent{}, false},
	} {
		got, ok := ParseFleetLine(c.line)
		got.Text = ""
		if ok != c.ok || got != c.want {
			t.Errorf("ParseFleetLine(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// FuzzParseFleetLine feeds hostile console lines: no panic, and what is
// recognised carries its line and a version only where one was read.
func FuzzParseFleetLine(f *testing.F) {
	for _, s := range []string{
		"TURBO_READY name=hello version=1.0.1 slot=b build=sha256:00",
		"TURBO_READY",
		"TURBO_READY version= slot= build=",
		"turbo-init: follow:  holds ",
		"turbo-init: follow: x holds , which runs here",
		"turbo-init: follow: ; rebooting into its trial",
		"turbo-init: follow: \x00\xff rebooting into its trial",
		"Kernel panic - not syncing",
		strings.Repeat("TURBO_", 1000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := ParseFleetLine(line)
		if !ok {
			if ev != (FleetEvent{}) {
				t.Fatalf("not recognised but %+v", ev)
			}
			return
		}
		if ev.Text != line {
			t.Fatalf("Text %q, want the line", ev.Text)
		}
		if (ev.Kind == fleetUpToDate || ev.Kind == fleetFlashed) && strings.ContainsAny(ev.Version, " \t") {
			t.Fatalf("version %q holds a blank", ev.Version)
		}
	})
}
