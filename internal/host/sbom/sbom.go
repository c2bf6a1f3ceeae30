// Package sbom writes a build's software bill of materials: SPDX 2.3 JSON
// (the file sbom.spdx.json in every build folder) and, converted from it,
// CycloneDX 1.6 JSON. Both are produced by the formats' maintained Go
// libraries (github.com/spdx/tools-golang, github.com/CycloneDX/cyclonedx-go)
// from plain data structures; no JSON is written by hand.
//
// What goes in (Facts) is what the builder knows to be true of the build:
// the Go module lists come from the build information the Go linker put in
// each binary (debug/buildinfo, the data `go version -m` prints), so they
// describe what was linked, not what a go.mod asked for.
//
// The output is a pure function of the facts: the document namespace and
// the CycloneDX serial number are derived from the appliance's name,
// version and build id (a name-based UUID, RFC 9562 section 5.5), the
// creation time is SOURCE_DATE_EPOCH (or 0), and components and
// relationships are sorted. Nothing reads the clock or a random source.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// FileName is the SBOM's name inside a build folder.
const FileName = "sbom.spdx.json"

// Binary is one program in the image.
type Binary struct {
	// Role names it: "init", "init:slot" or "service:NAME".
	Role string
	// Path is where it lies in the image ("/init", "/bin/hello").
	Path string
	// Data is the ELF file as installed.
	Data []byte
	// Prebuilt is true for a binary the recipe gave (not compiled here).
	Prebuilt bool
}

// Deb names a Debian package, as dpkg records it.
type Deb struct {
	Name, Version, Arch string
	// Source is the source package, if it differs from Name.
	Source string
}

// Kernel describes the kernel image.
type Kernel struct {
	SHA256 string
	// Release is the kernel release (uname -r), "" for a prebuilt image.
	Release string
	// ConfigSHA256 is the digest of the merged .config ("" if prebuilt).
	ConfigSHA256 string
	// Source is the Debian package the source tree came from, if known.
	Source Deb
	// Prebuilt is true for a kernel image given by the recipe or --kernel.
	Prebuilt bool
}

// Bootloader describes systemd-boot of a disk image.
type Bootloader struct {
	SHA256 string
	// Package is the Debian package the file belongs to, if known.
	Package Deb
}

// File is one file the recipe put in the image.
type File struct {
	Path, SHA256 string
}

// Facts are what an SBOM is made from.
type Facts struct {
	Name, Version, Arch, BuildID string
	// Tool is the creator, e.g. "turbo-image-v0.3.0".
	Tool string
	// Created is SOURCE_DATE_EPOCH (seconds since 1970, UTC).
	Created    int64
	Binaries   []Binary
	Kernel     Kernel
	Bootloader *Bootloader // nil without a disk image
	Files      []File
}

// Purposes of SPDX packages (SPDX 2.3 section 7.24) used here.
const (
	purposeApplication = "APPLICATION"
	purposeLibrary     = "LIBRARY"
	purposeOS          = "OPERATING_SYSTEM"
	purposeFirmware    = "FIRMWARE"
	purposeFile        = "FILE"
	purposeSource      = "SOURCE"
)

// component is one SPDX package before it is rendered.
type component struct {
	key                   string // unique; the SPDX id is derived from it
	name, version, purl   string
	cpe                   string // CPE 2.3 name, for scanners that match by it (the kernel)
	sha256, purpose, note string
}

// Namespace returns the SPDX document namespace of a build: a URN with a
// name-based UUID of the build's identity (no random part).
func Namespace(f *Facts) string { return "urn:uuid:" + docUUID(f).String() }

func docUUID(f *Facts) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("turbo-image:"+f.Name+":"+f.Version+":"+f.Arch+":"+f.BuildID))
}

// SPDX returns the SPDX 2.3 JSON document of a build.
func SPDX(f *Facts) ([]byte, error) {
	doc, err := spdxDoc(f)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return buf.Bytes(), nil
}

