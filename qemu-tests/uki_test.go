package qemutests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/uki"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestUKIAndISOBootUnderUEFI builds hello with outputs disk, uki and iso
// and boots each under OVMF to TURBO_READY: disk.img through systemd-boot
// (the baseline), uki.efi started by the firmware itself from the
// removable-media path of a hybrid image attached as a disk (no boot
// loader), and live.iso from a CD-ROM through its El Torito catalog. The
// UKI and the ISO run the appliance from its initramfs: no slot.
func TestUKIAndISOBootUnderUEFI(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	testenv.MustHaveFile(t, "/usr/lib/systemd/boot/efi/linuxx64.efi.stub", "systemd-boot-efi")
	out, m := helloWithOutputs(t, "[disk, uki, iso]")
	// The UKI carries the build's command line and os-release.
	b, err := os.ReadFile(filepath.Join(out, "uki.efi"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := uki.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := u.Section(uki.SectionCmdline); !ok || string(s.Data) != m.Cmdline {
		t.Errorf(".cmdline %q, want the manifest's %q", s.Data, m.Cmdline)
	}
	if s, ok := u.Section(uki.SectionOSRel); !ok || !strings.Contains(string(s.Data), `VERSION="1.0.0"`) {
		t.Errorf(".osrel %q", s.Data)
	}
	const initramfsReady = `TURBO_READY name=hello version=1\.0\.0 uptime_ms=\d+`
	bootEach(t, out, m, []uefiBoot{
		{file: "disk.img", args: []string{"--boot", "uefi"}, ready: slotAReady},
		{file: "uki.efi", ready: initramfsReady},
		{file: "live.iso", ready: initramfsReady},
	})
}
