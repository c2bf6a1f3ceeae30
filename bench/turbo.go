package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// Paths of the benchmark's recipes, relative to the repository root.
const (
	helloRecipe     = "bench/recipes/hello/recipe.yaml"
	helloDiskRecipe = "bench/recipes/hello-disk/recipe.yaml"
	helloLZ4Recipe  = "bench/recipes/hello-lz4/recipe.yaml"
	helloArm64      = "bench/recipes/hello-arm64/recipe.yaml"
	// appImport is the bench app's package, as the recipes name it.
	appImport = modulePath + "/bench/app"
	// appInImage is where the recipes' service lands in the image.
	appInImage = "bin/hello"
)

// buildTurbo runs `turbo-image build recipe -o out`.
func (b *bench) buildTurbo(ctx context.Context, recipe, out string, extraEnv []string, extraArgs ...string) (time.Duration, error) {
	args := append([]string{"build", recipe, "-o", out}, extraArgs...)
	start := time.Now()
	err := runCmd(ctx, b.root, extraEnv, b.verbose(), b.turbo, args...)
	return time.Since(start), err
}

// dryRun returns the QEMU command line `turbo-image run --dry-run` prints
// for an initramfs boot under TCG.
func (b *bench) dryRun(ctx context.Context, buildDir string) ([]string, error) {
	out, err := runOutput(ctx, b.root, nil, nil, b.turbo, "run", buildDir, "--dry-run", "--accel", "tcg")
	if err != nil {
		return nil, err
	}
	argv, err := SplitShellWords(strings.TrimSpace(out))
	if err != nil {
		return nil, fmt.Errorf("turbo-image run --dry-run output %q: %w", firstLine(out, 120), err)
	}
	return argv, nil
}

// kernelBuildTime reads how long the one-time build of a build's kernel
// took from the kernel cache: the build log's birth time (the build
// started) to its last write (the build finished), via statx.
func kernelBuildTime(kernelCache, buildDir string) (time.Duration, string, error) {
	key, err := kernelKey(buildDir)
	if err != nil {
		return 0, "", err
	}
	log := filepath.Join(kernelCache, "kernels", key, "build.log")
	born, mod, ok := fileLifetime(log)
	if !ok || !mod.After(born) {
		return 0, "", fmt.Errorf("%s: no birth time recorded", log)
	}
	return mod.Sub(born), "from the kernel cache's build log (statx birth to last write of kernels/" + key[:12] + "…/build.log)", nil
}

// kernelKey is the kernel cache key a build's manifest names.
func kernelKey(buildDir string) (string, error) {
	m, _, err := manifest.Load(buildDir)
	if err != nil {
		return "", err
	}
	for _, in := range m.Inputs {
		if in.Name == "kernel:cache-key" && in.SHA256 != "" {
			return in.SHA256, nil
		}
	}
	return "", errors.New("the manifest names no kernel cache key (prebuilt kernel?)")
}

