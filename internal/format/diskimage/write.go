package diskimage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/turbo-image/turbo-image/internal/format/fat32"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
)

// Image is everything that goes into a disk image.
type Image struct {
	// Layout is the partition layout.
	Layout Layout
	// ESP are the files of the EFI System Partition.
	ESP []File
	// SlotA is the raw content of slot a (a squashfs image).
	SlotA []byte
	// SlotB is the raw content of slot b; nil leaves the slot zeroed.
	SlotB []byte
	// DataExt4 writes an empty ext4 file system on the data partition
	// (label turbo-data, UUID and directory hash seed from the layout's
	// seed, times Epoch), so the appliance only mounts it. False leaves
	// the partition blank, for the init to format on first boot.
	DataExt4 bool
	// Epoch is the time stamp of the data file system in seconds
	// (SOURCE_DATE_EPOCH or 0).
	Epoch int64
}

// osFile adapts an *os.File to go-diskfs's backend.File and
// backend.WritableFile without exposing Sync, so that go-diskfs does not
// fsync after every table write: Write syncs once at the end.
type osFile struct{ f *os.File }

func (o osFile) Stat() (fs.FileInfo, error)                { return o.f.Stat() }
func (o osFile) Read(b []byte) (int, error)                { return o.f.Read(b) }
func (o osFile) Close() error                              { return nil }
func (o osFile) ReadAt(b []byte, off int64) (int, error)   { return o.f.ReadAt(b, off) }
func (o osFile) WriteAt(b []byte, off int64) (int, error)  { return o.f.WriteAt(b, off) }
func (o osFile) Seek(off int64, whence int) (int64, error) { return o.f.Seek(off, whence) }

// section is a fat32.Device window [off, off+size) of an io.ReaderAt /
// io.WriterAt, with an optional Sync.
type section struct {
	rw interface {
		io.ReaderAt
		io.WriterAt
	}
	off, size int64
}

func (s section) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	short := false
	if int64(len(b)) > s.size-off {
		b, short = b[:s.size-off], true
	}
	n, err := s.rw.ReadAt(b, s.off+off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

func (s section) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > s.size {
		return 0, fmt.Errorf("write of %d bytes at %d is outside the %d-byte partition", len(b), off, s.size)
	}
	return s.rw.WriteAt(b, s.off+off)
}

func (s section) Sync() error {
	if y, ok := s.rw.(interface{ Sync() error }); ok {
		return y.Sync()
	}
	return nil
}

// checkContent reports, for every partition at once, content that does not
// fit: "partition turbo-a: content needs 70.2 MiB, partition has 64 MiB".
func checkContent(plan Plan, img Image) error {
	var errs []error
	if err := fat32.CheckFiles(img.ESP); err != nil {
		errs = append(errs, fmt.Errorf("partition %s: %w", PartESP, err))
	} else if esp, ok := plan.Partition(PartESP); ok {
		g, err := fat32.PlanGeometry(esp.Size)
		if err != nil {
			errs = append(errs, fmt.Errorf("partition %s: %w", PartESP, err))
		} else if fat32.ClustersNeeded(img.ESP, g.ClusterSize()) > g.Clusters {
			need := espSizeNeeded(img.ESP)
			errs = append(errs, fmt.Errorf("partition %s: content needs %s, partition has %s", PartESP, bytesize.CeilMiB(need), bytesize.CeilMiB(esp.Size)))
		}
	}
	for _, s := range []struct {
		name string
		data []byte
	}{{PartA, img.SlotA}, {PartB, img.SlotB}} {
		p, _ := plan.Partition(s.name)
		if int64(len(s.data)) > p.Size {
			errs = append(errs, fmt.Errorf("partition %s: content needs %s, partition has %s", s.name, bytesize.CeilMiB(int64(len(s.data))), bytesize.CeilMiB(p.Size)))
		}
	}
	if p, ok := plan.Partition(PartData); ok && img.DataExt4 {
		if err := ext4img.CheckSize(p.Size); err != nil {
			errs = append(errs, fmt.Errorf("partition %s: ext4: %w", PartData, err))
		}
	}
	return errors.Join(errs...)
}

// Write writes the disk image to path. The image is a sparse file: it is
// sized with ftruncate and only non-zero areas are written (the data
// partition and unused space stay holes). It is written through
// atomicfile (a synced temporary file renamed over path, then a synced
// directory); on error nothing is left behind. The same
// Image always gives the same bytes.
func Write(path string, img Image) (err error) {
	plan, err := PlanLayout(img.Layout)
	if err != nil {
		return fmt.Errorf("disk image %s: %w", path, err)
	}
	if err := checkContent(plan, img); err != nil {
		return fmt.Errorf("disk image %s: %w", path, err)
	}
	err = atomicfile.WriteFunc(path, 0o644, func(f *os.File) error {
		if err := f.Truncate(plan.Size); err != nil {
			return fmt.Errorf("sizing: %w", err)
		}
		if err := writeGPT(f, plan); err != nil {
			return err
		}
		for _, p := range plan.Partitions {
			var werr error
			switch p.Name {
			case PartESP:
				werr = fat32.Build(section{f, p.Start, p.Size}, p.Size, plan.VolumeID, uint32(p.Start/SectorSize), img.ESP)
			case PartA:
				_, werr = f.WriteAt(img.SlotA, p.Start)
			case PartB:
				_, werr = f.WriteAt(img.SlotB, p.Start)
			case PartData:
				if img.DataExt4 {
					// The file is new and sparse: zeros stay holes.
					werr = ext4img.Create(section{f, p.Start, p.Size}, p.Size, ext4img.Options{
						Label: PartData, UUID: plan.DataUUID, HashSeed: plan.DataHashSeed, Time: img.Epoch, Fresh: true})
				}
			}
			if werr != nil {
				return fmt.Errorf("partition %s: %w", p.Name, werr)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("disk image %s: %w", path, err)
	}
	return nil
}

// gptTable converts a Plan into a go-diskfs table with every GUID set.
func gptTable(plan Plan) *gpt.Table {
	t := &gpt.Table{
		LogicalSectorSize:  int(SectorSize),
		PhysicalSectorSize: int(SectorSize),
		GUID:               plan.DiskGUID,
		ProtectiveMBR:      true,
	}
	for _, p := range plan.Partitions {
		t.Partitions = append(t.Partitions, &gpt.Partition{
			Index: p.Index,
			Start: uint64(p.Start / SectorSize),
			End:   uint64((p.Start+p.Size)/SectorSize - 1),
			Size:  uint64(p.Size),
			Type:  gpt.Type(p.TypeGUID),
			Name:  p.Name,
			GUID:  p.GUID,
		})
	}
	return t
}

// writeGPT writes the protective MBR and both GPT copies.
func writeGPT(f *os.File, plan Plan) error {
	if err := gptTable(plan).Write(osFile{f}, plan.Size); err != nil {
		return fmt.Errorf("writing GPT: %w", err)
	}
	return nil
}
