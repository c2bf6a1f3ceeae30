// Package builder turns a recipe into a build directory: it compiles the
// services and the init, gets the kernel (built from source through package
// kernel, cached, or a prebuilt file), lays out the root file system, and
// writes the initramfs and/or disk image plus manifest.json with the sha256
// of every artifact and input.
//
// The output directory appears whole or not at all: everything is written
// into a temporary directory next to it and renamed into place at the end.
// Outputs are reproducible: the same recipe and inputs give byte-identical
// artifacts (sorted archive entries, fixed mtimes from SOURCE_DATE_EPOCH or
// 0, no build ids or paths in binaries).
package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	turboimage "github.com/turbo-image/turbo-image"
	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/kernel"
	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/host/sbom"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// Options configure one build.
type Options struct {
	// Recipe is the path of the recipe file.
	Recipe string
	// Out is the build directory to create (replaced if it exists and is a
	// previous build).
	Out string
	// Version, if set, overrides the recipe's version.
	Version string
	// Kernel, if set, is a prebuilt kernel image that overrides the recipe's
	// kernel section.
	Kernel string
	// CacheDir holds cached kernels and inits (required; the CLI passes
	// DefaultCacheDir of its environment).
	CacheDir string
	// Go is the go command. Default "go".
	Go string
	// SourceDateEpoch is the mtime of every archive entry (seconds).
	SourceDateEpoch int64
	// SystemdBoot, if set, is the systemd-boot EFI binary for disk images
	// (default: the recipe's disk.systemd_boot, else DefaultSystemdBoot).
	SystemdBoot string
	// SystemdStub, if set, is systemd's EFI stub for the uki and iso
	// outputs (default: DefaultSystemdStub of the recipe's arch).
	SystemdStub string
	// SecureBoot, if set, signs every EFI binary the build writes (the
	// kernel, systemd-boot on the disk, the UKI) with sbsign.
	SecureBoot *SecureBoot
	// Progress, if set, receives progress events.
	Progress func(Progress)
	// BuilderVersion is turbo-image's version, recorded in the
	// provenance (the CLI passes its own; "" leaves it out).
	BuilderVersion string
	// Outputs, if set, replaces the recipe's outputs (a subset of
	// recipe.AllOutputs): `turbo-image dev` builds only the initramfs a
	// jail runs.
	Outputs []string
	// Compression, if set, replaces the recipe's initramfs compression:
	// `turbo-image dev` builds "none", as its initramfs never leaves the
	// machine and is unpacked at once (zstd at its best level was the
	// larger half of a warm rebuild).
	Compression string
	// NoAttestations leaves the SBOM and the provenance out of the build
	// (and so out of its manifest): `turbo-image dev`'s builds are
	// scratch, never released, and asking dpkg about the kernel source
	// on every save costs more than the rest of the packing.
	NoAttestations bool
}

// Progress is one progress event.
type Progress struct {
	Step string // "recipe", "services", "init", "kernel", "sign", "initramfs", "uki", "iso", "disk", "sbom", "manifest", "done"
	// Stage is the part of the step at hand, for steps made of parts: the
	// kernel's "wait", "unpack", "config", "compile" (kernel.Progress).
	Stage  string
	Detail string
	// Done and Total are set for steps with a known amount of work,
	// counted in Unit: "bytes", "steps" (the kernel's compile steps) or
	// "services".
	Done, Total int
	Unit        string
}

// Result describes a finished build.
type Result struct {
	Dir          string
	Manifest     *manifest.Manifest
	KernelCached bool
	Duration     time.Duration
}

// Artifact names inside a build directory.
const (
	KernelFile   = manifest.SlotKernel
	InitramfsPre = "initramfs" // + compression extension, e.g. initramfs.cpio.zst
)

