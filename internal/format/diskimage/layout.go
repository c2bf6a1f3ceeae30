package diskimage

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// Sizes and alignment.
const (
	// MiB is 2^20 bytes.
	MiB int64 = 1 << 20
	// SectorSize is the logical sector size of the images this package
	// writes.
	SectorSize int64 = 512
	// Alignment is the alignment of every partition start and size, and of
	// the disk size.
	Alignment = MiB

	// MinESPSize is the smallest ESP that can hold FAT32 (65525 clusters of
	// 512 bytes plus the FATs and reserved sectors).
	MinESPSize = 33 * MiB

	// DefaultESPSize is the ESP size used when Layout.ESPSize is 0.
	DefaultESPSize = 64 * MiB
	// DefaultSlotSize is the size of each slot used when Layout.SlotSize is 0.
	DefaultSlotSize = 64 * MiB
	// DefaultDataSize is the data partition size used when Layout.DataSize
	// is 0.
	DefaultDataSize = 128 * MiB
)

// GPT partition names (labels) of the partitions this package writes. The
// names are a contract with the init and the flash code, so their one home
// is package slots; these are short local names for them.
const (
	// PartESP is the EFI System Partition (FAT32).
	PartESP = slots.ESPPartition
	// PartA is slot a's root partition (squashfs).
	PartA = slots.APartition
	// PartB is slot b's root partition (squashfs).
	PartB = slots.BPartition
	// PartData is the persistent data partition (ext4).
	PartData = slots.DataPartition
)

// Partition type GUIDs (upper case, as go-diskfs reports them).
const (
	// TypeESP is the EFI System Partition (UEFI specification).
	TypeESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	// TypeRootAMD64 is the Discoverable Partitions Specification's
	// "Root Partition (x86-64)".
	TypeRootAMD64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
	// TypeRootARM64 is the Discoverable Partitions Specification's
	// "Root Partition (64-bit ARM/AArch64)".
	TypeRootARM64 = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"
	// TypeVar is the Discoverable Partitions Specification's "Variable Data
	// Partition".
	TypeVar = "4D21B016-B534-45C2-A9FB-5C16E091FD2D"
)

// Layout describes the disk to build. Zero sizes select the defaults.
type Layout struct {
	// ESPSize is the size of the EFI System Partition in bytes (multiple of
	// 1 MiB, at least MinESPSize).
	ESPSize int64
	// SlotSize is the size of each of the two slot partitions in bytes
	// (multiple of 1 MiB).
	SlotSize int64
	// DataSize is the size of the data partition in bytes (multiple of
	// 1 MiB).
	DataSize int64
	// Arch is the target architecture: "amd64" or "arm64". It selects the
	// slots' partition type.
	Arch string
	// Seed is the source of every identifier in the image (disk GUID,
	// partition GUIDs, FAT volume ID), e.g. recipe name and version. Two
	// images with the same seed have the same identifiers, so give
	// different appliances different seeds.
	Seed string
}

// Plan is the resolved, validated layout: disk size and partition table.
type Plan struct {
	// Size is the disk size in bytes.
	Size int64
	// DiskGUID is the GPT disk GUID.
	DiskGUID string
	// VolumeID is the FAT32 volume serial number of the ESP.
	VolumeID uint32
	// Partitions are the partitions in table order.
	Partitions []Partition
	// DataUUID is the UUID of the data partition's ext4 file system.
	DataUUID [16]byte
	// DataHashSeed is the directory hash seed of that file system.
	DataHashSeed [16]byte
}

// Partition returns the planned partition with the given name.
func (p Plan) Partition(name string) (Partition, bool) {
	for _, pp := range p.Partitions {
		if pp.Name == name {
			return pp, true
		}
	}
	return Partition{}, false
}

