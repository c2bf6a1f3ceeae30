// Package manifest reads and writes manifest.json, the record of a build:
// the sha256 and size of every artifact the build produced and of every
// input that went into it.
//
// The manifest is what gets signed (see the signing package) and what a
// flash verifies payloads against, so its bytes must be a pure function of
// the build's inputs: entries are sorted, there are no timestamps and no
// absolute paths.
package manifest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// FileName is the manifest's name inside a build directory.
const FileName = "manifest.json"

// Schema is the manifest format version.
const Schema = 1

// Manifest describes one build.
type Manifest struct {
	Schema  int    `json:"schema"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// BuildID identifies the slot root file system and is baked into the
	// init's config, binding kernel, initramfs and root together.
	BuildID string `json:"build_id"`
	// Cmdline is the kernel command line the build boots with (without the
	// per-slot and per-VMM parts).
	Cmdline string `json:"cmdline"`
	// Tries is how many boot attempts a freshly flashed slot gets.
	Tries int `json:"tries"`
	// TrustedKeys are the release keys (public key files' text, see package
	// signing) whose signature an update of this appliance must carry.
	// Empty: updates need not be signed.
	TrustedKeys []string  `json:"trusted_keys,omitempty"`
	Artifacts   []File    `json:"artifacts"`
	Inputs      []File    `json:"inputs"`
	Toolchain   Toolchain `json:"toolchain"`
	// GoBinaries lists every Go program in the build (services and the
	// init) with the module versions it was built from, as the binary's
	// own build information says (debug/buildinfo, what `go version -m`
	// prints): the resolved version of a service built from
	// "pkg@latest" is here. Sorted by Name; empty for a build without Go
	// programs.
	GoBinaries []GoBinary `json:"go_binaries,omitempty"`
}

// GoBinary is one Go program of a build and the modules in it.
type GoBinary struct {
	Name      string   `json:"name"`           // the input it is, e.g. "service:web" or "init"
	GoVersion string   `json:"go"`             // the Go release that built it, e.g. "go1.26.8"
	Package   string   `json:"package"`        // its main package, e.g. "github.com/nats-io/nats-server/v2"
	Main      Module   `json:"main"`           // the main module; version "(devel)" for a local module
	Deps      []Module `json:"deps,omitempty"` // every other module linked in, as the binary lists them
}

// Module is a module path and version, with its go.sum hash when known.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	Sum     string `json:"sum,omitempty"`
	// Replace is the module that replaced this one (a go.mod replace
	// directive), if any.
	Replace *Module `json:"replace,omitempty"`
}

// File is one artifact or input.
type File struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Toolchain records the tools a build used.
type Toolchain struct {
	Go            string `json:"go"`
	CC            string `json:"cc,omitempty"`
	KernelRelease string `json:"kernel_release,omitempty"`
}

// The appliance name and version rules have their one home here: a
// recipe's name and version, build --version and every manifest read from
// outside are checked by them. They keep both safe in file names, boot
// entry titles and terminal lines (no spaces, no line ends).
const (
	// NameRule says in words what ValidName accepts, for error messages.
	NameRule = "1-32 lower-case letters, digits or -, starting with a letter or digit"
	// VersionRule says in words what ValidVersion accepts.
	VersionRule = "1-64 letters, digits or . + ~ _ -, starting with a letter or digit"
)

// NamePattern and VersionPattern are the regular expressions of
// ValidName and ValidVersion (for the recipe's JSON Schema).
const (
	NamePattern    = `^[a-z0-9][a-z0-9-]{0,31}$`
	VersionPattern = `^[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}$`
)

// ValidName reports whether s is an appliance name.
func ValidName(s string) bool { return applianceRE().MatchString(s) }

// ValidVersion reports whether v is a release version.
func ValidVersion(v string) bool { return versionRE().MatchString(v) }

// The expressions are compiled on first use, not at package init:
// turbo-init links this package (for the slot's build digest) and never
// validates a manifest on an ordinary boot, and compiling five expressions
// at start-up cost it 17 ms under TCG (GODEBUG=inittrace=1), on the boot's
// critical path.
var (
	nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/+-]*$`) })
	hexRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}$`) })
	// See ValidName and ValidVersion.
	applianceRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(NamePattern) })
	versionRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(VersionPattern) })
	buildIDRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9A-Za-z._-]{0,128}$`) })
)

// MaxCmdline is the longest command line a manifest may carry: the x86
// kernel's COMMAND_LINE_SIZE (2048, arch/x86/include/asm/setup.h) less
// room for the per-slot words a boot entry adds.
const MaxCmdline = 1900

// Arches are the architectures a build can be for.
var arches = []string{"amd64", "arm64"}

