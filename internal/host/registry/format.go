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
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
)

// The artifact format lives in internal/shared/ociartifact, shared with
// the appliance's follower; these names keep this package's API.

// ArtifactType marks an OCI manifest as a turbo-image build.
const ArtifactType = ociartifact.ArtifactType

// Layer media types, one per kind of build artifact.
const (
	MediaTypeManifest      = ociartifact.MediaTypeManifest
	MediaTypeSPDX          = ociartifact.MediaTypeSPDX
	MediaTypeSignature     = ociartifact.MediaTypeSignature
	MediaTypeKernel        = ociartifact.MediaTypeKernel
	MediaTypeInitramfs     = ociartifact.MediaTypeInitramfs
	MediaTypeSlotRoot      = ociartifact.MediaTypeSlotRoot
	MediaTypeSlotInitramfs = ociartifact.MediaTypeSlotInitramfs
	MediaTypeDiskZstd      = ociartifact.MediaTypeDiskZstd
	MediaTypeQCOW2         = ociartifact.MediaTypeQCOW2
	MediaTypeVMDK          = ociartifact.MediaTypeVMDK
	MediaTypeVHDZstd       = ociartifact.MediaTypeVHDZstd
)

// Annotation keys of the manifest.
const (
	AnnotationName    = ociartifact.AnnotationName
	AnnotationVersion = ociartifact.AnnotationVersion
	AnnotationArch    = ociartifact.AnnotationArch
	AnnotationBuildID = ociartifact.AnnotationBuildID
)

// DiskFile is the build's whole-disk image, sent compressed.
const DiskFile = ociartifact.DiskFile

// MaxManifestBytes bounds an OCI manifest read from a registry.
const MaxManifestBytes = ociartifact.MaxManifestBytes

type (
	layer  = ociartifact.Layer
	parsed = ociartifact.Parsed
)

func mediaTypeOf(name string) (string, error) { return ociartifact.MediaTypeOf(name) }

func safeName(name string) bool { return ociartifact.SafeName(name) }

func parseManifest(data []byte) (*parsed, error) { return ociartifact.ParseManifest(data) }

func buildManifest(m *manifest.Manifest, layers []layer) ([]byte, error) {
	return ociartifact.BuildManifest(m, layers)
}

// emptyConfig is the fixed config blob (OCI image spec 1.1, guidance for
// artifacts: "application/vnd.oci.empty.v1+json" holding "{}").
var emptyConfig = []byte(ocispec.DescriptorEmptyJSON.Data)
