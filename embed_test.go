package turboimage

import (
	"io/fs"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/kconfig"
)

// x86Only are the options of recipes/kernel/virt.config that have no
// meaning on arm64 (x86 boot protocol, PVH, ACPI tweaks, the 8250 UART,
// x86 RNGs and port I/O); everything else there must be set the same way in
// recipes/kernel/arm64/virt.config, so the two stay twins.
var x86Only = map[string]bool{
	"CONFIG_KERNEL_ZSTD":      true, // arm64 has no self-decompressing Image
	"CONFIG_HYPERVISOR_GUEST": true, "CONFIG_PARAVIRT": true, "CONFIG_KVM_GUEST": true, "CONFIG_PVH": true,
	"CONFIG_ACPI": true, "CONFIG_ACPI_AC": true, "CONFIG_ACPI_BATTERY": true, "CONFIG_ACPI_FAN": true,
	"CONFIG_ACPI_THERMAL": true, "CONFIG_ACPI_PROCESSOR": true, "CONFIG_ACPI_TABLE_UPGRADE": true,
	"CONFIG_ACPI_PRMT": true, "CONFIG_THERMAL": true, "CONFIG_PNP_DEBUG_MESSAGES": true,
	"CONFIG_SERIAL_8250": true, "CONFIG_SERIAL_8250_CONSOLE": true, "CONFIG_SERIAL_8250_NR_UARTS": true,
	"CONFIG_SERIAL_8250_RUNTIME_UARTS": true,
	"CONFIG_PCI_MMCONFIG":              true,
	"CONFIG_HW_RANDOM_INTEL":           true, "CONFIG_HW_RANDOM_AMD": true, "CONFIG_HW_RANDOM_VIA": true,
	"CONFIG_X86_IOPL_IOPERM": true,
}

func fragmentOptions(t *testing.T, name, arch string) map[string]string {
	t.Helper()
	b, err := KernelFragments.ReadFile(KernelFragmentPath(name, arch))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := kconfig.ParseFragment(KernelFragmentPath(name, arch), b)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, o := range opts {
		m[o.Name] = o.Value
	}
	return m
}

func TestArm64VirtFragmentTwin(t *testing.T) {
	x86 := fragmentOptions(t, "virt", "amd64")
	arm := fragmentOptions(t, "virt", "arm64")
	for name, v := range x86 {
		if x86Only[name] {
			if _, ok := arm[name]; ok {
				t.Errorf("%s is x86-only but set in the arm64 fragment", name)
			}
			continue
		}
		if arm[name] != v {
			t.Errorf("%s=%s in virt.config but %q in arm64/virt.config (mark it x86-only here if it has no arm64 meaning)", name, v, arm[name])
		}
	}
	for _, name := range []string{"CONFIG_SERIAL_AMBA_PL011_CONSOLE", "CONFIG_EFI_STUB", "CONFIG_ARM_PSCI_FW", "CONFIG_PCI_HOST_GENERIC"} {
		if arm[name] != "y" {
			t.Errorf("arm64 fragment lacks %s=y", name)
		}
	}
}

func TestKernelFragmentLookup(t *testing.T) {
	for _, c := range []struct{ name, arch, want string }{
		{"virt", "amd64", "recipes/kernel/virt.config"},
		{"virt", "", "recipes/kernel/virt.config"},
		{"virt", "arm64", "recipes/kernel/arm64/virt.config"},
	} {
		p := KernelFragmentPath(c.name, c.arch)
		if p != c.want {
			t.Errorf("KernelFragmentPath(%s, %s) = %s, want %s", c.name, c.arch, p, c.want)
		}
		if _, err := fs.Stat(KernelFragments, p); err != nil {
			t.Errorf("%s not embedded: %v", p, err)
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if got := KernelFragmentNames(arch); len(got) != 1 || got[0] != "virt" {
			t.Errorf("KernelFragmentNames(%s) = %v, want [virt]", arch, got)
		}
	}
}
