package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	turboimage "github.com/turbo-image/turbo-image"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// goEnv is the environment for every Go build of target code: static,
// reproducible, no toolchain download, nothing from the host's GOFLAGS.
func goEnv(goarch string) []string {
	env := []string{}
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "GOFLAGS", "GOTOOLCHAIN", "GOEXPERIMENT", "GOWORK":
			continue
		}
		env = append(env, e)
	}
	env = append(env, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOTOOLCHAIN=local", "GOWORK=off")
	switch goarch {
	case "amd64":
		env = append(env, "GOAMD64=v1")
	case "arm64":
		env = append(env, "GOARM64=v8.0")
	}
	return env
}

// goBuildFlags make binaries small and reproducible: no paths, no build
// id, no VCS stamp, no symbol table.
var goBuildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// goBuild compiles pkg (a package pattern, run in dir) for goarch into
// out.
func goBuild(ctx context.Context, gobin, dir, pkg, out, goarch string, tags []string) error {
	args := append([]string{"build"}, goBuildFlags...)
	if len(tags) > 0 {
		args = append(args, "-tags="+strings.Join(tags, ","))
	}
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = dir
	cmd.Env = goEnv(goarch)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (in %s): %v\n%s", pkg, dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// goInstall builds pkg@version (version "latest" or a semantic version)
// like `go install pkg@version`: the package's own module is the main
// module, its go.mod's requirements rule, and no go.mod of the caller's
// takes part (it runs in an empty folder). The binary lands in a private
// GOPATH's bin folder under tmp (go refuses GOBIN for a cross build, so
// GOPATH places it: bin/NAME, or bin/GOOS_GOARCH/NAME), with the module
// cache of the caller's environment, and is moved to out. Build flags
// are goBuildFlags, as for every other Go build.
func goInstall(ctx context.Context, gobin, pkg, version, out, goarch, tmp string) error {
	modcache, err := goEnvVar(ctx, gobin, "GOMODCACHE")
	if err != nil {
		return err
	}
	gopath := filepath.Join(tmp, "gopath")
	empty := filepath.Join(tmp, "cwd")
	for _, d := range []string{gopath, empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	args := append(append([]string{"install"}, goBuildFlags...), pkg+"@"+version)
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = empty
	env := []string{}
	for _, e := range goEnv(goarch) {
		switch k, _, _ := strings.Cut(e, "="); k {
		case "GOPATH", "GOBIN", "GOMODCACHE", "GO111MODULE":
			continue
		}
		env = append(env, e)
	}
	cmd.Env = append(env, "GOPATH="+gopath, "GOMODCACHE="+modcache, "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go install %s@%s: %v\n%s", pkg, version, err, strings.TrimSpace(stderr.String()))
	}
	var bins []string
	err = filepath.WalkDir(filepath.Join(gopath, "bin"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			bins = append(bins, p)
		}
		return err
	})
	if err != nil || len(bins) != 1 {
		return fmt.Errorf("go install %s@%s: want one program in %s, found %d (%v)", pkg, version, filepath.Join(gopath, "bin"), len(bins), err)
	}
	return os.Rename(bins[0], out)
}

// goEnvVar returns `go env NAME` in the caller's environment.
func goEnvVar(ctx context.Context, gobin, name string) (string, error) {
	cmd := exec.CommandContext(ctx, gobin, "env", name)
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s env %s: %w", gobin, name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// goModOf returns the go.mod file that rules a build in dir ("" when dir
// is in no module).
func goModOf(ctx context.Context, gobin, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, gobin, "env", "GOMOD")
	cmd.Dir = dir
	cmd.Env = goEnv("amd64")
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s env GOMOD (in %s): %w", gobin, dir, err)
	}
	m := strings.TrimSpace(string(b))
	if m == os.DevNull {
		m = ""
	}
	return m, nil
}

// goVersion returns `go env GOVERSION`.
func goVersion(ctx context.Context, gobin string) (string, error) {
	cmd := exec.CommandContext(ctx, gobin, "env", "GOVERSION")
	cmd.Env = goEnv("amd64")
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s env GOVERSION: %w (is Go installed?)", gobin, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// initCacheKey hashes everything that determines the init binary.
func initCacheKey(goversion, goarch string, tags []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "turbo-init v1\n%s\n%s\n%s\n", goversion, goarch, strings.Join(tags, ","))
	var names []string
	err := fs.WalkDir(turboimage.InitSource, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := turboimage.InitSource.ReadFile(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// initSrcPrefix names the init's temporary source folders in the cache.
const initSrcPrefix = "init-src-"

// buildInit returns the init binary for goarch with the given build tags,
// from the cache or compiled from the embedded source.
func buildInit(ctx context.Context, gobin, cacheDir, goversion, goarch string, tags []string) ([]byte, error) {
	sort.Strings(tags)
	key, err := initCacheKey(goversion, goarch, tags)
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(cacheDir, "init", key, "init")
	if b, err := os.ReadFile(cached); err == nil {
		return b, nil
	}
	srcDir, err := newTempDir(cacheDir, initSrcPrefix)
	if err != nil {
		return nil, err
	}
	defer srcDir.remove()
	src := srcDir.path
	err = fs.WalkDir(turboimage.InitSource, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(src, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := turboimage.InitSource.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("writing init source: %w", err)
	}
	tmpOut := filepath.Join(src, "init.bin")
	if err := goBuild(ctx, gobin, src, "./cmd/turbo-init", tmpOut, goarch, tags); err != nil {
		return nil, fmt.Errorf("building the init: %w", err)
	}
	b, err := os.ReadFile(tmpOut)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFileAll(cached, b, 0o755); err != nil {
		return nil, fmt.Errorf("caching the init: %w", err)
	}
	return b, nil
}
