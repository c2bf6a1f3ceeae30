package vmm

import (
	"slices"
	"strings"
	"testing"
)

// argv splits a readable one-line command into words; a word may be
// single-quoted to keep spaces.
func argv(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, " \t\n")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

func TestQEMUCommand(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		wantBin string
		want    string
	}{
		{
			name: "microvm tcg direct boot appends tsc_early_khz",
			spec: Spec{
				Accel: AccelTCG, Kernel: "/b/bzImage", Initrd: "/b/initramfs.cpio.zst",
				Cmdline: "console=ttyS0 panic=-1", TSCkHz: 2596096, NoReboot: true,
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine microvm,acpi=on,x-option-roms=off -accel tcg -cpu qemu64 -smp 1 -m 256
				-kernel /b/bzImage -initrd /b/initramfs.cpio.zst
				-append 'console=ttyS0 panic=-1 tsc_early_khz=2596096'
				-serial stdio -device virtio-rng-device -no-reboot`,
		},
		{
			name: "microvm kvm ignores TSCkHz and uses the host CPU",
			spec: Spec{
				Accel: AccelKVM, CPUs: 2, MemoryMiB: 512, Kernel: "/b/vmlinux",
				Cmdline: "console=ttyS0", TSCkHz: 2596096,
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine microvm,acpi=on,x-option-roms=off -accel kvm -cpu host -smp 2 -m 512
				-kernel /b/vmlinux -append console=ttyS0
				-serial stdio -device virtio-rng-device`,
		},
		{
			name: "tsc_early_khz goes before the init arguments",
			spec: Spec{
				Accel: AccelTCG, Kernel: "/k", Cmdline: "console=ttyS0  --  reboot now", TSCkHz: 3000000, NoRNG: true,
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine microvm,acpi=on,x-option-roms=off -accel tcg -cpu qemu64 -smp 1 -m 256
				-kernel /k -append 'console=ttyS0 tsc_early_khz=3000000 --  reboot now' -serial stdio`,
		},
		{
			name: "a tsc_early_khz already on the cmdline wins; empty cmdline gets only the parameter",
			spec: Spec{
				Accel: AccelTCG, Kernel: "/k", Cmdline: "tsc_early_khz=1000000 quiet", TSCkHz: 3000000, NoRNG: true,
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine microvm,acpi=on,x-option-roms=off -accel tcg -cpu qemu64 -smp 1 -m 256
				-kernel /k -append 'tsc_early_khz=1000000 quiet' -serial stdio`,
		},
		{
			name:    "no cmdline and no TSC gives no -append",
			spec:    Spec{Accel: AccelTCG, Kernel: "/k", NoRNG: true},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine microvm,acpi=on,x-option-roms=off -accel tcg -cpu qemu64 -smp 1 -m 256
				-kernel /k -serial stdio`,
		},
		{
			name: "microvm disks, published ports, debug exit",
			spec: Spec{
				Accel: AccelTCG, Kernel: "/k", Cmdline: "console=ttyS0",
				Disks: []Disk{
					{Path: "/img/root,a.img", ReadOnly: true},
					{Path: "/img/data.qcow2", Format: "qcow2"},
				},
				Net: &Net{Publish: []PortMap{
					{HostPort: 8080, GuestPort: 80},
					{HostAddr: "0.0.0.0", HostPort: 5353, GuestPort: 53, Proto: "udp"},
					{HostPort: 5353, GuestPort: 53, Proto: "tcp"},
				}},
				DebugExit: true,
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine microvm,acpi=on,x-option-roms=off -accel tcg -cpu qemu64 -smp 1 -m 256
				-kernel /k -append console=ttyS0 -serial stdio
				-drive file=/img/root,,a.img,format=raw,if=none,id=disk0,readonly=on -device virtio-blk-device,drive=disk0
				-drive file=/img/data.qcow2,format=qcow2,if=none,id=disk1 -device virtio-blk-device,drive=disk1
				-netdev user,id=net0,hostfwd=tcp:127.0.0.1:8080-10.0.2.15:80,hostfwd=udp:0.0.0.0:5353-10.0.2.15:53,hostfwd=tcp:127.0.0.1:5353-10.0.2.15:53
				-device virtio-net-device,netdev=net0
				-device virtio-rng-device
				-device isa-debug-exit,iobase=0xf4,iosize=0x04`,
		},
		{
			name:    "microvm watchdog turns on PCIe",
			spec:    Spec{Accel: AccelTCG, Kernel: "/k", Watchdog: true, NoReboot: true, NoRNG: true},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine microvm,acpi=on,x-option-roms=off,pcie=on -accel tcg -cpu qemu64 -smp 1 -m 256
				-kernel /k -serial stdio -device i6300esb -watchdog-action reset -no-reboot`,
		},
		{
			name: "q35 UEFI with Secure Boot: SMM on, flash writable only from SMM",
			spec: Spec{
				Accel:    AccelTCG,
				Firmware: &UEFI{Code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", Vars: "/run/vm/VARS.fd", SecureBoot: true},
				Disks:    []Disk{{Path: "/run/vm/disk.img"}},
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine q35,smm=on -accel tcg -cpu qemu64 -smp 1 -m 256
				-global driver=cfi.pflash01,property=secure,value=on
				-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
				-drive if=pflash,format=raw,unit=1,file=/run/vm/VARS.fd
				-serial stdio
				-drive file=/run/vm/disk.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,bootindex=0
				-device virtio-rng-pci`,
		},
		{
			name: "q35 UEFI with watchdog, network and extra args",
			spec: Spec{
				Binary: "/opt/qemu/bin/qemu-system-x86_64",
				Accel:  AccelKVM, CPUs: 4, MemoryMiB: 1024,
				Firmware: &UEFI{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/run/vm/OVMF_VARS_4M.fd"},
				Disks: []Disk{{Path: "/run/vm/disk.img"}, {Path: "/run/vm/data.img"}, {Path: "/run/vm/d.vhd", Format: "vpc"}, {Path: "/run/vm/d.vmdk", Format: "vmdk", Snapshot: true},
					{Path: "/run/vm/live.iso", CDROM: true}},
				Net:      &Net{},
				Watchdog: true, NoReboot: true, TSCkHz: 2596096,
				ExtraArgs: []string{"-S", "-qmp", "unix:/run/vm/qmp.sock,server=on,wait=off"},
			},
			wantBin: "/opt/qemu/bin/qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine q35 -accel kvm -cpu host -smp 4 -m 1024
				-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
				-drive if=pflash,format=raw,unit=1,file=/run/vm/OVMF_VARS_4M.fd
				-serial stdio
				-drive file=/run/vm/disk.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,bootindex=0
				-drive file=/run/vm/data.img,format=raw,if=none,id=disk1 -device virtio-blk-pci,drive=disk1,bootindex=1
				-drive file=/run/vm/d.vhd,format=vpc,if=none,id=disk2 -device virtio-blk-pci,drive=disk2,bootindex=2
				-drive file=/run/vm/d.vmdk,format=vmdk,if=none,id=disk3,snapshot=on -device virtio-blk-pci,drive=disk3,bootindex=3
				-drive file=/run/vm/live.iso,format=raw,if=none,id=disk4,media=cdrom,readonly=on -device ide-cd,bus=ide.4,drive=disk4,bootindex=4
				-netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile=
				-device virtio-rng-pci
				-device i6300esb -watchdog-action reset -no-reboot
				-S -qmp unix:/run/vm/qmp.sock,server=on,wait=off`,
		},
		{
			name: "q35 UEFI under TCG, serial to a file",
			spec: Spec{
				Accel:    AccelTCG,
				Firmware: &UEFI{Code: "/fw/code.fd", Vars: "/vm/va,rs.fd"},
				Disks:    []Disk{{Path: "/vm/disk.img"}},
				Serial:   "file:/vm/console.log", NoRNG: true,
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine q35 -accel tcg -cpu qemu64 -smp 1 -m 256
				-drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/code.fd
				-drive if=pflash,format=raw,unit=1,file=/vm/va,,rs.fd
				-serial file:/vm/console.log
				-drive file=/vm/disk.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,bootindex=0`,
		},
		{
			name: "q35 direct kernel boot under TCG gets tsc_early_khz and PCI devices",
			spec: Spec{
				Machine: MachineQ35, Accel: AccelTCG, Kernel: "/k", Initrd: "/i", TSCkHz: 2000000,
				Disks: []Disk{{Path: "/d.img"}}, Serial: "null",
			},
			wantBin: "qemu-system-x86_64",
			want: `-nodefaults -no-user-config -display none
				-machine q35 -accel tcg -cpu qemu64 -smp 1 -m 256
				-kernel /k -initrd /i -append tsc_early_khz=2000000 -serial null
				-drive file=/d.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0
				-device virtio-rng-pci`,
		},
		{
			name: "arm64 direct boot under TCG: virt, cortex-a57, PCI devices, no tsc_early_khz",
			spec: Spec{
				Arch: "arm64", Accel: AccelTCG, Kernel: "/b/kernel", Initrd: "/b/initramfs.cpio.zst",
				Cmdline: "console=ttyAMA0 panic=1", TSCkHz: 2596096, NoReboot: true, Net: &Net{},
				Disks: []Disk{{Path: "/b/disk.img"}}, Watchdog: true,
			},
			wantBin: "qemu-system-aarch64",
			want: `-nodefaults -no-user-config -display none
				-machine virt,acpi=off -accel tcg -cpu cortex-a57 -smp 1 -m 256
				-kernel /b/kernel -initrd /b/initramfs.cpio.zst -append 'console=ttyAMA0 panic=1'
				-serial stdio
				-drive file=/b/disk.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0
				-netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile=
				-device virtio-rng-pci -device i6300esb -watchdog-action reset -no-reboot`,
		},
		{
			name: "arm64 UEFI (AAVMF) under KVM uses the host CPU",
			spec: Spec{
				Arch: "arm64", Accel: AccelKVM, Binary: "/opt/qemu-system-aarch64",
				Firmware: &UEFI{Code: "/usr/share/AAVMF/AAVMF_CODE.fd", Vars: "/vm/AAVMF_VARS.fd"},
				Disks:    []Disk{{Path: "/vm/disk.img"}}, NoRNG: true,
			},
			wantBin: "/opt/qemu-system-aarch64",
			want: `-nodefaults -no-user-config -display none
				-machine virt,acpi=off -accel kvm -cpu host -smp 1 -m 256
				-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd
				-drive if=pflash,format=raw,unit=1,file=/vm/AAVMF_VARS.fd
				-serial stdio
				-drive file=/vm/disk.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,bootindex=0`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin, args, err := QEMUCommand(tc.spec)
			if err != nil {
				t.Fatalf("QEMUCommand: %v", err)
			}
			if bin != tc.wantBin {
				t.Errorf("bin = %q, want %q", bin, tc.wantBin)
			}
			if want := argv(tc.want); !slices.Equal(args, want) {
				t.Errorf("args mismatch\n got: %q\nwant: %q", args, want)
			}
			// Pure and stable: the same spec gives the same argv again.
			_, again, _ := QEMUCommand(tc.spec)
			if !slices.Equal(args, again) {
				t.Errorf("second call differs: %q", again)
			}
		})
	}
}

func TestQEMUCommandInvalid(t *testing.T) {
	ok := Spec{Accel: AccelTCG, Kernel: "/k"}
	uefi := &UEFI{Code: "/c.fd", Vars: "/v.fd"}
	with := func(f func(*Spec)) Spec { s := ok; f(&s); return s }
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the error
	}{
		{"no accel", with(func(s *Spec) { s.Accel = "" }), []string{"accel", "want kvm or tcg"}},
		{"unknown accel", with(func(s *Spec) { s.Accel = "hvf" }), []string{`"hvf"`}},
		{"kernel and firmware", with(func(s *Spec) { s.Firmware = uefi; s.Machine = "q35" }), []string{"both set"}},
		{"nothing to boot", Spec{Accel: AccelTCG}, []string{"nothing to boot"}},
		{"initrd without kernel", Spec{Accel: AccelTCG, Firmware: uefi, Initrd: "/i"}, []string{"need a kernel"}},
		{"cmdline without kernel", Spec{Accel: AccelTCG, Firmware: uefi, Cmdline: "quiet"}, []string{"need a kernel"}},
		{"microvm cannot UEFI", Spec{Accel: AccelTCG, Machine: "microvm", Firmware: uefi}, []string{"microvm cannot boot UEFI"}},
		{"unknown machine", with(func(s *Spec) { s.Machine = "pc" }), []string{`machine "pc"`}},
		{"firmware without vars", Spec{Accel: AccelTCG, Firmware: &UEFI{Code: "/c"}}, []string{"vars image path is empty"}},
		{"firmware vars is the system template", Spec{Accel: AccelTCG, Firmware: &UEFI{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"}}, []string{"distribution's template"}},
		{"firmware without code", Spec{Accel: AccelTCG, Firmware: &UEFI{Vars: "/v"}}, []string{"code image path is empty"}},
		{"secure boot vars is the system template", Spec{Accel: AccelTCG, Firmware: &UEFI{Code: "/c", Vars: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", SecureBoot: true}}, []string{"distribution's template"}},
		{"secure boot on arm64", Spec{Accel: AccelTCG, Arch: "arm64", Firmware: &UEFI{Code: "/c", Vars: "/v", SecureBoot: true}}, []string{"secure boot", "q35 only"}},
		{"negative cpus", with(func(s *Spec) { s.CPUs = -1 }), []string{"cpus -1"}},
		{"too many cpus", with(func(s *Spec) { s.CPUs = 256 }), []string{"cpus 256"}},
		{"too little memory", with(func(s *Spec) { s.MemoryMiB = 8 }), []string{"memory 8 MiB"}},
		{"negative tsc", with(func(s *Spec) { s.TSCkHz = -5 }), []string{"tsc kHz -5"}},
		{"implausible tsc", with(func(s *Spec) { s.TSCkHz = 999 }), []string{"tsc kHz 999"}},
		{"cmdline with newline", with(func(s *Spec) { s.Cmdline = "a\nb" }), []string{"line break"}},
		{"cmdline too long", with(func(s *Spec) { s.Cmdline = strings.Repeat("x", 2048) }), []string{"2048 bytes"}},
		{"tsc pushes cmdline over the limit", with(func(s *Spec) { s.Cmdline = strings.Repeat("x", 2040); s.TSCkHz = 2596096 }), []string{"at most 2047"}},
		{"serial pty", with(func(s *Spec) { s.Serial = "pty" }), []string{`serial "pty"`}},
		{"serial file without path", with(func(s *Spec) { s.Serial = "file:" }), []string{"file path is empty"}},
		{"serial file with comma", with(func(s *Spec) { s.Serial = "file:/a,b" }), []string{"contains a comma"}},
		{"disk without path", with(func(s *Spec) { s.Disks = []Disk{{}} }), []string{"disk[0]: path is empty"}},
		{"CD-ROM on microvm", with(func(s *Spec) { s.Disks = []Disk{{Path: "/a.iso", CDROM: true}} }), []string{"a CD-ROM needs the q35 machine"}},
		{"disk format", with(func(s *Spec) { s.Disks = []Disk{{Path: "/a"}, {Path: "/b", Format: "vhd"}} }), []string{`disk[1] /b: format "vhd": want raw, qcow2, vmdk or vpc`}},
		{"publish same host port twice", with(func(s *Spec) {
			s.Net = &Net{Publish: []PortMap{{HostPort: 8080, GuestPort: 80}, {HostPort: 8080, GuestPort: 81}}}
		}), []string{"publish[1]", "already published by publish[0]"}},
		{"publish wildcard overlaps loopback", with(func(s *Spec) {
			s.Net = &Net{Publish: []PortMap{{HostPort: 8080, GuestPort: 80}, {HostAddr: "0.0.0.0", HostPort: 8080, GuestPort: 81}}}
		}), []string{"already published"}},
		{"publish port zero", with(func(s *Spec) { s.Net = &Net{Publish: []PortMap{{HostPort: 0, GuestPort: 80}}} }), []string{"host port 0"}},
		{"publish guest port too big", with(func(s *Spec) { s.Net = &Net{Publish: []PortMap{{HostPort: 1, GuestPort: 65536}}} }), []string{"guest port 65536"}},
		{"publish bad proto", with(func(s *Spec) { s.Net = &Net{Publish: []PortMap{{HostPort: 1, GuestPort: 1, Proto: "sctp"}}} }), []string{`protocol "sctp"`}},
		{"publish IPv6 host address", with(func(s *Spec) { s.Net = &Net{Publish: []PortMap{{HostAddr: "::1", HostPort: 1, GuestPort: 1}}} }), []string{`"::1" is not an IPv4`}},
		{"unknown arch", with(func(s *Spec) { s.Arch = "riscv64" }), []string{`arch "riscv64": want amd64 or arm64`}},
		{"arm64 on microvm", with(func(s *Spec) { s.Arch = "arm64"; s.Machine = MachineMicrovm }), []string{`machine "microvm": an arm64 guest needs virt`}},
		{"amd64 on virt", with(func(s *Spec) { s.Machine = MachineVirt }), []string{`machine "virt": want microvm or q35 for an amd64 guest`}},
		{"arm64 debug exit", with(func(s *Spec) { s.Arch = "arm64"; s.DebugExit = true }), []string{"isa-debug-exit is an x86"}},
		{"arm64 CD-ROM", with(func(s *Spec) { s.Arch = "arm64"; s.Disks = []Disk{{Path: "/a.iso", CDROM: true}} }), []string{"needs the q35 machine (virt has no AHCI"}},
		{"AAVMF vars template", Spec{Arch: "arm64", Accel: AccelTCG, Firmware: &UEFI{Code: "/usr/share/AAVMF/AAVMF_CODE.fd", Vars: "/usr/share/AAVMF/AAVMF_VARS.fd"}}, []string{"distribution's template"}},
		{"all problems at once", Spec{Accel: "x", CPUs: -2, MemoryMiB: 1}, []string{`"x"`, "nothing to boot", "cpus -2", "memory 1 MiB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin, args, err := QEMUCommand(tc.spec)
			if err == nil {
				t.Fatalf("QEMUCommand succeeded with %s %q, want an error", bin, args)
			}
			if bin != "" || args != nil {
				t.Errorf("on error got bin %q args %q, want none", bin, args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDebugExitValue(t *testing.T) {
	tests := []struct {
		code   int
		v      int
		wantOK bool
	}{
		{1, 0, true}, {3, 1, true}, {0x21, 0x10, true}, {255, 127, true},
		{0, 0, false}, {2, 0, false}, {-1, 0, false},
	}
	for _, tc := range tests {
		v, ok := DebugExitValue(tc.code)
		if v != tc.v || ok != tc.wantOK {
			t.Errorf("DebugExitValue(%d) = %d, %v; want %d, %v", tc.code, v, ok, tc.v, tc.wantOK)
		}
	}
}

func TestParseAccel(t *testing.T) {
	for _, s := range []string{"kvm", "tcg"} {
		if a, err := ParseAccel(s); err != nil || string(a) != s {
			t.Errorf("ParseAccel(%q) = %q, %v", s, a, err)
		}
	}
	for _, s := range []string{"", "KVM", "hvf", "kvm "} {
		if a, err := ParseAccel(s); err == nil {
			t.Errorf("ParseAccel(%q) = %q, want error", s, a)
		}
	}
}