// DefaultCacheDir returns the cache folder an environment names:
// $TURBO_CACHE, else $XDG_CACHE_HOME/turbo-image (the XDG Base Directory
// rule: only an absolute XDG_CACHE_HOME counts), else
// $HOME/.cache/turbo-image. getenv reads the caller's environment (the CLI
// passes its Env, a test a map), so a library never consults the process
// environment behind its caller's back.
func DefaultCacheDir(getenv func(string) string) (string, error) {
	if d := getenv("TURBO_CACHE"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "turbo-image"), nil
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "turbo-image"), nil
	}
	return "", errors.New("no cache directory: set TURBO_CACHE, XDG_CACHE_HOME or HOME")
}

// Build runs a whole build.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	progress := func(p Progress) {
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.CacheDir == "" {
		return nil, errors.New("no cache directory (Options.CacheDir; see DefaultCacheDir)")
	}
	if o.Out == "" {
		return nil, errors.New("no output directory")
	}
	outAbs, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, fmt.Errorf("output folder %s: %w", o.Out, err)
	}
	recipeDir, err := filepath.Abs(filepath.Dir(o.Recipe))
	if err != nil {
		return nil, err
	}
	cacheAbs, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return nil, err
	}
	// The output is checked before any work, and again when it is replaced.
	protect := []string{recipeDir, cacheAbs}
	if err := OutputProblem(outAbs, protect...); err != nil {
		return nil, err
	}
	for _, p := range cleanStale(filepath.Dir(outAbs), outputTempPrefix(outAbs)) {
		progress(Progress{Step: "cleanup", Detail: "removed " + p + ", left by an interrupted build"})
	}
	progress(Progress{Step: "recipe", Detail: o.Recipe})
	recipeBytes, err := os.ReadFile(o.Recipe)
	if err != nil {
		return nil, err
	}
	r, err := recipe.Parse(o.Recipe, recipeBytes)
	if err != nil {
		return nil, err
	}
	if o.Version != "" {
		if !manifest.ValidVersion(o.Version) {
			return nil, fmt.Errorf("--version %q: must be %s", o.Version, manifest.VersionRule)
		}
		r.Version = o.Version
	}
	if o.Outputs != nil {
		for _, out := range o.Outputs {
			if !slices.Contains(recipe.AllOutputs(), out) {
				return nil, fmt.Errorf("output %q: want one of %s", out, strings.Join(recipe.AllOutputs(), ", "))
			}
		}
		r.Outputs = o.Outputs
	}
	if err := preflight(o, r); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	goversion, err := goVersion(ctx, o.Go)
	if err != nil {
		return nil, err
	}

	for _, p := range append(cleanStale(o.CacheDir, workPrefix), cleanStale(o.CacheDir, initSrcPrefix)...) {
		progress(Progress{Step: "cleanup", Detail: "removed " + p + ", left by an interrupted build"})
	}
	workDir, err := newTempDir(o.CacheDir, workPrefix)
	if err != nil {
		return nil, err
	}
	defer workDir.remove()
	work := workDir.path

	inputs := []manifest.File{manifest.Digest("recipe", recipeBytes)}

	// Services.
	services := make([][]byte, len(r.Services))
	for i, s := range r.Services {
		what := "go build " + s.Package + " for " + s.Name
		if s.Binary != "" {
			what = "prebuilt binary of " + s.Name
		}
		progress(Progress{Step: "services", Detail: what, Done: i, Total: len(r.Services), Unit: "services"})
		b, err := serviceBinary(ctx, o.Go, r, i, s, filepath.Join(work, "svc-"+s.Name))
		if err != nil {
			return nil, err // it names the recipe's file, line and field
		}
		services[i] = b
		inputs = append(inputs, manifest.Digest("service:"+s.Name, b))
	}

	// Init: one for the self-contained initramfs, and one with disk support
	// (creating the data file system) for the disk slots.
	progress(Progress{Step: "init", Detail: "turbo-init for " + r.Arch})
	var initBin, slotInitBin []byte
	if r.Has(recipe.OutputInitramfs) || r.Has(recipe.OutputUKI) || r.Has(recipe.OutputISO) {
		if initBin, err = buildInit(ctx, o.Go, o.CacheDir, goversion, r.Arch, initTags(r, false)); err != nil {
			return nil, err
		}
		inputs = append(inputs, manifest.Digest("init", initBin))
	}
	if r.Has(recipe.OutputDisk) {
		if slotInitBin, err = buildInit(ctx, o.Go, o.CacheDir, goversion, r.Arch, initTags(r, true)); err != nil {
			return nil, err
		}
		inputs = append(inputs, manifest.Digest("init:slot", slotInitBin))
	}

	// Kernel.
	kern, err := getKernel(ctx, o, r, progress)
	if err != nil {
		return nil, err
	}
	inputs = append(inputs, kern.inputs...)

	// Files and the root file system.
	files, fileInputs, err := fileRecords(r)
	if err != nil {
		return nil, err
	}
	for _, f := range fileInputs {
		inputs = append(inputs, manifest.Digest(f.name, f.data))
	}
	app := appRecords(r, services, files)
	kd := sha256.Sum256(kern.image)
	id := buildID(app, hex.EncodeToString(kd[:]))
	trusted, trustedText, err := readTrustedKeys(r.Update.TrustedKeys)
	if err != nil {
		return nil, err
	}
	tokenSHA, err := agentTokenSHA(r)
	if err != nil {
		return nil, err
	}
	// Secure Boot: the kernel is signed once, for every place it goes
	// (the kernel artifact, the disk's slots, the UKI).
	sign := func(data []byte, name string) ([]byte, error) {
		if o.SecureBoot == nil {
			return data, nil
		}
		progress(Progress{Step: "sign", Detail: name})
		return sbsign(ctx, o.SecureBoot, data, work, name)
	}
	if kern.image, err = sign(kern.image, "the kernel"); err != nil {
		return nil, err
	}
	ic := initConfig(r, id, trusted, tokenSHA)
	if err := followConfig(r, ic); err != nil {
		return nil, err
	}
	cfg, err := ic.Marshal()
	if err != nil {
		return nil, fmt.Errorf("init config: %w", err)
	}

	tmpDir, err := newOutputDir(outAbs)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if committed {
			tmpDir.lock.Close()
		} else {
			tmpDir.remove()
		}
	}()
	tmpOut := tmpDir.path
	out := &outputs{dir: tmpOut}
	add := out.add
	header := &manifest.Manifest{
		Schema: manifest.Schema, Name: r.Name, Version: r.Version, Arch: r.Arch, BuildID: id,
		Cmdline: Cmdline(r), Tries: r.Update.Tries, TrustedKeys: trustedText,
		Toolchain: manifest.Toolchain{Go: goversion, CC: kern.cc, KernelRelease: kern.release},
	}
	if err := add(KernelFile, kern.image); err != nil {
		return nil, err
	}
	compName := r.Compression
	if o.Compression != "" {
		compName = o.Compression
	}
	comp, err := initramfs.ParseCompression(compName)
	if err != nil {
		return nil, err
	}
	archOpts := initramfs.Options{MTime: o.SourceDateEpoch, KeepOwners: true}
	if initBin != nil {
		progress(Progress{Step: "initramfs"})
		recs := append(append([]initramfs.Record{}, app...),
			initramfs.File("init", 0o755, initBin),
			initramfs.File(strings.TrimPrefix(initconfigPath, "/"), 0o644, cfg),
			initramfs.File("etc/turbo/build-id", 0o644, []byte(id+"\n")),
		)
		data, used, err := compressedArchive(recs, archOpts, comp)
		if err != nil {
			return nil, err // the initramfs package names itself ("initramfs: record ...")
		}
		if r.Has(recipe.OutputInitramfs) {
			if err := add(InitramfsPre+used.Extension(), data); err != nil {
				return nil, err
			}
		}
		if r.Has(recipe.OutputUKI) || r.Has(recipe.OutputISO) {
			progress(Progress{Step: "uki"})
			in, err := buildUKI(o, r, kern, data, out, sign)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, in)
		}
	}
	if r.Has(recipe.OutputDisk) {
		progress(Progress{Step: "disk"})
		if err := buildDisk(r, o, app, slotInitBin, cfg, id, kern.image, comp, archOpts, out, header, sign); err != nil {
			return nil, err
		}
		if err := convertDisk(r, o, out); err != nil {
			return nil, err
		}
	}

	var facts *sbom.Facts
	if !o.NoAttestations {
		progress(Progress{Step: "sbom"})
		if facts, err = sbomFacts(ctx, o, r, id, services, initBin, slotInitBin, kern, fileInputs); err != nil {
			return nil, fmt.Errorf("sbom: %w", err)
		}
		sb, err := sbom.SPDX(facts)
		if err != nil {
			return nil, err
		}
		if err := add(sbom.FileName, sb); err != nil {
			return nil, err
		}
	}

	progress(Progress{Step: "manifest"})
	m := *header
	m.Artifacts, m.Inputs = out.artifacts, inputs
	m.GoBinaries = goBinaries(r, services, initBin, slotInitBin)
	mb, err := (&m).Marshal()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFileAll(filepath.Join(tmpOut, manifest.FileName), mb, 0o644); err != nil {
		return nil, err
	}
	if facts != nil {
		pv, err := provenanceEnvelope(o, &m, mb, facts)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFileAll(filepath.Join(tmpOut, provenance.FileName), pv, 0o644); err != nil {
			return nil, err
		}
	}
	if err := commitOutputDir(tmpDir, outAbs, protect...); err != nil {
		return nil, err
	}
	committed = true
	progress(Progress{Step: "done", Detail: o.Out})
	return &Result{Dir: o.Out, Manifest: &m, KernelCached: kern.cached, Duration: time.Since(start)}, nil
}