// Digest returns the File record for data.
func Digest(name string, data []byte) File {
	s := sha256.Sum256(data)
	return File{Name: name, SHA256: hex.EncodeToString(s[:]), Size: int64(len(data))}
}

// DigestFile hashes the file at path, streaming.
func DigestFile(name, path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("hash %s: %w", path, err)
	}
	return File{Name: name, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// Artifact returns the artifact named name.
func (m *Manifest) Artifact(name string) (File, bool) {
	for _, a := range m.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return File{}, false
}

// Slot payloads: what a disk slot consists of. A flash writes exactly these.
const (
	SlotKernel = "kernel"
	SlotRoot   = "root.squashfs"
	// SlotInitramfsPrefix starts the slot initramfs's name; the
	// compression extension follows ("slot-initramfs.cpio.zst").
	SlotInitramfsPrefix = "slot-initramfs."
)

// SlotUKIPrefix starts the name of a slot's Unified Kernel Image, the
// boot entry of a disk built with disk.boot_entries: uki: "slot-a.efi" and
// "slot-b.efi" (each names its own slot on its command line).
const SlotUKIPrefix = "slot-"

// SlotUKIName is the artifact name of slot's UKI.
func SlotUKIName(slot string) string { return SlotUKIPrefix + slot + ".efi" }

// SlotUKI returns the UKI a flash into slot writes as its Type #2 boot
// entry; ok is false for a build with Type #1 entries.
func (m *Manifest) SlotUKI(slot string) (File, bool) {
	return m.Artifact(SlotUKIName(slot))
}

// SlotPayloads returns the artifacts that make up a disk slot, in the order
// a flash writes them: root, kernel, initramfs. ok is false if the build
// has no disk slot.
func (m *Manifest) SlotPayloads() (root, kernel, initramfs File, ok bool) {
	for _, a := range m.Artifacts {
		switch {
		case a.Name == SlotRoot:
			root = a
		case a.Name == SlotKernel:
			kernel = a
		case strings.HasPrefix(a.Name, SlotInitramfsPrefix):
			initramfs = a
		}
	}
	return root, kernel, initramfs, root.Name != "" && kernel.Name != "" && initramfs.Name != ""
}

// Slot returns the manifest of one disk slot: m without inputs and with
// only the slot's payloads. It is kept on the ESP next to the slot's
// kernel, so a later flash knows what the slot runs (name, version, arch,
// trusted keys) without reading the slot.
func (m *Manifest) Slot() *Manifest {
	s := *m
	s.Inputs = nil
	s.Artifacts = nil
	if r, k, i, ok := m.SlotPayloads(); ok {
		s.Artifacts = []File{r, k, i}
	}
	return &s
}

// BuildDigest is the digest an appliance reports as build=sha256:… on
// TURBO_READY: the sha256 of the slot manifest's canonical bytes (Slot,
// Marshal), the file a disk slot keeps on the ESP as <slot>/manifest.json.
// It pins the name, version, build id, command line, trusted keys and the
// sha256 of the slot's root, kernel and initramfs, and it is the same
// number for a local build, a pulled one and a slot flashed from either:
// the appliance reads it from its ESP, the host computes it from any
// build's manifest.json. (The registry's OCI digest cannot be baked into
// the image: the image's bytes are inside the manifest it would name.)
func (m *Manifest) BuildDigest() (string, error) {
	b, err := m.Slot().Marshal()
	if err != nil {
		return "", err
	}
	return SlotManifestDigest(b), nil
}

// SlotManifestDigest is BuildDigest of a slot manifest's bytes.
func SlotManifestDigest(slotManifest []byte) string {
	h := sha256.Sum256(slotManifest)
	return "sha256:" + hex.EncodeToString(h[:])
}

// Marshal returns the canonical bytes of m: sorted lists, indented,
// trailing newline.
func (m *Manifest) Marshal() ([]byte, error) {
	c := *m
	c.Artifacts = sorted(m.Artifacts)
	c.Inputs = sorted(m.Inputs)
	c.GoBinaries = append([]GoBinary(nil), m.GoBinaries...)
	sort.Slice(c.GoBinaries, func(i, j int) bool { return c.GoBinaries[i].Name < c.GoBinaries[j].Name })
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func sorted(fs []File) []File {
	out := append([]File(nil), fs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Parse decodes and validates a manifest; unknown fields are rejected.
func Parse(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("manifest: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Load reads dir/manifest.json (a regular file, see OpenRegular) without
// checking the artifacts; LoadDir checks them too.
func Load(dir string) (*Manifest, []byte, error) {
	p := filepath.Join(dir, FileName)
	data, err := ReadRegular(context.Background(), p, MaxManifestBytes)
	if err != nil {
		return nil, nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, data, nil
}

// Validate checks the manifest's invariants.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if m.Schema != Schema {
		bad("schema %d, want %d", m.Schema, Schema)
	}
	if m.Name == "" || m.Version == "" || m.Arch == "" {
		bad("name, version and arch are required")
	}
	// Every field that reaches a boot entry (title, version, options) or
	// a terminal is checked here, on parse: a value with a line break
	// would add lines of its own to the entry (issue 9, defect 8).
	if m.Name != "" && !ValidName(m.Name) {
		bad("name %s: want %s", quote(m.Name), NameRule)
	}
	if m.Version != "" && !ValidVersion(m.Version) {
		bad("version %s: want %s", quote(m.Version), VersionRule)
	}
	if m.Arch != "" && !slices.Contains(arches, m.Arch) {
		bad("arch %s: want one of %s", quote(m.Arch), strings.Join(arches, ", "))
	}
	if !buildIDRE().MatchString(m.BuildID) {
		bad("build_id %s: want up to 128 of A-Z, a-z, 0-9 and ._-", quote(m.BuildID))
	}
	if err := ValidateCmdline(m.Cmdline); err != nil {
		bad("cmdline: %v", err)
	}
	for i, k := range m.TrustedKeys {
		if !printable(k) {
			bad("trusted_keys[%d]: line breaks or control characters", i)
		}
	}
	for _, f := range []struct{ name, v string }{{"go", m.Toolchain.Go}, {"cc", m.Toolchain.CC}, {"kernel_release", m.Toolchain.KernelRelease}} {
		if !printable(f.v) || len(f.v) > 256 {
			bad("toolchain.%s: line breaks, control characters or more than 256 bytes", f.name)
		}
	}
	if m.Tries < 0 || m.Tries > 9 {
		bad("tries %d out of range 0..9", m.Tries)
	}
	check := func(kind string, fs []File) {
		seen := map[string]bool{}
		for _, f := range fs {
			if !nameRE().MatchString(f.Name) || !filepath.IsLocal(f.Name) && kind == "artifact" {
				bad("%s name %q is not allowed", kind, f.Name)
			}
			if seen[f.Name] {
				bad("%s %q listed twice", kind, f.Name)
			}
			seen[f.Name] = true
			if !hexRE().MatchString(f.SHA256) {
				bad("%s %q: sha256 must be 64 lowercase hex digits", kind, f.Name)
			}
			if f.Size < 0 {
				bad("%s %q: negative size", kind, f.Name)
			}
		}
	}
	if len(m.Artifacts) == 0 {
		bad("no artifacts")
	}
	check("artifact", m.Artifacts)
	check("input", m.Inputs)
	seenBin := map[string]bool{}
	for i, g := range m.GoBinaries {
		if !nameRE().MatchString(g.Name) || seenBin[g.Name] {
			bad("go_binaries[%d]: name %q is not allowed or listed twice", i, g.Name)
		}
		seenBin[g.Name] = true
		mods := append([]Module{g.Main}, g.Deps...)
		for _, md := range mods {
			if md.Replace != nil {
				mods = append(mods, *md.Replace)
			}
		}
		texts := []string{g.GoVersion, g.Package}
		for _, md := range mods {
			texts = append(texts, md.Path, md.Version, md.Sum)
		}
		for _, t := range texts {
			if !printable(t) || len(t) > 512 || strings.ContainsAny(t, " \t") {
				bad("go_binaries[%d] (%s): %s: spaces, line breaks, control characters or more than 512 bytes", i, quote(g.Name), quote(t))
				break
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("manifest: %w", errors.Join(errs...))
	}
	return nil
}

// ValidateCmdline checks a kernel command line for a boot entry's options
// line: valid UTF-8, words separated by single spaces, no control
// characters (a line break would end the options line and start a key of
// its own), at most MaxCmdline bytes, and no turbo.slot= word (the slot is
// the entry's to set: the first such word wins, see slots.SlotOf).
func ValidateCmdline(s string) error {
	switch {
	case len(s) > MaxCmdline:
		return fmt.Errorf("%d bytes, more than %d", len(s), MaxCmdline)
	case !printable(s):
		return fmt.Errorf("%s has line breaks, control characters or invalid UTF-8", quote(s))
	case strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") || strings.Contains(s, "  "):
		return fmt.Errorf("%s: words must be separated by single spaces", quote(s))
	}
	for _, w := range strings.Fields(s) {
		if strings.HasPrefix(w, "turbo.slot=") {
			return fmt.Errorf("%s is set by the flash, not by the build", quote(w))
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters
// or Unicode line and paragraph separators.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
	}) < 0
}

// quote renders a value for an error message, escaped and shortened.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}
