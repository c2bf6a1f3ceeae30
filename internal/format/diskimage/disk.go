package diskimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/turbo-image/turbo-image/internal/format/fat32"
	"github.com/turbo-image/turbo-image/internal/format/vdisk"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// Partition is one GPT partition: of a Plan (Attributes 0) or of an opened
// Disk.
type Partition struct {
	// Index is the 1-based GPT entry number.
	Index int
	// Name is the GPT partition name.
	Name string
	// TypeGUID is the partition type GUID, upper case.
	TypeGUID string
	// GUID is the unique partition GUID, upper case.
	GUID string
	// Start is the partition's offset in bytes.
	Start int64
	// Size is the partition's size in bytes.
	Size int64
	// Attributes are the GPT attribute bits.
	Attributes uint64
}

// Disk is an opened disk image file or block device with a GPT.
type Disk struct {
	f          Device
	path       string
	writable   bool
	size       int64
	sectorSize int64
	diskGUID   string
	parts      []Partition
}

// Open opens the disk image file or block device at path and reads its GPT
// (the backup table is used when the primary is damaged). Writable opens it
// for WritePartition and ESP changes; on Linux a block device is then
// opened exclusively, which fails while any of its partitions is mounted.
func Open(path string, writable bool) (*Disk, error) {
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR | exclusiveFlag(path)
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	d, err := openFile(f, path, writable)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func openFile(f *os.File, path string, writable bool) (*Disk, error) {
	// Seeking to the end gives the size of block devices as well as files.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("disk %s: size: %w", path, err)
	}
	return OpenDevice(f, size, path, writable)
}

// Device is storage a Disk can live on: a file, a block device, or a test
// double (the flash power-cut tests record every write through one).
type Device interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// ErrVirtualDisk is wrapped by the error of Open and OpenDevice for a
// qcow2, VMDK or VHD image.
var ErrVirtualDisk = errors.New("not a raw disk")

