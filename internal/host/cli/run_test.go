package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/vdisk"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

func fakeBuild(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kernel"), []byte("k"), 0o644)
	os.WriteFile(filepath.Join(dir, "initramfs.cpio.zst"), []byte("i"), 0o644)
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "amd64",
		Cmdline:   "console=ttyS0 panic=1 quiet",
		Artifacts: []manifest.File{manifest.Digest("kernel", []byte("k")), manifest.Digest("initramfs.cpio.zst", []byte("i"))}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
	return dir
}

func TestPlanQEMU(t *testing.T) {
	dir := fakeBuild(t)
	target, err := loadTarget(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if target.defaultBoot() != bootInitramfs {
		t.Fatalf("default boot %s", target.defaultBoot())
	}
	cases := []struct {
		name  string
		f     runFlags
		accel vmm.Accel
		tsc   int
		check func(t *testing.T, s vmm.Spec)
		err   string
	}{
		{"tcg passes the TSC", runFlags{memory: 256, cpus: 1}, vmm.AccelTCG, 2596096, func(t *testing.T, s vmm.Spec) {
			if s.TSCkHz != 2596096 || s.Machine != vmm.MachineMicrovm || !s.NoReboot {
				t.Errorf("%+v", s)
			}
			if s.Kernel != filepath.Join(dir, "kernel") || s.Initrd != filepath.Join(dir, "initramfs.cpio.zst") {
				t.Errorf("paths %s %s", s.Kernel, s.Initrd)
			}
			if s.Cmdline != "console=ttyS0 panic=1 quiet" {
				t.Errorf("cmdline %q", s.Cmdline)
			}
		}, ""},
		{"kvm does not", runFlags{memory: 512, cpus: 2, cmdline: "turbo.debug"}, vmm.AccelKVM, 2596096, func(t *testing.T, s vmm.Spec) {
			if s.TSCkHz != 0 || s.MemoryMiB != 512 || s.CPUs != 2 || !strings.HasSuffix(s.Cmdline, " turbo.debug") {
				t.Errorf("%+v", s)
			}
		}, ""},
		{"publish", runFlags{publish: stringList{"8080:8080", "127.0.0.1:2222:22"}}, vmm.AccelTCG, 0, func(t *testing.T, s vmm.Spec) {
			if len(s.Net.Publish) != 2 || s.Net.Publish[1].HostPort != 2222 || s.Net.Publish[1].GuestPort != 22 {
				t.Errorf("%+v", s.Net)
			}
		}, ""},
		{"bad publish", runFlags{publish: stringList{"80"}}, vmm.AccelTCG, 0, nil, "--publish 80"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := planQEMU(target, &c.f, bootInitramfs, c.accel, c.tsc, nil, nil)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, s)
			if _, _, err := vmm.QEMUCommand(s); err != nil {
				t.Fatalf("spec does not make a command: %v", err)
			}
		})
	}
}

func TestRunDryRun(t *testing.T) {
	dir := fakeBuild(t)
	var out, errb strings.Builder
	code := MainEnv(context.Background(), []string{"run", dir, "--dry-run", "--accel", "tcg", "--tsc=false", "--publish", "8080:8080"},
		&Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := strings.TrimSpace(out.String())
	for _, want := range []string{"qemu-system-x86_64 ", "-machine microvm", "-accel tcg", "-kernel " + filepath.Join(dir, "kernel"),
		"-append 'console=ttyS0 panic=1 quiet'", "hostfwd=tcp:127.0.0.1:8080-10.0.2.15:8080", "-no-reboot"} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "-qmp") {
		t.Errorf("dry run should not mention a per-run QMP socket: %s", got)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"build"}, {"build", "r.yaml"}, {"run"}, {"inspect"}, {"frobnicate"}} {
		var out, errb strings.Builder
		code := MainEnv(context.Background(), args, &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
		if !strings.Contains(errb.String(), "usage") && !strings.Contains(errb.String(), "unknown command") {
			t.Errorf("%v: no usage: %s", args, errb.String())
		}
	}
}

