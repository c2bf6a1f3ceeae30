package kconfig

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseFragment(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Option // Source is always "f.config"
		wantErr string   // substring; "" means success
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank and comments", in: "\n# comment\n   \n#\n# CONFIG_FOO is set to y\n", want: nil},
		{name: "bool tristate", in: "CONFIG_A=y\nCONFIG_B=m\n", want: []Option{{Name: "CONFIG_A", Value: "y", Line: 1}, {Name: "CONFIG_B", Value: "m", Line: 2}}},
		{name: "not set", in: "# CONFIG_A is not set\n", want: []Option{{Name: "CONFIG_A", Value: "n", Line: 1}}},
		{name: "not set with extra spaces", in: "#   CONFIG_A is not set  \n", want: []Option{{Name: "CONFIG_A", Value: "n", Line: 1}}},
		{name: "explicit n", in: "CONFIG_A=n", want: []Option{{Name: "CONFIG_A", Value: "n", Line: 1}}},
		{name: "string", in: `CONFIG_CMDLINE="console=ttyS0 quiet"`, want: []Option{{Name: "CONFIG_CMDLINE", Value: `"console=ttyS0 quiet"`, Line: 1}}},
		{name: "string escapes", in: `CONFIG_S="a\"b\\c"`, want: []Option{{Name: "CONFIG_S", Value: `"a\"b\\c"`, Line: 1}}},
		{name: "empty string", in: `CONFIG_S=""`, want: []Option{{Name: "CONFIG_S", Value: `""`, Line: 1}}},
		{name: "numbers", in: "CONFIG_N=128\nCONFIG_NEG=-1\nCONFIG_H=0x1000\n", want: []Option{
			{Name: "CONFIG_N", Value: "128", Line: 1}, {Name: "CONFIG_NEG", Value: "-1", Line: 2}, {Name: "CONFIG_H", Value: "0x1000", Line: 3}}},
		{name: "crlf and trailing space", in: "CONFIG_A=y \r\nCONFIG_B=m\r\n", want: []Option{{Name: "CONFIG_A", Value: "y", Line: 1}, {Name: "CONFIG_B", Value: "m", Line: 2}}},
		{name: "digit symbol", in: "CONFIG_64BIT=y", want: []Option{{Name: "CONFIG_64BIT", Value: "y", Line: 1}}},
		{name: "line numbers skip comments", in: "# c\n\nCONFIG_A=y\n", want: []Option{{Name: "CONFIG_A", Value: "y", Line: 3}}},

		{name: "no prefix", in: "FOO=y\n", wantErr: `f.config:1: symbol "FOO" does not start with CONFIG_`},
		{name: "no equals", in: "CONFIG_A=y\nCONFIG_B\n", wantErr: "f.config:2: expected CONFIG_NAME=value"},
		{name: "empty value", in: "CONFIG_A=\n", wantErr: "f.config:1: CONFIG_A: empty value"},
		{name: "bad value", in: "CONFIG_A=yes\n", wantErr: `f.config:1: CONFIG_A: invalid value "yes"`},
		{name: "unquoted string", in: "CONFIG_A=console=ttyS0\n", wantErr: "f.config:1: CONFIG_A: invalid value"},
		{name: "unterminated string", in: `CONFIG_A="abc` + "\n", wantErr: "missing closing quote"},
		{name: "text after string", in: `CONFIG_A="a"b` + "\n", wantErr: "text after closing quote"},
		{name: "dangling backslash", in: `CONFIG_A="a\"` + "\n", wantErr: "f.config:1:"},
		{name: "inline comment", in: "CONFIG_A=y # on\n", wantErr: "f.config:1: CONFIG_A: invalid value"},
		{name: "space around equals", in: "CONFIG_A = y\n", wantErr: "f.config:1:"},
		{name: "leading space", in: " CONFIG_A=y\n", wantErr: "f.config:1: unexpected leading whitespace"},
		{name: "bad symbol char", in: "CONFIG_A-B=y\n", wantErr: `invalid character '-'`},
		{name: "empty symbol", in: "CONFIG_=y\n", wantErr: "empty symbol name"},
		{name: "bad not set symbol", in: "# CONFIG_A.B is not set\n", wantErr: "f.config:1: invalid character"},
		{name: "hex without digits", in: "CONFIG_H=0x\n", wantErr: "invalid value"},
		{name: "nul byte", in: "CONFIG_A=y\x00\n", wantErr: "f.config:1: line is not printable"},
		{name: "invalid utf8", in: "# \xff\n", wantErr: "f.config:1: line is not printable"},
		{name: "duplicate", in: "CONFIG_A=y\n# CONFIG_A is not set\n", wantErr: "f.config:2: CONFIG_A is already set at line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFragment("f.config", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for i := range tt.want {
				tt.want[i].Source = "f.config"
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseVirtFragment parses the project's fragment; the integration
// test relies on it setting CONFIG_MISC_FILESYSTEMS and CONFIG_SQUASHFS.
func TestParseVirtFragment(t *testing.T) {
	data, err := os.ReadFile("../../../recipes/kernel/virt.config")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := ParseFragment("recipes/kernel/virt.config", data)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, o := range opts {
		values[o.Name] = o.Value
	}
	for _, name := range []string{"CONFIG_MISC_FILESYSTEMS", "CONFIG_SQUASHFS", "CONFIG_BLOCK"} {
		if values[name] != "y" {
			t.Errorf("%s = %q in virt.config, want y", name, values[name])
		}
	}
}

func TestMerge(t *testing.T) {
	frags := []fragment{
		{Name: "a", Data: []byte("CONFIG_A=y\nCONFIG_B=y\nCONFIG_KERNEL_GZIP=y\n")},
		{Name: "b", Data: []byte("# CONFIG_A is not set\nCONFIG_C=m\n")},
		{Name: "c", Data: []byte("CONFIG_KERNEL_LZ4=y\nCONFIG_B=y\n")},
	}
	got, err := mergeFragments(frags)
	if err != nil {
		t.Fatal(err)
	}
	want := []Option{
		{Name: "CONFIG_KERNEL_GZIP", Value: "y", Source: "a", Line: 3},
		{Name: "CONFIG_A", Value: "n", Source: "b", Line: 1},
		{Name: "CONFIG_C", Value: "m", Source: "b", Line: 2},
		{Name: "CONFIG_KERNEL_LZ4", Value: "y", Source: "c", Line: 1},
		{Name: "CONFIG_B", Value: "y", Source: "c", Line: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge\n got %+v\nwant %+v", got, want)
	}
	wantText := "CONFIG_KERNEL_GZIP=y\n# CONFIG_A is not set\nCONFIG_C=m\nCONFIG_KERNEL_LZ4=y\nCONFIG_B=y\n"
	if text := string(FormatOptions(got)); text != wantText {
		t.Errorf("FormatOptions = %q, want %q", text, wantText)
	}

	_, err = mergeFragments([]fragment{{Name: "ok", Data: []byte("CONFIG_A=y\n")}, {Name: "bad.config", Data: []byte("\nCONFIG_A=maybe\n")}})
	if err == nil || !strings.HasPrefix(err.Error(), "bad.config:2: ") {
		t.Errorf("Merge error = %v, want it to start with bad.config:2:", err)
	}
}

func TestParseConfigLastWins(t *testing.T) {
	c, err := ParseConfig(".config", []byte("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_A is not set\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Get("CONFIG_A") != "n" || c.Get("CONFIG_B") != "y" || c.Get("CONFIG_MISSING") != "n" || len(c) != 2 {
		t.Errorf("ParseConfig = %v", c)
	}
}

// FuzzParseFragment checks that ParseFragment never panics, that errors
// carry the "name:line: " prefix, and that accepted input survives a
// FormatOptions round trip unchanged.
func FuzzParseFragment(f *testing.F) {
	if data, err := os.ReadFile("../../../recipes/kernel/virt.config"); err == nil {
		f.Add(data)
	}
	if data, err := os.ReadFile("testdata/final.config"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"", "CONFIG_A=y\n", "# CONFIG_A is not set\n", `CONFIG_S="a\"b\\c"`, "CONFIG_N=-12\nCONFIG_H=0xFf\n",
		"CONFIG_A=y\r\n", "CONFIG_A=\n", "CONFIG_=y", "#CONFIG_A is not set", "CONFIG_A=y\nCONFIG_A=y\n", "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, err := ParseFragment("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, o := range opts {
			if !strings.HasPrefix(o.Name, symbolPrefix) || o.Value == "" || o.Line < 1 || o.Source != "fuzz" {
				t.Fatalf("bad option %+v", o)
			}
			if seen[o.Name] {
				t.Fatalf("duplicate %s accepted", o.Name)
			}
			seen[o.Name] = true
		}
		again, err := ParseFragment("fuzz", FormatOptions(opts))
		if err != nil {
			t.Fatalf("formatted options do not parse: %v\n%s", err, FormatOptions(opts))
		}
		if len(again) != len(opts) {
			t.Fatalf("round trip: %d options, want %d", len(again), len(opts))
		}
		for i := range opts {
			if again[i].Name != opts[i].Name || again[i].Value != opts[i].Value {
				t.Fatalf("round trip changed %v to %v", opts[i], again[i])
			}
		}
	})
}

// fragment is a named .config text, as kernel.Fragment.
type fragment struct {
	Name string
	Data []byte
}

// mergeFragments parses each fragment and merges them with Merge.
func mergeFragments(frags []fragment) ([]Option, error) {
	var lists [][]Option
	for _, f := range frags {
		opts, err := ParseFragment(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		lists = append(lists, opts)
	}
	return Merge(lists...), nil
}
