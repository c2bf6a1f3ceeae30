// Package isoimage writes the hybrid ISO images turbo-image builds: an
// ISO 9660 volume (ECMA-119, 4th edition) whose El Torito boot catalog
// ("El Torito" Bootable CD-ROM Format Specification 1.0) names one EFI
// boot image, a FAT32 EFI system partition holding the appliance's UKI
// as EFI/BOOT/BOOTX64.EFI (the removable-media path of UEFI 2.10, section
// 3.5.1.1), and whose system area carries an MBR partition table with
// that same image as an EFI system partition (type 0xEF), so the file
// also boots when written to a USB stick or attached as a disk.
//
// Layout, in 2048-byte logical blocks:
//
//	0-15   system area: the hybrid MBR in its first 512 bytes
//	16     primary volume descriptor
//	17     El Torito boot record volume descriptor
//	18     volume descriptor set terminator
//	19, 20 type L and type M path tables (the root only)
//	21     the root directory: ".", "..", BOOT.CAT;1, EFIBOOT.IMG;1
//	22     the boot catalog
//	23-    the EFI boot image, to the end of the volume
//
// The structures are written here rather than with go-diskfs's iso9660
// package (v1.9.4, already a dependency): its Finalize stamps time.Now()
// into the volume descriptors and the boot catalog's directory record and
// takes the other files' times from a staging folder on disk, with no
// option to fix them, so its output differs on every run. Every date here
// is the caller's epoch (SOURCE_DATE_EPOCH), the volume has one fixed
// order, and the output is a pure function of the input.
package isoimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/fat32"
)

// BlockSize is the ISO 9660 logical block size.
const BlockSize = 2048

// Block numbers of the fixed structures.
const (
	blkPVD      = 16
	blkBootRec  = 17
	blkTerm     = 18
	blkPathL    = 19
	blkPathM    = 20
	blkRoot     = 21
	blkCatalog  = 22
	blkESP      = 23
	pathTableSz = 10 // one record: the root
)

// File names in the root directory (d-characters, version ;1).
const (
	CatalogName = "BOOT.CAT;1"
	ESPName     = "EFIBOOT.IMG;1"
)

// Image is what goes into an ISO.
type Image struct {
	// VolumeID is the volume identifier: 1-32 of A-Z, 0-9 and _
	// (ECMA-119 d-characters).
	VolumeID string
	// Epoch is the time (seconds since 1970, UTC) written into every
	// date: SOURCE_DATE_EPOCH for reproducible builds.
	Epoch int64
	// ESP lists the files of the EFI boot image.
	ESP []fat32.File
	// ESPVolumeID is the FAT volume serial number of the boot image.
	ESPVolumeID uint32
}

// Device is what Write writes to; it must read as zeros where nothing was
// written (a new file truncated to Size, or memory).
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// Size returns the size in bytes of the ISO of im.
func Size(im Image) (int64, error) {
	esp, err := fat32.MinSize(im.ESP)
	if err != nil {
		return 0, err
	}
	return blkESP*BlockSize + esp, nil
}

func checkVolumeID(id string) error {
	if id == "" || len(id) > 32 {
		return fmt.Errorf("iso: volume id %q: want 1-32 characters", id)
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("iso: volume id %q: only A-Z, 0-9 and _ (ECMA-119 d-characters)", id)
		}
	}
	return nil
}

// VolumeID makes a volume identifier from any name: upper case, every
// other character an underscore, at most 32 characters.
func VolumeID(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 32 {
		b = b[:32]
	}
	if len(b) == 0 {
		return "TURBO"
	}
	return string(b)
}

