package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/turbo-image/turbo-image/internal/host/sbom"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// runSBOM prints the SBOM of a verified build folder: sbom.spdx.json as
// it is, or converted to CycloneDX.
func runSBOM(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "sbom", commands()["sbom"].usage)
	format := fs.String("format", "spdx", "`FORMAT` to print: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one build directory")
	}
	if *format != "spdx" && *format != "cyclonedx" {
		return usagef("--format %q: want spdx or cyclonedx", *format)
	}
	d, err := manifest.LoadDir(ctx, pos[0])
	if err != nil {
		return err
	}
	if _, ok := d.Manifest.Artifact(sbom.FileName); !ok {
		return fmt.Errorf("%s: the build has no %s (it was made by a turbo-image without SBOMs); build it again", pos[0], sbom.FileName)
	}
	data, err := manifest.ReadRegular(ctx, filepath.Join(pos[0], sbom.FileName), sbom.MaxBytes)
	if err != nil {
		return err
	}
	// LoadDir checked the digest; a file changed since is caught here.
	if manifest.Digest(sbom.FileName, data) != mustArtifact(d.Manifest, sbom.FileName) {
		return fmt.Errorf("%s: %s changed while it was read", pos[0], sbom.FileName)
	}
	if *format == "cyclonedx" {
		if data, err = sbom.CycloneDX(data); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(pos[0], sbom.FileName), err)
		}
	}
	_, err = e.Stdout.Write(data)
	return err
}

func mustArtifact(m *manifest.Manifest, name string) manifest.File {
	a, _ := m.Artifact(name)
	return a
}
