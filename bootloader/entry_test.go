package bootloader

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Regenerate the golden files with: go test ./bootloader/ -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares got with the golden file path, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got ---\n%s--- want ---\n%s", path, got, want)
	}
}

func TestParseEntryFiles(t *testing.T) {
	want := map[string]Entry{
		"turbo-2-b+3.conf": {
			FileName: "turbo-2-b+3.conf", ID: "turbo-2-b", Counter: Counter{true, 3, 0},
			Title: "turbo appliance 2 (slot b)", Version: "2", SortKey: "turbo",
			Linux: "/turbo/b/vmlinuz", Initrd: []string{"/turbo/b/initrd.zst"},
			Options: "console=ttyS0 quiet turbo.slot=b",
		},
		"Messy+1-2.conf": {
			FileName: "Messy+1-2.conf", ID: "Messy", Counter: Counter{true, 1, 2},
			Title:     "Final Title", // the last title wins
			Version:   "6.1.0-13-amd64",
			MachineID: "0123456789abcdef0123456789abcdef",
			Linux:     "/vmlinuz-6.1", Architecture: "x64", DeviceTree: "/dtb/board.dtb",
			Initrd:  []string{"/intel-ucode.img", "/initrd-6.1.img"},
			Options: `root=LABEL=root # not a comment a" "b`,
			Extra:   [][2]string{{"devicetree-overlay", "/dtb/overlay.dtbo"}, {"Title", "is-an-unknown-key"}},
		},
		"shell.conf": {
			FileName: "shell.conf", ID: "shell", Title: "EFI shell", EFI: "/EFI/tools/shellx64.efi",
		},
	}
	files, err := filepath.Glob("testdata/entries/*.conf")
	if err != nil || len(files) != len(want) {
		t.Fatalf("testdata/entries: %v, %v", files, err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ParseEntry(name, data)
		if err != nil {
			t.Errorf("ParseEntry(%s): %v", name, err)
			continue
		}
		if !reflect.DeepEqual(e, want[name]) {
			t.Errorf("ParseEntry(%s) =\n%#v\nwant\n%#v", name, e, want[name])
		}
		out := e.Format()
		checkGolden(t, path+".golden", out)
		back, err := ParseEntry(name, out)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Errorf("%s: Format does not round-trip: %v\n%s", name, err, out)
		}
	}
}