// Write writes the ISO of im to dev, which must read as zeros over the
// first Size(im) bytes. Only non-zero blocks are written, so a file stays
// sparse.
func Write(dev Device, im Image) error {
	if err := checkVolumeID(im.VolumeID); err != nil {
		return err
	}
	if im.Epoch < 0 || im.Epoch > 253402300799 { // 9999-12-31T23:59:59Z
		return fmt.Errorf("iso: epoch %d: want 0 to 253402300799 (year 9999)", im.Epoch)
	}
	espSize, err := fat32.MinSize(im.ESP)
	if err != nil {
		return err
	}
	espBlocks := espSize / BlockSize
	total := blkESP + espBlocks
	if total > 0xffffffff {
		return errors.New("iso: too big")
	}
	t := time.Unix(im.Epoch, 0).UTC()
	put := func(blk int64, b []byte) error {
		_, err := dev.WriteAt(b, blk*BlockSize)
		return err
	}
	if err := put(0, hybridMBR(espSize)); err != nil {
		return err
	}
	if err := put(blkPVD, pvd(im.VolumeID, uint32(total), t)); err != nil {
		return err
	}
	if err := put(blkBootRec, bootRecord()); err != nil {
		return err
	}
	if err := put(blkTerm, terminator()); err != nil {
		return err
	}
	if err := put(blkPathL, pathTable(binary.LittleEndian)); err != nil {
		return err
	}
	if err := put(blkPathM, pathTable(binary.BigEndian)); err != nil {
		return err
	}
	root := dirRecord([]byte{0}, blkRoot, BlockSize, true, t)
	root = append(root, dirRecord([]byte{1}, blkRoot, BlockSize, true, t)...)
	root = append(root, dirRecord([]byte(CatalogName), blkCatalog, BlockSize, false, t)...)
	root = append(root, dirRecord([]byte(ESPName), blkESP, uint32(espSize), false, t)...)
	if err := put(blkRoot, root); err != nil {
		return err
	}
	if err := put(blkCatalog, bootCatalog(espSize)); err != nil {
		return err
	}
	// The EFI boot image: a FAT32 volume whose hidden-sectors field is its
	// start in 512-byte sectors, as on the hybrid MBR.
	esp := &offsetDevice{dev: dev, off: blkESP * BlockSize}
	if err := fat32.Build(esp, espSize, im.ESPVolumeID, blkESP*BlockSize/512, im.ESP); err != nil {
		return fmt.Errorf("iso: EFI boot image: %w", err)
	}
	return nil
}

// offsetDevice is dev seen from off on.
type offsetDevice struct {
	dev Device
	off int64
}

func (d *offsetDevice) ReadAt(b []byte, off int64) (int, error)  { return d.dev.ReadAt(b, d.off+off) }
func (d *offsetDevice) WriteAt(b []byte, off int64) (int, error) { return d.dev.WriteAt(b, d.off+off) }

// both32 and both16 are ECMA-119's "both-byte orders" numbers (7.3.3,
// 7.2.3): little-endian, then big-endian.
func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

// padded is s followed by spaces to n bytes (a- and d-character fields).
func padded(s string, n int) []byte {
	b := []byte(s + strings.Repeat(" ", n))
	return b[:n]
}

// decDate is the 17-byte volume descriptor date (ECMA-119 8.4.26.1):
// "YYYYMMDDHHMMSScc" in digits, then the offset from GMT in 15-minute
// units (0: UTC).
func decDate(t time.Time) []byte {
	return append([]byte(t.Format("20060102150405")+"00"), 0)
}

// unsetDate is a date that is not specified: sixteen '0' digits, offset 0.
func unsetDate() []byte {
	return append([]byte(strings.Repeat("0", 16)), 0)
}

// pvd is the primary volume descriptor (ECMA-119 8.4).
func pvd(volID string, blocks uint32, t time.Time) []byte {
	b := make([]byte, BlockSize)
	b[0] = 1
	copy(b[1:], "CD001")
	b[6] = 1
	copy(b[8:40], padded("", 32))     // system identifier
	copy(b[40:72], padded(volID, 32)) // volume identifier
	both32(b[80:], blocks)            // volume space size
	both16(b[120:], 1)                // volume set size
	both16(b[124:], 1)                // volume sequence number
	both16(b[128:], BlockSize)        // logical block size
	both32(b[132:], pathTableSz)      // path table size
	binary.LittleEndian.PutUint32(b[140:], blkPathL)
	binary.BigEndian.PutUint32(b[148:], blkPathM)
	copy(b[156:190], dirRecord([]byte{0}, blkRoot, BlockSize, true, t))
	copy(b[190:318], padded("", 128))            // volume set identifier
	copy(b[318:446], padded("", 128))            // publisher
	copy(b[446:574], padded("TURBO_IMAGE", 128)) // data preparer
	copy(b[574:702], padded("", 128))            // application
	copy(b[702:813], padded("", 37*3))           // copyright, abstract, bibliographic files
	copy(b[813:], decDate(t))                    // creation
	copy(b[830:], decDate(t))                    // modification
	copy(b[847:], unsetDate())                   // expiration
	copy(b[864:], unsetDate())                   // effective
	b[881] = 1                                   // file structure version
	return b
}

