package vdisk

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestQEMUImg checks each writer's output with qemu-img: check (qcow2 and
// VMDK: qemu-img has no check for VHD), format and size detection, and
// compare against the raw image.
func TestQEMUImg(t *testing.T) {
	qimg := testenv.MustHaveTool(t, "qemu-img", "qemu-utils")
	dir := t.TempDir()
	img := synthetic(synthSize)
	rawPath := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(rawPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	size := int64(len(img))
	write := func(name string, w func(*os.File) error) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := w(f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return p
	}
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(qimg, args...).CombinedOutput()
		if err != nil {
			t.Errorf("qemu-img %v: %v\n%s", args, err, out)
		}
		return out
	}
	info := func(args ...string) (format string, virtual int64) {
		t.Helper()
		var v struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
		}
		out := run(append([]string{"info", "--output=json"}, args...)...)
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("qemu-img info %v: %v\n%s", args, err, out)
		}
		return v.Format, v.VirtualSize
	}

	for _, c := range []struct {
		file, format string // qemu-img's name of the format
		probed       bool   // qemu-img detects the format without -f
		virtual      int64
		write        func(*os.File) error
	}{
		{"disk.qcow2", "qcow2", true, size, func(f *os.File) error { return WriteQCOW2(f, bytesReader(img), size) }},
		// Compressed: clusters 0, 2 and 3 compress into one host cluster
		// (refcount 3), cluster 5 (random) is stored whole, 9 compressed.
		{"compressed.qcow2", "qcow2", true, size, func(f *os.File) error { return WriteQCOW2Compressed(f, bytesReader(img), size) }},
		{"disk.vmdk", "vmdk", true, size, func(f *os.File) error {
			return WriteVMDK(f, bytesReader(img), size, VMDKOptions{CID: 0x0badcafe, Name: "disk.vmdk"})
		}},
		// qemu probes VHD only by a footer copy at offset 0, which only
		// dynamic disks have (block/vpc.c, vpc_probe): a fixed VHD is
		// opened with -f vpc, as `run` does.
		{"disk.vhd", "vpc", false, 1 << 20, func(f *os.File) error {
			return WriteVHD(f, bytesReader(img), size, VHDOptions{UniqueID: [16]byte{9}})
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			p := write(c.file, c.write)
			if c.probed {
				if f, v := info(p); f != c.format || v != c.virtual {
					t.Errorf("qemu-img info: format %q, size %d; want %q, %d", f, v, c.format, c.virtual)
				}
				run("check", p)
			}
			if f, v := info("-f", c.format, p); f != c.format || v != c.virtual {
				t.Errorf("qemu-img info -f %s: format %q, size %d; want %d", c.format, f, v, c.virtual)
			}
			run("compare", "-f", "raw", "-F", c.format, rawPath, p)
			// And the compare can fail: flip a byte of the raw image.
			bad := filepath.Join(dir, "bad.img")
			b := append([]byte{}, img...)
			b[5*65536+7] ^= 0xff
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if exec.Command(qimg, "compare", "-f", "raw", "-F", c.format, bad, p).Run() == nil {
				t.Error("qemu-img compare accepted a different image")
			}
		})
	}
}
