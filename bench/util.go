package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/vmm"
)

// modulePath is the module path of the repository the benchmark measures.
const modulePath = "github.com/turbo-image/turbo-image"

// findRepoRoot walks up from dir to the directory whose go.mod declares
// modulePath.
func findRepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && goModModule(b) == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of %s above %s: run from the repository (make bench)", modulePath, dir)
		}
	}
}

// goModModule returns the module path a go.mod declares.
func goModModule(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// runCmd runs a command; on failure the error carries the last lines of
// its output. extraEnv is added to (and overrides) the environment. Output
// also goes to log when it is not nil.
func runCmd(ctx context.Context, dir string, extraEnv []string, log io.Writer, name string, args ...string) error {
	_, err := runOutput(ctx, dir, extraEnv, log, name, args...)
	return err
}

// runOutput is runCmd returning the command's standard output.
func runOutput(ctx context.Context, dir string, extraEnv []string, log io.Writer, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	// On cancellation ask politely first: debootstrap unmounts what it
	// mounted in its target when it gets SIGTERM, not on SIGKILL.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Dir = dir
	cmd.Env = mergeEnv(os.Environ(), extraEnv)
	var stdout bytes.Buffer
	tail := &vmm.Tail{MaxBytes: 4 << 10}
	outs := []io.Writer{&stdout, tail}
	errs := []io.Writer{tail}
	if log != nil {
		outs = append(outs, log)
		errs = append(errs, log)
	}
	cmd.Stdout = io.MultiWriter(outs...)
	cmd.Stderr = io.MultiWriter(errs...)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(tail.String()))
	}
	return stdout.String(), nil
}

// mergeEnv returns base with the KEY=value entries of extra replacing or
// adding variables; an entry "KEY" without "=" removes KEY.
func mergeEnv(base, extra []string) []string {
	drop := map[string]bool{}
	for _, e := range extra {
		k, _, _ := strings.Cut(e, "=")
		drop[k] = true
	}
	var out []string
	for _, e := range base {
		k, _, _ := strings.Cut(e, "=")
		if !drop[k] {
			out = append(out, e)
		}
	}
	for _, e := range extra {
		if strings.Contains(e, "=") {
			out = append(out, e)
		}
	}
	return out
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileSHA256 is the hex SHA-256 of a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// keyOf hashes the lines that determine a cached item into a short key.
func keyOf(lines ...string) string {
	return sha256Hex([]byte(strings.Join(lines, "\n")))[:24]
}

// fileSize is the apparent size of a file.
func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// uncompressedSize is the size of an initramfs (zstd, gzip, legacy lz4 or
// plain newc) once decompressed.
func uncompressedSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, _, err := initramfs.Decompress(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// kernelLoadedSize is a bzImage's init_size.
func kernelLoadedSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	hdr := make([]byte, minHeaderLen)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	n, err := KernelInitSize(hdr)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return int64(n), nil
}

// treeBytes sums the sizes of the regular files below dir.
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// copySparse copies a (sparse) disk image, keeping its holes.
func copySparse(ctx context.Context, src, dst string) error {
	return runCmd(ctx, "", nil, nil, "cp", "--sparse=always", "--reflink=auto", src, dst)
}

// MountsUnder returns the mount points in a /proc/self/mounts text that
// are dir or below it (fields are space-separated; spaces, tabs, newlines
// and backslashes in paths are octal escapes, proc_pid_mounts(5)).
func MountsUnder(mounts, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		mp := unescapeMount(f[1])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount decodes the \NNN octal escapes of a mounts field.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts everything mounted at or below dir, deepest first
// (what an interrupted debootstrap leaves in its target).
func unmountUnder(ctx context.Context, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	m, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	mps := MountsUnder(string(m), abs)
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	for _, mp := range mps {
		if err := runCmd(ctx, "", nil, nil, "umount", mp); err != nil {
			return err
		}
	}
	return nil
}

// removeTree deletes a directory tree, but refuses when anything is
// mounted inside it (a chroot with /proc or /dev still bound must never be
// deleted recursively).
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if m, err := os.ReadFile("/proc/self/mounts"); err == nil {
		if mps := MountsUnder(string(m), abs); len(mps) > 0 {
			return fmt.Errorf("not removing %s: %s still mounted inside (unmount it first)", abs, strings.Join(mps, ", "))
		}
	}
	return os.RemoveAll(abs)
}
