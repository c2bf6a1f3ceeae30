package sbom

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	spdx23 "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// goBinary returns a real Go binary with build information and many
// modules: turbo-image itself, built once (a test binary records no
// dependencies).
func goBinary(t *testing.T) (string, []byte) {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sbom-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "turbo-image")
		out, err := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", binPath, "github.com/turbo-image/turbo-image/cmd/turbo-image").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	b, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	return binPath, b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func sampleFacts(t *testing.T) *Facts {
	_, bin := goBinary(t)
	return &Facts{
		Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "abc123", Tool: "turbo-image-devel", Created: 1700000000,
		Binaries: []Binary{
			{Role: "init", Path: "/init", Data: bin},
			{Role: "service:hello", Path: "/bin/hello", Data: bin},
			{Role: "service:blob", Path: "/bin/blob", Data: []byte("not a go binary"), Prebuilt: true},
		},
		Kernel: Kernel{SHA256: strings.Repeat("a", 64), Release: "6.1.158", ConfigSHA256: strings.Repeat("b", 64),
			Source: Deb{Name: "linux-source-6.1", Version: "6.1.158-1", Arch: "all", Source: "linux"}},
		Bootloader: &Bootloader{SHA256: strings.Repeat("c", 64), Package: Deb{Name: "systemd-boot-efi", Version: "252.39-1~deb12u1", Arch: "amd64", Source: "systemd"}},
		Files:      []File{{Path: "/etc/motd", SHA256: strings.Repeat("d", 64)}},
	}
}

// schema compiles the JSON schema at path, with the extra resources
// (id -> file) it refers to.
func schema(t *testing.T, path string, extra map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	load := func(id, p string) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
	}
	load("file:///main.json", path)
	for id, p := range extra {
		load(id, p)
	}
	s, err := c.Compile("file:///main.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// checkSPDX decodes an SPDX 2.3 JSON document strictly with tools-golang's
// model and checks the fields SPDX 2.3 requires.
func checkSPDX(data []byte) error {
	var doc spdx23.Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	switch {
	case doc.SPDXVersion != "SPDX-2.3":
		return fmt.Errorf("spdxVersion %q", doc.SPDXVersion)
	case doc.DataLicense != "CC0-1.0":
		return fmt.Errorf("dataLicense %q", doc.DataLicense)
	case doc.SPDXIdentifier != "DOCUMENT":
		return fmt.Errorf("SPDXID %q", doc.SPDXIdentifier)
	case doc.DocumentName == "" || !absoluteURI(doc.DocumentNamespace):
		return fmt.Errorf("name %q, namespace %q", doc.DocumentName, doc.DocumentNamespace)
	case doc.CreationInfo == nil || doc.CreationInfo.Created == "" || len(doc.CreationInfo.Creators) == 0:
		return fmt.Errorf("creationInfo missing or incomplete")
	case len(doc.Packages) == 0:
		return fmt.Errorf("no packages")
	}
	ids := map[string]bool{"DOCUMENT": true}
	for _, p := range doc.Packages {
		if p.PackageSPDXIdentifier == "" || p.PackageName == "" || p.PackageDownloadLocation == "" {
			return fmt.Errorf("package %q: SPDXID, name and downloadLocation are required", p.PackageName)
		}
		if ids[string(p.PackageSPDXIdentifier)] {
			return fmt.Errorf("package %q: SPDXID %q twice", p.PackageName, p.PackageSPDXIdentifier)
		}
		ids[string(p.PackageSPDXIdentifier)] = true
	}
	for _, f := range doc.Files {
		ids[string(f.FileSPDXIdentifier)] = true
	}
	for _, r := range doc.Relationships {
		for _, e := range []string{string(r.RefA.ElementRefID), string(r.RefB.ElementRefID)} {
			if !ids[e] && e != "NOASSERTION" && e != "NONE" {
				return fmt.Errorf("relationship %s refers to unknown element %q", r.Relationship, e)
			}
		}
	}
	return nil
}

// absoluteURI: SPDX 2.3 clause 6.5, a unique absolute URI without '#'.
func absoluteURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && !strings.Contains(s, "#") && (u.Opaque != "" || u.Host != "")
}

