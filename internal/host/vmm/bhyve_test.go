package vmm

import (
	"slices"
	"strings"
	"testing"
)

func TestBhyveCommand(t *testing.T) {
	tests := []struct {
		name string
		spec BhyveSpec
		want string
	}{
		{
			name: "defaults with tap",
			spec: BhyveSpec{Name: "hello", Disk: "/vm/hello/disk.img", Tap: "tap0"},
			want: `bhyve -c 1 -m 256M -A -H -w -u -D
				-s 0,hostbridge -s 2,virtio-blk,/vm/hello/disk.img -s 3,virtio-net,tap0
				-s 4,virtio-rnd -s 31,lpc -l com1,stdio
				-l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd hello`,
		},
		{
			name: "sized, no network, separate vars, no rng",
			spec: BhyveSpec{
				Name: "web-1.prod", CPUs: 2, MemoryMiB: 1024, Disk: "/dev/zvol/tank/web1",
				BootROM:  "/usr/local/share/uefi-firmware/BHYVE_UEFI_CODE.fd",
				BootVars: "/vm/web1/BHYVE_UEFI_VARS.fd", NoRNG: true,
			},
			want: `bhyve -c 2 -m 1024M -A -H -w -u -D
				-s 0,hostbridge -s 2,virtio-blk,/dev/zvol/tank/web1
				-s 31,lpc -l com1,stdio
				-l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI_CODE.fd,/vm/web1/BHYVE_UEFI_VARS.fd web-1.prod`,
		},
		{
			name: "ISO on an AHCI CD-ROM",
			spec: BhyveSpec{Name: "hello", CD: "/vm/hello/live.iso", Tap: "tap0"},
			want: `bhyve -c 1 -m 256M -A -H -w -u -D
				-s 0,hostbridge -s 2,ahci-cd,/vm/hello/live.iso -s 3,virtio-net,tap0
				-s 4,virtio-rnd -s 31,lpc -l com1,stdio
				-l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd hello`,
		},
		{
			name: "vmnet interface",
			spec: BhyveSpec{Name: "a", Disk: "/d", Tap: "vmnet12", BootROM: "/rom.fd"},
			want: `bhyve -c 1 -m 256M -A -H -w -u -D -s 0,hostbridge -s 2,virtio-blk,/d
				-s 3,virtio-net,vmnet12 -s 4,virtio-rnd -s 31,lpc -l com1,stdio -l bootrom,/rom.fd a`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BhyveCommand(tc.spec)
			if err != nil {
				t.Fatalf("BhyveCommand: %v", err)
			}
			if want := argv(tc.want); !slices.Equal(got, want) {
				t.Errorf("argv mismatch\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

func TestBhyveCommandInvalid(t *testing.T) {
	ok := BhyveSpec{Name: "vm", Disk: "/d"}
	with := func(f func(*BhyveSpec)) BhyveSpec { s := ok; f(&s); return s }
	tests := []struct {
		name string
		spec BhyveSpec
		want []string
	}{
		{"no name", with(func(s *BhyveSpec) { s.Name = "" }), []string{`name ""`}},
		{"name with slash", with(func(s *BhyveSpec) { s.Name = "a/b" }), []string{`name "a/b"`}},
		{"name too long", with(func(s *BhyveSpec) { s.Name = strings.Repeat("n", 32) }), []string{"name"}},
		{"no disk", with(func(s *BhyveSpec) { s.Disk = "" }), []string{`disk ""`}},
		{"disk with comma", with(func(s *BhyveSpec) { s.Disk = "/a,ro" }), []string{"comma"}},
		{"CD with comma", with(func(s *BhyveSpec) { s.Disk = ""; s.CD = "/a,ro" }), []string{`CD "/a,ro"`}},
		{"disk and CD", with(func(s *BhyveSpec) { s.CD = "/a.iso" }), []string{"give one"}},
		{"rom with comma", with(func(s *BhyveSpec) { s.BootROM = "/a,b" }), []string{"boot ROM"}},
		{"vars with comma", with(func(s *BhyveSpec) { s.BootVars = "/a,b" }), []string{"boot vars"}},
		{"bad tap", with(func(s *BhyveSpec) { s.Tap = "eth0" }), []string{`tap "eth0"`}},
		{"negative cpus", with(func(s *BhyveSpec) { s.CPUs = -1 }), []string{"cpus -1"}},
		{"tiny memory", with(func(s *BhyveSpec) { s.MemoryMiB = 4 }), []string{"memory 4 MiB"}},
		{"several", BhyveSpec{Name: "x y", CPUs: 300}, []string{`name "x y"`, "cpus 300", `disk ""`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BhyveCommand(tc.spec)
			if err == nil {
				t.Fatalf("BhyveCommand = %q, want error", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBhyveDestroyCommand(t *testing.T) {
	got, err := BhyveDestroyCommand("web-1")
	if want := []string{"bhyvectl", "--destroy", "--vm=web-1"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("BhyveDestroyCommand = %q, %v; want %q", got, err, want)
	}
	if got, err := BhyveDestroyCommand("--all"); err == nil {
		t.Errorf("BhyveDestroyCommand(--all) = %q, want error", got)
	}
}