// OpenDevice opens the disk on dev, which holds size bytes; name is used in
// messages. Close closes dev. A qcow2, VMDK or VHD image is refused with
// ErrVirtualDisk.
func OpenDevice(dev Device, size int64, name string, writable bool) (*Disk, error) {
	if f := vdisk.Detect(dev, size); f != "" {
		// A VHD's GPT would even be found (a fixed VHD is the raw disk
		// plus a footer), but writing its backup GPT would overwrite the
		// footer: every virtual disk format is refused alike.
		return nil, fmt.Errorf("disk %s: %w but a %s image; flash and inspect work on raw disks: use the build's disk.img, or convert this one with `qemu-img convert -O raw %s disk.img`",
			name, ErrVirtualDisk, f, name)
	}
	d := &Disk{f: dev, path: name, writable: writable, size: size}
	var errs []error
	for _, ss := range []int64{512, 4096} {
		t, err := readGPT(devFile{io.NewSectionReader(dev, 0, size), size}, size, ss)
		if err != nil {
			errs = append(errs, fmt.Errorf("%d-byte sectors: %w", ss, err))
			continue
		}
		d.sectorSize = ss
		d.diskGUID = t.GUID
		if d.parts, err = partitionsOf(t, ss, size); err != nil {
			return nil, fmt.Errorf("disk %s: %w", name, err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("disk %s: no GPT found: %w", name, errors.Join(errs...))
}

// Limits enforced before go-diskfs reads a GPT: it trusts the header's
// entry size and count (size 0 loops forever, huge counts allocate
// without bound).
const (
	gptEntrySize  = 128
	gptMaxEntries = 4096
)

// checkGPTHeader validates, for a header go-diskfs would accept (signature,
// revision, header size, reserved field and CRC), the fields it trusts.
// Headers go-diskfs rejects by itself need no check.
func checkGPTHeader(h []byte) error {
	if len(h) < 92 || !bytes.Equal(h[0:8], []byte("EFI PART")) ||
		!bytes.Equal(h[8:12], []byte{0, 0, 1, 0}) ||
		binary.LittleEndian.Uint32(h[12:]) != 92 ||
		binary.LittleEndian.Uint32(h[20:]) != 0 {
		return nil
	}
	c := append([]byte(nil), h[:92]...)
	clear(c[16:20])
	if crc32.ChecksumIEEE(c) != binary.LittleEndian.Uint32(h[16:]) {
		return nil
	}
	count := binary.LittleEndian.Uint32(h[80:])
	esz := binary.LittleEndian.Uint32(h[84:])
	if esz != gptEntrySize {
		return fmt.Errorf("GPT entry size %d, want %d", esz, gptEntrySize)
	}
	if count == 0 || count > gptMaxEntries {
		return fmt.Errorf("GPT entry count %d out of range 1..%d", count, gptMaxEntries)
	}
	return nil
}

// devFile adapts a read-only view of a Device to go-diskfs's backend.File.
type devFile struct {
	*io.SectionReader
	size int64
}

func (d devFile) Stat() (fs.FileInfo, error) { return devInfo{d.size}, nil }
func (d devFile) Close() error               { return nil }

type devInfo struct{ size int64 }

func (i devInfo) Name() string       { return "disk" }
func (i devInfo) Size() int64        { return i.size }
func (i devInfo) Mode() fs.FileMode  { return 0o600 }
func (i devInfo) ModTime() time.Time { return time.Time{} }
func (i devInfo) IsDir() bool        { return false }
func (i devInfo) Sys() any           { return nil }

// readGPT checks both headers, then reads the table with go-diskfs.
func readGPT(f backend.File, size, ss int64) (*gpt.Table, error) {
	if size < 3*ss {
		return nil, fmt.Errorf("disk of %d bytes is too small for a GPT", size)
	}
	for _, off := range []int64{ss, (size/ss - 1) * ss} {
		h := make([]byte, ss)
		if _, err := io.ReadFull(io.NewSectionReader(f, off, ss), h); err != nil {
			return nil, err
		}
		if err := checkGPTHeader(h); err != nil {
			return nil, err
		}
	}
	t, err := gpt.Read(f, int(ss), int(ss))
	if err != nil {
		return nil, err
	}
	return t, nil
}

// partitionsOf converts and validates go-diskfs's partitions.
func partitionsOf(t *gpt.Table, ss, size int64) ([]Partition, error) {
	var out []Partition
	for _, p := range t.Partitions {
		if p.Type == gpt.Unused {
			continue
		}
		if p.End < p.Start || p.Start == 0 || p.End >= uint64(size/ss) {
			return nil, fmt.Errorf("partition %d (%q): sectors %d..%d do not fit the %d-sector disk", p.Index, p.Name, p.Start, p.End, size/ss)
		}
		out = append(out, Partition{
			Index:      p.Index,
			Name:       p.Name,
			TypeGUID:   strings.ToUpper(string(p.Type)),
			GUID:       strings.ToUpper(p.GUID),
			Start:      int64(p.Start) * ss,
			Size:       int64(p.End-p.Start+1) * ss,
			Attributes: p.Attributes,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	for i := 1; i < len(out); i++ {
		if a, b := out[i-1], out[i]; a.Start+a.Size > b.Start {
			return nil, fmt.Errorf("partitions %d (%q) and %d (%q) overlap", a.Index, a.Name, b.Index, b.Name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// Size returns the size of the disk in bytes.
func (d *Disk) Size() int64 { return d.size }

// SectorSize returns the logical sector size the GPT was found with.
func (d *Disk) SectorSize() int64 { return d.sectorSize }

// GUID returns the GPT disk GUID, upper case.
func (d *Disk) GUID() string { return d.diskGUID }

// Partitions returns the partitions in table order.
func (d *Disk) Partitions() ([]Partition, error) {
	return append([]Partition(nil), d.parts...), nil
}

// Partition returns the partition with the given GPT name.
func (d *Disk) Partition(name string) (Partition, error) {
	var found []Partition
	for _, p := range d.parts {
		if p.Name == name {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return Partition{}, fmt.Errorf("disk %s: no partition named %q: %w", d.path, name, fs.ErrNotExist)
	case 1:
		return found[0], nil
	default:
		return Partition{}, fmt.Errorf("disk %s: %d partitions are named %q", d.path, len(found), name)
	}
}

// espPartition finds the EFI System Partition: the one named turbo-esp if
// several have the ESP type.
func (d *Disk) espPartition() (Partition, error) {
	var esps []Partition
	for _, p := range d.parts {
		if p.TypeGUID == TypeESP {
			esps = append(esps, p)
		}
	}
	if len(esps) == 1 {
		return esps[0], nil
	}
	for _, p := range esps {
		if p.Name == PartESP {
			return p, nil
		}
	}
	if len(esps) == 0 {
		return Partition{}, fmt.Errorf("disk %s: no EFI System Partition", d.path)
	}
	return Partition{}, fmt.Errorf("disk %s: %d EFI System Partitions and none named %q", d.path, len(esps), PartESP)
}

// ESP opens the FAT32 file system of the EFI System Partition. Every change
// is written to the disk before the call that makes it returns; ESP.Sync
// or Disk.Close flushes it to stable storage.
func (d *Disk) ESP() (ESP, error) {
	p, err := d.espPartition()
	if err != nil {
		return nil, err
	}
	v, err := fat32.Open(section{d.f, p.Start, p.Size}, p.Size, d.writable)
	if err != nil {
		return nil, fmt.Errorf("disk %s: partition %s: %w", d.path, p.Name, err)
	}
	return v, nil
}

// ReadPartition returns a reader over the named partition.
func (d *Disk) ReadPartition(name string) (*io.SectionReader, error) {
	p, err := d.Partition(name)
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(d.f, p.Start, p.Size), nil
}

// WritePartition writes exactly size bytes from r to the start of the named
// partition. Bytes after size keep their old content. The data is on
// stable storage after Sync or Close.
func (d *Disk) WritePartition(name string, r io.Reader, size int64) error {
	if !d.writable {
		return fmt.Errorf("disk %s: %w (opened read-only)", d.path, fs.ErrPermission)
	}
	p, err := d.Partition(name)
	if err != nil {
		return err
	}
	if size < 0 || size > p.Size {
		return fmt.Errorf("partition %s: content needs %s, partition has %s", name, bytesize.CeilMiB(size), bytesize.CeilMiB(p.Size))
	}
	n, err := io.Copy(io.NewOffsetWriter(d.f, p.Start), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("partition %s: writing: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("partition %s: got %d of %d bytes: %w", name, n, size, io.ErrUnexpectedEOF)
	}
	return nil
}

// Sync flushes written data to stable storage.
func (d *Disk) Sync() error {
	if !d.writable {
		return nil
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("disk %s: sync: %w", d.path, err)
	}
	return nil
}

// Close syncs (when writable) and closes the disk. ESP handles must not be
// used afterwards.
func (d *Disk) Close() error {
	serr := d.Sync()
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("disk %s: %w", d.path, err)
	}
	return serr
}