// cyclonedxSchemaDir finds the schemas shipped in the cyclonedx-go module.
func cyclonedxSchemaDir(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Fatalf("go list -m cyclonedx-go: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "schema")
}

func TestSchemas(t *testing.T) {
	f := sampleFacts(t)
	s, err := SPDX(f)
	if err != nil {
		t.Fatal(err)
	}
	// SPDX: no copy of the SPDX JSON schema is shipped here (the project
	// takes no file from other repositories); the format's own library
	// reads the document back into its 2.3 model with every field known,
	// and the rules of SPDX 2.3 clauses 6 (creation information) and 7
	// (packages) that the schema marks required are checked.
	if err := checkSPDX(s); err != nil {
		t.Errorf("SPDX output is not a valid SPDX 2.3 document: %v", err)
	}
	// The check can fail: a document without creationInfo is refused.
	var m map[string]any
	json.Unmarshal(s, &m)
	delete(m, "creationInfo")
	bad, _ := json.Marshal(m)
	if checkSPDX(bad) == nil {
		t.Error("the SPDX check accepted a document without creationInfo")
	}

	c, err := CycloneDX(s)
	if err != nil {
		t.Fatal(err)
	}
	dir := cyclonedxSchemaDir(t)
	cdxSchema := schema(t, filepath.Join(dir, "bom-1.6.schema.json"), map[string]string{
		"http://cyclonedx.org/schema/spdx.schema.json":     filepath.Join(dir, "spdx.schema.json"),
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": filepath.Join(dir, "jsf-0.82.schemax.json"),
	})
	if err := validate(t, cdxSchema, c); err != nil {
		t.Errorf("CycloneDX output does not validate against the CycloneDX 1.6 schema: %v", err)
	}
	json.Unmarshal(c, &m)
	m["components"].([]any)[0].(map[string]any)["type"] = "gizmo"
	bad, _ = json.Marshal(m)
	if validate(t, cdxSchema, bad) == nil {
		t.Error("the CycloneDX schema accepted a component of type gizmo")
	}
	for _, w := range []string{`"cpe": "cpe:2.3:o:linux:linux_kernel:6.1.158:*:*:*:*:*:*:*"`, `"purl": "pkg:deb/debian/linux-source-6.1@6.1.158-1?arch=all\u0026upstream=linux"`} {
		if !bytes.Contains(c, []byte(w)) && !bytes.Contains(c, []byte(strings.ReplaceAll(w, `\u0026`, "&"))) {
			t.Errorf("CycloneDX lacks %s", w)
		}
	}
	if !bytes.Contains(c, []byte(`"specVersion": "1.6"`)) {
		t.Errorf("CycloneDX output is not 1.6")
	}
}

// TestReproducible: the same facts give the same bytes; nothing in them
// comes from the clock or a random source.
func TestReproducible(t *testing.T) {
	a, err := SPDX(sampleFacts(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SPDX(sampleFacts(t))
	if !bytes.Equal(a, b) {
		t.Fatal("two SPDX documents of the same facts differ")
	}
	ca, _ := CycloneDX(a)
	cb, _ := CycloneDX(b)
	if !bytes.Equal(ca, cb) {
		t.Fatal("two CycloneDX documents of the same facts differ")
	}
	if !bytes.Contains(a, []byte(`"created": "2023-11-14T22:13:20Z"`)) {
		t.Error("created is not SOURCE_DATE_EPOCH")
	}
	f := sampleFacts(t)
	f.BuildID = "other"
	c, _ := SPDX(f)
	if Namespace(f) == Namespace(sampleFacts(t)) || bytes.Equal(a, c) {
		t.Error("another build id gives the same namespace")
	}
}

// goVersionM runs `go version -m` on a binary and returns its modules
// (main, deps, with replacements applied) as "path@version" and its Go
// version.
func goVersionM(t *testing.T, path string) (mods []string, gover string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", path).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			_, gover, _ = strings.Cut(line, ": ")
			first = false
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "mod", "dep":
			v := ""
			if len(f) > 2 {
				v = f[2]
			}
			mods = append(mods, f[1]+"@"+v)
		case "=>":
			mods[len(mods)-1] = f[1] + "@" + f[2]
		}
	}
	sort.Strings(mods)
	return mods, gover
}

// SBOMGoModules returns, per binary component (by name), the Go modules
// an SPDX SBOM lists for it: its own name and version and those of every
// package it CONTAINS except the standard library, and the stdlib version.
func SBOMGoModules(t *testing.T, data []byte) (map[string][]string, map[string]string) {
	t.Helper()
	doc, err := ParseSPDX(data)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	name := map[string]string{}
	for _, p := range doc.Packages {
		id := string(p.PackageSPDXIdentifier)
		byID[id] = p.PackageName + "@" + p.PackageVersion
		name[id] = p.PackageName
	}
	mods, std := map[string][]string{}, map[string]string{}
	for _, r := range doc.Relationships {
		a, b := string(r.RefA.ElementRefID), string(r.RefB.ElementRefID)
		if r.Relationship != "CONTAINS" || !strings.HasPrefix(a, "Package-bin-") {
			continue
		}
		if name[b] == "stdlib" {
			std[a] = strings.TrimPrefix(byID[b], "stdlib@")
			continue
		}
		if len(mods[a]) == 0 {
			mods[a] = append(mods[a], byID[a])
		}
		mods[a] = append(mods[a], byID[b])
	}
	for a := range mods {
		sort.Strings(mods[a])
	}
	return mods, std
}

// TestModulesMatchGoVersion: the modules the SBOM lists for a binary are
// exactly those `go version -m` prints for it.
func TestModulesMatchGoVersion(t *testing.T) {
	path, bin := goBinary(t)
	want, gover := goVersionM(t, path)
	if len(want) < 3 {
		t.Fatalf("go version -m lists too few modules: %v", want)
	}
	f := sampleFacts(t)
	f.Binaries = []Binary{{Role: "service:x", Path: "/bin/x", Data: bin}}
	s, err := SPDX(f)
	if err != nil {
		t.Fatal(err)
	}
	mods, std := SBOMGoModules(t, s)
	if len(mods) != 1 {
		t.Fatalf("want one Go binary in the SBOM, got %d", len(mods))
	}
	for id, got := range mods {
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("SBOM modules of %s:\n%s\ngo version -m:\n%s", id, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if std[id] != gover {
			t.Errorf("stdlib %q, go version -m says %q", std[id], gover)
		}
	}
	bi, _ := buildinfo.ReadFile(path)
	if bi == nil || !bytes.Contains(s, []byte("pkg:golang/stdlib@"+strings.TrimPrefix(bi.GoVersion, "go"))) {
		t.Error("no stdlib purl")
	}
}

func TestParseSPDXRefuses(t *testing.T) {
	good, err := SPDX(sampleFacts(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"not json":     "{",
		"spdx 2.2":     `{"spdxVersion":"SPDX-2.2"}`,
		"no creation":  `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT"}`,
		"dangling rel": strings.Replace(string(good), `"relatedSpdxElement": "SPDXRef-Package-appliance"`, `"relatedSpdxElement": "SPDXRef-nope"`, 1),
		"dup id":       strings.Replace(string(good), `"SPDXID": "SPDXRef-Package-kernel`, `"SPDXID": "SPDXRef-Package-appliance"`+"\n//", 1),
	} {
		if _, err := CycloneDX([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzCycloneDX(f *testing.F) {
	good, err := SPDX(&Facts{Name: "a", Version: "1", Kernel: Kernel{SHA256: strings.Repeat("0", 64)}, Files: []File{{"/x", strings.Repeat("1", 64)}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","creationInfo":{},"relationships":[null]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","creationInfo":{},"packages":[null,{}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","creationInfo":{},"relationships":[{"spdxElementId":"DocumentRef-x:SPDXRef-y","relatedSpdxElement":"NOASSERTION","relationshipType":"DESCRIBES"}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","creationInfo":{"creators":["Tool"]}}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := CycloneDX(data)
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
	})
}
