package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/builder"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestProgressLinesInLogs: with stderr not a terminal (a CI log), build,
// offline flash and network flash print plain progress lines, one per
// line, no carriage returns or escape sequences; --quiet prints none; and
// --json keeps stdout one document.
func TestProgressLinesInLogs(t *testing.T) {
	testenv.MustHaveFile(t, builder.DefaultSystemdBoot, "systemd-boot-efi")
	testenv.MustHaveTool(t, "go", "golang")
	dir, recipe, kernel := helloProject(t, "progress", "disk")
	build := func(out string, extra ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"build", recipe, "-o", out, "--kernel", kernel,
			"--cache", filepath.Join(dir, "cache")}, extra...)...)
		if code != 0 {
			t.Fatalf("build: exit %d: %s", code, stderr)
		}
		return stdout, stderr
	}
	plain := func(what, stderr string) {
		t.Helper()
		if strings.ContainsAny(stderr, "\r\x1b") {
			t.Errorf("%s: carriage return or escape in a log:\n%q", what, stderr)
		}
		for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
			if !strings.HasPrefix(l, "turbo-image: ") {
				t.Errorf("%s: line %q does not start with turbo-image:", what, l)
			}
		}
	}
	has := func(what, stderr, re string) {
		t.Helper()
		if !regexp.MustCompile(`(?m)` + re).MatchString(stderr) {
			t.Errorf("%s: no line matching %s in:\n%s", what, re, stderr)
		}
	}

	v1 := filepath.Join(dir, "v1")
	_, stderr := build(v1)
	plain("build", stderr)
	t.Logf("build:\n%s", stderr)
	for _, re := range []string{
		`^turbo-image: recipe  .*recipe\.yaml$`,
		`^turbo-image: services: 0/1 services \(0%\)  go build \./app for hello$`,
		`^turbo-image: kernel  prebuilt .*kernel$`,
		`^turbo-image: disk$`,
		`^turbo-image: done  .*v1$`,
	} {
		has("build", stderr, re)
	}

	v2 := filepath.Join(dir, "v2")
	stdout, stderr := build(v2, "--version", "1.0.1", "--json")
	var doc BuildJSON
	decodeStrict(t, stdout, &doc)
	has("build --json", stderr, `^turbo-image: manifest$`)
	if _, stderr := build(filepath.Join(dir, "v3"), "--version", "1.0.2", "--quiet"); stderr != "" {
		t.Errorf("build --quiet printed %q", stderr)
	}

	// Offline: every operation starts a line; the root partition's write
	// and read-back report bytes up to 100%.
	code, _, stderr := runCLI(t, "flash", v2, "--target", filepath.Join(v1, "disk.img"))
	if code != 0 {
		t.Fatalf("flash: exit %d: %s", code, stderr)
	}
	plain("flash", stderr)
	has("flash", stderr, `^turbo-image: flash 1/\d+: `)
	has("flash", stderr, `^turbo-image: flash \d+/\d+: write partition turbo-b from root\.squashfs: .* of .* \(100%\)`)
	has("flash", stderr, `^turbo-image: flash \d+/\d+: verify partition turbo-b .*\(100%\)`)
	has("flash", stderr, `^turbo-image: flash (\d+)/\d+: rename loader/entries/turbo-2-b\.conf\.new -> loader/entries/turbo-2-b\+3\.conf$`)
	has("flash", stderr, `^turbo-image: flash \d+/\d+: write file b/linux from kernel$`)

	// Network: the stream's bytes as they are sent, to 100%.
	var got int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.Copy(io.Discard, r.Body)
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "version": "1.0.1", "slot": "b", "entry": "turbo-2-b+3.conf", "trial": true})
	}))
	defer srv.Close()
	code, _, stderr = runCLI(t, "flash", v2, "--target", srv.URL, "--token", "0123456789abcdef")
	if code != 0 {
		t.Fatalf("network flash: exit %d: %s", code, stderr)
	}
	plain("network flash", stderr)
	t.Logf("network flash:\n%s", stderr)
	has("network flash", stderr, `^turbo-image: flash: send to http://.*: 0 B of [0-9.]+ MiB \(0%\)$`)
	has("network flash", stderr, `^turbo-image: flash: the appliance checks and writes: [0-9.]+ MiB of [0-9.]+ MiB \(100%\)`)
	if got == 0 {
		t.Error("the server got no stream")
	}
	if code, _, stderr := runCLI(t, "flash", v2, "--target", srv.URL, "--token", "0123456789abcdef", "-q"); code != 0 || stderr != "" {
		t.Errorf("flash -q: exit %d, stderr %q", code, stderr)
	}
}
