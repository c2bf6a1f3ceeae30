package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// layout names the paths of the cache (see the package documentation).
type layout struct{ root string }

func (l layout) kernelDir(key string) string { return filepath.Join(l.root, "kernels", key) }
func (l layout) srcDir(sum string) string    { return filepath.Join(l.root, "src", sum) }
func (l layout) tmp(name string) string      { return filepath.Join(l.root, "tmp", name) }
func (l layout) lock(name string) string     { return filepath.Join(l.root, "locks", name+".lock") }
func (l layout) log(key string) string       { return filepath.Join(l.root, "logs", key+".log") }
func (l layout) stats(arch, base string) string {
	return filepath.Join(l.root, "stats", arch+"-"+base+".json")
}

// sourceMemo names the memo of a source path: the hash of the path keeps
// file names short and free of separators.
func (l layout) sourceMemo(source string) string {
	sum := sha256.Sum256([]byte(source))
	return filepath.Join(l.root, "srchash", hex.EncodeToString(sum[:16])+".json")
}

// Names of the files in a cached kernel directory.
const (
	metaFile    = "meta.json"
	configFile  = "config"
	vmlinuxFile = "vmlinux"
	keyFile     = "key.txt"
	logFile     = "build.log"
)

// meta is meta.json of a cached kernel. The directory is renamed into
// place only when complete, so a readable meta.json means a usable entry.
type meta struct {
	Format  int    `json:"format"`
	Key     string `json:"key"`
	Release string `json:"release"`
	Image   string `json:"image"`
	Vmlinux string `json:"vmlinux,omitempty"`
	Config  string `json:"config"`
	Steps   int    `json:"steps"`
}

// lookup returns the cached kernel for spec without building. ok is false
// (and err nil) when it is not cached. It costs a stat of the source plus a
// read of the hash memo (a walk of the tree for tree sources), the
// compiler identity (three short processes) and reading meta.json.
func lookup(ctx context.Context, spec Spec) (res Result, ok bool, err error) {
	s, err := normalize(spec)
	if err != nil {
		return Result{}, false, err
	}
	in, _, err := keyInputs(ctx, s)
	if err != nil {
		return Result{}, false, err
	}
	return readCached(layout{s.CacheDir}, in.Key())
}

// readCached loads a cached entry.
func readCached(l layout, key string) (Result, bool, error) {
	dir := l.kernelDir(key)
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("kernel cache: %w", err)
	}
	var m meta
	if err := json.Unmarshal(data, &m); err != nil {
		return Result{}, false, fmt.Errorf("kernel cache: %s: %w (delete the directory to rebuild)", filepath.Join(dir, metaFile), err)
	}
	if m.Key != key || m.Format != formatVersion || !isPlainName(m.Image) || !isPlainName(m.Config) || (m.Vmlinux != "" && !isPlainName(m.Vmlinux)) {
		return Result{}, false, fmt.Errorf("kernel cache: %s does not describe this entry (delete the directory to rebuild)", filepath.Join(dir, metaFile))
	}
	r := Result{
		Image:   filepath.Join(dir, m.Image),
		Config:  filepath.Join(dir, m.Config),
		Key:     key,
		Cached:  true,
		Release: m.Release,
	}
	if m.Vmlinux != "" {
		r.Vmlinux = filepath.Join(dir, m.Vmlinux)
	}
	for _, p := range []string{r.Image, r.Config, r.Vmlinux} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return Result{}, false, fmt.Errorf("kernel cache: incomplete entry: %w (delete %s to rebuild)", err, dir)
		}
	}
	return r, true, nil
}

func isPlainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`)
}

// readSteps returns the step count recorded by the last build of the same
// arch and base, or 0.
func readSteps(l layout, arch, base string) int {
	data, err := os.ReadFile(l.stats(arch, base))
	if err != nil {
		return 0
	}
	var st struct {
		Steps int `json:"steps"`
	}
	if json.Unmarshal(data, &st) != nil || st.Steps < 0 {
		return 0
	}
	return st.Steps
}

func writeSteps(l layout, arch, base string, steps int) error {
	return atomicfile.WriteFileAll(l.stats(arch, base), []byte(`{"steps": `+strconv.Itoa(steps)+"}\n"), 0o644)
}

// syncFile flushes an existing file to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
