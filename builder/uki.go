package builder

import (
	"fmt"
	"os"

	"github.com/turbo-image/turbo-image/internal/format/uki"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// UKIFile is the Unified Kernel Image output: the appliance's kernel,
// initramfs, command line and os-release in systemd's EFI stub.
const UKIFile = "uki.efi"

// DefaultSystemdStub is where Debian's systemd-boot-efi package puts
// systemd's EFI stub (systemd-stub(7)); DefaultSystemdStubAA64 is the same
// for arm64.
const (
	DefaultSystemdStub     = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	DefaultSystemdStubAA64 = "/usr/lib/systemd/boot/efi/linuxaa64.efi.stub"
)

// systemdStub returns the EFI stub a UKI is made from and where that
// choice comes from.
func systemdStub(o Options, r *recipe.Recipe) (path, from string) {
	switch {
	case o.SystemdStub != "":
		return o.SystemdStub, "--systemd-stub"
	case r.Arch == "arm64":
		return DefaultSystemdStubAA64, "the default"
	}
	return DefaultSystemdStub, "the default"
}

// makeUKI returns the UKI of the self-contained appliance: the kernel
// with the whole initramfs (the image runs from it, as the initramfs
// output does: no A/B slots), the build's command line, its os-release
// and, for a kernel built here, its release as .uname. It also returns
// the stub's digest, an input of the build.
func makeUKI(o Options, r *recipe.Recipe, kern *kernelResult, initrd []byte) ([]byte, manifest.File, error) {
	p, _ := systemdStub(o, r)
	stub, err := os.ReadFile(p)
	if err != nil {
		return nil, manifest.File{}, fmt.Errorf("uki: systemd-stub: %w", err)
	}
	b, err := uki.Build(uki.Image{
		Stub: stub, Linux: kern.image, Initrd: initrd,
		Cmdline: Cmdline(r), OSRelease: osRelease(r), Uname: kern.release,
	})
	if err != nil {
		return nil, manifest.File{}, err
	}
	return b, manifest.Digest("systemd-stub", stub), nil
}

// buildUKI writes uki.efi and live.iso (the UKI on an EFI boot image),
// those the recipe lists; it returns the stub's input digest.
func buildUKI(o Options, r *recipe.Recipe, kern *kernelResult, initrd []byte, out *outputs,
	sign func([]byte, string) ([]byte, error)) (manifest.File, error) {
	b, in, err := makeUKI(o, r, kern, initrd)
	if err != nil {
		return in, err
	}
	if b, err = sign(b, UKIFile); err != nil {
		return in, err
	}
	out.uki = b
	if r.Has(recipe.OutputUKI) {
		if err := out.add(UKIFile, b); err != nil {
			return in, err
		}
	}
	if r.Has(recipe.OutputISO) {
		if err := writeISO(r.Name, r.Version, r.Arch, o.SourceDateEpoch, out); err != nil {
			return in, err
		}
	}
	return in, nil
}
