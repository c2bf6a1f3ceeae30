package builder

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/turbo-image/turbo-image/internal/format/vdisk"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// The disk image converted for hypervisors and clouds, beside disk.img.
const (
	QCOW2File = "disk.qcow2"
	VMDKFile  = "disk.vmdk"
	VHDFile   = "disk.vhd"
)

// ConversionFile returns the file name of a disk conversion output
// (recipe.OutputQCOW2, OutputQCOW2Compressed, OutputVMDK or OutputVHD).
func ConversionFile(output string) string {
	if output == recipe.OutputQCOW2Compressed {
		return QCOW2File
	}
	return "disk." + output
}

// seedID derives a format identifier from the build's seed (recipe name
// and version, the seed of the disk's GUIDs), so that rebuilding gives the
// same bytes and different appliances get different identifiers.
func seedID(seed, role string) [32]byte {
	return sha256.Sum256([]byte("turbo-image " + role + "\x00" + seed))
}

// convertDisk writes the recipe's disk conversions from the raw image
// already in the output, each digested into out.
func convertDisk(r *recipe.Recipe, o Options, out *outputs) error {
	rawPath := filepath.Join(out.dir, DiskFile)
	raw, err := os.Open(rawPath)
	if err != nil {
		return err
	}
	defer raw.Close()
	st, err := raw.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	seed := r.Name + "\x00" + r.Version
	for _, c := range recipe.DiskConversions() {
		if !r.Has(c) {
			continue
		}
		name := ConversionFile(c)
		var write func(f *os.File) error
		switch c {
		case recipe.OutputQCOW2:
			write = func(f *os.File) error { return vdisk.WriteQCOW2(f, raw, size) }
		case recipe.OutputQCOW2Compressed:
			write = func(f *os.File) error { return vdisk.WriteQCOW2Compressed(f, raw, size) }
		case recipe.OutputVMDK:
			h := seedID(seed, "vmdk-cid")
			cid := binary.BigEndian.Uint32(h[:])
			if cid == 0xffffffff {
				cid = 0xfffffffe
			}
			write = func(f *os.File) error {
				return vdisk.WriteVMDK(f, raw, size, vdisk.VMDKOptions{CID: cid, Name: name})
			}
		case recipe.OutputVHD:
			h := seedID(seed, "vhd-unique-id")
			var id [16]byte
			copy(id[:], h[:16])
			id[6] = id[6]&0x0f | 0x40 // RFC 9562 version 4 layout, as the GPT GUIDs
			id[8] = id[8]&0x3f | 0x80
			write = func(f *os.File) error {
				return vdisk.WriteVHD(f, raw, size, vdisk.VHDOptions{UniqueID: id, Epoch: o.SourceDateEpoch})
			}
		}
		err := out.addWith(name, func(p string) error { return atomicfile.WriteFunc(p, 0o644, write) })
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
