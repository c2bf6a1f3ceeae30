package powercut

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// CheckBootable decides what the disk boots next, exactly as systemd-boot
// would, and checks that the chosen slot is whole: its kernel and initrd on
// the ESP and its root partition match want[slot], the manifest of the
// build that slot must hold. It returns the slot.
func CheckBootable(d *diskimage.Disk, want map[string]*manifest.Manifest) (string, error) {
	esp, err := d.ESP()
	if err != nil {
		return "", err
	}
	st, err := slots.Read(esp)
	if err != nil {
		return "", err
	}
	plan, err := st.Plan()
	if err != nil {
		return "", err
	}
	slot := slots.SlotOf(plan.Entry)
	m := want[slot]
	if m == nil {
		return slot, fmt.Errorf("boots entry %s of slot %q, which no build is expected in", plan.Entry.FileName, slot)
	}
	root, kernel, initrd, ok := m.SlotPayloads()
	if !ok {
		return slot, fmt.Errorf("manifest of slot %s has no slot payloads", slot)
	}
	for _, f := range []struct {
		path string
		want manifest.File
	}{{plan.Entry.Linux, kernel}, {plan.Entry.Initrd[0], initrd}} {
		b, err := esp.ReadFile(slots.ESPPath(f.path))
		if err != nil {
			return slot, fmt.Errorf("entry %s: %s: %w", plan.Entry.FileName, f.path, err)
		}
		if got := manifest.Digest(f.want.Name, b); got != f.want {
			return slot, fmt.Errorf("entry %s: %s is not the %s of %s %s", plan.Entry.FileName, f.path, f.want.Name, m.Name, m.Version)
		}
	}
	pr, err := d.ReadPartition(slots.PartitionName(slot))
	if err != nil {
		return slot, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(pr, 0, root.Size)); err != nil {
		return slot, err
	}
	if hex.EncodeToString(h.Sum(nil)) != root.SHA256 {
		return slot, fmt.Errorf("entry %s: partition turbo-%s does not hold the root of %s %s", plan.Entry.FileName, slot, m.Name, m.Version)
	}
	return slot, nil
}
