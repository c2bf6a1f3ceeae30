package data

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/format/ext4fs"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// diskSource reads what the disk says about itself: the appliance, version
// and manifest digest of the slot it boots next. A disk without a
// readable ESP gives an empty Source (the data is still exported).
func diskSource(d *diskimage.Disk) Source {
	src := Source{From: "disk"}
	esp, err := d.ESP()
	if err != nil {
		return src
	}
	st, err := slots.Read(esp)
	if err != nil {
		return src
	}
	plan, err := st.Plan()
	if err != nil {
		return src
	}
	slot := slots.SlotOf(plan.Entry)
	if slot == "" {
		return src
	}
	b, err := fs.ReadFile(esp, path.Join(slot, "manifest.json"))
	if err != nil {
		return src
	}
	m, err := manifest.Parse(b)
	if err != nil {
		return src
	}
	sum := sha256.Sum256(b)
	src.Name, src.Version, src.Build = m.Name, m.Version, "sha256:"+hex.EncodeToString(sum[:])
	if src.Check() != nil {
		return Source{From: "disk"}
	}
	return src
}

// ExportDisk writes the /data of the disk image or block device disk to
// the archive out (created whole or not at all). channel, when set, is
// recorded as the data's channel. The disk is opened read-only.
func ExportDisk(ctx context.Context, disk, out, channel string, progress Progress) (Source, Stats, error) {
	d, err := diskimage.Open(disk, false)
	if err != nil {
		return Source{}, Stats{}, err
	}
	defer d.Close()
	part, err := d.ReadPartition(slots.DataPartition)
	if err != nil {
		return Source{}, Stats{}, fmt.Errorf("%s: %w", disk, err)
	}
	fsys, err := ext4fs.Open(part, part.Size())
	if err != nil {
		return Source{}, Stats{}, fmt.Errorf("%s: partition %s: %w", disk, slots.DataPartition, err)
	}
	src := diskSource(d)
	src.Channel = channel
	var st Stats
	err = atomicfile.Write(out, 0o600, func(w io.Writer) error {
		var err error
		st, err = Export(ctx, fsys, src, w, progress)
		return err
	})
	if err != nil {
		return src, st, fmt.Errorf("%s: %w", disk, err)
	}
	return src, st, nil
}

// ImportOptions are the choices of an import.
type ImportOptions struct {
	// Time is the file system's creation time (SOURCE_DATE_EPOCH or 0).
	Time int64
	// TempDir holds the new file system of a block device import.
	TempDir string
	// Check, when set, sees the archive's Source before any member is
	// read; an error stops the import.
	Check    func(Source) error
	Limits   Limits
	Progress Progress
	// InPlace allows a block device target: its data partition is
	// overwritten in place, which is not atomic (ErrNotAtomic).
	InPlace bool
}

// ErrNotAtomic is wrapped by ImportDisk's refusal of a block device
// without ImportOptions.InPlace.
var ErrNotAtomic = errors.New("an import into a block device is not atomic")

// ImportDisk replaces the /data of the disk image or block device target
// by the archive's content. The new file system is built whole first: a
// disk image is copied to a temporary file beside it, whose data
// partition is made anew and filled, then renamed over the target; a
// block device gets the finished file system written over its data
// partition, primary superblock last. On any error before that the target
// is left as it was.
func ImportDisk(ctx context.Context, archive io.Reader, target string, o ImportOptions) (Source, Stats, error) {
	if o.Limits.Entries == 0 {
		o.Limits = DefaultLimits
	}
	st, err := os.Stat(target)
	if err != nil {
		return Source{}, Stats{}, err
	}
	if st.Mode()&fs.ModeDevice != 0 && !o.InPlace {
		// A device cannot be renamed, and its disk has no room to build
		// /data beside itself (the other slot is the rollback): the copy
		// overwrites the old file system, so a cut leaves neither.
		return Source{}, Stats{}, fmt.Errorf("%s: %w: the new file system is built whole in a temporary file first (every refusal still comes before a write), but then overwrites the data partition in place; cut short during that copy, the partition holds neither the old /data nor the new one (its primary superblock is written last, so the kernel refuses to mount it). Copy the device to an image, import into the image and write it back, or accept this with --in-place", target, ErrNotAtomic)
	}
	d, err := diskimage.Open(target, false)
	if err != nil {
		return Source{}, Stats{}, err
	}
	part, err := d.Partition(slots.DataPartition)
	if err != nil {
		d.Close()
		return Source{}, Stats{}, fmt.Errorf("%s: %w", target, err)
	}
	id := identity(d, part)
	d.Close()
	size := part.Size &^ (ext4img.MiB - 1)
	if err := ext4img.CheckSize(size); err != nil {
		return Source{}, Stats{}, fmt.Errorf("%s: partition %s: %w", target, slots.DataPartition, err)
	}
	id.Time = o.Time
	if st.Mode().IsRegular() {
		var src Source
		var stats Stats
		err := atomicfile.WriteFunc(target, st.Mode().Perm(), func(f *os.File) error {
			if err := copySkipping(ctx, f, target, part.Start, part.Size); err != nil {
				return err
			}
			region := &section{f: f, off: part.Start, size: part.Size}
			var err error
			src, stats, err = build(ctx, archive, region, size, id, o)
			return err
		})
		if err != nil {
			return src, stats, fmt.Errorf("import into %s: %w", target, err)
		}
		return src, stats, nil
	}
	if st.Mode()&fs.ModeDevice == 0 {
		return Source{}, Stats{}, fmt.Errorf("%s is neither a disk image file nor a block device", target)
	}
	return importDevice(ctx, archive, target, part, size, id, o)
}

