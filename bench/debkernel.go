package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/ulikunitz/xz"
)

// debianKernelPkg matches Debian 12's generic kernel packages.
var debianKernelPkg = regexp.MustCompile(`^linux-image-(6\.1\.[0-9]+-[0-9]+-amd64)$`)

// debianModules are the modules turbo-init must load on Debian's kernel
// for row 1's initramfs to work on microvm: the virtio-mmio transport,
// the network device and the entropy source (their dependencies come from
// modules.dep).
var debianModules = []string{"virtio_mmio", "virtio_net", "virtio_rng"}

// debKernel is Debian's kernel package, unpacked in the cache.
type debKernel struct {
	Pkg, Version, Release string
	Deb                   string // the .deb
	Root                  string // dpkg-deb -x of it, with modules.dep from depmod -b
	Vmlinuz               string
}

// ModDir is the unpacked /lib/modules/<release>.
func (k *debKernel) ModDir() string { return filepath.Join(k.Root, "lib", "modules", k.Release) }

// ParseAptDepends finds the linux-image-6.1.*-amd64 package that
// `apt-cache depends linux-image-amd64` lists as a dependency.
func ParseAptDepends(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends:")
		if !ok {
			continue
		}
		dep = strings.TrimSpace(dep)
		if debianKernelPkg.MatchString(dep) {
			return dep, nil
		}
	}
	return "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image-6.1.*-amd64 package:\n%s", strings.TrimSpace(out))
}

// ParseAptVersion returns the Version field of `apt-cache show
// --no-all-versions` output.
func ParseAptVersion(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Version:"); ok {
			if v = strings.TrimSpace(v); v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("no Version in apt-cache show output")
}

// debianKernel downloads (apt-get download, never installed on the host),
// unpacks and depmods Debian's current 6.1 kernel into the cache, once per
// package version.
func (b *bench) debianKernel(ctx context.Context) (*debKernel, error) {
	resolve := func() (pkg, ver string, err error) {
		out, err := runOutput(ctx, "", nil, nil, "apt-cache", "depends", "linux-image-amd64")
		if err != nil {
			return "", "", err
		}
		if pkg, err = ParseAptDepends(out); err != nil {
			return "", "", err
		}
		out, err = runOutput(ctx, "", nil, nil, "apt-cache", "show", "--no-all-versions", pkg)
		if err != nil {
			return "", "", err
		}
		ver, err = ParseAptVersion(out)
		return pkg, ver, err
	}
	pkg, ver, err := resolve()
	if err != nil {
		b.logf("debian kernel: %v; running apt-get update", firstLine(err.Error(), 100))
		if err := runCmd(ctx, "", nil, b.verbose(), "apt-get", "update", "-q"); err != nil {
			return nil, err
		}
		if pkg, ver, err = resolve(); err != nil {
			return nil, err
		}
	}
	rel := debianKernelPkg.FindStringSubmatch(pkg)[1]
	dir := filepath.Join(b.cache, "debian-kernel", pkg+"_"+strings.ReplaceAll(ver, ":", "%3a"))
	k := &debKernel{Pkg: pkg, Version: ver, Release: rel, Root: filepath.Join(dir, "root"),
		Vmlinuz: filepath.Join(dir, "root", "boot", "vmlinuz-"+rel)}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if _, err := os.Stat(filepath.Join(k.ModDir(), "modules.dep")); err == nil && len(debs) == 1 {
		k.Deb = debs[0]
		return k, nil
	}
	b.logf("debian kernel: downloading %s %s", pkg, ver)
	tmp := dir + ".tmp"
	if err := removeTree(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := runCmd(ctx, tmp, nil, b.verbose(), "apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg+"="+ver); err != nil {
		return nil, err
	}
	debs, _ = filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s left %d .deb files in %s", pkg, len(debs), tmp)
	}
	if err := runCmd(ctx, "", nil, nil, "dpkg-deb", "-x", debs[0], filepath.Join(tmp, "root")); err != nil {
		return nil, err
	}
	// The package ships no modules.dep (its postinst runs depmod); make the
	// same file in the unpacked tree.
	if err := runCmd(ctx, "", nil, nil, "depmod", "-b", filepath.Join(tmp, "root"), rel); err != nil {
		return nil, err
	}
	if err := removeTree(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	k.Deb = filepath.Join(dir, filepath.Base(debs[0]))
	return k, nil
}

// readModule reads a module file, decompressing .ko.xz, .ko.zst and .ko.gz.
func readModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	switch {
	case strings.HasSuffix(path, ".xz"):
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = xr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(path, ".gz"):
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%s: not an ELF module", path)
	}
	return data, nil
}

// uncompressedModName is a module path without its compression suffix.
func uncompressedModName(p string) string {
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		p = strings.TrimSuffix(p, ext)
	}
	return p
}

// debianInitramfs writes a copy of the turbo initramfs at src with the
// modules Debian's kernel needs and /etc/turbo/modules listing them in
// load order. It returns the list (absolute paths in the image), the
// modules that turned out to be built in, and the bytes the modules add.
func debianInitramfs(k *debKernel, src, out string) (list, builtin []string, added int64, err error) {
	depf, err := os.Open(filepath.Join(k.ModDir(), "modules.dep"))
	if err != nil {
		return nil, nil, 0, err
	}
	dep, err := ParseModulesDep(depf)
	depf.Close()
	if err != nil {
		return nil, nil, 0, err
	}
	bi := map[string]bool{}
	if bf, err := os.Open(filepath.Join(k.ModDir(), "modules.builtin")); err == nil {
		bi, err = ParseBuiltin(bf)
		bf.Close()
		if err != nil {
			return nil, nil, 0, err
		}
	}
	order, builtin, err := dep.Resolve(debianModules, bi)
	if err != nil {
		return nil, nil, 0, err
	}
	recs, err := readInitramfs(src)
	if err != nil {
		return nil, nil, 0, err
	}
	var listing strings.Builder
	for _, p := range order {
		data, err := readModule(filepath.Join(k.ModDir(), filepath.FromSlash(p)))
		if err != nil {
			return nil, nil, 0, err
		}
		dest := "lib/modules/" + k.Release + "/" + uncompressedModName(p)
		recs = append(recs, initramfs.File(dest, 0o644, data))
		list = append(list, "/"+dest)
		listing.WriteString("/" + dest + "\n")
		added += int64(len(data))
	}
	recs = append(recs, initramfs.File("etc/turbo/modules", 0o644, []byte(listing.String())))
	if _, err := writeInitramfs(out, recs); err != nil {
		return nil, nil, 0, err
	}
	return list, builtin, added, nil
}
