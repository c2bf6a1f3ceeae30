package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// MaxBytes bounds an SBOM read from a build folder.
const MaxBytes = 64 << 20

// CycloneDXVersion is the CycloneDX specification version written.
const CycloneDXVersion = cdx.SpecVersion1_6

// ParseSPDX decodes an SPDX 2.3 JSON document (as SPDX writes it) and
// checks what the conversion to CycloneDX relies on: the version, one
// described root package, unique package ids, relationships between
// known elements.
func ParseSPDX(data []byte) (*spdx.Document, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("spdx: %d bytes, more than %d", len(data), MaxBytes)
	}
	var probe struct {
		Version string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("spdx: %w", err)
	}
	if probe.Version != spdx.Version {
		return nil, fmt.Errorf("spdx: spdxVersion %q, want %q", probe.Version, spdx.Version)
	}
	doc, err := unmarshalSPDX(data)
	if err != nil {
		return nil, err
	}
	if doc.CreationInfo == nil {
		return nil, errors.New("spdx: no creationInfo")
	}
	ids := map[common.ElementID]bool{doc.SPDXIdentifier: true}
	for i, p := range doc.Packages {
		if p == nil || p.PackageSPDXIdentifier == "" {
			return nil, fmt.Errorf("spdx: packages[%d]: no SPDXID", i)
		}
		if ids[p.PackageSPDXIdentifier] {
			return nil, fmt.Errorf("spdx: packages[%d]: SPDXID %q used twice", i, p.PackageSPDXIdentifier)
		}
		ids[p.PackageSPDXIdentifier] = true
	}
	described := 0
	for i, r := range doc.Relationships {
		if r == nil {
			return nil, fmt.Errorf("spdx: relationships[%d]: null", i)
		}
		for _, e := range []common.DocElementID{r.RefA, r.RefB} {
			if e.DocumentRefID != "" || e.SpecialID != "" || !ids[e.ElementRefID] {
				return nil, fmt.Errorf("spdx: relationships[%d]: %q is not an element of this document", i, common.RenderDocElementID(e))
			}
		}
		if r.Relationship == "DESCRIBES" && r.RefA.ElementRefID == doc.SPDXIdentifier {
			described++
		}
	}
	if described != 1 {
		return nil, fmt.Errorf("spdx: %d packages described by the document, want 1", described)
	}
	return doc, nil
}

// unmarshalSPDX decodes with the library's types. Its decoder
// (tools-golang v0.5.7, v2_3.Document.UnmarshalJSON) dereferences list
// entries without checking them, so a null package panics (found by
// FuzzCycloneDX): null entries in the lists it walks are refused first,
// and any other panic of the decoder becomes an error.
func unmarshalSPDX(data []byte) (doc *spdx.Document, err error) {
	var lists struct {
		Packages      []*json.RawMessage `json:"packages"`
		Relationships []*json.RawMessage `json:"relationships"`
		Files         []*json.RawMessage `json:"files"`
	}
	if err := json.Unmarshal(data, &lists); err != nil {
		return nil, fmt.Errorf("spdx: %w", err)
	}
	for name, l := range map[string][]*json.RawMessage{"packages": lists.Packages, "relationships": lists.Relationships, "files": lists.Files} {
		for i, e := range l {
			if e == nil || string(*e) == "null" {
				return nil, fmt.Errorf("spdx: %s[%d] is null", name, i)
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("spdx: the decoder failed: %v", r)
		}
	}()
	var d spdx.Document
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("spdx: %w", err)
	}
	return &d, nil
}