func TestParseFlagsInterleaved(t *testing.T) {
	var out strings.Builder
	fs := newFlagSet(&Env{Stderr: &out}, "x", "x")
	o := fs.String("o", "", "")
	v := fs.Bool("v", false, "")
	pos, err := parseFlags(fs, []string{"a", "-o", "dir", "b", "-v", "--", "-c"})
	if err != nil || *o != "dir" || !*v || strings.Join(pos, ",") != "a,b,-c" {
		t.Fatalf("%v %q %v %v", err, *o, *v, pos)
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"qemu", "-append", "console=ttyS0 quiet", "it's", ""})
	if got != `qemu -append 'console=ttyS0 quiet' 'it'\''s' ''` {
		t.Fatal(got)
	}
}

func TestPlanQEMUDiskModes(t *testing.T) {
	target := &bootTarget{name: "hello", disk: "/images/hello.img"}
	if target.defaultBoot() != bootDisk {
		t.Fatal("a bare disk boots by turbo direct boot")
	}
	f := &runFlags{memory: 256, cpus: 1}
	entry := &diskBoot{kernel: "/tmp/x/linux", initrd: "/tmp/x/initrd", cmdline: "console=ttyS0 turbo.slot=b"}
	s, err := planQEMU(target, f, bootDisk, vmm.AccelTCG, 1000000, entry, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Machine != vmm.MachineMicrovm || s.Kernel != entry.kernel || s.Cmdline != entry.cmdline || len(s.Disks) != 1 ||
		s.Disks[0].Path != "/images/hello.img" || !s.Watchdog || s.TSCkHz != 1000000 {
		t.Fatalf("disk: %+v", s)
	}
	fw := &vmm.UEFI{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/tmp/x/vars.fd"}
	s, err = planQEMU(target, f, bootUEFI, vmm.AccelTCG, 0, nil, fw)
	if err != nil {
		t.Fatal(err)
	}
	if s.Machine != vmm.MachineQ35 || s.Firmware != fw || s.Kernel != "" || !s.Watchdog {
		t.Fatalf("uefi: %+v", s)
	}
	if _, _, err := vmm.QEMUCommand(s); err != nil {
		t.Fatal(err)
	}
	if _, err := planQEMU(target, &runFlags{cmdline: "x"}, bootUEFI, vmm.AccelTCG, 0, nil, fw); err == nil {
		t.Fatal("--cmdline accepted for a UEFI boot")
	}
	if _, err := planQEMU(target, f, bootInitramfs, vmm.AccelTCG, 0, nil, nil); err == nil {
		t.Fatal("initramfs boot of a bare disk accepted")
	}
	if _, err := planQEMU(target, f, "floppy", vmm.AccelTCG, 0, nil, nil); err == nil {
		t.Fatal("unknown boot mode accepted")
	}
}

func TestRunBhyveDryRun(t *testing.T) {
	img := filepath.Join(t.TempDir(), "hello.img")
	os.WriteFile(img, []byte("x"), 0o644)
	var out, errb strings.Builder
	code := MainEnv(context.Background(), []string{"run", img, "--vmm", "bhyve", "--dry-run"},
		&Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := out.String()
	for _, want := range []string{"bhyve ", "virtio-blk," + img, "virtio-net,tap0", "com1,stdio", "bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd"} {
		if !strings.Contains(got, want) {
			t.Errorf("bhyve command lacks %q: %s", want, got)
		}
	}
	code = MainEnv(context.Background(), []string{"run", img, "--vmm", "bhyve"},
		&Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code == 0 || !strings.Contains(errb.String(), "FreeBSD") {
		t.Fatalf("bhyve without --dry-run: %d %s", code, errb.String())
	}
}

// TestRunRefusesBadFolder: run reads a build folder as every command does:
// a changed or non-regular artifact is refused before QEMU starts.
func TestRunRefusesBadFolder(t *testing.T) {
	dir := fakeBuild(t)
	os.WriteFile(filepath.Join(dir, "initramfs.cpio.zst"), []byte("I"), 0o644)
	if _, err := loadTarget(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "initramfs.cpio.zst: sha256") {
		t.Fatalf("changed initramfs: %v", err)
	}
	dir = fakeBuild(t)
	os.Remove(filepath.Join(dir, "kernel"))
	os.Symlink("/dev/zero", filepath.Join(dir, "kernel"))
	if _, err := loadTarget(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("kernel -> /dev/zero: %v", err)
	}
}

// TestPlanQEMUVirtualDisks: a bare qcow2, VMDK or VHD boots under UEFI
// with the drive's format named (QEMU does not probe a fixed VHD, and a
// probed format is refused for a writable drive), a VMDK with its writes
// in a temporary overlay; turbo direct boot and bhyve refuse them.
func TestPlanQEMUVirtualDisks(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 1<<20)
	copy(raw[512:], "EFI PART")
	fw := &vmm.UEFI{Code: "/fw/code.fd", Vars: "/vm/vars.fd"}
	for _, c := range []struct {
		file, want string
		write      func(io.Writer) error
	}{
		{"disk.img", "format=raw,if=none,id=disk0 ", func(w io.Writer) error { _, err := w.Write(raw); return err }},
		{"disk.qcow2", "format=qcow2,if=none,id=disk0 ", func(w io.Writer) error { return vdisk.WriteQCOW2(w, bytes.NewReader(raw), int64(len(raw))) }},
		{"disk.vmdk", "format=vmdk,if=none,id=disk0,snapshot=on ", func(w io.Writer) error {
			return vdisk.WriteVMDK(w, bytes.NewReader(raw), int64(len(raw)), vdisk.VMDKOptions{CID: 1, Name: "disk.vmdk"})
		}},
		{"disk.vhd", "format=vpc,if=none,id=disk0 ", func(w io.Writer) error {
			return vdisk.WriteVHD(w, bytes.NewReader(raw), int64(len(raw)), vdisk.VHDOptions{})
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			p := filepath.Join(dir, c.file)
			var b bytes.Buffer
			if err := c.write(&b); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			target, err := loadTarget(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			virtual := c.file != "disk.img"
			if want := map[bool]string{true: bootUEFI, false: bootDisk}[virtual]; target.defaultBoot() != want {
				t.Errorf("default boot %s, want %s", target.defaultBoot(), want)
			}
			f := &runFlags{memory: 256, cpus: 1}
			s, err := planQEMU(target, f, bootUEFI, vmm.AccelTCG, 0, nil, fw)
			if err != nil {
				t.Fatal(err)
			}
			_, args, err := vmm.QEMUCommand(s)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(args, " ")+" ", "file="+p+","+c.want) {
				t.Errorf("QEMU drive lacks %s: %q", c.want, args)
			}
			if !virtual {
				return
			}
			entry := &diskBoot{kernel: "/k", initrd: "/i"}
			if _, err := planQEMU(target, f, bootDisk, vmm.AccelTCG, 0, entry, nil); err == nil || !strings.Contains(err.Error(), "--boot uefi") {
				t.Errorf("direct boot of %s: %v", c.file, err)
			}
			var out, errb strings.Builder
			code := MainEnv(context.Background(), []string{"run", p, "--vmm", "bhyve", "--dry-run"},
				&Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
			if code == 0 || !strings.Contains(errb.String(), "bhyve takes raw disks only") {
				t.Errorf("bhyve of %s: exit %d, %s", c.file, code, errb.String())
			}
		})
	}
}

// TestRunSecureBootNeedsUEFI: --secure-boot and --uefi-vars belong to
// firmware boots; with a direct kernel boot they are a usage error, not
// silently ignored.
func TestRunSecureBootNeedsUEFI(t *testing.T) {
	dir := fakeBuild(t)
	for _, flag := range [][]string{{"--secure-boot"}, {"--uefi-vars", "/nonexistent/VARS.fd"}} {
		var out, errb strings.Builder
		code := MainEnv(context.Background(), append([]string{"run", dir, "--dry-run", "--accel", "tcg"}, flag...),
			&Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != 2 || !strings.Contains(errb.String(), "need a UEFI boot") {
			t.Errorf("%v: exit %d, want 2 naming the UEFI boot: %s", flag, code, errb.String())
		}
	}
}
