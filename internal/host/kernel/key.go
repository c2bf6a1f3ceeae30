package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/turbo-image/turbo-image/internal/format/kconfig"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// formatVersion is hashed into every cache key. Bump it whenever the build
// procedure, the make environment or the cache layout changes, so that old
// entries are never mistaken for new ones.
const formatVersion = 1

// cacheKeyInputs is everything the cache key covers. Its Text is stored next to
// each cached kernel (key.txt) to show what went into the key.
type cacheKeyInputs struct {
	// Source identifies the kernel source by content: "tarball sha256:<hex>"
	// or "tree sha256:<hex>".
	Source string
	// Base is the base configuration target ("tinyconfig", "defconfig").
	Base string
	// Arch is the GOARCH of the kernel.
	Arch string
	// Compiler is the first line of `$CC --version`.
	Compiler string
	// Machine is the output of `$CC -dumpmachine`.
	Machine string
	// Linker is the first line of `${CROSS_COMPILE}ld --version`.
	Linker string
	// Epoch is the build timestamp (seconds since 1970) given to kbuild.
	Epoch int64
	// Options are the merged fragment options, in application order.
	Options []kconfig.Option
}

// Text is the canonical, line-oriented serialization that is hashed. Option
// sources and line numbers are not part of it: renaming a fragment file
// does not change the kernel.
func (k cacheKeyInputs) Text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "turbo-image kernel cache key format %d\n", formatVersion)
	fmt.Fprintf(&b, "source %s\n", oneLine(k.Source))
	fmt.Fprintf(&b, "base %s\n", oneLine(k.Base))
	fmt.Fprintf(&b, "arch %s\n", oneLine(k.Arch))
	fmt.Fprintf(&b, "cc %s\n", oneLine(k.Compiler))
	fmt.Fprintf(&b, "cc-machine %s\n", oneLine(k.Machine))
	fmt.Fprintf(&b, "ld %s\n", oneLine(k.Linker))
	fmt.Fprintf(&b, "epoch %d\n", k.Epoch)
	fmt.Fprintf(&b, "options %d\n", len(k.Options))
	b.Write(kconfig.FormatOptions(k.Options))
	return b.Bytes()
}

// Key is the hex SHA-256 of Text.
func (k cacheKeyInputs) Key() string {
	sum := sha256.Sum256(k.Text())
	return hex.EncodeToString(sum[:])
}

// oneLine keeps a free-form value from forging extra lines in Text.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

// cacheKey computes the cache key of a spec without building anything. It
// hashes the source (memoized, see the package documentation), parses the
// fragments and asks the compiler for its identity.
func cacheKey(ctx context.Context, spec Spec) (string, error) {
	s, err := normalize(spec)
	if err != nil {
		return "", err
	}
	in, _, err := keyInputs(ctx, s)
	if err != nil {
		return "", err
	}
	return in.Key(), nil
}

// keyInputs gathers the key inputs; it also returns the source's content
// hash (needed to find the unpacked tree).
func keyInputs(ctx context.Context, s Spec) (cacheKeyInputs, string, error) {
	opts, err := mergeFragments(s.Fragments)
	if err != nil {
		return cacheKeyInputs{}, "", fmt.Errorf("kernel fragments: %w", err)
	}
	// An unclean tree cannot be built out of tree; say so before hashing it.
	if fi, err := os.Stat(s.Source); err == nil && fi.IsDir() {
		if err := checkCleanTree(s.Source, archTable[s.Arch].srcArch); err != nil {
			return cacheKeyInputs{}, "", err
		}
	}
	kind, sum, err := sourceIdentity(ctx, s.Source, layout{s.CacheDir})
	if err != nil {
		return cacheKeyInputs{}, "", err
	}
	tc, err := toolchainIdentity(ctx, s)
	if err != nil {
		return cacheKeyInputs{}, "", err
	}
	return cacheKeyInputs{
		Source:   kind + " sha256:" + sum,
		Base:     s.Base,
		Arch:     s.Arch,
		Compiler: tc.compiler,
		Machine:  tc.machine,
		Linker:   tc.linker,
		Epoch:    s.SourceDateEpoch,
		Options:  opts,
	}, sum, nil
}

type toolchain struct {
	compiler, machine, linker string
}

// toolchainIdentity runs `$CC --version`, `$CC -dumpmachine` and
// `${CROSS_COMPILE}ld --version`, and checks that the compiler targets the
// requested architecture.
func toolchainIdentity(ctx context.Context, s Spec) (toolchain, error) {
	ai := archTable[s.Arch]
	cc := strings.Fields(s.CC)
	env := makeEnv(os.Environ(), s.SourceDateEpoch)
	version, err := firstLine(ctx, env, cc, "--version")
	if err != nil {
		return toolchain{}, fmt.Errorf("kernel compiler %q: %w (install gcc, or set Spec.CC)", s.CC, err)
	}
	machine, err := firstLine(ctx, env, cc, "-dumpmachine")
	if err != nil {
		return toolchain{}, fmt.Errorf("kernel compiler %q: %w", s.CC, err)
	}
	if !strings.HasPrefix(machine, ai.machinePrefix) {
		return toolchain{}, fmt.Errorf("kernel compiler %q targets %s, not %s: set Spec.CC to a compiler for %s (e.g. %s-linux-gnu-gcc)",
			s.CC, machine, s.Arch, ai.machinePrefix, ai.machinePrefix)
	}
	linker, err := firstLine(ctx, env, []string{crossCompilePrefix(s.CC) + "ld"}, "--version")
	if err != nil {
		linker = "unavailable: " + err.Error()
	}
	return toolchain{compiler: version, machine: machine, linker: linker}, nil
}

