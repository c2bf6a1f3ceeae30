package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/vmm"
)

func TestSplitShellWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		errText string
	}{
		{"", nil, ""},
		{"  a  b\tc\n", []string{"a", "b", "c"}, ""},
		{`-append 'console=ttyS0 quiet'`, []string{"-append", "console=ttyS0 quiet"}, ""},
		{`'it'\''s'`, []string{"it's"}, ""},
		{`a'b c'd`, []string{"ab cd"}, ""},
		{`''`, []string{""}, ""},
		{`"x \"y\" \\ \$z \a"`, []string{`x "y" \ $z \a`}, ""},
		{`a\ b`, []string{"a b"}, ""},
		{`'open`, nil, "unterminated single quote"},
		{`"open`, nil, "unterminated double quote"},
		{`end\`, nil, "trailing backslash"},
	}
	for _, tt := range tests {
		got, err := SplitShellWords(tt.in)
		if tt.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("SplitShellWords(%q) error = %v, want %q", tt.in, err, tt.errText)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitShellWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzSplitShellWords(f *testing.F) {
	f.Add(`qemu-system-x86_64 -append 'console=ttyS0 panic=1' -serial stdio`)
	f.Add(`'a'\''b' "c\"d" e\ f`)
	f.Add("\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitShellWords(s)
		if err != nil {
			return
		}
		// Quoting the words and splitting again gives them back.
		again, err := SplitShellWords(pathVars{}.command(words...))
		if err != nil {
			t.Fatalf("re-split of %q: %v", words, err)
		}
		if len(words) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, words) {
			t.Fatalf("round trip: %q -> %q", words, again)
		}
	})
}

func TestAddHostfwd(t *testing.T) {
	args := []string{"-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0"}
	got, err := AddHostfwd(args, 18080, 8080)
	if err != nil {
		t.Fatal(err)
	}
	if want := "user,id=net0,hostfwd=tcp:127.0.0.1:18080-10.0.2.15:8080"; got[1] != want {
		t.Errorf("netdev = %q, want %q", got[1], want)
	}
	if args[1] != "user,id=net0" {
		t.Error("AddHostfwd modified its input")
	}
	if _, err := AddHostfwd([]string{"-netdev", "tap,id=n"}, 1, 2); err == nil {
		t.Error("no user netdev: no error")
	}
	if _, err := AddHostfwd(args, 0, 8080); err == nil {
		t.Error("port 0: no error")
	}
}

// The specs the benchmark reads back from a dry-run give the same
// arguments again, which is what lets rows 2, 3 and 5 share row 1's.
func TestSpecFromDryRunRoundTrip(t *testing.T) {
	specs := []vmm.Spec{
		{Accel: vmm.AccelTCG, Machine: vmm.MachineMicrovm, Kernel: "/b/kernel", Initrd: "/b/initramfs.cpio.zst",
			Cmdline: "console=ttyS0 panic=1 quiet", TSCkHz: 2596096, NoReboot: true, Net: &vmm.Net{}},
		{Accel: vmm.AccelTCG, Machine: vmm.MachineMicrovm, Kernel: "/with space/k", Initrd: "/i", Cmdline: "quiet", CPUs: 2, MemoryMiB: 512, NoReboot: true, Net: &vmm.Net{}},
	}
	for _, s := range specs {
		bin, args, err := vmm.QEMUCommand(s)
		if err != nil {
			t.Fatal(err)
		}
		line := pathVars{}.command(append([]string{bin}, args...)...)
		argv, err := SplitShellWords(line)
		if err != nil {
			t.Fatal(err)
		}
		got, tsc, err := SpecFromDryRun(argv)
		if err != nil {
			t.Fatal(err)
		}
		if tsc != s.TSCkHz {
			t.Errorf("tsc = %d, want %d", tsc, s.TSCkHz)
		}
		_, again, err := vmm.QEMUCommand(got)
		if err != nil {
			t.Fatal(err)
		}
		if same, diff := equalArgs(args, again); !same {
			t.Errorf("round trip differs: %s\n%q\n%q", diff, args, again)
		}
	}
	if _, _, err := SpecFromDryRun([]string{"qemu", "-accel", "tcg", "-machine", "q35"}); err == nil {
		t.Error("a command without -kernel: no error")
	}
	if _, _, err := SpecFromDryRun([]string{"qemu", "-accel", "hvf", "-kernel", "k", "-initrd", "i"}); err == nil {
		t.Error("unknown accelerator: no error")
	}
}

func TestEqualArgs(t *testing.T) {
	tests := []struct {
		a, b []string
		same bool
	}{
		{nil, nil, true},
		{[]string{"a"}, []string{"a"}, true},
		{[]string{"a"}, []string{"a", ""}, false},
		{[]string{"a", "b"}, []string{"a", "c"}, false},
	}
	for _, tt := range tests {
		if same, _ := equalArgs(tt.a, tt.b); same != tt.same {
			t.Errorf("equalArgs(%q, %q) = %v", tt.a, tt.b, same)
		}
	}
}

func TestCmdlineInt(t *testing.T) {
	if got := cmdlineInt("quiet tsc_early_khz=2596096 x", "tsc_early_khz"); got != 2596096 {
		t.Errorf("got %d", got)
	}
	if got := cmdlineInt("no_tsc_early_khz=5 tsc_early_khz=x", "tsc_early_khz"); got != 0 {
		t.Errorf("got %d", got)
	}
}

func TestPathVars(t *testing.T) {
	v := newPathVars([2]string{"/c/tmp/run-1", "$W"}, [2]string{"/c", "$C"}, [2]string{"/repo/", ""}, [2]string{"", "$X"})
	tests := []struct{ in, want string }{
		{"/repo/bin/turbo-image", "bin/turbo-image"},
		{"/c/tmp/run-1/hello", "$W/hello"},
		{"/c/floor/x.zst", "$C/floor/x.zst"},
		{"file=/c/tmp/run-1/d.img,format=raw", "file=$W/d.img,format=raw"},
		{"console=ttyS0 quiet", "'console=ttyS0 quiet'"},
		{"/c/tmp/run-1/a b", `"$W/a b"`},
		{"price $5", `'price $5'`},
		{"", "''"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := v.word(tt.in); got != tt.want {
			t.Errorf("word(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := v.command("cp", "/c/a", "it's"); got != `cp $C/a 'it'\''s'` {
		t.Errorf("command = %s", got)
	}
}

func TestWithMachineOption(t *testing.T) {
	argv := []string{"qemu-system-x86_64", "-machine", "microvm,acpi=on", "-m", "256"}
	got, err := WithMachineOption(argv, "pcie=on")
	if err != nil || !reflect.DeepEqual(got, []string{"qemu-system-x86_64", "-machine", "microvm,acpi=on,pcie=on", "-m", "256"}) {
		t.Errorf("WithMachineOption = %q, %v", got, err)
	}
	if argv[2] != "microvm,acpi=on" {
		t.Errorf("the input was modified: %q", argv)
	}
	if _, err := WithMachineOption([]string{"q", "-m", "256"}, "pcie=on"); err == nil || !strings.Contains(err.Error(), "no -machine") {
		t.Errorf("no -machine: error %v", err)
	}
	if _, err := WithMachineOption([]string{"q", "-machine", "a", "-M", "b"}, "pcie=on"); err == nil || !strings.Contains(err.Error(), "two -machine") {
		t.Errorf("two -machine: error %v", err)
	}
}