const initconfigPath = "/etc/turbo/init.json"

// preflight checks, before any work, the inputs that come from flags or
// defaults rather than the recipe (the recipe checker has checked its
// own): a --kernel image, the boot loader of a disk image and the kernel
// source. Each must be what its use needs, so a wrong file is refused now
// instead of after the build, or installed as is.
func preflight(o Options, r *recipe.Recipe) error {
	if err := checkSecureBoot(o.SecureBoot); err != nil {
		return err
	}
	if o.Kernel != "" {
		b, err := os.ReadFile(o.Kernel)
		if err != nil {
			return fmt.Errorf("--kernel: %w", err)
		}
		if err := recipe.CheckKernelImage(b, r.Arch); err != nil {
			return fmt.Errorf("--kernel %s %w", o.Kernel, err)
		}
	} else if r.Kernel.Prebuilt == "" {
		if _, err := os.Stat(r.Kernel.Source); err != nil {
			return fmt.Errorf("kernel source %s: %w (on Debian: apt-get install linux-source-6.1, or set kernel.prebuilt / --kernel)", r.Kernel.Source, err)
		}
		if cc := KernelCC(r.Arch, runtime.GOARCH); cc != "gcc" {
			if _, err := exec.LookPath(cc); err != nil {
				return fmt.Errorf("an %s kernel built on this %s host needs the cross compiler %s: %w (on Debian: apt-get install gcc-%s; or set kernel.prebuilt / --kernel)",
					r.Arch, runtime.GOARCH, cc, err, strings.TrimSuffix(strings.ReplaceAll(cc, "_", "-"), "-gcc"))
			}
		}
	}
	if r.Has(recipe.OutputUKI) || r.Has(recipe.OutputISO) {
		p, from := systemdStub(o, r)
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("uki: systemd-stub (%s): %w (install Debian's systemd-boot-efi, or give its path with --systemd-stub)", from, err)
		}
		if err := recipe.CheckEFIApp(b, r.Arch); err != nil {
			return fmt.Errorf("uki: systemd-stub %s (%s) %w", p, from, err)
		}
	}
	if r.Has(recipe.OutputDisk) {
		p, from := systemdBoot(o, r)
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("disk: systemd-boot (%s): %w (install Debian's systemd-boot-efi, or give its path with --systemd-boot or disk.systemd_boot)", from, err)
		}
		if err := recipe.CheckEFIApp(b, r.Arch); err != nil {
			return fmt.Errorf("disk: systemd-boot %s (%s) %w", p, from, err)
		}
	}
	return nil
}

