package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// Debian system of row 4.
const (
	debianSuite  = "bookworm"
	debianMirror = "http://deb.debian.org/debian"
	// debianIncludes are installed on top of minbase: systemd as init, and
	// what the kernel package needs to make its initrd. The kernel itself
	// is the .deb of row 2, installed with dpkg -i, so that rows 2 and 4
	// run the same kernel.
	debianIncludes = "systemd,systemd-sysv,udev,kmod,linux-base,initramfs-tools,zstd"
	// debianAppPath is where the bench app is installed.
	debianAppPath = "usr/local/bin/bench-app"
	// debianCmdline boots the ext4 root on virtio-blk.
	debianCmdline = "console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=1 quiet"
	// debianMachineID is a fixed /etc/machine-id: an installed system has
	// one, and without it systemd treats every boot as a first boot.
	debianMachineID = "7e2b1c0d9a8f4e6b8c3d2a1f0e9d8c7b"
)

// debianFiles are the files written into the Debian tree: the app's
// service, the static network, hostname, fstab and machine id.
var debianFiles = []struct{ path, content string }{
	{"etc/hostname", "debian-bench\n"},
	{"etc/machine-id", debianMachineID + "\n"},
	{"etc/fstab", "/dev/vda / ext4 errors=remount-ro 0 1\n"},
	{"etc/systemd/network/10-eth0.network", "[Match]\nName=eth0\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n"},
	{"etc/systemd/system/bench-app.service", "[Unit]\nDescription=turbo-image benchmark app\n\n[Service]\nExecStart=/" + debianAppPath + " -listen :8080 -console /dev/console\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n"},
}

// debianUnits are enabled with systemctl in the chroot.
var debianUnits = []string{"systemd-networkd.service", "bench-app.service"}

// debianSystem is the cached Debian tree of row 4.
type debianSystem struct {
	Tree    string
	Vmlinuz string
	Initrd  string
	// Built is how long debootstrap and the configuration took when this
	// run made the tree (0 when it came from the cache).
	Built time.Duration
}

// debianSystemKey is the cache key of the tree: everything it is made from.
func debianSystemKey(kernelDebSHA, debootstrapVersion string) string {
	lines := []string{"debian system v1", debianSuite, debianMirror, "minbase", debianIncludes, kernelDebSHA, debootstrapVersion}
	for _, f := range debianFiles {
		lines = append(lines, f.path, f.content)
	}
	return keyOf(append(lines, debianUnits...)...)
}

// debianSystem makes (once per key) a minimal Debian tree with debootstrap,
// installs the kernel .deb of row 2 into it and configures systemd.
func (b *bench) debianSystem(ctx context.Context, k *debKernel) (*debianSystem, error) {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return nil, fmt.Errorf("debootstrap is not installed (Debian: apt-get install debootstrap; scripts/deps.sh does it)")
	}
	dv, _ := runOutput(ctx, "", nil, nil, "dpkg-query", "-W", "-f=${Version}", "debootstrap")
	debSHA, err := fileSHA256(k.Deb)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.cache, "debian-system", debianSystemKey(debSHA, strings.TrimSpace(dv)))
	sys := &debianSystem{
		Tree:    filepath.Join(dir, "root"),
		Vmlinuz: filepath.Join(dir, "root", "boot", "vmlinuz-"+k.Release),
		Initrd:  filepath.Join(dir, "root", "boot", "initrd.img-"+k.Release),
	}
	if _, err := os.Stat(sys.Initrd); err == nil {
		return sys, nil
	}
	start := time.Now()
	tmp := dir + ".tmp"
	if err := unmountUnder(ctx, tmp); err != nil {
		return nil, err
	}
	if err := removeTree(tmp); err != nil {
		return nil, err
	}
	root := filepath.Join(tmp, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	debs := filepath.Join(b.cache, "debian-system", "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, err
	}
	b.logf("debian: debootstrap %s into %s (a few minutes, once)", debianSuite, root)
	if err := runCmd(ctx, "", nil, b.verbose(), "debootstrap", "--variant=minbase", "--include="+debianIncludes,
		"--cache-dir="+debs, debianSuite, root, debianMirror); err != nil {
		return nil, err
	}
	b.logf("debian: installing %s in the chroot", filepath.Base(k.Deb))
	inChroot := filepath.Join(root, "tmp", filepath.Base(k.Deb))
	data, err := os.ReadFile(k.Deb)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(inChroot, data, 0o644); err != nil {
		return nil, err
	}
	if err := runCmd(ctx, "", nil, b.verbose(), "chroot", root, "dpkg", "-i", "/tmp/"+filepath.Base(k.Deb)); err != nil {
		return nil, err
	}
	if err := os.Remove(inChroot); err != nil {
		return nil, err
	}
	for _, f := range debianFiles {
		if err := atomicfile.WriteFileAll(filepath.Join(root, f.path), []byte(f.content), 0o644); err != nil {
			return nil, err
		}
	}
	if err := runCmd(ctx, "", nil, b.verbose(), "chroot", append([]string{root, "systemctl", "enable"}, debianUnits...)...); err != nil {
		return nil, err
	}
	// Package archives are not part of a system.
	if old, _ := filepath.Glob(filepath.Join(root, "var", "cache", "apt", "archives", "*.deb")); len(old) > 0 {
		for _, p := range old {
			os.Remove(p)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "boot", "initrd.img-"+k.Release)); err != nil {
		return nil, fmt.Errorf("the kernel package made no initrd: %w", err)
	}
	if err := removeTree(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	sys.Built = time.Since(start)
	return sys, nil
}

// debianImage returns the ext4 image of the tree with the given app
// installed, cached per app digest (mkfs.ext4 -d, no loop mounts). Images
// of other app builds are removed.
func (b *bench) debianImage(ctx context.Context, sys *debianSystem, app []byte) (string, error) {
	dir := filepath.Dir(sys.Tree)
	img := filepath.Join(dir, "rootfs-"+sha256Hex(app)[:16]+".ext4")
	if _, err := os.Stat(img); err == nil {
		return img, nil
	}
	if err := atomicfile.WriteFileAll(filepath.Join(sys.Tree, debianAppPath), app, 0o755); err != nil {
		return "", err
	}
	used, err := treeBytes(sys.Tree)
	if err != nil {
		return "", err
	}
	mib := (used*5/4)>>20 + 256
	tmp := img + ".tmp"
	os.Remove(tmp)
	if err := runCmd(ctx, "", nil, b.verbose(), "mkfs.ext4", "-q", "-F", "-L", "debian-root", "-d", sys.Tree, tmp, fmt.Sprintf("%dM", mib)); err != nil {
		os.Remove(tmp)
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "rootfs-*.ext4"))
	for _, o := range old {
		os.Remove(o)
	}
	return img, os.Rename(tmp, img)
}
