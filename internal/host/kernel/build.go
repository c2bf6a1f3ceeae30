package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/turbo-image/turbo-image/internal/format/kconfig"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// reporter forwards progress to the optional callback.
type reporter struct{ fn func(Progress) }

func (r reporter) report(p Progress) {
	if r.fn != nil {
		r.fn(p)
	}
}

// Build returns the kernel described by spec, building it only when the
// cache has no entry for its key. Steps: hash the inputs (cacheKey); return
// the cached entry if present; otherwise take the key's lock, unpack the
// tarball (once per source hash), run `make O=<tmp> <base>`, append the
// merged fragment options to .config, run `make olddefconfig`, check the
// result (kconfig.CheckConfig; a *kconfig.CheckError is returned before anything is
// compiled), run `make -jN <image>`, and rename the outputs into the cache.
// Cancelling ctx kills make's whole process group.
func Build(ctx context.Context, spec Spec) (Result, error) {
	s, err := normalize(spec)
	if err != nil {
		return Result{}, err
	}
	r := reporter{s.Progress}
	in, srcSum, err := keyInputs(ctx, s)
	if err != nil {
		return Result{}, err
	}
	key := in.Key()
	l := layout{s.CacheDir}
	if res, ok, err := readCached(l, key); err != nil || ok {
		if ok {
			r.report(Progress{Stage: "done", Line: res.Image})
		}
		return res, err
	}
	if err := hostSupported(); err != nil {
		return Result{}, err
	}
	unlock, err := acquireLock(ctx, l.lock("kernel-"+key), r, "waiting for another build of kernel "+key[:12])
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	// Another process may have finished the same key while we waited.
	if res, ok, err := readCached(l, key); err != nil || ok {
		if ok {
			r.report(Progress{Stage: "done", Line: res.Image})
		}
		return res, err
	}
	tree, err := prepareSource(ctx, s, srcSum, r)
	if err != nil {
		return Result{}, err
	}
	res, err := compile(ctx, s, in, key, tree, r)
	if err != nil {
		return Result{}, err
	}
	r.report(Progress{Stage: "done", Line: res.Image})
	return res, nil
}

// compile runs the configuration and compilation in a temporary build
// directory and moves the outputs into the cache. The caller holds the
// key's lock, so the deterministic temporary names are ours.
func compile(ctx context.Context, s Spec, in cacheKeyInputs, key, tree string, r reporter) (res Result, err error) {
	l := layout{s.CacheDir}
	ai := archTable[s.Arch]
	objDir, outDir := l.tmp("build-"+key), l.tmp("out-"+key)
	for _, d := range []string{objDir, outDir} {
		if err := os.RemoveAll(d); err != nil {
			return Result{}, fmt.Errorf("kernel cache: %w", err)
		}
	}
	if err := os.MkdirAll(objDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("kernel cache: %w", err)
	}
	defer os.RemoveAll(objDir)
	defer func() {
		if err != nil {
			os.RemoveAll(outDir)
		}
	}()

	logPath := l.log(key)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return Result{}, fmt.Errorf("kernel cache: %w", err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return Result{}, fmt.Errorf("kernel cache: %w", err)
	}
	defer logf.Close()

	plan := makePlan{srcTree: tree, objDir: objDir, arch: ai, cc: s.CC, jobs: s.Jobs}
	env := makeEnv(os.Environ(), s.SourceDateEpoch)
	run := func(onLine func(line string, step bool), targets ...string) error {
		return runMake(ctx, plan.args(targets...), env, logf, logPath, onLine)
	}
	configLine := func(line string, _ bool) { r.report(Progress{Stage: "config", Line: line}) }

	// Configuration.
	r.report(Progress{Stage: "config", Line: "make " + s.Base})
	if err := run(configLine, s.Base); err != nil {
		return Result{}, err
	}
	cfgPath := filepath.Join(objDir, ".config")
	if err := appendOptions(cfgPath, in.Options); err != nil {
		return Result{}, err
	}
	r.report(Progress{Stage: "config", Line: "make olddefconfig"})
	if err := run(configLine, "olddefconfig"); err != nil {
		return Result{}, err
	}
	final, err := readConfig(cfgPath)
	if err != nil {
		return Result{}, err
	}
	if probs := kconfig.Mismatches(in.Options, final); len(probs) > 0 {
		kc, kerr := kconfig.Load(os.DirFS(tree), ai.srcArch, ai.arch)
		if kerr != nil {
			// Report the mismatches without explanations rather than hide them.
			return Result{}, fmt.Errorf("kernel build: %w (no explanation: %v)", kconfig.CheckConfig(in.Options, final, nil), kerr)
		}
		return Result{}, fmt.Errorf("kernel build: %w", kconfig.CheckConfig(in.Options, final, kc))
	}

	// Compilation.
	steps, total := 0, readSteps(l, s.Arch, s.Base)
	if total == 0 {
		total = ai.defaultSteps[s.Base]
	}
	r.report(Progress{Stage: "compile", Line: "make " + ai.target, Total: total})
	err = run(func(line string, step bool) {
		if step {
			steps++
			if steps >= total {
				total = steps + 1 // the estimate was low; never claim 100% early
			}
		}
		r.report(Progress{Stage: "compile", Line: line, Done: steps, Total: total})
	}, ai.target)
	if err != nil {
		return Result{}, err
	}

	release, err := os.ReadFile(filepath.Join(objDir, "include", "config", "kernel.release"))
	if err != nil {
		return Result{}, fmt.Errorf("kernel build: reading kernel.release: %w", err)
	}
	m := meta{
		Format:  formatVersion,
		Key:     key,
		Release: strings.TrimSpace(string(release)),
		Image:   filepath.Base(ai.image),
		Vmlinux: vmlinuxFile,
		Config:  configFile,
		Steps:   steps,
	}
	if err := logf.Close(); err != nil {
		return Result{}, fmt.Errorf("kernel build log: %w", err)
	}
	if err := storeOutputs(l, key, objDir, outDir, ai, m, in, logPath); err != nil {
		return Result{}, err
	}
	_ = writeSteps(l, s.Arch, s.Base, steps) // only an estimate for the next build
	res, ok, err := readCached(l, key)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, fmt.Errorf("kernel cache: entry %s vanished after it was stored", key)
	}
	res.Cached = false
	return res, nil
}

