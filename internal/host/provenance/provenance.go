// Package provenance writes and checks a build's provenance: an in-toto
// Statement v1 (in-toto/attestation spec/v1/statement.md) whose predicate
// is SLSA Provenance v1 (slsa.dev/spec/v1.0/provenance), in a DSSE
// envelope (secure-systems-lab/dsse envelope.md) signed with the release
// keys of `keygen`. The format and every field are described in
// docs/provenance.md.
//
// The build writes the envelope, unsigned, as provenance.intoto.jsonl next
// to manifest.json; `sign` adds the key's signature to it (as it adds a
// line to manifest.json.sig). The file is not an artifact of manifest.json:
// the statement names manifest.json and every artifact as its subjects, so
// it cannot also be one of them.
//
// Why no library: the in-toto/attestation Go bindings are protobuf
// messages, and protojson deliberately varies its output (it is documented
// as unstable), so the statement would not be byte-identical across
// builds; in-toto-golang pulls in a large tree for what is here a few
// structs. go-securesystemslib's dsse package prints to stdout from its
// verifier and needs a newer golang.org/x/crypto; the DSSE pre-
// authentication encoding is a single line (signing.PAE), tested against
// the specification's test vector. The tests read our statement with the
// in-toto Go bindings and run their validators.
package provenance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// FileName is the envelope's name in a build folder: one DSSE envelope as
// one line of JSON (the JSON Lines form in-toto tools read as
// *.intoto.jsonl).
const FileName = "provenance.intoto.jsonl"

// The identifiers this package writes and expects.
const (
	// PayloadType is the DSSE payload type of an in-toto statement
	// (in-toto/attestation spec/v1/envelope.md).
	PayloadType = "application/vnd.in-toto+json"
	// StatementType is the _type of an in-toto Statement v1.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType is SLSA Provenance v1.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names turbo-image's build process, with the meaning of
	// every parameter (docs/provenance.md).
	BuildType = "https://github.com/turbo-image/turbo-image/blob/main/docs/provenance.md#build-type-v1"
	// BuilderID names the builder: turbo-image run by whoever holds the
	// release key (docs/provenance.md).
	BuilderID = "https://github.com/turbo-image/turbo-image/blob/main/docs/provenance.md#builder-v1"
)

// MaxBytes bounds the envelope file.
const MaxBytes = 4 << 20

