package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/host/sbom"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// sbomBuild writes a build folder whose manifest lists an SBOM.
func sbomBuild(t *testing.T) (dir string, spdx []byte) {
	t.Helper()
	dir = t.TempDir()
	spdx, err := sbom.SPDX(&sbom.Facts{Name: "hello", Version: "1.0.0", Arch: "amd64", BuildID: "b1d",
		Kernel: sbom.Kernel{SHA256: strings.Repeat("a", 64), Prebuilt: true},
		Files:  []sbom.File{{Path: "/etc/motd", SHA256: strings.Repeat("b", 64)}}})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"kernel": []byte("k"), "initramfs.cpio.zst": []byte("i"), sbom.FileName: spdx}
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.0", Arch: "amd64", Cmdline: "console=ttyS0"}
	registrytest.WriteBuild(t, dir, m, files)
	return dir, spdx
}

func TestSBOMCommand(t *testing.T) {
	dir, spdx := sbomBuild(t)
	code, out, errs := runCLI(t, "sbom", dir)
	if code != 0 || out != string(spdx) {
		t.Fatalf("sbom: exit %d, stderr %q; stdout is not the build's sbom.spdx.json", code, errs)
	}
	code, out, errs = runCLI(t, "sbom", dir, "--format", "cyclonedx")
	var bom struct {
		BOMFormat, SpecVersion string
		Metadata               struct{ Component struct{ Name string } }
		Components             []struct{ Name string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &bom) != nil {
		t.Fatalf("sbom --format cyclonedx: exit %d, stderr %q, stdout %q", code, errs, out)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.6" || bom.Metadata.Component.Name != "hello" || len(bom.Components) != 2 {
		t.Errorf("CycloneDX: %+v", bom)
	}
	if code, _, errs := runCLI(t, "sbom", dir, "--format", "xml"); code != 2 || !strings.Contains(errs, "spdx or cyclonedx") {
		t.Errorf("--format xml: exit %d, %q", code, errs)
	}
	// A changed SBOM no longer matches the manifest: refused.
	os.WriteFile(filepath.Join(dir, sbom.FileName), bytes.Replace(spdx, []byte("hello"), []byte("HELLO"), 1), 0o644)
	if code, _, errs := runCLI(t, "sbom", dir); code == 0 || !strings.Contains(errs, "sbom.spdx.json") {
		t.Errorf("tampered SBOM: exit %d, %q", code, errs)
	}
	// A build without an SBOM says so.
	if code, _, errs := runCLI(t, "sbom", fakeBuild(t)); code == 0 || !strings.Contains(errs, "has no sbom.spdx.json") {
		t.Errorf("no SBOM: exit %d, %q", code, errs)
	}
}