// appendOptions appends the merged options to .config (Kconfig lets the
// later assignment of a symbol win when it reads the file).
func appendOptions(cfgPath string, opts []kconfig.Option) error {
	f, err := os.OpenFile(cfgPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("kernel config: %w", err)
	}
	text := "\n# turbo-image fragments\n" + string(kconfig.FormatOptions(opts))
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("kernel config: %w", err)
	}
	return f.Close()
}

func readConfig(path string) (kconfig.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel config: %w", err)
	}
	c, err := kconfig.ParseConfig(path, data)
	if err != nil {
		return nil, fmt.Errorf("kernel config written by olddefconfig: %w", err)
	}
	return c, nil
}

// storeOutputs moves the image, vmlinux and .config into outDir, adds
// meta.json, key.txt and the build log, makes the files read-only, syncs
// everything and renames outDir to kernels/<key>.
func storeOutputs(l layout, key, objDir, outDir string, ai archInfo, m meta, in cacheKeyInputs, logPath string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("kernel cache: %w", err)
	}
	moves := [][2]string{
		{filepath.Join(objDir, filepath.FromSlash(ai.image)), m.Image},
		{filepath.Join(objDir, "vmlinux"), m.Vmlinux},
		{filepath.Join(objDir, ".config"), m.Config},
		{logPath, logFile},
	}
	for _, mv := range moves {
		dst := filepath.Join(outDir, mv[1])
		if err := os.Rename(mv[0], dst); err != nil {
			return fmt.Errorf("kernel cache: %w", err)
		}
		if err := os.Chmod(dst, 0o444); err != nil {
			return fmt.Errorf("kernel cache: %w", err)
		}
		if err := syncFile(dst); err != nil {
			return fmt.Errorf("kernel cache: %w", err)
		}
	}
	metaJSON, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{{keyFile, in.Text()}, {metaFile, append(metaJSON, '\n')}}
	for _, f := range files {
		if err := atomicfile.WriteFileAll(filepath.Join(outDir, f.name), f.data, 0o444); err != nil {
			return fmt.Errorf("kernel cache: %w", err)
		}
	}
	dst := l.kernelDir(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("kernel cache: %w", err)
	}
	if err := os.Rename(outDir, dst); err != nil {
		if _, ok, _ := readCached(l, key); ok {
			os.RemoveAll(outDir) // someone else stored it (rename loses, entry wins)
			return nil
		}
		return fmt.Errorf("kernel cache: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}

// stepLine matches kbuild's short progress lines ("  CC      init/main.o",
// "  LD [M]  foo.ko"), one per build step (scripts/Kbuild.include,
// quiet_cmd_*).
var stepLine = regexp.MustCompile(`^  [A-Z][A-Z0-9_]*( \[M\])?\s+\S`)

// tailLines is how many lines of make output a failure reports.
const tailLines = 30

// runMake runs make with stdout and stderr merged, copies every line to
// the log, hands it to onLine (step reports whether it is a kbuild step
// line) and, on failure, returns the last lines of the output. Output is
// consumed by exec's copying goroutine (one at a time, as Stdout and
// Stderr are the same writer), so WaitDelay bounds the wait for a pipe
// held open by a stray grandchild.
func runMake(ctx context.Context, argv, env []string, logw io.Writer, logPath string, onLine func(line string, step bool)) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	setProcessGroup(cmd)
	out := &lineWriter{log: logw, onLine: onLine}
	cmd.Stdout, cmd.Stderr = out, out
	fmt.Fprintf(logw, "$ %s\n", strings.Join(argv, " "))
	err := cmd.Run()
	out.flush()
	target := argv[len(argv)-1]
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("kernel build: make %s: %w", target, ctxErr)
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("kernel build: make %s: %w", target, err)
		}
		return fmt.Errorf("kernel build: make %s failed (%v); full log in %s; last lines:\n%s",
			target, err, logPath, strings.Join(out.tail, "\n"))
	}
	return nil
}

// lineWriter splits make's output into lines.
type lineWriter struct {
	log     io.Writer
	onLine  func(line string, step bool)
	partial []byte
	tail    []string
}

// maxLine bounds a line kept in memory; longer lines are cut.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.log.Write(p)
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if room := maxLine - len(w.partial); room > 0 {
				w.partial = append(w.partial, rest[:min(room, len(rest))]...)
			}
			break
		}
		if room := maxLine - len(w.partial); room > 0 {
			w.partial = append(w.partial, rest[:min(room, i)]...)
		}
		w.emit()
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) emit() {
	line := strings.TrimRight(string(w.partial), "\r")
	w.partial = w.partial[:0]
	if len(w.tail) == tailLines {
		w.tail = append(w.tail[:0], w.tail[1:]...)
	}
	w.tail = append(w.tail, line)
	w.onLine(line, stepLine.MatchString(line))
}

// flush emits a last line without a newline.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.emit()
	}
}
