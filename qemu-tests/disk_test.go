package qemutests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// copyDisk copies a build's disk image (sparse) for a test to boot and
// change.
func copyDisk(t *testing.T, buildDir string) string {
	t.Helper()
	src := filepath.Join(buildDir, "disk.img")
	dst := filepath.Join(t.TempDir(), "disk.img")
	if out, err := exec("cp", "--sparse=always", src, dst); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

// TestDiskBootsUnderUEFIAndDirect boots the hello disk image both ways:
// OVMF + systemd-boot, and turbo direct boot; both reach slot a.
func TestDiskBootsUnderUEFIAndDirect(t *testing.T) {
	setup(t)
	testenv.MustHaveFile(t, "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf")
	diskBootsUnderUEFIAndDirect(t, buildOnce(t, "../recipes/hello/recipe.yaml"))
}

// diskBootsUnderUEFIAndDirect boots the hello build out's disk under UEFI
// (OVMF or AAVMF, by the image's arch) and by turbo direct boot.
func diskBootsUnderUEFIAndDirect(t *testing.T, out string) {
	for _, mode := range []string{"uefi", "disk"} {
		t.Run(mode, func(t *testing.T) {
			disk := copyDisk(t, out)
			r := turbo(t, context.Background(), "run", disk, "--boot", mode, "--exit-on-ready", "--timeout", "300s")
			if r.code != 0 {
				t.Fatalf("run --boot %s: %s", mode, r)
			}
			if !regexp.MustCompile(`TURBO_READY name=hello version=1\.0\.0 slot=a build=sha256:[0-9a-f]{64} uptime_ms=\d+`).MatchString(r.stdout) {
				t.Fatalf("no ready line for slot a:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, "guest powered off") {
				t.Errorf("a disk boot should be powered down in order after ready: %s", r.stderr)
			}
		})
	}
}

// TestDataSurvivesReboot: the app counts its boots in /data; the count
// goes on across boots. The build wrote /data as ext4 (e2fsck -fn finds it
// clean, before and after the boots), so no boot formats it. The build
// also wrote what Linux writes on a file system's first mount (its
// overhead, the groups' INODE_ZEROED flags; package ext4img), so the
// kernel's first mount finds nothing to add: those fields are the same
// after the boots (issue 10, first boot as fast as later ones).
func TestDataSurvivesReboot(t *testing.T) {
	setup(t)
	e2fsck := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	out := buildOnce(t, "../recipes/hello/recipe.yaml")
	disk := copyDisk(t, out)
	fsck(t, e2fsck, disk)
	built := firstMountFields(t, disk)
	for i, want := range []string{"boot 1 recorded", "boot 2 recorded", "boot 3 recorded"} {
		r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s")
		if r.code != 0 {
			t.Fatalf("boot %d: %s", i+1, r)
		}
		if !strings.Contains(r.stdout, "hello: "+want+" in /data/hello/boots") {
			t.Fatalf("boot %d: want %q:\n%s", i+1, want, r.stdout)
		}
		if strings.Contains(r.stdout, "creating an ext4 file system") {
			t.Errorf("boot %d formatted the data partition the build wrote", i+1)
		}
	}
	fsck(t, e2fsck, disk)
	if after := firstMountFields(t, disk); after != built {
		t.Errorf("the kernel rewrote what the build wrote for its first mount:\nbuilt %s\nafter %s", built, after)
	}
}

// firstMountFields reads, from the data partition's ext4, the fields
// Linux fills in on the first mount when they are missing: the primary
// superblock's s_overhead_clusters and each group descriptor's bg_flags
// (Documentation/filesystems/ext4/super.rst, group_descr.rst).
func firstMountFields(t *testing.T, disk string) string {
	t.Helper()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(dataPartition(t, disk), head); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	sb := head[1024:2048]
	blockSize := int64(1024) << le.Uint32(sb[0x18:])
	firstData := int64(le.Uint32(sb[0x14:]))
	groups := (int64(le.Uint32(sb[0x04:])) - firstData + int64(le.Uint32(sb[0x20:])) - 1) / int64(le.Uint32(sb[0x20:]))
	descSize := int64(le.Uint16(sb[0xFE:]))
	gdt := (firstData + 1) * blockSize
	if descSize < 32 || gdt+groups*descSize > int64(len(head)) {
		t.Fatalf("data partition: %d groups of %d-byte descriptors at byte %d", groups, descSize, gdt)
	}
	f := fmt.Sprintf("overhead %d, flags", le.Uint32(sb[0x248:]))
	for g := int64(0); g < groups; g++ {
		f += fmt.Sprintf(" %#x", le.Uint16(head[gdt+g*descSize+0x12:]))
	}
	return f
}

// TestBlankDataIsFormatted: a disk made otherwise, with a blank data
// partition, gets ext4 from the init on first boot, and only then.
func TestBlankDataIsFormatted(t *testing.T) {
	setup(t)
	e2fsck := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	out := buildOnce(t, "../recipes/hello/recipe.yaml")
	disk := copyDisk(t, out)
	fillData(t, disk, 0)
	for i, want := range []string{"boot 1 recorded", "boot 2 recorded"} {
		r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s")
		if r.code != 0 {
			t.Fatalf("boot %d: %s", i+1, r)
		}
		if !strings.Contains(r.stdout, "hello: "+want+" in /data/hello/boots") {
			t.Fatalf("boot %d: want %q:\n%s", i+1, want, r.stdout)
		}
		if formats := strings.Contains(r.stdout, "creating an ext4 file system"); formats != (i == 0) {
			t.Errorf("boot %d: creating the data file system: %v", i+1, formats)
		}
	}
	fsck(t, e2fsck, disk)
}

// TestUnmountableDataIsFatal: a data partition that holds something other
// than ext4 is neither formatted nor passed over: the appliance reports
// TURBO_FATAL naming the mount, never TURBO_READY, and leaves the bytes.
func TestUnmountableDataIsFatal(t *testing.T) {
	setup(t)
	out := buildOnce(t, "../recipes/hello/recipe.yaml")
	disk := copyDisk(t, out)
	fillData(t, disk, 0x5a)
	r := turbo(t, context.Background(), "run", disk, "--boot", "disk", "--exit-on-ready", "--timeout", "300s")
	if r.code == 0 {
		t.Errorf("run exited 0 on an appliance whose /data cannot be mounted: %s", r)
	}
	if strings.Contains(r.stdout, "TURBO_READY") {
		t.Errorf("ready without /data:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`TURBO_FATAL reason=mount data: .*holds data that is not ext4`).MatchString(r.stdout) {
		t.Errorf("no TURBO_FATAL naming the data mount:\n%s", r.stdout)
	}
	head := make([]byte, 4096)
	if _, err := io.ReadFull(dataPartition(t, disk), head); err != nil || !bytes.Equal(head, bytes.Repeat([]byte{0x5a}, 4096)) {
		t.Errorf("the data partition was changed (%v)", err)
	}
}

// dataPartition opens disk read-only and returns a reader of its data
// partition; the disk is closed when the test ends.
func dataPartition(t *testing.T, disk string) io.Reader {
	t.Helper()
	d, err := diskimage.Open(disk, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	pr, err := d.ReadPartition(diskimage.PartData)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// dataPartitionFile copies disk's data partition into a file of its own
// (for e2fsck and debugfs) and returns its path.
func dataPartitionFile(t *testing.T, disk string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.ext4")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, dataPartition(t, disk))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fillData overwrites the first MiB of the disk's data partition with b.
func fillData(t *testing.T, disk string, b byte) {
	t.Helper()
	d, err := diskimage.Open(disk, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.WritePartition(diskimage.PartData, bytes.NewReader(bytes.Repeat([]byte{b}, 1<<20)), 1<<20); err != nil {
		t.Fatal(err)
	}
}

// fsck copies the disk's data partition out and checks it with e2fsck -fn.
func fsck(t *testing.T, e2fsck, disk string) {
	t.Helper()
	if o, err := osexec.Command(e2fsck, "-fn", dataPartitionFile(t, disk)).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn on the data partition: %v\n%s", err, o)
	}
}