// identity keeps the target file system's UUID, label and hash seed when
// it has an ext4 to keep them from.
func identity(d *diskimage.Disk, part diskimage.Partition) ext4img.Options {
	o := ext4img.Options{Label: slots.DataPartition, Fresh: true}
	r, err := d.ReadPartition(slots.DataPartition)
	if err != nil {
		return o
	}
	if old, err := ext4fs.Open(r, part.Size); err == nil {
		sb := old.Superblock()
		o.UUID, o.HashSeed, o.Label = sb.UUID, sb.HashSeed, sb.Label
	} else {
		sum := sha256.Sum256([]byte("turbo-image data " + part.GUID))
		copy(o.UUID[:], sum[:16])
		copy(o.HashSeed[:], sum[16:])
	}
	if len(o.Label) > 16 {
		o.Label = o.Label[:16]
	}
	return o
}

// build makes an empty ext4 in dev and fills it from the archive.
func build(ctx context.Context, archive io.Reader, dev ext4fs.Device, size int64, id ext4img.Options, o ImportOptions) (Source, Stats, error) {
	if err := ext4img.Create(dev, size, id); err != nil {
		return Source{}, Stats{}, err
	}
	b, err := ext4fs.NewBuilder(dev, size)
	if err != nil {
		return Source{}, Stats{}, err
	}
	src, st, err := Fill(ctx, archive, b, FillOptions{Limits: o.Limits, Progress: o.Progress, Check: o.Check})
	if err != nil {
		return src, st, err
	}
	if err := b.Finish(); err != nil {
		var ns *ext4fs.NoSpaceError
		if errors.As(err, &ns) {
			return src, st, fmt.Errorf("the archive is larger than the data partition (%d MiB): it %w", size>>20, err)
		}
		return src, st, err
	}
	// Cancelled after the last member: the switch has not happened yet.
	return src, st, ctx.Err()
}

// section is a region of a file, as an ext4fs.Device.
type section struct {
	f         *os.File
	off, size int64
}

func (s *section) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	if int64(len(b)) > s.size-off {
		n, err := s.f.ReadAt(b[:s.size-off], s.off+off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return s.f.ReadAt(b, s.off+off)
}

func (s *section) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > s.size {
		return 0, fmt.Errorf("write of %d bytes at %d is outside the %d-byte partition", len(b), off, s.size)
	}
	return s.f.WriteAt(b, s.off+off)
}

// copySkipping copies the disk image src into dst (a new empty file),
// except [skipOff, skipOff+skipLen), which stays a hole (zeros), and
// leaves holes of src as holes.
func copySkipping(ctx context.Context, dst *os.File, src string, skipOff, skipLen int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	size, err := in.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if err := dst.Truncate(size); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for _, r := range [][2]int64{{0, skipOff}, {skipOff + skipLen, size}} {
		if err := copyRange(ctx, dst, in, r[0], r[1], buf); err != nil {
			return err
		}
	}
	return nil
}

// copyRange copies [from, to) chunk by chunk, skipping chunks that read
// as zeros (dst is a fresh sparse file).
func copyRange(ctx context.Context, dst, src *os.File, from, to int64, buf []byte) error {
	for off := from; off < to; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(buf)), to-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil {
			return err
		}
		if !zero(buf[:n]) {
			if _, err := dst.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		off += n
	}
	return nil
}

var zeros = make([]byte, 1<<20)

func zero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