// kernelFacts measures the figures the kernel package's documentation
// leaves to this report: the kbuild step count of the build's kernel
// (meta.json of its cache entry; the compile progress estimate for
// tinyconfig + virt) and how long hashing the source tarball takes (why
// the package memoizes the hash).
func kernelFacts(kernelCache, buildDir, source string) ([]string, error) {
	key, err := kernelKey(buildDir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(kernelCache, "kernels", key, "meta.json"))
	if err != nil {
		return nil, err
	}
	var meta struct {
		Steps   int    `json:"steps"`
		Release string `json:"release"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("kernels/%s/meta.json: %w", key, err)
	}
	notes := []string{fmt.Sprintf("The kernel (Linux %s, tinyconfig + builtin:virt) took %d kbuild steps (kernels/%s…/meta.json), the count package kernel's compile progress uses as its estimate.", meta.Release, meta.Steps, key[:12])}
	f, err := os.Open(source)
	if err != nil {
		return notes, err
	}
	defer f.Close()
	start := time.Now()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return notes, err
	}
	notes = append(notes, fmt.Sprintf("Hashing the kernel source %s (%s) with SHA-256 took %v here; package kernel memoizes that hash per file (size, mtime, ctime, inode).", source, bytesize.Format(n), time.Since(start).Round(10*time.Millisecond)))
	return notes, nil
}

// buildInitramfs is the one file of dir named pre+".cpio" plus a
// compression extension: a build's initramfs ("initramfs") or slot
// initramfs ("slot-initramfs"), whichever compression the recipe's
// `compression` (by default auto: by size) gave it.
func buildInitramfs(dir, pre string) (string, error) {
	found, err := filepath.Glob(filepath.Join(dir, pre+".cpio*"))
	if err != nil {
		return "", err
	}
	if len(found) != 1 {
		return "", fmt.Errorf("%s: want one %s.cpio*, found %d", dir, pre, len(found))
	}
	return found[0], nil
}

// extractFile returns one regular file of a (compressed) initramfs.
func extractFile(archive, name string) ([]byte, error) {
	recs, err := readInitramfs(archive)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Name == name && r.Type() == initramfs.TypeReg {
			return r.Data, nil
		}
	}
	return nil, fmt.Errorf("%s has no file %s", archive, name)
}

// readInitramfs reads every record of a (compressed) initramfs.
func readInitramfs(path string) ([]initramfs.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := initramfs.Decompress(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	recs, err := initramfs.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// writeInitramfs writes records as a canonical zstd-compressed newc
// archive, atomically.
func writeInitramfs(path string, recs []initramfs.Record) (uncompressed int64, err error) {
	var raw bytes.Buffer
	if err := initramfs.WriteArchive(&raw, recs, initramfs.Options{}); err != nil {
		return 0, err
	}
	var z bytes.Buffer
	zw, err := initramfs.NewCompressor(&z, initramfs.Zstd)
	if err != nil {
		return 0, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(raw.Len()), atomicfile.WriteFileAll(path, z.Bytes(), 0o644)
}

// TimingRecipe turns the bench recipe into the recipe of the build-time
// measurement, whose service is a copy of the app in ./app (a module of its
// own, so that it can be edited for the warm rebuild without touching the
// repository).
func TimingRecipe(src []byte) ([]byte, error) {
	old := "package: " + appImport
	if n := bytes.Count(src, []byte(old)); n != 1 {
		return nil, fmt.Errorf("the bench recipe should name its service as %q once, found %d times", old, n)
	}
	return bytes.Replace(src, []byte(old), []byte("package: ./app"), 1), nil
}

// goModRequire returns the version a go.mod requires of a module path, or
// "".
func goModRequire(gomod []byte, path string) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	return ""
}

// goModGo returns a go.mod's go directive, or "".
func goModGo(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "go" {
			return f[1]
		}
	}
	return ""
}

// timingModule sets up dir as a Go module holding a copy of bench/app and
// the timing recipe, and returns the recipe's path.
func (b *bench) timingModule(dir string) (string, error) {
	gomod, err := os.ReadFile(filepath.Join(b.root, "go.mod"))
	if err != nil {
		return "", err
	}
	sys := goModRequire(gomod, "golang.org/x/sys")
	if sys == "" {
		return "", errors.New("go.mod does not require golang.org/x/sys")
	}
	mod := fmt.Sprintf("module turbo-image-bench/buildtime\n\ngo %s\n\nrequire golang.org/x/sys %s\n", goModGo(gomod), sys)
	if err := atomicfile.WriteFileAll(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(b.root, "go.sum"))
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFileAll(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return "", err
	}
	srcs, err := filepath.Glob(filepath.Join(b.root, "bench", "app", "*.go"))
	if err != nil {
		return "", err
	}
	for _, s := range srcs {
		if strings.HasSuffix(s, "_test.go") {
			continue
		}
		data, err := os.ReadFile(s)
		if err != nil {
			return "", err
		}
		if err := atomicfile.WriteFileAll(filepath.Join(dir, "app", filepath.Base(s)), data, 0o644); err != nil {
			return "", err
		}
	}
	src, err := os.ReadFile(filepath.Join(b.root, helloRecipe))
	if err != nil {
		return "", err
	}
	rec, err := TimingRecipe(src)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "recipe.yaml")
	return p, atomicfile.WriteFileAll(p, rec, 0o644)
}

// appEdit is the source change of the warm build: a new variable and an
// init function that uses it, so that the package is recompiled and the
// program relinked (an unused constant or a comment could leave the
// compiled package, and so the link, unchanged).
const appEdit = "\nvar benchEdit = %d\n\nfunc init() { benchEdit++ }\n"

// editApp appends appEdit to the timing copy of the app's main.go.
func editApp(dir string, n int) error {
	p := filepath.Join(dir, "app", "main.go")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, appEdit, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
