// Package ociartifact is the format of a turbo-image build as an OCI
// artifact (docs/registry.md): media types, annotations, the checks of a
// build's OCI manifest against its manifest.json, and the channel
// signature manifest. It is pure (no I/O) and shared: the host's registry
// client (package registry, oras-go) and the appliance's follower (a small
// net/http client in the init) read registries by the same rules.
package ociartifact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// SBOMFile is the build's SBOM file name (the builder's sbom.FileName).
const SBOMFile = "sbom.spdx.json"

// ArtifactType marks an OCI manifest as a turbo-image build (the
// artifactType field of the OCI image spec 1.1, manifest.md).
const ArtifactType = "application/vnd.turbo-image.build.v1"

// Layer media types, one per kind of build artifact.
const (
	MediaTypeManifest = "application/vnd.turbo-image.manifest.v1+json"
	// MediaTypeSPDX is the build's SBOM, sbom.spdx.json: the media type
	// IANA registered for SPDX JSON documents.
	MediaTypeSPDX          = "application/spdx+json"
	MediaTypeSignature     = "application/vnd.turbo-image.signature.v1"
	MediaTypeKernel        = "application/vnd.turbo-image.kernel.v1"
	MediaTypeInitramfs     = "application/vnd.turbo-image.initramfs.v1"
	MediaTypeSlotRoot      = "application/vnd.turbo-image.slot.root.v1.squashfs"
	MediaTypeSlotInitramfs = "application/vnd.turbo-image.slot.initramfs.v1"
	// MediaTypeDiskZstd is disk.img compressed with zstd (RFC 8878): the
	// only layer whose bytes differ from the file's.
	MediaTypeDiskZstd = "application/vnd.turbo-image.disk.v1+zstd"
	// The disk conversions. qcow2 and VMDK are sent as they are (they
	// store no zero clusters, and VMDK's grains are compressed already); a
	// fixed VHD is the raw disk plus a footer, mostly zeros, so it is sent
	// compressed with zstd like disk.img.
	MediaTypeQCOW2   = "application/vnd.turbo-image.disk.v1.qcow2"
	MediaTypeVMDK    = "application/vnd.turbo-image.disk.v1.vmdk"
	MediaTypeVHDZstd = "application/vnd.turbo-image.disk.v1.vhd+zstd"
	// The one-file boot outputs, sent as they are: a UKI is mostly the
	// compressed kernel and initramfs, an ISO mostly that UKI.
	MediaTypeUKI = "application/vnd.turbo-image.uki.v1.efi"
	MediaTypeISO = "application/vnd.turbo-image.iso.v1"
)

// Annotation keys of the manifest. Version uses the OCI pre-defined key
// (annotations.md); the others are ours, in reverse-domain notation.
const (
	AnnotationName    = "io.github.turbo-image.name"
	AnnotationVersion = ocispec.AnnotationVersion
	AnnotationArch    = "io.github.turbo-image.arch"
	AnnotationBuildID = "io.github.turbo-image.build-id"
)

// DiskFile is the build's whole-disk image, sent compressed.
const DiskFile = "disk.img"

// MaxManifestBytes bounds an OCI manifest read from a registry (the
// distribution spec suggests registries accept at least 4 MiB).
const MaxManifestBytes = 4 << 20

// MediaTypeOf returns the layer media type of a build artifact.
func MediaTypeOf(name string) (string, error) {
	switch {
	case name == manifest.FileName:
		return MediaTypeManifest, nil
	case name == signing.SignatureFile:
		return MediaTypeSignature, nil
	case name == manifest.SlotKernel:
		return MediaTypeKernel, nil
	case name == manifest.SlotRoot:
		return MediaTypeSlotRoot, nil
	case strings.HasPrefix(name, manifest.SlotInitramfsPrefix):
		return MediaTypeSlotInitramfs, nil
	case strings.HasPrefix(name, "initramfs."):
		return MediaTypeInitramfs, nil
	case name == DiskFile:
		return MediaTypeDiskZstd, nil
	case name == "disk.qcow2":
		return MediaTypeQCOW2, nil
	case name == "disk.vmdk":
		return MediaTypeVMDK, nil
	case name == "disk.vhd":
		return MediaTypeVHDZstd, nil
	case name == "uki.efi":
		return MediaTypeUKI, nil
	case name == "live.iso":
		return MediaTypeISO, nil
	case name == SBOMFile:
		return MediaTypeSPDX, nil
	}
	return "", fmt.Errorf("artifact %q: no layer media type for it", name)
}

// SafeName reports whether name can be a file directly in a build folder.
func SafeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00") && path.Base(name) == name
}

// Layer is one file of a build and its layer descriptor.
type Layer struct {
	Name string // file name in the build folder
	Desc ocispec.Descriptor
	// File is the file's own digest and size (equal to the descriptor's
	// unless the layer is compressed).
	File manifest.File
}

// Compressed reports whether the layer's bytes are the file compressed.
func (l Layer) Compressed() bool {
	return l.Desc.MediaType == MediaTypeDiskZstd || l.Desc.MediaType == MediaTypeVHDZstd
}

// BuildManifest returns the OCI manifest bytes for a build: the layers in
// the given order and the annotations from the build's manifest. It is a
// pure function of its inputs, so the same build gives the same digest.
func BuildManifest(m *manifest.Manifest, layers []Layer) ([]byte, error) {
	om := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Annotations: map[string]string{
			AnnotationName:    m.Name,
			AnnotationVersion: m.Version,
			AnnotationArch:    m.Arch,
			AnnotationBuildID: m.BuildID,
		},
	}
	for _, l := range layers {
		om.Layers = append(om.Layers, l.Desc)
	}
	return json.Marshal(om)
}

