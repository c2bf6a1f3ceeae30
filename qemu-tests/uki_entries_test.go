package qemutests

import (
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// ukiEntries are Unified Kernel Images as Type #2 boot entries
// (disk.boot_entries: uki), booted under OVMF and systemd-boot.
var ukiEntries = entryKind{arch: "amd64", recipe: "disk: {boot_entries: uki}\n", boot: "uefi", suffix: ".efi", timeout: 6 * time.Minute, run: "1200s"}

// TestUKIUpgradeIsBlessedAndStays: TestUpgradeIsBlessedAndStays with UKI boot entries under
// OVMF (two boots: the trial, blessed, and one reboot that stays on b).
func TestUKIUpgradeIsBlessedAndStays(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	testenv.MustHaveFile(t, "/usr/lib/systemd/boot/efi/linuxx64.efi.stub", "systemd-boot-efi")
	upgradeBlessed(t, ukiEntries)
}

// TestUKIUnhealthyTrialRollsBack: TestUnhealthyTrialRollsBack with UKI boot entries under
// OVMF (one run of two boots: the failing trial, then slot a).
func TestUKIUnhealthyTrialRollsBack(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	testenv.MustHaveFile(t, "/usr/lib/systemd/boot/efi/linuxx64.efi.stub", "systemd-boot-efi")
	trialRollsBack(t, ukiEntries)
}
