package data

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
)

// importDevice builds the new file system in a temporary file, then
// writes it over the device's data partition: every chunk that differs,
// the primary superblock zeroed, and the superblock itself last, after a
// sync. A block device cannot be renamed: an import cut short during the
// copy leaves a data partition without a primary superblock, which the
// kernel does not mount (the old data is gone by then; docs/data.md).
func importDevice(ctx context.Context, archive io.Reader, target string, part diskimage.Partition, size int64, id ext4img.Options, o ImportOptions) (Source, Stats, error) {
	tmp, err := os.CreateTemp(o.TempDir, "turbo-data-*.img")
	if err != nil {
		return Source{}, Stats{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Truncate(size); err != nil {
		return Source{}, Stats{}, err
	}
	src, st, err := build(ctx, archive, tmp, size, id, o)
	if err != nil {
		return src, st, fmt.Errorf("import into %s: %w", target, err)
	}
	// Opened exclusively: fails while the device or a partition of it is mounted.
	d, err := diskimage.Open(target, true)
	if err != nil {
		return src, st, err
	}
	d.Close()
	dev, err := os.OpenFile(target, os.O_RDWR|exclusive(), 0)
	if err != nil {
		return src, st, err
	}
	defer dev.Close()
	const sbOff, sbLen = 1024, 1024
	newBuf, oldBuf := make([]byte, 1<<20), make([]byte, 1<<20)
	var superblock []byte
	for off := int64(0); off < part.Size; off += int64(len(newBuf)) {
		if err := ctx.Err(); err != nil {
			return src, st, err
		}
		n := min(int64(len(newBuf)), part.Size-off)
		nb, ob := newBuf[:n], oldBuf[:n]
		if off < size {
			if _, err := tmp.ReadAt(nb[:min(n, size-off)], off); err != nil {
				return src, st, err
			}
		}
		clear(nb[min(n, max(size-off, 0)):])
		if off == 0 {
			superblock = append([]byte(nil), nb[sbOff:sbOff+sbLen]...)
			clear(nb[sbOff : sbOff+sbLen])
		}
		if _, err := dev.ReadAt(ob, part.Start+off); err != nil {
			return src, st, err
		}
		if !bytes.Equal(nb, ob) {
			if _, err := dev.WriteAt(nb, part.Start+off); err != nil {
				return src, st, fmt.Errorf("%s: %w", target, err)
			}
		}
	}
	if err := dev.Sync(); err != nil {
		return src, st, err
	}
	if _, err := dev.WriteAt(superblock, part.Start+sbOff); err != nil {
		return src, st, err
	}
	return src, st, dev.Sync()
}