// Parsed is a registry manifest checked to be a turbo-image build.
type Parsed struct {
	Manifest ocispec.Manifest
	Layers   []Layer // File is not known yet (it comes from manifest.json)
}

// ParseManifest checks that data is a turbo-image build's OCI manifest:
// our artifactType, the empty config, one layer per file with a safe,
// unique title and the media type that file name must have, and exactly
// one manifest.json layer.
func ParseManifest(data []byte) (*Parsed, error) {
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("OCI manifest is %d bytes, over the %d limit", len(data), MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var om ocispec.Manifest
	if err := dec.Decode(&om); err != nil {
		return nil, fmt.Errorf("OCI manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("OCI manifest: trailing data after the JSON object")
	}
	if om.SchemaVersion != 2 || om.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("OCI manifest: schemaVersion %d, mediaType %q; want 2 and %s", om.SchemaVersion, om.MediaType, ocispec.MediaTypeImageManifest)
	}
	if om.ArtifactType != ArtifactType {
		return nil, fmt.Errorf("OCI manifest: artifactType %q: not a turbo-image build (want %s)", om.ArtifactType, ArtifactType)
	}
	if om.Config.MediaType != ocispec.MediaTypeEmptyJSON || om.Config.Digest != ocispec.DescriptorEmptyJSON.Digest || om.Config.Size != ocispec.DescriptorEmptyJSON.Size {
		return nil, fmt.Errorf("OCI manifest: config is %s %s, want the empty config %s", om.Config.MediaType, om.Config.Digest, ocispec.DescriptorEmptyJSON.Digest)
	}
	p := &Parsed{Manifest: om}
	var names []string
	for i, d := range om.Layers {
		name := d.Annotations[ocispec.AnnotationTitle]
		if !SafeName(name) {
			return nil, fmt.Errorf("OCI manifest: layer %d: title %q is not a plain file name", i, name)
		}
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("OCI manifest: layer %d: file %s appears twice", i, name)
		}
		names = append(names, name)
		want, err := MediaTypeOf(name)
		if err != nil {
			return nil, fmt.Errorf("OCI manifest: layer %d: %w", i, err)
		}
		if d.MediaType != want {
			return nil, fmt.Errorf("OCI manifest: layer %d (%s): media type %q, want %s", i, name, d.MediaType, want)
		}
		if d.Digest.Validate() != nil || d.Digest.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("OCI manifest: layer %d (%s): digest %q is not a sha256 digest", i, name, d.Digest)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("OCI manifest: layer %d (%s): size %d", i, name, d.Size)
		}
		p.Layers = append(p.Layers, Layer{Name: name, Desc: d})
	}
	if !slices.Contains(names, manifest.FileName) {
		return nil, fmt.Errorf("OCI manifest: no %s layer", manifest.FileName)
	}
	return p, nil
}

// Plan is a build's OCI manifest checked against its manifest.json: the
// layers in the order to fetch them (the payloads, manifest.json last),
// each with the file it holds.
type Plan struct {
	Manifest *manifest.Manifest
	Layers   []Layer
}

// Layer returns the layer holding file name, if any.
func (p *Plan) Layer(name string) (Layer, bool) {
	for _, l := range p.Layers {
		if l.Name == name {
			return l, true
		}
	}
	return Layer{}, false
}

// MatchLayers checks that the layers are exactly the build's files: every
// artifact of manifest.json once, manifest.json itself, at most a
// signature; uncompressed layers carry the artifact's own digest and size;
// the annotations agree with manifest.json.
func MatchLayers(p *Parsed, m *manifest.Manifest, mbytes []byte) (*Plan, error) {
	want := map[string]manifest.File{manifest.FileName: manifest.Digest(manifest.FileName, mbytes)}
	for _, a := range m.Artifacts {
		if !SafeName(a.Name) {
			return nil, fmt.Errorf("%s: artifact %q is not a plain file name", manifest.FileName, a.Name)
		}
		want[a.Name] = a
	}
	plan := &Plan{Manifest: m}
	for _, l := range p.Layers {
		f, ok := want[l.Name]
		switch {
		case ok:
		case l.Name == signing.SignatureFile:
			f = manifest.File{Name: l.Name, SHA256: l.Desc.Digest.Encoded(), Size: l.Desc.Size}
		default:
			return nil, fmt.Errorf("layer %s is not an artifact of %s", l.Name, manifest.FileName)
		}
		if !l.Compressed() && (l.Desc.Digest.Encoded() != f.SHA256 || l.Desc.Size != f.Size) {
			return nil, fmt.Errorf("layer %s is %s (%d bytes), %s says sha256:%s (%d bytes)", l.Name, l.Desc.Digest, l.Desc.Size, manifest.FileName, f.SHA256, f.Size)
		}
		delete(want, l.Name)
		l.File = f
		plan.Layers = append(plan.Layers, l)
	}
	for name := range want {
		return nil, fmt.Errorf("no layer for artifact %s", name)
	}
	a := p.Manifest.Annotations
	for _, c := range [][3]string{{AnnotationName, a[AnnotationName], m.Name}, {AnnotationVersion, a[AnnotationVersion], m.Version},
		{AnnotationArch, a[AnnotationArch], m.Arch}, {AnnotationBuildID, a[AnnotationBuildID], m.BuildID}} {
		if c[1] != c[2] {
			return nil, fmt.Errorf("annotation %s is %q, %s says %q", c[0], c[1], manifest.FileName, c[2])
		}
	}
	// Write the big payloads in the manifest's order; manifest.json last.
	slices.SortStableFunc(plan.Layers, func(x, y Layer) int {
		return boolInt(x.Name == manifest.FileName) - boolInt(y.Name == manifest.FileName)
	})
	return plan, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