// systemdBoot returns the boot loader a disk image gets and where that
// choice comes from.
func systemdBoot(o Options, r *recipe.Recipe) (path, from string) {
	switch {
	case o.SystemdBoot != "":
		return o.SystemdBoot, "--systemd-boot"
	case r.Disk.SystemdBoot != "":
		return r.Disk.SystemdBoot, "disk.systemd_boot"
	case r.Arch == "arm64":
		return DefaultSystemdBootAA64, "the default"
	}
	return DefaultSystemdBoot, "the default"
}

// workPrefix names the build's work directories in the cache.
const workPrefix = "work-"

// outputs collects the artifacts written into the temporary build
// directory, with their digests.
type outputs struct {
	dir       string
	artifacts []manifest.File
	// uki is the UKI once built (the uki output, and the ISO's payload).
	uki []byte
}

// add writes an artifact from memory.
func (o *outputs) add(name string, data []byte) error {
	if err := atomicfile.WriteFileAll(filepath.Join(o.dir, name), data, 0o644); err != nil {
		return err
	}
	o.artifacts = append(o.artifacts, manifest.Digest(name, data))
	return nil
}

// addWith lets write create the artifact at a path, then digests it.
func (o *outputs) addWith(name string, write func(path string) error) error {
	p := filepath.Join(o.dir, name)
	if err := write(p); err != nil {
		return err
	}
	d, err := manifest.DigestFile(name, p)
	if err != nil {
		return err
	}
	o.artifacts = append(o.artifacts, d)
	return nil
}

