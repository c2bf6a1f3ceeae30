package turboinit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/channelfile"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// TestPlanChannel covers the update agent's check of a channel request:
// only a channel the recipe trusts is written, "" removes the file, an
// appliance that follows nothing refuses, and the answer says which
// channel the follower will choose (turbo.channel= still wins).
func TestPlanChannel(t *testing.T) {
	key := [][]byte{make([]byte, 32)}
	u := initconfig.Update{
		Channels: map[string][][]byte{"prod": key, "canary": key, "empty": nil},
		Follow:   &initconfig.Follow{Registry: "r:5000", Repository: "acme/hello", Channel: "prod"},
	}
	data, c, err := planChannel(u, "", "canary")
	if err != nil || string(data) != "canary\n" || c.Channel != "canary" || !strings.Contains(c.From, channelfile.Name) {
		t.Errorf("canary: %q, %+v, %v", data, c, err)
	}
	data, c, err = planChannel(u, "", "")
	if err != nil || data != nil || c.Channel != "prod" || c.From != "update.follow.channel" {
		t.Errorf("clear: %q, %+v, %v", data, c, err)
	}
	data, c, err = planChannel(u, "canary", "prod")
	if err != nil || string(data) != "prod\n" || c.Channel != "canary" || !strings.Contains(c.From, "kernel command line") {
		t.Errorf("under turbo.channel=canary: %q, %+v, %v", data, c, err)
	}
	for name, want := range map[string]string{
		"qa":        `channel "qa" is not in this appliance's update.channels (it trusts canary, prod)`,
		"empty":     `"empty" is not in`, // listed without a key: trusts nothing
		"Bad Name!": "channel",
		"../x":      "channel",
	} {
		data, _, err := planChannel(u, "", name)
		if err == nil || data != nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %q, %v; want an error with %q", name, data, err, want)
		}
	}
	u.Follow = nil
	if _, _, err := planChannel(u, "", "prod"); err == nil || !strings.Contains(err.Error(), "follows no channel") {
		t.Errorf("no update.follow: %v", err)
	}
}

// TestWriteChannelFile writes, replaces and removes the ESP file in a
// folder standing in for the mounted ESP: no temporary file is left, and
// a failed replacement keeps the old file.
func TestWriteChannelFile(t *testing.T) {
	esp := t.TempDir()
	path := filepath.Join(esp, channelfile.Name)
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	onlyFile := func() {
		t.Helper()
		ents, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != filepath.Base(path) {
				t.Errorf("left behind: %s", e.Name())
			}
		}
	}
	for _, ch := range []string{"canary\n", "prod\n"} {
		if err := writeChannelFile(esp, []byte(ch)); err != nil {
			t.Fatal(err)
		}
		if got := read(); got != ch {
			t.Errorf("file holds %q, want %q", got, ch)
		}
		onlyFile()
	}
	if err := writeChannelFile(esp, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after clear: %v", err)
	}
	if err := writeChannelFile(esp, nil); err != nil {
		t.Errorf("clearing twice: %v", err)
	}

	// A folder in the file's place cannot be renamed over: the write
	// fails, and what was there stays, with no temporary file beside it.
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeChannelFile(esp, []byte("canary\n")); err == nil {
		t.Error("replacing a non-empty folder succeeded")
	}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		t.Errorf("the folder in the way changed: %v", err)
	}
	onlyFile()
}
