package kernel

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// compression is a tarball's compression, detected from its first bytes.
type compression string

const (
	compNone  compression = "none"
	compXZ    compression = "xz"
	compGzip  compression = "gzip"
	compZstd  compression = "zstd"
	compBzip2 compression = "bzip2"
)

// detectCompression looks at the magic numbers of xz, gzip, zstd and bzip2
// and at the "ustar" magic of a plain tar header.
func detectCompression(head []byte) (compression, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}):
		return compXZ, nil
	case bytes.HasPrefix(head, []byte{0x1F, 0x8B}):
		return compGzip, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xB5, 0x2F, 0xFD}):
		return compZstd, nil
	case bytes.HasPrefix(head, []byte("BZh")):
		return compBzip2, nil
	case len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")):
		return compNone, nil
	}
	return "", errors.New("not a tar archive compressed with xz, gzip, zstd or bzip2")
}

// hashingReader hashes and counts what is read through it. With xz it is
// read by exec's stdin goroutine, so the count is atomic; the hash is read
// only after that goroutine is done (cmd.Wait).
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n atomic.Int64
}

func (u *hashingReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if n > 0 {
		u.h.Write(p[:n])
		u.n.Add(int64(n))
	}
	return n, err
}

// unpackTarball extracts the tarball into dst (which must not exist),
// checking on the way that its content hash is wantSum. xz is decompressed
// by the host's xz (Go's xz decoder takes ~90 s for the 138 MB kernel
// tarball, xz ~6 s); gzip, zstd and bzip2 are decompressed in Go. The tar
// stream is read with archive/tar so that every path is checked: entries
// must stay inside dst, never through a symbolic link, and links must point
// inside the tree.
func unpackTarball(ctx context.Context, tarball, dst, wantSum string, report func(Progress)) (err error) {
	f, err := os.Open(tarball)
	if err != nil {
		return fmt.Errorf("kernel source: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("kernel source: %w", err)
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	comp, err := detectCompression(head[:n])
	if err != nil {
		return fmt.Errorf("kernel source %s: %w", tarball, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("kernel source: %w", err)
	}
	counter := &hashingReader{r: ctxio.Reader(ctx, f), h: sha256.New()}
	total, lastPct := fi.Size(), int64(-1)

	var stream io.Reader
	var wait func() error
	switch comp {
	case compNone:
		stream = counter
	case compGzip:
		zr, err := gzip.NewReader(counter)
		if err != nil {
			return fmt.Errorf("kernel source %s: %w", tarball, err)
		}
		defer zr.Close()
		stream = zr
	case compZstd:
		zr, err := zstd.NewReader(counter)
		if err != nil {
			return fmt.Errorf("kernel source %s: %w", tarball, err)
		}
		defer zr.Close()
		stream = zr
	case compBzip2:
		stream = bzip2.NewReader(counter)
	case compXZ:
		xzPath, err := exec.LookPath("xz")
		if err != nil {
			return fmt.Errorf("kernel source %s is xz-compressed: %w (install xz-utils)", tarball, err)
		}
		cmd := exec.CommandContext(ctx, xzPath, "-dc")
		cmd.Stdin = counter
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("kernel source: starting xz: %w", err)
		}
		stream = out
		wait = func() error {
			if err := cmd.Wait(); err != nil {
				return fmt.Errorf("xz: %w: %s", err, strings.TrimSpace(stderr.String()))
			}
			return nil
		}
		defer func() {
			if wait != nil { // not waited yet: an error happened
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		}()
	}

	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("kernel source: %w", err)
	}
	x := &extractor{root: dst, symlinks: map[string]bool{}, dirs: map[string]bool{".": true}}
	tr := tar.NewReader(bufio.NewReaderSize(stream, 1<<20))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("kernel source %s: reading tar: %w", tarball, err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("kernel source %s: %s: %w", tarball, hdr.Name, err)
		}
		if done := counter.n.Load(); total > 0 && done*100/total > lastPct {
			lastPct = done * 100 / total
			report(Progress{Stage: "unpack", Line: hdr.Name, Done: int(done >> 10), Total: int(total >> 10)})
		}
	}
	if err := x.checkSymlinks(); err != nil {
		return fmt.Errorf("kernel source %s: %w", tarball, err)
	}
	// Drain the decompressor (tar padding) so that all input is hashed.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return fmt.Errorf("kernel source %s: %w", tarball, err)
	}
	if wait != nil {
		w := wait
		wait = nil
		if err := w(); err != nil {
			return fmt.Errorf("kernel source %s: %w", tarball, err)
		}
	}
	if _, err := io.Copy(io.Discard, counter); err != nil {
		return fmt.Errorf("kernel source %s: %w", tarball, err)
	}
	if got := hex.EncodeToString(counter.h.Sum(nil)); got != wantSum {
		return fmt.Errorf("kernel source %s changed while it was unpacked (sha256 %s, expected %s)", tarball, got, wantSum)
	}
	return nil
}