// rootType returns the slot partition type for arch.
func rootType(arch string) (string, error) {
	switch arch {
	case "amd64":
		return TypeRootAMD64, nil
	case "arm64":
		return TypeRootARM64, nil
	default:
		return "", fmt.Errorf("arch %q: must be amd64 or arm64", arch)
	}
}

// maxDiskSize keeps every LBA in 32 bits, which the protective MBR needs.
const maxDiskSize = 2 << 40

// PlanLayout validates l and computes the partition table. It is pure: the
// same Layout always gives the same Plan. All problems are reported at once.
func PlanLayout(l Layout) (Plan, error) {
	var errs []error
	rtype, err := rootType(l.Arch)
	if err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(l.Seed) == "" {
		errs = append(errs, errors.New("seed: must not be empty (it is the source of the disk's GUIDs)"))
	}
	esp, slot, data := l.ESPSize, l.SlotSize, l.DataSize
	if esp == 0 {
		esp = DefaultESPSize
	}
	if slot == 0 {
		slot = DefaultSlotSize
	}
	if data == 0 {
		data = DefaultDataSize
	}
	check := func(field string, v int64) {
		switch {
		case v < 0:
			errs = append(errs, fmt.Errorf("%s: %d is negative", field, v))
		case v%Alignment != 0:
			errs = append(errs, fmt.Errorf("%s: %d is not a multiple of 1 MiB", field, v))
		case v > maxDiskSize:
			errs = append(errs, fmt.Errorf("%s: %s is larger than 2 TiB", field, bytesize.CeilMiB(v)))
		}
	}
	check("ESPSize", esp)
	check("SlotSize", slot)
	check("DataSize", data)
	if esp > 0 && esp < MinESPSize {
		errs = append(errs, fmt.Errorf("ESPSize: %s is too small for FAT32, need at least %s", bytesize.CeilMiB(esp), bytesize.CeilMiB(MinESPSize)))
	}
	if len(errs) > 0 {
		return Plan{}, errors.Join(errs...)
	}
	size := Alignment + esp + 2*slot + data + Alignment
	if size > maxDiskSize {
		return Plan{}, fmt.Errorf("disk size %s is larger than 2 TiB", bytesize.CeilMiB(size))
	}
	plan := Plan{
		Size:     size,
		DiskGUID: seedGUID(l.Seed, "disk"),
		VolumeID: seedVolumeID(l.Seed),
	}
	plan.DataUUID = seedUUID(l.Seed, "data-ext4")
	h := seedHash(l.Seed, "ext4-hash-seed:data")
	copy(plan.DataHashSeed[:], h[:16])
	start := Alignment
	add := func(name, typ, role string, sz int64) {
		plan.Partitions = append(plan.Partitions, Partition{
			Index:    len(plan.Partitions) + 1,
			Name:     name,
			TypeGUID: typ,
			GUID:     seedGUID(l.Seed, role),
			Start:    start,
			Size:     sz,
		})
		start += sz
	}
	add(PartESP, TypeESP, "esp", esp)
	add(PartA, rtype, "a", slot)
	add(PartB, rtype, "b", slot)
	add(PartData, TypeVar, "data", data)
	return plan, nil
}

// seedHash hashes seed and role unambiguously.
func seedHash(seed, role string) [32]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(seed)))
	h.Write(n[:])
	h.Write([]byte(seed))
	h.Write([]byte(role))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// seedUUID derives an RFC 9562 version 8 (custom, here SHA-256
// name-based) UUID from seed and role.
func seedUUID(seed, role string) [16]byte {
	s := seedHash(seed, "guid:"+role)
	var b [16]byte
	copy(b[:], s[:16])
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return b
}

// seedGUID is seedUUID formatted upper case.
func seedGUID(seed, role string) string {
	b := seedUUID(seed, role)
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// seedVolumeID derives the FAT volume serial number from seed.
func seedVolumeID(seed string) uint32 {
	s := seedHash(seed, "fat-volume-id")
	return binary.LittleEndian.Uint32(s[:4])
}