// firstLine runs argv+arg and returns the first line of its output.
func firstLine(ctx context.Context, env, argv []string, arg string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:len(argv):len(argv)], arg)...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("running %s %s: %w", strings.Join(argv, " "), arg, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

// crossCompilePrefix derives CROSS_COMPILE from a compiler command such
// as "aarch64-linux-gnu-gcc" ("aarch64-linux-gnu-"); "" for "gcc".
func crossCompilePrefix(cc string) string {
	f := strings.Fields(cc)
	if len(f) == 0 {
		return ""
	}
	prog := f[len(f)-1] // "ccache aarch64-linux-gnu-gcc" -> the compiler
	dir, base := filepath.Split(prog)
	for _, suffix := range []string{"gcc", "cc"} {
		if p, ok := strings.CutSuffix(base, suffix); ok && strings.HasSuffix(p, "-") {
			return dir + p
		}
	}
	return ""
}

// sourceMemo is the memo of a source's content hash, stored as JSON in
// <cache>/srchash/. It is trusted only while the file (or the tree's stat
// fingerprint) is unchanged.
type sourceMemo struct {
	Format  int    `json:"format"`
	Path    string `json:"path"`
	Kind    string `json:"kind"` // "tarball" or "tree"
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	CtimeNS int64  `json:"ctime_ns"`
	Inode   uint64 `json:"inode"`
	Device  uint64 `json:"device"`
	// Fingerprint is the hash of the tree's stat data (trees only).
	Fingerprint string `json:"fingerprint,omitempty"`
	SHA256      string `json:"sha256"`
}

// sourceIdentity returns the source kind ("tarball" or "tree") and its
// content hash, using and refreshing the memo.
func sourceIdentity(ctx context.Context, source string, l layout) (kind, sum string, err error) {
	fi, err := os.Stat(source)
	if err != nil {
		return "", "", fmt.Errorf("kernel source: %w", err)
	}
	kind = "tarball"
	if fi.IsDir() {
		kind = "tree"
	} else if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("kernel source %s: not a regular file or directory", source)
	}
	id := statIdentity(fi)
	memo := sourceMemo{
		Format: formatVersion, Path: source, Kind: kind,
		Size: fi.Size(), MtimeNS: fi.ModTime().UnixNano(), CtimeNS: id.ctimeNS, Inode: id.inode, Device: id.device,
	}
	if kind == "tree" {
		memo.Size, memo.MtimeNS, memo.CtimeNS = 0, 0, 0 // the fingerprint covers the tree
		fp, err := treeFingerprint(ctx, source)
		if err != nil {
			return "", "", err
		}
		memo.Fingerprint = fp
	}
	memoPath := l.sourceMemo(source)
	if old, err := readSourceMemo(memoPath); err == nil {
		cmp := old
		cmp.SHA256 = ""
		if cmp == memo && len(old.SHA256) == 64 {
			return kind, old.SHA256, nil
		}
	}
	if kind == "tree" {
		sum, err = hashTree(ctx, source)
	} else {
		sum, err = hashFile(ctx, source)
	}
	if err != nil {
		return "", "", err
	}
	memo.SHA256 = sum
	data, err := json.MarshalIndent(memo, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteFileAll(memoPath, append(data, '\n'), 0o644); err != nil {
		return "", "", fmt.Errorf("kernel cache: writing source hash memo: %w", err)
	}
	return kind, sum, nil
}

func readSourceMemo(path string) (sourceMemo, error) {
	var m sourceMemo
	data, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(data, &m)
	return m, err
}

func hashFile(ctx context.Context, path string) (string, error) {
	d, err := ctxio.FileSHA256(ctx, path)
	if err != nil {
		return "", fmt.Errorf("kernel source: %w", err)
	}
	return d, nil
}

// skipInTree reports entries of a source tree that are not hashed: VCS
// metadata, which does not affect the build (LOCALVERSION is set empty).
func skipInTree(d fs.DirEntry) bool {
	return d.IsDir() && (d.Name() == ".git" || d.Name() == ".hg" || d.Name() == ".svn")
}

// treeFingerprint hashes the stat data (path, mode, size, mtime, ctime,
// inode) of every entry of a tree. It is cheap compared with hashing the
// content and changes whenever a file is modified.
func treeFingerprint(ctx context.Context, root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if skipInTree(d) {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		id := statIdentity(fi)
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%q %o %d %d %d %d\n", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), id.ctimeNS, id.inode)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("kernel source tree %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashTree hashes a tree's content: for every entry in lexical order its
// relative path and type, the executable bit and content hash of regular
// files, and the target of symbolic links.
func hashTree(ctx context.Context, root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if skipInTree(d) {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			fmt.Fprintf(h, "dir %q\n", rel)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "symlink %q %q\n", rel, target)
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			sum, err := hashFile(ctx, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %q %t %s\n", rel, fi.Mode()&0o111 != 0, sum)
		default:
			fmt.Fprintf(h, "other %q %s\n", rel, strconv.Quote(t.String()))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("kernel source tree %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