// CycloneDX converts an SBOM in SPDX 2.3 JSON (as SPDX returns it) to
// CycloneDX JSON: every SPDX package becomes a component (the described
// one the metadata's component), CONTAINS and GENERATED_FROM become
// dependencies, checksums become hashes, comments descriptions.
func CycloneDX(spdxJSON []byte) ([]byte, error) {
	doc, err := ParseSPDX(spdxJSON)
	if err != nil {
		return nil, err
	}
	var root common.ElementID
	deps := map[string][]string{}
	for _, r := range doc.Relationships {
		switch r.Relationship {
		case "DESCRIBES":
			if r.RefA.ElementRefID == doc.SPDXIdentifier {
				root = r.RefB.ElementRefID
			}
		case "CONTAINS", "GENERATED_FROM":
			a, b := string(r.RefA.ElementRefID), string(r.RefB.ElementRefID)
			deps[a] = append(deps[a], b)
		}
	}
	bom := cdx.NewBOM()
	bom.SerialNumber = serialOf(doc.DocumentNamespace)
	bom.Metadata = &cdx.Metadata{
		Timestamp: doc.CreationInfo.Created,
	}
	var tools []cdx.Component
	for _, c := range doc.CreationInfo.Creators {
		if c.CreatorType == "Tool" {
			tools = append(tools, cdx.Component{Type: cdx.ComponentTypeApplication, Name: c.Creator})
		}
	}
	if len(tools) > 0 {
		bom.Metadata.Tools = &cdx.ToolsChoice{Components: &tools}
	}
	var comps []cdx.Component
	refs := map[string]bool{}
	for _, p := range doc.Packages {
		c := componentOf(p)
		refs[c.BOMRef] = true
		if p.PackageSPDXIdentifier == root {
			bom.Metadata.Component = &c
			continue
		}
		comps = append(comps, c)
	}
	if bom.Metadata.Component == nil {
		return nil, errors.New("spdx: the described element is not a package")
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].BOMRef < comps[j].BOMRef })
	bom.Components = &comps
	var dl []cdx.Dependency
	for ref := range refs {
		on := append([]string(nil), deps[ref]...)
		sort.Strings(on)
		on = compact(on)
		d := cdx.Dependency{Ref: ref}
		if len(on) > 0 {
			d.Dependencies = &on
		}
		dl = append(dl, d)
	}
	sort.Slice(dl, func(i, j int) bool { return dl[i].Ref < dl[j].Ref })
	bom.Dependencies = &dl
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, CycloneDXVersion); err != nil {
		return nil, fmt.Errorf("cyclonedx: %w", err)
	}
	return buf.Bytes(), nil
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// serialOf is the CycloneDX serial number of a document namespace: the
// namespace itself when it is a UUID URN (as SPDX writes it), else a
// name-based UUID of it.
func serialOf(ns string) string {
	if s, ok := strings.CutPrefix(ns, "urn:uuid:"); ok {
		if u, err := uuid.Parse(s); err == nil {
			return "urn:uuid:" + u.String()
		}
	}
	return "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(ns)).String()
}

var typeOf = map[string]cdx.ComponentType{
	purposeApplication: cdx.ComponentTypeApplication,
	purposeLibrary:     cdx.ComponentTypeLibrary,
	purposeOS:          cdx.ComponentTypeOS,
	purposeFirmware:    cdx.ComponentTypeFirmware,
	purposeFile:        cdx.ComponentTypeFile,
	purposeSource:      cdx.ComponentTypeLibrary,
}

func componentOf(p *spdx.Package) cdx.Component {
	t, ok := typeOf[p.PrimaryPackagePurpose]
	if !ok {
		t = cdx.ComponentTypeLibrary
	}
	c := cdx.Component{
		BOMRef:      string(p.PackageSPDXIdentifier),
		Type:        t,
		Name:        p.PackageName,
		Version:     p.PackageVersion,
		Description: p.PackageComment,
	}
	var hashes []cdx.Hash
	for _, s := range p.PackageChecksums {
		if s.Algorithm == common.SHA256 {
			hashes = append(hashes, cdx.Hash{Algorithm: cdx.HashAlgoSHA256, Value: s.Value})
		}
	}
	if len(hashes) > 0 {
		c.Hashes = &hashes
	}
	for _, r := range p.PackageExternalReferences {
		switch {
		case r == nil:
		case r.RefType == "purl" && c.PackageURL == "":
			c.PackageURL = r.Locator
		case r.RefType == "cpe23Type" && c.CPE == "":
			c.CPE = r.Locator
		}
	}
	return c
}
