package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// u-root settings of row 3.
const (
	urootModule = "github.com/u-root/u-root"
	urootInit   = urootModule + "/cmds/core/init"
	// urootApp is where the bench app lands in the u-root image; /bin/uinit
	// links to it and /etc/uinit.flags holds its arguments.
	urootApp = "bin/benchapp"
	// urootUinit is the uinit command: u-root's init configures no network,
	// so the app does it itself.
	urootUinit = "/" + urootApp + " -net 10.0.2.15/24,10.0.2.2 -listen :8080"
)

// urootTool is a built u-root CLI and the module it runs in.
type urootTool struct {
	version string
	bin     string // the u-root command
	modDir  string // a module requiring u-root, where it resolves urootInit
}

// goTargetEnv is the environment of every Go build of guest code here, as
// the builder uses: static, x86-64-v1 (TCG's qemu64 CPU), local toolchain.
var goTargetEnv = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS"}

// urootCLI builds (once, cached by u-root and Go version) the u-root
// command in a module of its own under the cache. The version is the one
// the repository's go.mod requires.
func (b *bench) urootCLI(ctx context.Context) (*urootTool, error) {
	gomod, err := os.ReadFile(filepath.Join(b.root, "go.mod"))
	if err != nil {
		return nil, err
	}
	v := goModRequire(gomod, urootModule)
	if v == "" {
		return nil, fmt.Errorf("go.mod does not require %s", urootModule)
	}
	dir := filepath.Join(b.cache, "u-root", keyOf("u-root cli v1", v, b.goVersion)+"-"+v)
	t := &urootTool{version: v, bin: filepath.Join(dir, "u-root"), modDir: dir}
	if _, err := os.Stat(t.bin); err == nil {
		return t, nil
	}
	b.logf("u-root %s: building its CLI in %s (once)", v, dir)
	mod := fmt.Sprintf("module turbo-image-bench/uroot\n\ngo %s\n", goModGo(gomod))
	if err := atomicfile.WriteFileAll(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		return nil, err
	}
	env := []string{"GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS"}
	if err := runCmd(ctx, dir, env, b.verbose(), "go", "get", urootModule+"@"+v, urootInit+"@"+v); err != nil {
		return nil, err
	}
	tmp := t.bin + ".tmp"
	if err := runCmd(ctx, dir, env, b.verbose(), "go", "build", "-o", tmp, urootModule); err != nil {
		return nil, err
	}
	return t, os.Rename(tmp, t.bin)
}

// urootArgs is the u-root command line that packs app into out.
func urootArgs(app, out string) []string {
	return []string{"-o", out, "-defaultsh=", "-uinitcmd=" + urootUinit, "-files", app + ":" + urootApp, urootInit}
}

// runURoot runs the u-root CLI with GOCACHE gocache ("" keeps the
// default) and returns how long it took.
func (b *bench) runURoot(ctx context.Context, t *urootTool, app, out, gocache string) (time.Duration, error) {
	env := append([]string(nil), goTargetEnv...)
	if gocache != "" {
		env = append(env, "GOCACHE="+gocache)
	}
	start := time.Now()
	err := runCmd(ctx, t.modDir, env, b.verbose(), t.bin, urootArgs(app, out)...)
	return time.Since(start), err
}

// goBuildApp builds the app package in dir the way the builder builds
// services (static, trimmed, stripped).
func (b *bench) goBuildApp(ctx context.Context, dir, pkg, out, gocache string) (time.Duration, error) {
	env := append([]string(nil), goTargetEnv...)
	if gocache != "" {
		env = append(env, "GOCACHE="+gocache)
	}
	start := time.Now()
	err := runCmd(ctx, dir, env, b.verbose(), "go", appBuildArgs(pkg, out)...)
	return time.Since(start), err
}

// appBuildArgs are the go arguments of goBuildApp (the builder's flags).
func appBuildArgs(pkg, out string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg}
}

// urootImage returns row 3's initramfs: u-root's init plus the given app
// binary as uinit, zstd-compressed like turbo-image's. It is cached by
// u-root version, Go version and app digest. raw is the size of the cpio
// u-root wrote (uncompressed).
func (b *bench) urootImage(ctx context.Context, t *urootTool, app []byte) (path string, raw int64, err error) {
	key := keyOf("u-root image v1", t.version, b.goVersion, sha256Hex(app), urootUinit)
	dir := filepath.Join(b.cache, "u-root", "images", key)
	path = filepath.Join(dir, "initramfs.cpio.zst")
	cpio := filepath.Join(dir, "initramfs.cpio")
	if st, err := os.Stat(cpio); err == nil {
		if _, err := os.Stat(path); err == nil {
			return path, st.Size(), nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	appPath := filepath.Join(dir, "benchapp")
	if err := atomicfile.WriteFileAll(appPath, app, 0o755); err != nil {
		return "", 0, err
	}
	tmp := cpio + ".tmp"
	if _, err := b.runURoot(ctx, t, appPath, tmp, ""); err != nil {
		return "", 0, err
	}
	data, err := os.ReadFile(tmp)
	if err != nil {
		return "", 0, err
	}
	if len(data) == 0 {
		return "", 0, errors.New("u-root wrote an empty archive")
	}
	var z bytes.Buffer
	zw, err := initramfs.NewCompressor(&z, initramfs.Zstd)
	if err != nil {
		return "", 0, err
	}
	if _, err := zw.Write(data); err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	if err := atomicfile.WriteFileAll(path, z.Bytes(), 0o644); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp, cpio); err != nil {
		return "", 0, err
	}
	return path, int64(len(data)), nil
}