// bootRecord is the El Torito boot record volume descriptor (El Torito
// 1.0, section 2.0): it points at the boot catalog.
func bootRecord() []byte {
	b := make([]byte, BlockSize)
	b[0] = 0
	copy(b[1:], "CD001")
	b[6] = 1
	copy(b[7:], "EL TORITO SPECIFICATION")
	binary.LittleEndian.PutUint32(b[0x47:], blkCatalog)
	return b
}

// terminator is the volume descriptor set terminator (ECMA-119 8.3).
func terminator() []byte {
	b := make([]byte, BlockSize)
	b[0] = 255
	copy(b[1:], "CD001")
	b[6] = 1
	return b
}

// pathTable is a path table with the root directory alone (ECMA-119 9.4).
func pathTable(order binary.ByteOrder) []byte {
	b := make([]byte, BlockSize)
	b[0] = 1 // length of the directory identifier
	order.PutUint32(b[2:], blkRoot)
	order.PutUint16(b[6:], 1) // parent: itself
	b[8] = 0                  // the root's identifier
	return b
}

// dirRecord is a directory record (ECMA-119 9.1) with the recording date
// t (9.1.5: years since 1900, month, day, hour, minute, second, GMT
// offset).
func dirRecord(id []byte, extent, size uint32, dir bool, t time.Time) []byte {
	n := 33 + len(id)
	if n%2 == 1 {
		n++
	}
	b := make([]byte, n)
	b[0] = byte(n)
	both32(b[2:], extent)
	both32(b[10:], size)
	b[18] = byte(t.Year() - 1900)
	b[19], b[20] = byte(t.Month()), byte(t.Day())
	b[21], b[22], b[23] = byte(t.Hour()), byte(t.Minute()), byte(t.Second())
	if dir {
		b[25] = 2
	}
	both16(b[28:], 1)
	b[32] = byte(len(id))
	copy(b[33:], id)
	return b
}

// El Torito catalog values.
const (
	platformEFI = 0xef // El Torito platform ID assigned to EFI (UEFI 2.10, 13.3.2.1)
	bootable    = 0x88
	noEmulation = 0
)

// bootCatalog is the boot catalog (El Torito 1.0, section 2.1-2.3): a
// validation entry for the EFI platform and a bootable no-emulation
// default entry for the EFI boot image. The sector count is in 512-byte
// virtual sectors and only 16 bits wide; an image it cannot describe (a
// FAT32 volume is at least 33 MiB, more than 65535 sectors) gets a count
// of 1. UEFI firmware built from EDK II (OVMF, Hyper-V generation 2, most
// PCs) takes a count below 2 as "to the end of the volume"
// (MdeModulePkg/Universal/Disk/PartitionDxe/ElTorito.c), and the image is
// the last thing in the volume, so the partition it sees is the image.
func bootCatalog(espSize int64) []byte {
	b := make([]byte, BlockSize)
	v := b[:32]
	v[0] = 1
	v[1] = platformEFI
	copy(v[4:28], "TURBO-IMAGE")
	v[30], v[31] = 0x55, 0xaa
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	binary.LittleEndian.PutUint16(v[28:], -sum) // all words sum to 0
	e := b[32:64]
	e[0] = bootable
	e[1] = noEmulation
	count := espSize / 512
	if count > 0xffff {
		count = 1
	}
	binary.LittleEndian.PutUint16(e[6:], uint16(count))
	binary.LittleEndian.PutUint32(e[8:], blkESP)
	return b
}

// hybridMBR is the system area's first sector: a classic MBR (UEFI 2.10,
// 5.2.1 "Legacy Master Boot Record") with one partition, the EFI boot
// image as an EFI system partition (OSType 0xEF), so that firmware that
// reads the file as a disk finds it. CHS fields hold the "not used"
// values 0xFFFFFE.
func hybridMBR(espSize int64) []byte {
	b := make([]byte, 512)
	p := b[446:462]
	p[1], p[2], p[3] = 0xfe, 0xff, 0xff
	p[4] = 0xef
	p[5], p[6], p[7] = 0xfe, 0xff, 0xff
	binary.LittleEndian.PutUint32(p[8:], blkESP*BlockSize/512)
	binary.LittleEndian.PutUint32(p[12:], uint32(espSize/512))
	b[510], b[511] = 0x55, 0xaa
	return b
}
