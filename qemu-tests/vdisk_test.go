package qemutests

import (
	"path/filepath"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// slotAReady is hello's ready line from slot a of its disk.
const slotAReady = `TURBO_READY name=hello version=1\.0\.0 slot=a build=sha256:[0-9a-f]{64} uptime_ms=\d+`

// TestVirtualDisksBootUnderUEFI builds hello with outputs qcow2, vmdk and
// vhd, checks each against disk.img with qemu-img, and boots each under
// OVMF to TURBO_READY with `run FILE` alone: run picks UEFI and QEMU's
// driver from the file.
func TestVirtualDisksBootUnderUEFI(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	qimg := testenv.MustHaveTool(t, "qemu-img", "qemu-utils")
	out, m := helloWithOutputs(t, "[disk, qcow2, vmdk, vhd]")
	raw := filepath.Join(out, "disk.img")
	// qemuImg checks a virtual disk of the format with qemu-img against
	// disk.img.
	qemuImg := func(format string) func(t *testing.T, p string) {
		return func(t *testing.T, p string) {
			if format == "vmdk" || format == "qcow2" { // qemu-img has no check for VHD
				if o, err := exec(qimg, "check", "-f", format, p); err != nil {
					t.Errorf("qemu-img check: %v\n%s", err, o)
				}
			}
			if o, err := exec(qimg, "compare", "-f", "raw", "-F", format, raw, p); err != nil {
				t.Errorf("qemu-img compare with disk.img: %v\n%s", err, o)
			}
		}
	}
	// disk.img first: the baseline the others' boot times are read
	// against. A bare raw disk defaults to direct boot; the others, to UEFI.
	const uefi = "(uefi boot)"
	bootEach(t, out, m, []uefiBoot{
		{name: "raw", file: "disk.img", args: []string{"--boot", "uefi"}, ready: slotAReady, stderr: uefi},
		{name: "qcow2", file: "disk.qcow2", ready: slotAReady, stderr: uefi, check: qemuImg("qcow2")},
		{name: "vmdk", file: "disk.vmdk", ready: slotAReady, stderr: uefi, check: qemuImg("vmdk")},
		{name: "vhd", file: "disk.vhd", ready: slotAReady, stderr: uefi, check: qemuImg("vpc")},
	})
}
