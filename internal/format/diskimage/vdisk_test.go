package diskimage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/vdisk"
)

// TestOpenRefusesVirtualDisks: a qcow2, VMDK or VHD of a good disk is
// refused with a message saying what to do, never opened as raw (a fixed
// VHD would be: its GPT is intact, and a write of the backup GPT would
// overwrite its footer).
func TestOpenRefusesVirtualDisks(t *testing.T) {
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.img")
	writeSmallDisk(t, rawPath, tinyESP())
	if d, err := Open(rawPath, false); err != nil {
		t.Fatalf("raw disk: %v", err)
	} else {
		d.Close()
	}
	raw, err := os.Open(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	st, _ := raw.Stat()
	for name, write := range map[string]func(*os.File) error{
		"disk.qcow2": func(f *os.File) error { return vdisk.WriteQCOW2(f, raw, st.Size()) },
		"disk.vmdk": func(f *os.File) error {
			return vdisk.WriteVMDK(f, raw, st.Size(), vdisk.VMDKOptions{CID: 7, Name: "disk.vmdk"})
		},
		"disk.vhd": func(f *os.File) error { return vdisk.WriteVHD(f, raw, st.Size(), vdisk.VHDOptions{}) },
	} {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for _, writable := range []bool{false, true} {
			d, err := Open(p, writable)
			if err == nil {
				d.Close()
				t.Errorf("%s opened (writable %v)", name, writable)
				continue
			}
			if !errors.Is(err, ErrVirtualDisk) || !strings.Contains(err.Error(), "qemu-img convert -O raw") || !strings.Contains(err.Error(), p) {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
