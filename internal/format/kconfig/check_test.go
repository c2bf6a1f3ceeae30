package kconfig

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// testdata/tree is a fake kernel source tree whose Kconfig files mimic
// Linux's (sources, if/menu/choice blocks, help texts, selects, macros);
// testdata/final.config is the .config olddefconfig would leave for it.

func loadTestKconfig(t *testing.T) *Tree {
	t.Helper()
	kc, err := Load(os.DirFS("testdata/tree"), "x86", "x86_64")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return kc
}

func loadTestFinalConfig(t *testing.T) Config {
	t.Helper()
	data, err := os.ReadFile("testdata/final.config")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("testdata/final.config", data)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoadStructure(t *testing.T) {
	kc := loadTestKconfig(t)
	if _, ok := kc.defs["NOT_A_SYMBOL"]; ok {
		t.Error("help text was parsed as a config statement")
	}
	tests := []struct {
		sym     string
		file    string
		line    int
		typ     string
		depends []string
		choice  bool
		prompts int
	}{
		{"SQUASHFS", "fs/squashfs/Kconfig", 1, "tristate", []string{"MISC_FILESYSTEMS", "BLOCK"}, false, 1},
		{"SQUASHFS_XZ", "fs/squashfs/Kconfig", 10, "bool", []string{"MISC_FILESYSTEMS", "SQUASHFS"}, false, 1},
		{"MODULES", "init/Kconfig", 14, "bool", nil, false, 1},
		{"KERNEL_LZ4", "init/Kconfig", 34, "bool", []string{"HAVE_KERNEL_GZIP || HAVE_KERNEL_LZ4", "HAVE_KERNEL_LZ4"}, true, 1},
		{"CC_IS_GCC", "init/Kconfig", 40, "bool", nil, false, 0},
		{"NLS_UTF8", "fs/Kconfig", 19, "tristate", []string{"BLOCK", "EXPERT"}, false, 1},
		{"VIRTIO_MMIO", "drivers/Kconfig", 12, "tristate", []string{"HAS_IOMEM &&  HAS_DMA"}, false, 1},
		{"64BIT", "arch/x86/Kconfig", 2, "bool", nil, false, 1},
		{"VIRTIO", "drivers/Kconfig", 1, "tristate", nil, false, 0},
	}
	for _, tt := range tests {
		defs := kc.defs[tt.sym]
		if len(defs) != 1 {
			t.Errorf("%s: %d definitions, want 1", tt.sym, len(defs))
			continue
		}
		d := defs[0]
		if d.File != tt.file || d.Line != tt.line || d.Type != tt.typ {
			t.Errorf("%s: defined at %s:%d type %q, want %s:%d %q", tt.sym, d.File, d.Line, d.Type, tt.file, tt.line, tt.typ)
		}
		var deps []string
		for _, dep := range d.Depends {
			deps = append(deps, strings.Join(strings.Fields(dep), " "))
		}
		var want []string
		for _, dep := range tt.depends {
			want = append(want, strings.Join(strings.Fields(dep), " "))
		}
		if strings.Join(deps, " ; ") != strings.Join(want, " ; ") {
			t.Errorf("%s: depends %q, want %q", tt.sym, deps, want)
		}
		if (d.Choice != nil) != tt.choice {
			t.Errorf("%s: choice member = %v, want %v", tt.sym, d.Choice != nil, tt.choice)
		}
		if len(d.Prompts) != tt.prompts {
			t.Errorf("%s: %d prompts, want %d", tt.sym, len(d.Prompts), tt.prompts)
		}
	}
	if p := kc.defs["64BIT"][0].Prompts[0]; p.Cond != `"x86_64" = "x86"` {
		t.Errorf("64BIT prompt condition %q: $(ARCH) not expanded", p.Cond)
	}
	if got := kc.selectorNames("VIRTIO"); strings.Join(got, ",") != "CONFIG_VIRTIO_MMIO,CONFIG_VIRTIO_PCI" {
		t.Errorf("selectors of VIRTIO = %v", got)
	}
	if sel := kc.selects["ARCH_HAS_FOO"]; len(sel) != 1 || sel[0].Cond != "64BIT" || sel[0].By != "X86" {
		t.Errorf("select ARCH_HAS_FOO if 64BIT parsed as %+v", sel)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error
	}{
		{"missing top", map[string]string{}, "Kconfig"},
		{"missing source", map[string]string{"Kconfig": "source \"a/Kconfig\"\n"}, "Kconfig:1"},
		{"stray endif", map[string]string{"Kconfig": "config A\n\tbool\nendif\n"}, "Kconfig:3: endif without matching"},
		{"unclosed if", map[string]string{"Kconfig": "if A\nconfig B\n\tbool\n"}, "Kconfig:1: block is never closed"},
		{"endmenu closes choice", map[string]string{"Kconfig": "choice\nconfig B\n\tbool \"b\"\nendmenu\n"}, "endmenu without matching"},
		{"recursive source", map[string]string{"Kconfig": "source \"Kconfig.a\"\n", "Kconfig.a": "source \"Kconfig.a\"\n"}, "sourced recursively"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			_, err := Load(fsys, "x86", "x86_64")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCheckConfigExplanations(t *testing.T) {
	kc := loadTestKconfig(t)
	final := loadTestFinalConfig(t)
	tests := []struct {
		opt  string // one fragment line
		want string // Problem.String(), "" when honoured
	}{
		// Honoured requests.
		{"CONFIG_64BIT=y", ""},
		{"# CONFIG_SMP is not set", ""},
		{"CONFIG_SMP=n", ""},
		{"CONFIG_NR_CPUS=0x1", ""},
		{"# CONFIG_NOT_EVEN_DEFINED is not set", ""},
		// Unmet dependency from an enclosing "if" block.
		{"CONFIG_SQUASHFS=y",
			"CONFIG_SQUASHFS=y (frag:1) was dropped by Kconfig: depends on MISC_FILESYSTEMS && BLOCK; MISC_FILESYSTEMS is not set [fs/squashfs/Kconfig:1]"},
		{"CONFIG_SQUASHFS_XZ=y",
			"CONFIG_SQUASHFS_XZ=y (frag:1) was dropped by Kconfig: depends on MISC_FILESYSTEMS && SQUASHFS; MISC_FILESYSTEMS is not set, SQUASHFS is not set [fs/squashfs/Kconfig:10]"},
		// Continuation line, def_bool n.
		{"CONFIG_VIRTIO_MMIO=y",
			"CONFIG_VIRTIO_MMIO=y (frag:1) was dropped by Kconfig: depends on HAS_IOMEM && HAS_DMA; HAS_DMA is not set [drivers/Kconfig:12]"},
		// String symbol.
		{`CONFIG_CMDLINE="console=ttyS0"`,
			`CONFIG_CMDLINE="console=ttyS0" (frag:1) was dropped by Kconfig: depends on CMDLINE_BOOL; CMDLINE_BOOL is not set [drivers/Kconfig:30]`},
		// Conditional prompt.
		{"CONFIG_NR_CPUS=64",
			"CONFIG_NR_CPUS=64 (frag:1) became CONFIG_NR_CPUS=1 after olddefconfig: its prompt only shows if SMP; SMP is not set [arch/x86/Kconfig:15]"},
		// Choice.
		{"CONFIG_KERNEL_LZ4=y",
			"CONFIG_KERNEL_LZ4=y (frag:1) was dropped by Kconfig: it is a member of the choice at init/Kconfig:23, in which CONFIG_KERNEL_GZIP is selected (another fragment line or the base config chose it)"},
		// Selected symbol asked to be off: only active selectors are named.
		{"# CONFIG_VIRTIO is not set",
			"# CONFIG_VIRTIO is not set (frag:1) is still CONFIG_VIRTIO=y after olddefconfig: selected by CONFIG_VIRTIO_PCI=y [drivers/Kconfig:10]"},
		{"CONFIG_HAVE_KERNEL_LZ4=n",
			"# CONFIG_HAVE_KERNEL_LZ4 is not set (frag:1) is still CONFIG_HAVE_KERNEL_LZ4=y after olddefconfig: selected by CONFIG_X86=y [arch/x86/Kconfig:9]"},
		// Symbol without a prompt.
		{"CONFIG_ARCH_HAS_BAR=y",
			"CONFIG_ARCH_HAS_BAR=y (frag:1) was dropped by Kconfig: it has no prompt, so only its default or a select can set it [arch/x86/Kconfig:20]"},
		// m without module support; the menu's "visible if" is met.
		{"CONFIG_NLS_UTF8=m",
			"CONFIG_NLS_UTF8=m (frag:1) was dropped by Kconfig: CONFIG_MODULES is not set, so tristate options cannot be m (set CONFIG_MODULES=y or ask for y)"},
		// Wrong value type.
		{`CONFIG_PCI="yes"`,
			`CONFIG_PCI="yes" (frag:1) became CONFIG_PCI=y after olddefconfig: the value does not fit its type bool [drivers/Kconfig:18]`},
		// Unknown symbol.
		{"CONFIG_SQUASHFS_TYPO=y",
			"CONFIG_SQUASHFS_TYPO=y (frag:1) was dropped by Kconfig: no Kconfig file of this source tree defines it for this architecture (misspelled, removed in this kernel version, or specific to another architecture)"},
	}
	for _, tt := range tests {
		t.Run(tt.opt, func(t *testing.T) {
			want, err := ParseFragment("frag", []byte(tt.opt+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckConfig(want, final, kc)
			if tt.want == "" {
				if err != nil {
					t.Errorf("CheckConfig = %v, want nil", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("CheckConfig = %v, want one problem", err)
			}
			if got := ce.Problems[0].String(); got != tt.want {
				t.Errorf("problem\n got: %s\nwant: %s", got, tt.want)
			}
			if got := err.Error(); got != "kernel config check: "+tt.want {
				t.Errorf("Error() = %q", got)
			}
		})
	}
}

func TestCheckConfigSeveralProblems(t *testing.T) {
	final := loadTestFinalConfig(t)
	want, err := mergeFragments([]fragment{
		{Name: "a.config", Data: []byte("CONFIG_SQUASHFS=y\nCONFIG_BLOCK=y\n")},
		{Name: "b.config", Data: []byte("\n# CONFIG_VIRTIO is not set\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Without a Kconfig index the problems are still found, unexplained.
	err = CheckConfig(want, final, nil)
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("CheckConfig = %v, want *CheckError", err)
	}
	wantText := "kernel config check: 2 requested options were not applied:\n" +
		"  CONFIG_SQUASHFS=y (a.config:1) was dropped by Kconfig\n" +
		"  # CONFIG_VIRTIO is not set (b.config:2) is still CONFIG_VIRTIO=y after olddefconfig"
	if err.Error() != wantText {
		t.Errorf("Error()\n got: %q\nwant: %q", err.Error(), wantText)
	}
}

func TestValuesEqual(t *testing.T) {
	tests := []struct {
		want, got string
		eq        bool
	}{
		{"y", "y", true},
		{"y", "m", false},
		{"n", "n", true},
		{"16", "0x10", true},
		{"0x10", "0x0010", true},
		{"16", "17", false},
		{"16", `"16"`, false},
		{`"a\"b"`, `"a\"b"`, true},
		{`"a"`, `"b"`, false},
	}
	for _, tt := range tests {
		if got := valuesEqual(tt.want, tt.got); got != tt.eq {
			t.Errorf("valuesEqual(%s, %s) = %v, want %v", tt.want, tt.got, got, tt.eq)
		}
	}
}
