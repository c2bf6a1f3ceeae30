// Package registry moves a turbo-image build folder to and from an OCI
// registry as one artifact, byte for byte: Push uploads every artifact of
// a build as a layer of an OCI image manifest with its own artifactType,
// Pull fetches it back into a build folder, verifying every digest. The
// format is described in docs/registry.md.
//
// The registry client is oras-go v2 (oras.land/oras-go/v2), the OCI
// project's maintained Go client: it speaks the distribution API with
// token and basic auth, and reads Docker and Podman auth files and their
// credential helpers. go-containerregistry was the other candidate; its
// model is container images (config + tar layers), while oras-go is built
// for artifacts with arbitrary media types, which is what a build is.
//
// The package never prints; callers pass options and read results.
package registry

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

	"github.com/turbo-image/turbo-image/internal/host/sbom"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

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

// mediaTypeOf returns the layer media type of a build artifact.
func mediaTypeOf(name string) (string, error) {
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
	case name == sbom.FileName:
		return MediaTypeSPDX, nil
	}
	return "", fmt.Errorf("artifact %q: no layer media type for it", name)
}

// safeName reports whether name can be a file directly in a build folder.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00") && path.Base(name) == name
}

// layer is one file of a build and its layer descriptor.
type layer struct {
	Name string // file name in the build folder
	Desc ocispec.Descriptor
	// File is the file's own digest and size (equal to the descriptor's
	// unless the layer is compressed).
	File manifest.File
}

// compressed reports whether the layer's bytes are the file compressed.
func (l layer) compressed() bool {
	return l.Desc.MediaType == MediaTypeDiskZstd || l.Desc.MediaType == MediaTypeVHDZstd
}

// emptyConfig is the fixed config blob (OCI image spec 1.1, guidance for
// artifacts: "application/vnd.oci.empty.v1+json" holding "{}").
var emptyConfig = []byte(ocispec.DescriptorEmptyJSON.Data)

// buildManifest returns the OCI manifest bytes for a build: the layers in
// the given order and the annotations from the build's manifest. It is a
// pure function of its inputs, so the same build gives the same digest.
func buildManifest(m *manifest.Manifest, layers []layer) ([]byte, error) {
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

// parsed is a registry manifest checked to be a turbo-image build.
type parsed struct {
	Manifest ocispec.Manifest
	Layers   []layer // File is not known yet (it comes from manifest.json)
}

// parseManifest checks that data is a turbo-image build's OCI manifest:
// our artifactType, the empty config, one layer per file with a safe,
// unique title and the media type that file name must have, and exactly
// one manifest.json layer.
func parseManifest(data []byte) (*parsed, error) {
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
	p := &parsed{Manifest: om}
	var names []string
	for i, d := range om.Layers {
		name := d.Annotations[ocispec.AnnotationTitle]
		if !safeName(name) {
			return nil, fmt.Errorf("OCI manifest: layer %d: title %q is not a plain file name", i, name)
		}
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("OCI manifest: layer %d: file %s appears twice", i, name)
		}
		names = append(names, name)
		want, err := mediaTypeOf(name)
		if err != nil {
			return nil, fmt.Errorf("OCI manifest: layer %d: %w", i, err)
		}
		if d.MediaType != want {
			return nil, fmt.Errorf("OCI manifest: layer %d (%s): media type %q, want %s", i, name, d.MediaType, want)
		}
		if d.Digest.Algorithm() != digest.SHA256 || d.Digest.Validate() != nil {
			return nil, fmt.Errorf("OCI manifest: layer %d (%s): digest %q is not a sha256 digest", i, name, d.Digest)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("OCI manifest: layer %d (%s): size %d", i, name, d.Size)
		}
		p.Layers = append(p.Layers, layer{Name: name, Desc: d})
	}
	if !slices.Contains(names, manifest.FileName) {
		return nil, fmt.Errorf("OCI manifest: no %s layer", manifest.FileName)
	}
	return p, nil
}