// maxUnpackBytes bounds the bytes an archive may unpack to (Linux 6.1
// unpacks to 1.4 GB), so that a corrupt or hostile archive (e.g. a sparse
// entry claiming terabytes) cannot fill the disk.
const maxUnpackBytes = 16 << 30

// extractor writes tar entries below root.
type extractor struct {
	written  int64 // bytes of file content written so far
	root     string
	symlinks map[string]bool // relative paths of symlinks created
	dirs     map[string]bool // relative paths of directories known to exist
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return nil // metadata (e.g. git archive's pax_global_header)
	}
	name, err := x.checkPath(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil
	}
	full := filepath.Join(x.root, filepath.FromSlash(name))
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.mkdirs(name); err != nil {
			return err
		}
	case tar.TypeReg:
		if err := x.mkdirs(path.Dir(name)); err != nil {
			return err
		}
		perm := fs.FileMode(0o644)
		if hdr.Mode&0o111 != 0 {
			perm = 0o755
		}
		if hdr.Size < 0 || hdr.Size > maxUnpackBytes-x.written {
			return fmt.Errorf("archive unpacks to more than %d bytes", int64(maxUnpackBytes))
		}
		x.written += hdr.Size
		f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		if _, err := io.CopyN(f, r, hdr.Size); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if !hdr.ModTime.IsZero() {
			if err := os.Chtimes(full, hdr.ModTime, hdr.ModTime); err != nil {
				return err
			}
		}
	case tar.TypeSymlink:
		target := hdr.Linkname
		if target == "" || path.IsAbs(target) || !fs.ValidPath(path.Join(path.Dir(name), target)) {
			return fmt.Errorf("symbolic link to %q leaves the tree", target)
		}
		if err := x.mkdirs(path.Dir(name)); err != nil {
			return err
		}
		if err := os.Symlink(target, full); err != nil {
			return err
		}
		x.symlinks[name] = true
	case tar.TypeLink:
		target, err := x.checkPath(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link: %w", err)
		}
		if err := x.mkdirs(path.Dir(name)); err != nil {
			return err
		}
		if err := os.Link(filepath.Join(x.root, filepath.FromSlash(target)), full); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	return nil
}

// checkPath cleans an entry name and rejects names that leave the tree or
// pass through a symbolic link created earlier.
func (x *extractor) checkPath(name string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(name, "./"))
	if clean == "." || clean == "" {
		return ".", nil
	}
	if !fs.ValidPath(clean) {
		return "", fmt.Errorf("path %q leaves the tree", name)
	}
	for p := path.Dir(clean); p != "."; p = path.Dir(p) {
		if x.symlinks[p] {
			return "", fmt.Errorf("path %q goes through symbolic link %q", name, p)
		}
	}
	if x.symlinks[clean] {
		return "", fmt.Errorf("path %q is already a symbolic link", name)
	}
	return clean, nil
}