func spdxDoc(f *Facts) (*spdx.Document, error) {
	if f.Name == "" || f.Version == "" {
		return nil, errors.New("sbom: name and version are required")
	}
	comps := map[string]component{}
	var rels [][2]string // container key, contained key
	addComp := func(c component) string {
		comps[c.key] = c
		return c.key
	}
	root := addComp(component{key: "appliance", name: f.Name, version: f.Version, purpose: purposeOS,
		note: "turbo-image appliance, arch " + f.Arch + ", build id " + f.BuildID})
	contains := func(a, b string) { rels = append(rels, [2]string{a, b}) }

	for _, b := range f.Binaries {
		bk, err := addBinary(b, addComp, contains)
		if err != nil {
			return nil, err
		}
		contains(root, bk)
	}

	k := f.Kernel
	kc := component{key: "kernel", name: "linux", version: k.Release, sha256: k.SHA256, purpose: purposeOS}
	if k.Prebuilt {
		kc.note = "prebuilt kernel image given by the recipe or --kernel; its source and version are not known to turbo-image"
	} else {
		kc.note = "kernel image built by turbo-image from source"
		if k.Release != "" {
			// NVD names the kernel cpe:2.3:o:linux:linux_kernel (NIST IR 7695 naming).
			kc.cpe = "cpe:2.3:o:linux:linux_kernel:" + cpeEscape(k.Release) + ":*:*:*:*:*:*:*"
		}
		if k.ConfigSHA256 != "" {
			kc.note += "; merged .config sha256 " + k.ConfigSHA256
		}
	}
	contains(root, addComp(kc))
	if k.Source.Name != "" {
		src := debComponent("deb-kernel-source", k.Source, purposeSource, "the Debian package the kernel was built from")
		rels = append(rels, [2]string{"gen:" + kc.key, addComp(src)})
	}

	if bl := f.Bootloader; bl != nil {
		c := component{key: "systemd-boot", name: "systemd-boot", sha256: bl.SHA256, purpose: purposeFirmware,
			note: "UEFI boot loader on the disk image's EFI system partition"}
		if bl.Package.Name != "" {
			d := debComponent("", bl.Package, purposeFirmware, "")
			c.name, c.version, c.purl = d.name, d.version, d.purl
			c.note += "; file of Debian package " + bl.Package.Name + " " + bl.Package.Version
		}
		contains(root, addComp(c))
	}

	for _, fl := range f.Files {
		contains(root, addComp(component{key: "file:" + fl.Path, name: fl.Path, sha256: fl.SHA256, purpose: purposeFile,
			note: "file from the recipe"}))
	}

	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      f.Name + "-" + f.Version,
		DocumentNamespace: Namespace(f),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: toolName(f.Tool)}},
			Created:  time.Unix(f.Created, 0).UTC().Format(time.RFC3339),
		},
	}
	keys := make([]string, 0, len(comps))
	for k := range comps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		doc.Packages = append(doc.Packages, spdxPackage(comps[k]))
	}
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(elementID(root))), Relationship: "DESCRIBES",
	})
	seen := map[[2]string]bool{}
	sort.Slice(rels, func(i, j int) bool {
		if rels[i][0] != rels[j][0] {
			return rels[i][0] < rels[j][0]
		}
		return rels[i][1] < rels[j][1]
	})
	for _, r := range rels {
		if seen[r] {
			continue
		}
		seen[r] = true
		typ, a := "CONTAINS", r[0]
		if g, ok := strings.CutPrefix(a, "gen:"); ok {
			typ, a = "GENERATED_FROM", g
		}
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(elementID(a))), RefB: common.MakeDocElementID("", string(elementID(r[1]))), Relationship: typ,
		})
	}
	return doc, nil
}

func toolName(t string) string {
	if t == "" {
		return "turbo-image"
	}
	return t
}

// addBinary records a binary and, if it carries Go build information,
// its main module, every module linked into it and the Go standard
// library of the toolchain that built it.
func addBinary(b Binary, addComp func(component) string, contains func(a, b string)) (string, error) {
	d := sha256.Sum256(b.Data)
	digest := hex.EncodeToString(d[:])
	c := component{key: "bin:" + b.Role, name: strings.TrimPrefix(b.Role, "service:"), sha256: digest, purpose: purposeApplication}
	how := "compiled by turbo-image"
	if b.Prebuilt {
		how = "prebuilt binary from the recipe"
	}
	c.note = fmt.Sprintf("%s at %s in the image (%s)", b.Role, b.Path, how)
	bi, err := buildinfo.Read(bytes.NewReader(b.Data))
	if err != nil {
		if !b.Prebuilt {
			return "", fmt.Errorf("sbom: %s: no Go build information: %w", b.Role, err)
		}
		c.note += "; no Go build information, so its contents are not listed"
		return addComp(c), nil
	}
	if bi.Main.Path != "" {
		c.name, c.version, c.purl = bi.Main.Path, bi.Main.Version, goPURL(bi.Main.Path, bi.Main.Version)
		c.note += "; Go main module"
	}
	bk := addComp(c)
	if bi.GoVersion != "" {
		v := bi.GoVersion
		contains(bk, addComp(component{key: "go:stdlib@" + v, name: "stdlib", version: v,
			purl: goPURL("stdlib", strings.TrimPrefix(v, "go")), purpose: purposeLibrary,
			note: "Go standard library and runtime of toolchain " + v}))
	}
	for _, m := range bi.Deps {
		note := "Go module"
		if m.Replace != nil {
			note = fmt.Sprintf("Go module, replacing %s %s", m.Path, m.Version)
			m = m.Replace
		}
		if m.Sum != "" {
			note += ", go.sum " + m.Sum
		}
		contains(bk, addComp(component{key: "go:" + m.Path + "@" + m.Version, name: m.Path, version: m.Version,
			purl: goPURL(m.Path, m.Version), purpose: purposeLibrary, note: note}))
	}
	return bk, nil
}