// Cmdline is the kernel command line a build boots with: serial console,
// reboot one second after a panic (which costs a boot try), then the
// recipe's own words. On x86 the reboot is a triple fault (reboot=t): the
// default order tries ACPI and the keyboard controller first, which on
// QEMU's microvm (no reset register, no i8042) left a panicked kernel
// spinning instead of rebooting; a triple fault resets every x86 machine.
//
// On arm64 the console is -M virt's PL011 (ttyAMA0, the name the kernel's
// amba-pl011 driver gives it) and a panic reboots through PSCI
// SYSTEM_RESET, which every arm64 VM has.
func Cmdline(r *recipe.Recipe) string {
	words := []string{"console=ttyS0", "panic=1"}
	switch r.Arch {
	case "amd64":
		words = append(words, "reboot=t")
	case "arm64":
		words[0] = "console=ttyAMA0"
	}
	return strings.Join(append(words, r.Cmdline...), " ")
}

// compressedArchive writes recs as a newc archive compressed with c, and
// returns it with the compression used: c itself, or for initramfs.Auto the
// one its uncompressed size resolves to (the artifact's extension follows
// it).
func compressedArchive(recs []initramfs.Record, opts initramfs.Options, c initramfs.Compression) ([]byte, initramfs.Compression, error) {
	var raw bytes.Buffer
	if err := initramfs.WriteArchive(&raw, recs, opts); err != nil {
		return nil, "", err
	}
	c = c.Resolve(int64(raw.Len()))
	if c == initramfs.None {
		return raw.Bytes(), c, nil
	}
	var buf bytes.Buffer
	w, err := initramfs.NewCompressor(&buf, c)
	if err != nil {
		return nil, "", err
	}
	if _, err := w.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), c, nil
}