// checkSymlinks resolves every symbolic link once the tree is complete:
// each link's target was checked lexically when it was created, but a
// chain through links created later (a/up -> .., b -> a/up/..) could still
// point outside. Dangling links are left alone.
func (x *extractor) checkSymlinks() error {
	root, err := filepath.EvalSymlinks(x.root)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(x.symlinks))
	for name := range x.symlinks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		resolved, err := filepath.EvalSymlinks(filepath.Join(x.root, filepath.FromSlash(name)))
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(root, resolved); err != nil || (rel != "." && !filepath.IsLocal(rel)) {
			return fmt.Errorf("symbolic link %s resolves to %s, outside the tree", name, resolved)
		}
	}
	return nil
}

// mkdirs creates a relative directory and its parents.
func (x *extractor) mkdirs(rel string) error {
	if x.dirs[rel] {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(x.root, filepath.FromSlash(rel)), 0o755); err != nil {
		return err
	}
	for p := rel; p != "." && !x.dirs[p]; p = path.Dir(p) {
		x.dirs[p] = true
	}
	return nil
}

// prepareSource returns the path of the unpacked source tree: the tree
// itself for a directory source (which must be clean), or
// <cache>/src/<sha256> for a tarball, unpacking it once under a lock.
func prepareSource(ctx context.Context, s Spec, sum string, r reporter) (string, error) {
	l := layout{s.CacheDir}
	ai := archTable[s.Arch]
	fi, err := os.Stat(s.Source)
	if err != nil {
		return "", fmt.Errorf("kernel source: %w", err)
	}
	if fi.IsDir() {
		if err := checkCleanTree(s.Source, ai.srcArch); err != nil {
			return "", err
		}
		return s.Source, nil
	}
	dst := l.srcDir(sum)
	if isKernelTree(dst) {
		return dst, nil
	}
	unlock, err := acquireLock(ctx, l.lock("src-"+sum), r, "waiting for another process unpacking "+s.Source)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isKernelTree(dst) {
		return dst, nil
	}
	tmp := l.tmp("src-" + sum)
	if err := os.RemoveAll(tmp); err != nil { // left over by a crash; we hold the lock
		return "", fmt.Errorf("kernel cache: %w", err)
	}
	r.report(Progress{Stage: "unpack", Line: s.Source})
	if err := unpackTarball(ctx, s.Source, tmp, sum, r.report); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	// Kernel tarballs hold one top-level directory (linux-6.1.192/,
	// linux-source-6.1/); the tree is that directory.
	tree := tmp
	if entries, err := os.ReadDir(tmp); err == nil && len(entries) == 1 && entries[0].IsDir() {
		tree = filepath.Join(tmp, entries[0].Name())
	}
	if !isKernelTree(tree) {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("kernel source %s: no Makefile and Kconfig at the top of the archive (not a Linux source tarball?)", s.Source)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := os.RemoveAll(dst); err != nil { // an incomplete leftover
		return "", err
	}
	if err := os.Rename(tree, dst); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("kernel cache: %w", err)
	}
	os.RemoveAll(tmp)
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return "", err
	}
	return dst, nil
}

func isKernelTree(dir string) bool {
	for _, f := range []string{"Makefile", "Kconfig"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// checkCleanTree applies kbuild's own test (the outputmakefile rule of the
// top Makefile): an out-of-tree build (O=) refuses a source tree holding a
// configuration or generated files.
func checkCleanTree(tree, srcArch string) error {
	if !isKernelTree(tree) {
		return fmt.Errorf("kernel source %s: no Makefile and Kconfig (not a Linux source tree?)", tree)
	}
	for _, p := range []string{".config", "include/config", "arch/" + srcArch + "/include/generated"} {
		if _, err := os.Lstat(filepath.Join(tree, p)); err == nil {
			return fmt.Errorf("kernel source tree %s is not clean (%s exists): run 'make mrproper' there, or build from the tarball", tree, p)
		}
	}
	return nil
}
