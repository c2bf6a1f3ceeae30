//go:build linux && turbo_disk

package turboinit

import (
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"

	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// makeExt4 creates an ext4 file system over the whole block device f with
// go-diskfs (the init has no mkfs binary to call). Built only with the
// turbo_disk tag, which the builder sets for recipes with a disk output.
func makeExt4(f *os.File, dev string) error {
	size, err := f.Seek(0, 2)
	if err != nil {
		return err
	}
	if _, err := ext4.Create(file.New(f, false), size, 0, 512, &ext4.Params{VolumeName: slots.DataPartition}); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w", dev, err)
	}
	return f.Sync()
}
