package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"

	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/host/sbom"
)

// sbomFacts gathers what the build's SBOM states (see package sbom).
func sbomFacts(ctx context.Context, o Options, r *recipe.Recipe, id string, services [][]byte, initBin, slotInitBin []byte,
	kern *kernelResult, files []inputFile) (*sbom.Facts, error) {
	f := &sbom.Facts{Name: r.Name, Version: r.Version, Arch: r.Arch, BuildID: id, Tool: "turbo-image", Created: o.SourceDateEpoch}
	if initBin != nil {
		f.Binaries = append(f.Binaries, sbom.Binary{Role: "init", Path: "/init", Data: initBin})
	}
	if slotInitBin != nil {
		f.Binaries = append(f.Binaries, sbom.Binary{Role: "init:slot", Path: "/init", Data: slotInitBin})
	}
	for i, s := range r.Services {
		f.Binaries = append(f.Binaries, sbom.Binary{Role: "service:" + s.Name, Path: s.Path, Data: services[i], Prebuilt: s.Binary != ""})
	}
	kd := sha256.Sum256(kern.image)
	f.Kernel = sbom.Kernel{SHA256: hex.EncodeToString(kd[:]), Release: kern.release, Prebuilt: kern.prebuilt}
	for _, in := range kern.inputs {
		if in.Name == "kernel:config" {
			f.Kernel.ConfigSHA256 = in.SHA256
		}
	}
	if !kern.prebuilt {
		f.Kernel.Source = debOf(ctx, r.Kernel.Source)
	}
	if r.Has(recipe.OutputDisk) {
		p, _ := systemdBoot(o, r)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		d := sha256.Sum256(b)
		f.Bootloader = &sbom.Bootloader{SHA256: hex.EncodeToString(d[:]), Package: debOf(ctx, p)}
	}
	for _, fl := range files {
		d := sha256.Sum256(fl.data)
		f.Files = append(f.Files, sbom.File{Path: strings.TrimPrefix(fl.name, "file:"), SHA256: hex.EncodeToString(d[:])})
	}
	return f, nil
}

// debOf returns the Debian package dpkg says owns path, or nothing when
// there is no dpkg or no package owns it (a file of the user's own). It
// names the package the file came from; it does not check that the file
// is unchanged since.
func debOf(ctx context.Context, path string) sbom.Deb {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-S", path).Output()
	if err != nil {
		return sbom.Deb{}
	}
	line, _, _ := strings.Cut(string(out), "\n")
	owner, _, ok := strings.Cut(line, ": ")
	if !ok || strings.Contains(owner, ",") || strings.HasPrefix(owner, "diversion ") {
		return sbom.Deb{}
	}
	out, err = exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}\t${source:Package}", owner).Output()
	if err != nil {
		return sbom.Deb{}
	}
	fs := strings.Split(strings.TrimSpace(string(out)), "\t")
	if len(fs) != 4 || fs[0] == "" || fs[1] == "" {
		return sbom.Deb{}
	}
	return sbom.Deb{Name: fs[0], Version: fs[1], Arch: fs[2], Source: fs[3]}
}

// provenanceEnvelope returns the build's provenance file: the in-toto
// statement (package provenance) in an unsigned DSSE envelope, which
// `sign` signs.
func provenanceEnvelope(o Options, m *manifest.Manifest, mbytes []byte, f *sbom.Facts) ([]byte, error) {
	p := provenance.Params{BuilderVersion: o.BuilderVersion, Version: o.Version, SourceDateEpoch: o.SourceDateEpoch}
	debs := []sbom.Deb{f.Kernel.Source}
	if f.Bootloader != nil {
		debs = append(debs, f.Bootloader.Package)
	}
	for _, d := range debs {
		if d.Name != "" {
			p.Packages = append(p.Packages, provenance.Resource{Name: "deb:" + d.Name, URI: d.PURL()})
		}
	}
	stmt, err := provenance.Make(m, mbytes, p)
	if err != nil {
		return nil, err
	}
	return provenance.Unsigned(stmt)
}
