package channelfile

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	trusted := func(c string) bool { return c == "prod" || c == "canary" }
	noFile := fs.ErrNotExist
	for name, c := range map[string]struct {
		s       Sources
		want    string
		from    string
		refused []string
	}{
		"recipe default":       {Sources{Recipe: "prod", FileErr: noFile}, "prod", "update.follow.channel", nil},
		"file":                 {Sources{Recipe: "prod", File: []byte("canary\n")}, "canary", "the ESP file turbo/channel", nil},
		"file without newline": {Sources{Recipe: "prod", File: []byte("canary")}, "canary", "the ESP file turbo/channel", nil},
		"cmdline over file":    {Sources{Recipe: "prod", Cmdline: "prod", File: []byte("canary\n")}, "prod", "turbo.channel= on the kernel command line", nil},
		"cmdline, no file":     {Sources{Recipe: "prod", Cmdline: "canary", FileErr: noFile}, "canary", "turbo.channel= on the kernel command line", nil},
		"untrusted file": {Sources{Recipe: "prod", File: []byte("qa\n")}, "prod", "update.follow.channel",
			[]string{`the ESP file turbo/channel names channel "qa", which update.channels does not list`}},
		"untrusted cmdline, file used": {Sources{Recipe: "prod", Cmdline: "qa", File: []byte("canary\n")}, "canary", "the ESP file turbo/channel",
			[]string{`turbo.channel= on the kernel command line names channel "qa", which update.channels does not list`}},
		"garbage file": {Sources{Recipe: "prod", File: []byte("Canary\r\n")}, "prod", "update.follow.channel",
			[]string{`turbo/channel: channel "Canary\r": must start with a lowercase letter`}},
		"two lines": {Sources{Recipe: "prod", File: []byte("canary\nprod\n")}, "prod", "update.follow.channel",
			[]string{`turbo/channel: channel "canary\nprod": character '\n' at 7: only lowercase letters, digits and '-'`}},
		"empty file": {Sources{Recipe: "prod", File: []byte{}}, "prod", "update.follow.channel",
			[]string{`turbo/channel: channel "": want 1 to 63 characters`}},
		"unreadable file": {Sources{Recipe: "prod", FileErr: errors.New("input/output error")}, "prod", "update.follow.channel",
			[]string{"turbo/channel: input/output error"}},
	} {
		got := Choose(c.s, trusted)
		if got.Channel != c.want || got.From != c.from || !reflect.DeepEqual(got.Refused, c.refused) {
			t.Errorf("%s: got %+v, want %s from %s, refused %q", name, got, c.want, c.from, c.refused)
		}
	}
}

func TestFormatParse(t *testing.T) {
	b, err := Format("canary")
	if err != nil || string(b) != "canary\n" {
		t.Fatalf("Format: %q %v", b, err)
	}
	if n, err := Parse(b); err != nil || n != "canary" {
		t.Fatalf("Parse(Format): %q %v", n, err)
	}
	for _, bad := range []string{"", "Prod", "sha256-abc", "a b", strings.Repeat("a", 64), strings.Repeat("a", 200), "prod\n\n", "../x"} {
		if _, err := Format(bad); err == nil {
			t.Errorf("Format(%q) accepted", bad)
		}
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// FuzzParse: whatever the ESP file holds, Parse either refuses it or
// returns a valid channel that Format writes back as the same bytes (or
// the same bytes less the newline).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"prod\n", "canary", "", "\n", "prod\r\n", "pröd\n", "sha256-0\n", "a\x00b", strings.Repeat("z", 63) + "\n", strings.Repeat("z", 64), "prod\nqa\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := Parse(data)
		if err != nil {
			return
		}
		b, err := Format(name)
		if err != nil {
			t.Fatalf("Parse gave %q, which Format refuses: %v", name, err)
		}
		if string(b) != string(data) && string(b) != string(data)+"\n" {
			t.Fatalf("Parse(%q) = %q, written back as %q", data, name, b)
		}
	})
}
