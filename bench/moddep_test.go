package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testdata/modules.dep is an excerpt of the modules.dep that `depmod -b`
// makes for Debian 12's linux-image-6.1.0-56-amd64.
func loadTestModDep(t *testing.T) ModDep {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := ParseModulesDep(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestResolveDebianVirtio(t *testing.T) {
	d := loadTestModDep(t)
	const v = "kernel/drivers/virtio/"
	tests := []struct {
		name        string
		want        []string
		order       []string
		builtin     map[string]bool
		wantBuiltin []string
	}{
		{
			// modprobe's order: the last-listed dependency first.
			name: "microvm set",
			want: []string{"virtio_mmio", "virtio_net", "virtio-rng"},
			order: []string{v + "virtio_ring.ko", v + "virtio.ko", v + "virtio_mmio.ko",
				"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
				"kernel/drivers/char/hw_random/virtio-rng.ko"},
		},
		{
			name: "pci transport first",
			want: []string{"virtio_pci", "virtio_blk"},
			order: []string{v + "virtio_ring.ko", v + "virtio.ko", v + "virtio_pci_modern_dev.ko", v + "virtio_pci_legacy_dev.ko",
				v + "virtio_pci.ko", "kernel/drivers/block/virtio_blk.ko"},
		},
		{
			name:        "built-in modules need no file",
			want:        []string{"rng_core", "virtio_ring"},
			order:       []string{v + "virtio_ring.ko"},
			builtin:     map[string]bool{"rng_core": true},
			wantBuiltin: []string{"rng_core"},
		},
		{
			name:  "asking twice loads once",
			want:  []string{"virtio_net", "virtio_net", "failover"},
			order: []string{v + "virtio_ring.ko", v + "virtio.ko", "kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, builtin, err := d.Resolve(tt.want, tt.builtin)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(order, tt.order) {
				t.Errorf("order:\n got %v\nwant %v", order, tt.order)
			}
			if !reflect.DeepEqual(builtin, tt.wantBuiltin) {
				t.Errorf("builtin = %v, want %v", builtin, tt.wantBuiltin)
			}
			// Every module comes after everything it depends on.
			pos := map[string]int{}
			for i, p := range order {
				pos[p] = i
			}
			for _, p := range order {
				for _, dep := range d[p] {
					if j, ok := pos[dep]; !ok || j > pos[p] {
						t.Errorf("%s is loaded before its dependency %s", p, dep)
					}
				}
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name, dep string
		want      []string
		errText   string
	}{
		{"unknown module", "a.ko:\n", []string{"virtio_net"}, "neither in modules.dep nor built in"},
		{"cycle", "a.ko: b.ko\nb.ko: a.ko\n", []string{"a"}, "dependency cycle: a.ko -> b.ko -> a.ko"},
		{"dependency without its own line", "a.ko: b.ko\n", []string{"a"}, "b.ko (needed by a.ko) has no line of its own"},
	}
	for _, tt := range tests {
		d, err := ParseModulesDep(strings.NewReader(tt.dep))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, _, err := d.Resolve(tt.want, nil); err == nil || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.errText)
		}
	}
}

func TestParseModulesDep(t *testing.T) {
	tests := []struct {
		name, in string
		want     ModDep
		errText  string
	}{
		{"empty", "", ModDep{}, ""},
		{"comments and blanks", "# x\n\n  a.ko: b.ko  c.ko.xz \nb.ko:\nc.ko.xz:\n", ModDep{"a.ko": {"b.ko", "c.ko.xz"}, "b.ko": {}, "c.ko.xz": {}}, ""},
		{"no colon", "a.ko b.ko\n", nil, "want"},
		{"empty module", ": b.ko\n", nil, "want"},
		{"duplicate", "a.ko:\na.ko:\n", nil, "listed twice"},
		{"absolute", "/lib/a.ko:\n", nil, "not a clean relative path"},
		{"escaping dependency", "a.ko: ../b.ko\n", nil, "not a clean relative path"},
		{"unclean", "a/./b.ko:\n", nil, "not a clean relative path"},
	}
	for _, tt := range tests {
		got, err := ParseModulesDep(strings.NewReader(tt.in))
		if tt.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		// Compare with nil and empty dependency lists treated alike.
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		for k, v := range tt.want {
			if g, ok := got[k]; !ok || len(g) != len(v) || len(v) > 0 && !reflect.DeepEqual(g, v) {
				t.Errorf("%s: %s: got %v, want %v", tt.name, k, g, v)
			}
		}
	}
}

func TestModuleName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"kernel/drivers/char/hw_random/virtio-rng.ko", "virtio_rng"},
		{"kernel/drivers/net/virtio_net.ko.xz", "virtio_net"},
		{"kernel/net/core/failover.ko.zst", "failover"},
		{"x.ko.gz", "x"},
		{"virtio-rng", "virtio_rng"},
	}
	for _, tt := range tests {
		if got := ModuleName(tt.in); got != tt.want {
			t.Errorf("ModuleName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseBuiltin(t *testing.T) {
	got, err := ParseBuiltin(strings.NewReader("kernel/drivers/char/hw_random/rng-core.ko\n\nkernel/fs/ext4/ext4.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"rng_core": true, "ext4": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParseBuiltin = %v, want %v", got, want)
	}
}

func FuzzParseModulesDep(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "modules.dep")); err == nil {
		f.Add(string(b))
	}
	f.Add("a.ko: b.ko\nb.ko: a.ko\n")
	f.Add("a.ko: b.ko c.ko\nb.ko: c.ko\nc.ko:\n# x\n")
	f.Add(": \n/x: ../y\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseModulesDep(strings.NewReader(in))
		if err != nil {
			return
		}
		var names []string
		for p := range d {
			names = append(names, ModuleName(p))
		}
		order, _, err := d.Resolve(names, nil)
		if err != nil {
			return
		}
		// A successful resolution lists each file once, after its dependencies.
		pos := map[string]int{}
		for i, p := range order {
			if _, dup := pos[p]; dup {
				t.Fatalf("%s listed twice in %v", p, order)
			}
			pos[p] = i
		}
		for _, p := range order {
			for _, dep := range d[p] {
				if j, ok := pos[dep]; !ok || j > pos[p] {
					t.Fatalf("%s before its dependency %s in %v", p, dep, order)
				}
			}
		}
	})
}