// serviceBinary builds a Go service or reads and checks a prebuilt one.
func serviceBinary(ctx context.Context, gobin string, r *recipe.Recipe, index int, s recipe.Service, out string) ([]byte, error) {
	if s.Binary != "" {
		where := fmt.Sprintf("%s:%d: services[%d].binary", r.File, s.Line, index)
		b, err := os.ReadFile(s.Binary)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := CheckStaticELF(b, r.Arch); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, s.Binary, err)
		}
		return b, nil
	}
	// A build error names the recipe's line and field: the usual mistake
	// is in the recipe (a version that does not exist, a package path).
	where := fmt.Sprintf("%s:%d: services[%d].package", r.File, s.Line, index)
	switch {
	case s.Version != "":
		if err := goInstall(ctx, gobin, s.Package, s.Version, out, r.Arch, out+".gopath"); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	case s.PackageDir != "":
		if err := goBuild(ctx, gobin, s.PackageDir, ".", out, r.Arch, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	default:
		mod, err := goModOf(ctx, gobin, r.Dir)
		if err != nil {
			return nil, err
		}
		if mod == "" {
			return nil, fmt.Errorf("%s: %s has no version and the recipe's folder is in no Go module: write %s@latest (or @vX.Y.Z) to build it like go install does, or add a go.mod that requires its module", where, s.Package, s.Package)
		}
		if err := goBuild(ctx, gobin, r.Dir, s.Package, out, r.Arch, nil); err != nil {
			return nil, fmt.Errorf("%s: %w (the module's version comes from %s)", where, err, mod)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	if err := CheckStaticELF(b, r.Arch); err != nil {
		return nil, fmt.Errorf("%s: %s built a binary that is not static: %w", where, s.Package, err)
	}
	return b, nil
}

type kernelResult struct {
	image   []byte
	cached  bool
	cc      string
	release string
	inputs  []manifest.File
	// prebuilt is true for a kernel image given by --kernel or the recipe.
	prebuilt bool
}

// getKernel returns the kernel image: a prebuilt file (flag or recipe), or
// one built from source through the cache.
func getKernel(ctx context.Context, o Options, r *recipe.Recipe, progress func(Progress)) (*kernelResult, error) {
	prebuilt := o.Kernel
	if prebuilt == "" {
		prebuilt = r.Kernel.Prebuilt
	}
	if prebuilt != "" {
		progress(Progress{Step: "kernel", Detail: "prebuilt " + prebuilt})
		b, err := os.ReadFile(prebuilt)
		if err != nil {
			return nil, fmt.Errorf("kernel: %w", err)
		}
		return &kernelResult{image: b, cached: true, prebuilt: true, inputs: []manifest.File{manifest.Digest("kernel:prebuilt", b)}}, nil
	}
	var frags []kernel.Fragment
	for _, f := range r.Kernel.Fragments {
		if f.Builtin != "" {
			b, err := turboimage.KernelFragments.ReadFile(turboimage.KernelFragmentPath(f.Builtin, r.Arch))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: kernel.fragments: no shipped fragment %q for %s", r.File, f.Line, f.Builtin, r.Arch)
			}
			frags = append(frags, kernel.Fragment{Name: "builtin:" + f.Builtin, Data: b})
			continue
		}
		b, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: kernel.fragments: %w", r.File, f.Line, err)
		}
		rel, _ := filepath.Rel(r.Dir, f.Path)
		frags = append(frags, kernel.Fragment{Name: filepath.ToSlash(rel), Data: b})
	}
	cc := KernelCC(r.Arch, runtime.GOARCH)
	spec := kernel.Spec{
		Source: r.Kernel.Source, Base: r.Kernel.Base, Fragments: frags, Arch: r.Arch, CC: cc,
		CacheDir: filepath.Join(o.CacheDir, "kernel"),
		Progress: func(p kernel.Progress) {
			ev := Progress{Step: "kernel", Stage: p.Stage, Detail: p.Stage + ": " + p.Line, Done: p.Done, Total: p.Total}
			switch {
			case p.Total == 0 && p.Done == 0:
			case p.Stage == "unpack": // KiB of the tarball
				ev.Done, ev.Total, ev.Unit = p.Done<<10, p.Total<<10, "bytes"
			default:
				ev.Unit = "steps"
			}
			progress(ev)
		},
	}
	progress(Progress{Step: "kernel", Detail: "looking up " + r.Kernel.Base + " + fragments"})
	res, err := kernel.Build(ctx, spec)
	if err != nil {
		return nil, err
	}
	img, err := os.ReadFile(res.Image)
	if err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(res.Config)
	if err != nil {
		return nil, err
	}
	return &kernelResult{
		image: img, cached: res.Cached, cc: ccVersion(ctx, cc), release: res.Release,
		inputs: []manifest.File{manifest.Digest("kernel:config", cfg), {Name: "kernel:cache-key", SHA256: res.Key, Size: 0}},
	}, nil
}