func TestParseEntrySyntax(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       Entry
	}{
		{"only linux", "linux /k", Entry{Linux: "/k"}},
		{"CR line ends", "title a\rlinux /k\r", Entry{Title: "a", Linux: "/k"}},
		{"tab separator", "linux\t /k\t", Entry{Linux: "/k"}},
		{"quoted keeps spaces", "linux /k\ntitle \" x \"", Entry{Linux: "/k", Title: " x "}},
		{"quote only at start", "linux /k\ntitle \"x", Entry{Linux: "/k", Title: `"x`}},
		{"quotes at both ends of two words", "linux /k\noptions \"a\" \"b\"", Entry{Linux: "/k", Options: `a" "b`}},
		{"hash inside a value", "linux /k#1", Entry{Linux: "/k#1"}},
		{"indented comment", "  \t# linux /x\nlinux /k", Entry{Linux: "/k"}},
		{"options join", "linux /k\noptions a  b\noptions c", Entry{Linux: "/k", Options: "a  b c"}},
		{"keys are case-sensitive", "linux /k\nLINUX /x", Entry{Linux: "/k", Extra: [][2]string{{"LINUX", "/x"}}}},
		{"last linux wins", "linux /a\nlinux /b", Entry{Linux: "/b"}},
		{"unicode title", "linux /k\ntitle Grüße 😀", Entry{Linux: "/k", Title: "Grüße 😀"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEntry("e.conf", []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.FileName, want.ID = "e.conf", "e"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestParseEntryErrors(t *testing.T) {
	for _, tc := range []struct {
		file, data string
		want       []string // substrings of the error
	}{
		{"e.conf", "linux /k\ntitle", []string{"e.conf:2:", "has no value"}},
		{"e.conf", "linux /k\n\ntitle \"\"", []string{"e.conf:3:", "empty value"}},
		{"e.conf", "linux /k\ntitle \"", []string{"e.conf:2:", "empty value"}},
		{"e.conf", "linux /k\r\ntitle a\x00b", []string{"e.conf:2:", "NUL"}},
		{"e.conf", "linux /k\ntitle \xff", []string{"e.conf:2:", "UTF-8"}},
		{"e.conf", "efi /a.efi\nlinux /k", []string{"e.conf:2:", "both linux"}},
		{"e.conf", "default=x\nx\nlinux /k", []string{"e.conf:1:", "e.conf:2:"}}, // all errors at once
		{"e.txt", "linux /k", []string{"does not end in"}},
		{"auto-x.conf", "linux /k", []string{"auto-"}},
	} {
		_, err := ParseEntry(tc.file, []byte(tc.data))
		if err == nil {
			t.Errorf("ParseEntry(%q, %q) = nil error", tc.file, tc.data)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseEntry(%q, %q) = %q, want it to contain %q", tc.file, tc.data, err, w)
			}
		}
	}
}

func TestEntryLoadable(t *testing.T) {
	for _, tc := range []struct {
		e    Entry
		want bool
	}{
		{Entry{Linux: "/k"}, true},
		{Entry{EFI: "/x.efi"}, true},
		{Entry{Linux: "/k", Architecture: "x64"}, true},
		{Entry{Linux: "/k", Architecture: "aa64"}, false},
		{Entry{Linux: "/k", Architecture: "X64"}, true}, // v252-stable ignores case
		{Entry{Title: "no kernel", Options: "quiet"}, false},
	} {
		if got := tc.e.Loadable(); got != tc.want {
			t.Errorf("%+v.Loadable() = %v", tc.e, got)
		}
	}
}

func TestEntryLoaderID(t *testing.T) {
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{FileName: "Turbo-2-B+3.conf"}, "turbo-2-b+3.conf"},
		{Entry{FileName: "ÄB.CONF"}, "Äb.conf"}, // ASCII letters only
		{Entry{ID: "turbo-2-b", Counter: Counter{true, 2, 1}}, "turbo-2-b+2-1.conf"},
	} {
		if got := tc.e.LoaderID(); got != tc.want {
			t.Errorf("%+v.LoaderID() = %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestEntryFormatQuoting(t *testing.T) {
	e := Entry{
		Title:   `"quoted"`,
		Linux:   "/k",
		Initrd:  []string{" lead", "trail\t", `"`},
		Options: `a" "b`,
		Extra:   [][2]string{{"x-key", "v"}},
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	want := "title \"\"quoted\"\"\nlinux /k\ninitrd \" lead\"\ninitrd \"trail\t\"\ninitrd \"\"\"\noptions a\" \"b\nx-key v\n"
	if got := string(e.Format()); got != want {
		t.Errorf("Format =\n%q\nwant\n%q", got, want)
	}
	back, err := ParseEntry("q.conf", e.Format())
	e.FileName, e.ID = "q.conf", "q"
	if err != nil || !reflect.DeepEqual(back, e) {
		t.Errorf("round trip: %v\n%#v\nwant\n%#v", err, back, e)
	}
}

func TestEntryValidate(t *testing.T) {
	for _, e := range []Entry{
		{Linux: "/k", EFI: "/e"},
		{Linux: "/k", Title: "a\nb"},
		{Linux: "/k", Options: "a\x00"},
		{Linux: "/k", Initrd: []string{""}},
		{Linux: "/k", Extra: [][2]string{{"title", "x"}}},
		{Linux: "/k", Extra: [][2]string{{"#k", "x"}}},
		{Linux: "/k", Extra: [][2]string{{"a b", "x"}}},
		{Linux: "/k", Extra: [][2]string{{"k", ""}}},
		{Linux: "/k", Version: "\xff"},
	} {
		if err := e.Validate(); err == nil {
			t.Errorf("%#v.Validate() = nil, want error", e)
		}
	}
}
