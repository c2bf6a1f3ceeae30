package builder

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/turbo-image/turbo-image/internal/format/fat32"
	"github.com/turbo-image/turbo-image/internal/format/isoimage"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// ISOFile is the hybrid ISO output: the UKI on an El Torito EFI boot
// image. Booted from it, the appliance runs from its initramfs (no A/B
// slots, no /data).
const ISOFile = "live.iso"

// writeISO writes live.iso holding the UKI out.uki as the EFI boot image's
// removable-media boot loader.
func writeISO(name, version, arch string, epoch int64, out *outputs) error {
	seed := name + "\x00" + version
	h := seedID(seed, "iso-esp-volume-id")
	im := isoimage.Image{
		VolumeID:    isoimage.VolumeID(name + "_" + version),
		Epoch:       epoch,
		ESP:         []fat32.File{{Path: removablePath(arch), Data: out.uki}},
		ESPVolumeID: binary.BigEndian.Uint32(h[:]),
	}
	size, err := isoimage.Size(im)
	if err != nil {
		return fmt.Errorf("%s: %w", ISOFile, err)
	}
	err = out.addWith(ISOFile, func(p string) error {
		return atomicfile.WriteFunc(p, 0o644, func(f *os.File) error {
			if err := f.Truncate(size); err != nil {
				return err
			}
			return isoimage.Write(f, im)
		})
	})
	if err != nil {
		return fmt.Errorf("%s: %w", ISOFile, err)
	}
	return nil
}