// KernelCC is the C compiler that builds a kernel for goarch on a host of
// hostArch: the host's gcc, or Debian's cross compiler
// (gcc-aarch64-linux-gnu, gcc-x86-64-linux-gnu), whose "<triplet>-" prefix
// package kernel also passes to kbuild as CROSS_COMPILE.
func KernelCC(goarch, hostArch string) string {
	if goarch == hostArch {
		return "gcc"
	}
	if goarch == "arm64" {
		return "aarch64-linux-gnu-gcc"
	}
	return "x86_64-linux-gnu-gcc"
}

func ccVersion(ctx context.Context, cc string) string {
	b, err := exec.CommandContext(ctx, cc, "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

// readTrustedKeys reads ed25519 public key files as written by
// `turbo-image keygen`.
func readTrustedKeys(paths []string) (keys [][]byte, text []string, err error) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("update.trusted_keys: %w", err)
		}
		k, err := signing.ParsePublicKey(p, b)
		if err != nil {
			return nil, nil, fmt.Errorf("update.trusted_keys: %w", err)
		}
		keys = append(keys, []byte(k.Key))
		text = append(text, strings.TrimSpace(string(k.MarshalText())))
	}
	return keys, text, nil
}

// followConfig adds update.channels and update.follow to the init's
// config: the channels' public keys and the follow settings with the CA
// bundle's bytes (the appliance has no files of the build machine).
func followConfig(r *recipe.Recipe, c *initconfig.Config) error {
	for name, paths := range r.Update.Channels {
		keys, _, err := readTrustedKeys(paths)
		if err != nil {
			return fmt.Errorf("update.channels.%s: %w", name, err)
		}
		if c.Update.Channels == nil {
			c.Update.Channels = map[string][][]byte{}
		}
		c.Update.Channels[name] = keys
	}
	f := r.Update.Follow
	if f == nil {
		return nil
	}
	fc := &initconfig.Follow{Registry: f.Registry, Repository: f.Repository, Channel: f.Channel,
		Interval: initconfig.Duration(f.Interval), PlainHTTP: f.PlainHTTP}
	if f.CAFile != "" {
		b, err := os.ReadFile(f.CAFile)
		if err != nil {
			return fmt.Errorf("update.follow.ca: %w", err)
		}
		fc.CA = b
	}
	c.Update.Follow = fc
	return nil
}

func agentTokenSHA(r *recipe.Recipe) (string, error) {
	if r.Update.Agent == nil {
		return "", nil
	}
	b, err := os.ReadFile(r.Update.Agent.TokenFile)
	if err != nil {
		return "", fmt.Errorf("update.agent.token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("update.agent.token_file %s: token is shorter than 16 characters", r.Update.Agent.TokenFile)
	}
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:]), nil
}
