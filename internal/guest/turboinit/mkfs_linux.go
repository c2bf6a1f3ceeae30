//go:build linux && turbo_disk

package turboinit

import (
	"crypto/rand"
	"fmt"
	"os"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// makeExt4 creates an ext4 file system over the block device f (rounded
// down to whole MiB) with the same creator the builder uses for disk
// images (ext4img, on go-diskfs; the init has no mkfs binary to call). A
// built image's data partition already holds ext4: this runs only for a
// blank partition of a disk made otherwise. Built only with the turbo_disk
// tag, which the builder sets for recipes with a disk output.
func makeExt4(f *os.File, dev string) error {
	size, err := f.Seek(0, 2)
	if err != nil {
		return err
	}
	o := ext4img.Options{Label: slots.DataPartition, Time: time.Now().Unix()}
	rand.Read(o.UUID[:])
	o.UUID[6] = o.UUID[6]&0x0f | 0x40 // RFC 9562 version 4 (random)
	o.UUID[8] = o.UUID[8]&0x3f | 0x80
	rand.Read(o.HashSeed[:])
	if err := ext4img.Create(f, size&^(ext4img.MiB-1), o); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w", dev, err)
	}
	return f.Sync()
}