// goPURL is a package URL of type golang (purl-spec, types: golang): the
// module path as namespace and name, the version if it is one.
func goPURL(path, version string) string {
	p := "pkg:golang/" + escapePath(path)
	if version != "" && version != "(devel)" {
		p += "@" + url.PathEscape(version)
	}
	return p
}

// escapePath percent-encodes each segment of a module path.
func escapePath(p string) string {
	seg := strings.Split(p, "/")
	for i, s := range seg {
		seg[i] = url.PathEscape(s)
	}
	return strings.Join(seg, "/")
}

// debComponent is a Debian package with a purl of type deb (purl-spec,
// types: deb; "upstream" names the source package, as scanners expect).
func debComponent(key string, d Deb, purpose, note string) component {
	return component{key: key, name: d.Name, version: d.Version, purl: d.PURL(), purpose: purpose, note: note}
}

// PURL is the package URL of a Debian package (purl-spec, type deb):
// pkg:deb/debian/NAME@VERSION?arch=ARCH&upstream=SOURCE.
func (d Deb) PURL() string {
	p := "pkg:deb/debian/" + url.PathEscape(d.Name)
	if d.Version != "" {
		p += "@" + url.PathEscape(d.Version)
	}
	var q []string
	if d.Arch != "" {
		q = append(q, "arch="+url.QueryEscape(d.Arch))
	}
	if d.Source != "" && d.Source != d.Name {
		q = append(q, "upstream="+url.QueryEscape(d.Source))
	}
	if len(q) > 0 {
		p += "?" + strings.Join(q, "&")
	}
	return p
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// elementID is the SPDX id of a component key: a readable part and a
// digest of the key, so two keys that read alike never share an id.
func elementID(key string) common.ElementID {
	if key == "appliance" {
		return "Package-appliance"
	}
	s := sha256.Sum256([]byte(key))
	r := strings.Trim(idUnsafe.ReplaceAllString(key, "-"), "-")
	if len(r) > 64 {
		r = r[:64]
	}
	return common.ElementID("Package-" + r + "-" + hex.EncodeToString(s[:4]))
}

func spdxPackage(c component) *spdx.Package {
	p := &spdx.Package{
		PackageName:               c.name,
		PackageSPDXIdentifier:     elementID(c.key),
		PackageVersion:            c.version,
		PackageDownloadLocation:   "NOASSERTION",
		FilesAnalyzed:             false,
		IsFilesAnalyzedTagPresent: true,
		PackageLicenseConcluded:   "NOASSERTION",
		PackageLicenseDeclared:    "NOASSERTION",
		PackageCopyrightText:      "NOASSERTION",
		PackageComment:            c.note,
		PrimaryPackagePurpose:     c.purpose,
	}
	if c.sha256 != "" {
		p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: c.sha256}}
	}
	if c.purl != "" {
		p.PackageExternalReferences = append(p.PackageExternalReferences, &spdx.PackageExternalReference{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: c.purl})
	}
	if c.cpe != "" {
		p.PackageExternalReferences = append(p.PackageExternalReferences, &spdx.PackageExternalReference{Category: "SECURITY", RefType: "cpe23Type", Locator: c.cpe})
	}
	return p
}

// cpeEscape quotes the characters a CPE 2.3 formatted-string value
// must escape (NIST IR 7695, section 6.2): everything but letters,
// digits, underscore, hyphen and period gets a backslash.
func cpeEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' || r == '.') {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
