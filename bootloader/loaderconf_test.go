package bootloader

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseLoaderConfFiles(t *testing.T) {
	want := map[string]LoaderConf{
		"loader.conf": {Default: "turbo-*", Timeout: 0, Editor: BoolNo, ConsoleMode: "keep"},
		"all-keys.conf": {
			Default: "@SAVED", Timeout: 5, // the last timeout wins
			AutoEntries: BoolNo, AutoFirmware: BoolYes, Beep: BoolYes, RebootForBitlocker: BoolNo,
			SecureBootEnroll: "off", ConsoleMode: "7", RandomSeedMode: "always",
			Extra: [][2]string{{"future-key", "some value"}},
		},
	}
	files, err := filepath.Glob("testdata/loader/*.conf")
	if err != nil || len(files) != len(want) {
		t.Fatalf("testdata/loader: %v, %v", files, err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseLoaderConf(data)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if w := want[filepath.Base(path)]; !reflect.DeepEqual(c, w) {
			t.Errorf("%s: got\n%#v\nwant\n%#v", path, c, w)
		}
		out := c.Format()
		checkGolden(t, path+".golden", out)
		back, err := ParseLoaderConf(out)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Errorf("%s: Format does not round-trip: %v\n%s", path, err, out)
		}
	}
}

func TestParseLoaderConfValues(t *testing.T) {
	for _, tc := range []struct {
		data string
		want LoaderConf
	}{
		{"", LoaderConf{Timeout: TimeoutUnset}},
		{"timeout menu-force", LoaderConf{Timeout: TimeoutMenuForce}},
		{"timeout menu-hidden", LoaderConf{Timeout: 0}},
		{"timeout 4294967294", LoaderConf{Timeout: MaxTimeout}},
		{"timeout 4294967295", LoaderConf{Timeout: TimeoutMenuForce}}, // the loader's encoding of menu-force
		{"timeout 0010", LoaderConf{Timeout: 10}},
		{"default @saved", LoaderConf{Timeout: TimeoutUnset, Default: "@saved"}},
		{"default \"a b*\"", LoaderConf{Timeout: TimeoutUnset, Default: "a b*"}},
		{"console-mode 2147483647", LoaderConf{Timeout: TimeoutUnset, ConsoleMode: "2147483647"}},
		{"console-mode max", LoaderConf{Timeout: TimeoutUnset, ConsoleMode: "max"}},
		{"random-seed-mode off\nrandom-seed-mode with-system-token", LoaderConf{Timeout: TimeoutUnset, RandomSeedMode: "with-system-token"}},
		{"random-seed-mode 0", LoaderConf{Timeout: TimeoutUnset, RandomSeedMode: "off"}},
		{"editor on\neditor false", LoaderConf{Timeout: TimeoutUnset, Editor: BoolNo}},
		{"Timeout 5", LoaderConf{Timeout: TimeoutUnset, Extra: [][2]string{{"Timeout", "5"}}}},
	} {
		got, err := ParseLoaderConf([]byte(tc.data))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLoaderConf(%q) = %#v, %v\nwant %#v", tc.data, got, err, tc.want)
		}
		back, err := ParseLoaderConf(got.Format())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("ParseLoaderConf(%q): Format does not round-trip: %v\n%s", tc.data, err, got.Format())
		}
	}
}

func TestParseLoaderConfErrors(t *testing.T) {
	for _, tc := range []struct {
		data string
		want []string
	}{
		{"timeout 4294967296", []string{"loader.conf:1:", "timeout"}},
		{"timeout -1", []string{"loader.conf:1:", "timeout"}},
		{"timeout 5s", []string{"timeout"}},
		{"\n\ndefault @foo", []string{"loader.conf:3:", "@saved"}},
		{"default=turbo-*", []string{"loader.conf:1:", "has no value"}},
		{"editor maybe", []string{"editor", "boolean"}},
		{"editor YES", []string{"editor"}}, // booleans are case-sensitive
		{"secure-boot-enroll auto", []string{"secure-boot-enroll"}},
		{"console-mode 2147483648", []string{"console-mode"}},
		{"console-mode -1", []string{"console-mode"}},
		{"random-seed-mode sometimes", []string{"random-seed-mode"}},
		{"beep 1\nbeep \"\"\nauto-firmware x", []string{"loader.conf:2:", "loader.conf:3:"}},
		{"timeout 1\x00", []string{"NUL"}},
	} {
		_, err := ParseLoaderConf([]byte(tc.data))
		if err == nil {
			t.Errorf("ParseLoaderConf(%q) = nil error", tc.data)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseLoaderConf(%q) = %q, want it to contain %q", tc.data, err, w)
			}
		}
	}
}

func TestLoaderConfFormat(t *testing.T) {
	// The zero value is "timeout 0" and nothing else.
	if got := string((LoaderConf{}).Format()); got != "timeout 0\n" {
		t.Errorf("zero LoaderConf formats as %q", got)
	}
	c := LoaderConf{Default: "turbo-*", Timeout: TimeoutMenuForce, Beep: BoolYes, Extra: [][2]string{{"x", " y"}}}
	want := "default turbo-*\ntimeout menu-force\nbeep yes\nx \" y\"\n"
	if got := string(c.Format()); got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	for _, bad := range []LoaderConf{
		{Default: "@foo"},
		{Default: "a\nb"},
		{Timeout: -3},
		{Timeout: MaxTimeout + 1},
		{Editor: 7},
		{ConsoleMode: "07"},
		{ConsoleMode: "huge"},
		{SecureBootEnroll: "yes"},
		{RandomSeedMode: "yes"},
		{Extra: [][2]string{{"timeout", "1"}}},
		{Extra: [][2]string{{"k", ""}}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%#v.Validate() = nil, want error", bad)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestOptBoolOr(t *testing.T) {
	if !BoolUnset.Or(true) || BoolUnset.Or(false) || BoolNo.Or(true) || !BoolYes.Or(false) {
		t.Error("OptBool.Or is wrong")
	}
}
