package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/channelfile"
)

// TestChannelCommand sets, shows and clears an appliance's channel on its
// disk's ESP; a bad name and a file that is not a disk are refused with
// the disk unchanged.
func TestChannelCommand(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "appliance.img")
	if err := diskimage.Write(disk, diskimage.Image{Layout: diskimage.Layout{SlotSize: 8 << 20, DataSize: 8 << 20, Arch: "amd64", Seed: "chan"},
		SlotA: []byte("slot"), ESP: []diskimage.File{
			{Path: "loader/loader.conf", Data: []byte("timeout 0\ndefault turbo-*\n")},
			{Path: "a/linux", Data: []byte("k")}, {Path: "a/initrd", Data: []byte("i")},
			{Path: "loader/entries/turbo-1-a.conf", Data: []byte("title x\nversion 1.0.0\nlinux /a/linux\ninitrd /a/initrd\noptions console=ttyS0 turbo.slot=a\n")},
		}}); err != nil {
		t.Fatal(err)
	}
	// A disk that is not an appliance's (no boot entries) is refused.
	if code, _, errs := runCLI(t, "channel", "set", dataDisk(t, "plain"), "canary"); code == 0 || !strings.Contains(errs, "not a turbo-image A/B disk") {
		t.Errorf("set on a disk with no boot entries: exit %d, %q", code, errs)
	}
	espFile := func() (string, bool) {
		t.Helper()
		d, err := diskimage.Open(disk, false)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		esp, err := d.ESP()
		if err != nil {
			t.Fatal(err)
		}
		b, err := esp.ReadFile(channelfile.Name)
		return string(b), err == nil
	}
	if code, out, errs := runCLI(t, "channel", "show", disk); code != 0 || !strings.Contains(out, "no channel set") {
		t.Fatalf("show before set: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "channel", "set", disk, "canary"); code != 0 || !strings.Contains(out, "follows channel canary") {
		t.Fatalf("set: exit %d %q %q", code, out, errs)
	}
	if b, ok := espFile(); !ok || b != "canary\n" {
		t.Fatalf("ESP %s holds %q (%v)", channelfile.Name, b, ok)
	}
	if code, out, _ := runCLI(t, "channel", "show", disk); code != 0 || !strings.Contains(out, "channel canary") {
		t.Fatalf("show: exit %d %q", code, out)
	}
	before := fileSum(t, disk)
	for _, bad := range [][]string{{"set", disk, "Canary"}, {"set", disk, "sha256-x"}, {"set", disk}, {"frob", disk}} {
		if code, _, errs := runCLI(t, append([]string{"channel"}, bad...)...); code == 0 || errs == "" {
			t.Errorf("channel %q: exit %d, %q", bad, code, errs)
		}
	}
	notDisk := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notDisk, []byte("mine"), 0o644)
	if code, _, errs := runCLI(t, "channel", "set", notDisk, "canary"); code == 0 || !strings.Contains(errs, notDisk) {
		t.Errorf("set on a non-disk: exit %d, %q", code, errs)
	}
	if b, _ := os.ReadFile(notDisk); string(b) != "mine" {
		t.Errorf("the user's file was changed: %q", b)
	}
	if fileSum(t, disk) != before {
		t.Fatal("a refused channel command changed the disk")
	}
	if code, _, errs := runCLI(t, "channel", "clear", disk); code != 0 {
		t.Fatalf("clear: %q", errs)
	}
	if _, ok := espFile(); ok {
		t.Fatal("clear left the file")
	}
}

// TestChannelCommandLive sets and clears a running appliance's channel
// through a stand-in for its update agent (the real one is exercised in
// qemu-tests TestNetworkFlash): the token comes from --token-file, the
// agent's answer is printed, a refusal is an error with its reason, and
// token flags with a disk or a bad name never reach the network.
func TestChannelCommandLive(t *testing.T) {
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Channel string }
		json.NewDecoder(r.Body).Decode(&req)
		calls = append(calls, r.Header.Get("Authorization")+" "+req.Channel)
		if req.Channel == "qa" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"error":"channel \"qa\" is not in this appliance's update.channels"}`))
			return
		}
		ch, from := req.Channel, "the ESP file turbo/channel"
		if ch == "" {
			ch, from = "prod", "update.follow.channel"
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": ch, "from": from})
	}))
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "agent.token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)

	if code, out, errs := runCLI(t, "channel", "set", srv.URL, "canary", "--token-file", tok); code != 0 || !strings.Contains(out, "follows channel canary (from the ESP file turbo/channel)") {
		t.Errorf("set: exit %d, %q, %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "channel", "clear", srv.URL, "--token-file", tok); code != 0 || !strings.Contains(out, "follows channel prod (from update.follow.channel)") {
		t.Errorf("clear: exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "channel", "set", srv.URL, "qa", "--token-file", tok); code == 0 || !strings.Contains(errs, `"qa" is not in`) {
		t.Errorf("refused: exit %d, %q", code, errs)
	}
	if want := []string{"Bearer s3cret canary", "Bearer s3cret ", "Bearer s3cret qa"}; !slices.Equal(calls, want) {
		t.Errorf("the agent saw %q, want %q", calls, want)
	}
	calls = nil
	for _, bad := range [][]string{
		{"set", srv.URL, "canary"},                               // no token
		{"set", srv.URL, "Bad Name", "--token-file", tok},        // not a channel name
		{"show", srv.URL, "--token-file", tok},                   // show reads a disk
		{"set", "appliance.img", "canary", "--token-file", tok},  // a token with a disk
		{"set", srv.URL, "canary", "extra", "--token-file", tok}, // too many words
	} {
		if code, _, errs := runCLI(t, append([]string{"channel"}, bad...)...); code == 0 || errs == "" {
			t.Errorf("channel %q: exit %d, %q", bad, code, errs)
		}
	}
	if len(calls) != 0 {
		t.Errorf("refused commands reached the agent: %q", calls)
	}
}