// Statement is an in-toto Statement v1 with a SLSA Provenance v1
// predicate. Field order is the order written.
type Statement struct {
	Type          string     `json:"_type"`
	Subject       []Resource `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     Provenance `json:"predicate"`
}

// Resource is an in-toto ResourceDescriptor (spec/v1/resource_descriptor.md)
// with the fields used here.
type Resource struct {
	Name   string            `json:"name,omitempty"`
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// Provenance is the SLSA Provenance v1 predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is SLSA's buildDefinition.
type BuildDefinition struct {
	BuildType            string             `json:"buildType"`
	ExternalParameters   ExternalParameters `json:"externalParameters"`
	InternalParameters   InternalParameters `json:"internalParameters"`
	ResolvedDependencies []Resource         `json:"resolvedDependencies,omitempty"`
}

// ExternalParameters are what the user chose (docs/provenance.md).
type ExternalParameters struct {
	// Recipe is the recipe file, by its digest.
	Recipe Resource `json:"recipe"`
	// Version is build --version, "" when the recipe's version was used.
	Version string `json:"version,omitempty"`
	// Kernel is the --kernel image or the recipe's prebuilt kernel, by
	// digest; absent when the kernel was built from source.
	Kernel *Resource `json:"kernel,omitempty"`
	// SourceDateEpoch is the time stamp of every file in the images.
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
}

// InternalParameters are what the builder derived (docs/provenance.md).
type InternalParameters struct {
	Name      string             `json:"name"`
	Version   string             `json:"version"`
	Arch      string             `json:"arch"`
	BuildID   string             `json:"buildId"`
	Toolchain manifest.Toolchain `json:"toolchain"`
}

// RunDetails is SLSA's runDetails.
type RunDetails struct {
	Builder Builder `json:"builder"`
}

// Builder is SLSA's builder.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Params are the facts of a build that manifest.json does not hold.
type Params struct {
	// BuilderVersion is turbo-image's version (cli.Version).
	BuilderVersion string
	// Version is build --version ("" if not given).
	Version string
	// SourceDateEpoch is the build's SOURCE_DATE_EPOCH.
	SourceDateEpoch int64
	// Packages are the Debian packages the build took files from
	// (kernel source, systemd-boot), as resources with a purl URI.
	Packages []Resource
}

// Make returns the statement of the build whose manifest is m (with bytes
// mbytes): its subjects are manifest.json and every artifact; its
// resolved dependencies every input of the manifest and the packages of p.
// The bytes are a pure function of the arguments (sorted lists, Go's
// encoding/json, no time stamp but SOURCE_DATE_EPOCH).
func Make(m *manifest.Manifest, mbytes []byte, p Params) ([]byte, error) {
	subj := []Resource{sha256Resource(manifest.Digest(manifest.FileName, mbytes))}
	for _, a := range m.Artifacts {
		subj = append(subj, sha256Resource(a))
	}
	sortResources(subj)
	ext := ExternalParameters{Version: p.Version, SourceDateEpoch: p.SourceDateEpoch}
	var deps []Resource
	for _, in := range m.Inputs {
		r := sha256Resource(in)
		switch in.Name {
		case "recipe":
			ext.Recipe = r
		case "kernel:prebuilt":
			ext.Kernel = &r
		}
		deps = append(deps, r)
	}
	if ext.Recipe.Name == "" {
		return nil, fmt.Errorf("provenance: %s has no recipe input", manifest.FileName)
	}
	deps = append(deps, p.Packages...)
	sortResources(deps)
	bv := map[string]string{"turbo-image": p.BuilderVersion}
	if p.BuilderVersion == "" {
		bv = nil
	}
	s := Statement{
		Type:          StatementType,
		Subject:       subj,
		PredicateType: PredicateType,
		Predicate: Provenance{
			BuildDefinition: BuildDefinition{
				BuildType:            BuildType,
				ExternalParameters:   ext,
				InternalParameters:   InternalParameters{Name: m.Name, Version: m.Version, Arch: m.Arch, BuildID: m.BuildID, Toolchain: m.Toolchain},
				ResolvedDependencies: deps,
			},
			RunDetails: RunDetails{Builder: Builder{ID: BuilderID, Version: bv}},
		},
	}
	b, err := marshal(s)
	if err != nil {
		return nil, err
	}
	if _, err := ParseStatement(b); err != nil {
		return nil, fmt.Errorf("provenance: made a statement that does not parse: %w", err)
	}
	return b, nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func sha256Resource(f manifest.File) Resource {
	return Resource{Name: f.Name, Digest: map[string]string{"sha256": f.SHA256}}
}

func sortResources(r []Resource) {
	sort.SliceStable(r, func(i, j int) bool {
		if r[i].Name != r[j].Name {
			return r[i].Name < r[j].Name
		}
		return r[i].URI < r[j].URI
	})
}

// ParseStatement reads statement bytes (a DSSE payload) and checks what
// this package relies on: an in-toto Statement v1 with a SLSA Provenance
// v1 predicate, at least one subject, each named once with a sha256
// digest, a build type and a builder id. Unknown members are ignored, as
// the in-toto specification asks of consumers.
func ParseStatement(data []byte) (*Statement, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("statement: %d bytes, over %d", len(data), MaxBytes)
	}
	var s Statement
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	if dec.More() {
		return nil, errors.New("statement: data after the JSON object")
	}
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if s.Type != StatementType {
		bad("_type %q, want %q", s.Type, StatementType)
	}
	if s.PredicateType != PredicateType {
		bad("predicateType %q, want %q", s.PredicateType, PredicateType)
	}
	if len(s.Subject) == 0 {
		bad("subject: none")
	}
	seen := map[string]bool{}
	for i, r := range s.Subject {
		switch {
		case r.Name == "":
			bad("subject[%d]: no name", i)
		case seen[r.Name]:
			bad("subject[%d]: %q named twice", i, r.Name)
		case !validSHA256(r.Digest["sha256"]):
			bad("subject[%d] (%s): digest.sha256 %q is not 64 lowercase hex digits", i, r.Name, r.Digest["sha256"])
		}
		seen[r.Name] = true
	}
	if s.Predicate.BuildDefinition.BuildType == "" {
		bad("predicate.buildDefinition.buildType: missing")
	}
	if s.Predicate.RunDetails.Builder.ID == "" {
		bad("predicate.runDetails.builder.id: missing")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("statement: %s", strings.Join(errs, "; "))
	}
	return &s, nil
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string
	Payload     []byte
	Signatures  []signing.Signature
}

// envelopeJSON is the envelope as written: members in this order, the
// payload and signatures in standard base64.
type envelopeJSON struct {
	PayloadType *string         `json:"payloadType"`
	Payload     *string         `json:"payload"`
	Signatures  []*signatureRaw `json:"signatures"`
}

type signatureRaw struct {
	KeyID string  `json:"keyid"`
	Sig   *string `json:"sig"`
}

// Marshal returns the envelope file's bytes: one line of JSON and a
// newline, signatures sorted by key id ("signatures": [] when unsigned).
func (e *Envelope) Marshal() ([]byte, error) {
	pt := e.PayloadType
	pl := base64.StdEncoding.EncodeToString(e.Payload)
	j := envelopeJSON{PayloadType: &pt, Payload: &pl, Signatures: []*signatureRaw{}}
	sigs := slices.Clone(e.Signatures)
	slices.SortStableFunc(sigs, func(a, b signing.Signature) int { return strings.Compare(a.KeyID, b.KeyID) })
	for _, s := range sigs {
		v := base64.StdEncoding.EncodeToString(s.Sig)
		j.Signatures = append(j.Signatures, &signatureRaw{KeyID: s.KeyID, Sig: &v})
	}
	b, err := marshal(j)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseEnvelope reads an envelope file (name is used in errors): one DSSE
// JSON envelope, optionally followed by a newline (a one-line JSON Lines
// file). DSSE's parsing rules apply: payload, payloadType, signatures and
// each signature's sig must be present (signatures may be empty), keyid
// may be missing, base64 may be standard or URL-safe, unknown members are
// ignored. Base64 must be canonical: no line breaks or stray padding.
func ParseEnvelope(name string, data []byte) (*Envelope, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s: %d bytes, over %d", name, len(data), MaxBytes)
	}
	line := bytes.TrimSuffix(data, []byte("\n"))
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		return nil, fmt.Errorf("%s:%d: a second line; the file holds one envelope on one line", name, 2+bytes.Count(line[:i], []byte("\n")))
	}
	var j envelopeJSON
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%s: DSSE envelope: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: DSSE envelope: data after the JSON object", name)
	}
	switch {
	case j.PayloadType == nil:
		return nil, fmt.Errorf("%s: DSSE envelope: payloadType is missing", name)
	case j.Payload == nil:
		return nil, fmt.Errorf("%s: DSSE envelope: payload is missing", name)
	case j.Signatures == nil:
		return nil, fmt.Errorf("%s: DSSE envelope: signatures is missing (an unsigned envelope has \"signatures\": [])", name)
	}
	if *j.PayloadType != PayloadType {
		return nil, fmt.Errorf("%s: DSSE envelope: payloadType %q, want %q", name, *j.PayloadType, PayloadType)
	}
	payload, err := decodeB64(*j.Payload)
	if err != nil {
		return nil, fmt.Errorf("%s: DSSE envelope: payload: %w", name, err)
	}
	e := &Envelope{PayloadType: *j.PayloadType, Payload: payload}
	for i, s := range j.Signatures {
		if s == nil || s.Sig == nil {
			return nil, fmt.Errorf("%s: DSSE envelope: signatures[%d]: sig is missing", name, i)
		}
		sig, err := decodeB64(*s.Sig)
		if err != nil {
			return nil, fmt.Errorf("%s: DSSE envelope: signatures[%d] (keyid %q): %w", name, i, s.KeyID, err)
		}
		e.Signatures = append(e.Signatures, signing.Signature{KeyID: s.KeyID, Sig: sig})
	}
	return e, nil
}

// decodeB64 decodes standard or URL-safe base64 with padding (RFC 4648
// sections 4 and 5; DSSE allows both), only in its canonical form.
func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		b, err := enc.Strict().DecodeString(s)
		if err == nil && enc.EncodeToString(b) == s {
			return b, nil
		}
	}
	return nil, errors.New("not canonical base64")
}

// AddSignature returns e with k's signature over its payload added, or
// replacing k's earlier one; other keys' signatures are kept.
func (e *Envelope) AddSignature(k signing.PrivateKey) (*Envelope, error) {
	sig, err := signing.SignDSSE(k, e.PayloadType, e.Payload)
	if err != nil {
		return nil, err
	}
	out := &Envelope{PayloadType: e.PayloadType, Payload: e.Payload}
	for _, s := range e.Signatures {
		if s.KeyID != sig.KeyID {
			out.Signatures = append(out.Signatures, s)
		}
	}
	out.Signatures = append(out.Signatures, sig)
	return out, nil
}

// Unsigned returns the file bytes of an unsigned envelope of statement.
func Unsigned(statement []byte) ([]byte, error) {
	return (&Envelope{PayloadType: PayloadType, Payload: statement}).Marshal()
}
