//go:build linux

package turboinit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// newRoot is where a slot's root is mounted before the switch.
const newRoot = "/newroot"

// findPartition waits for the block device whose GPT partition name is
// label (the kernel publishes it as PARTNAME in sysfs) and returns its
// /dev path.
func findPartition(label string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		uevents, _ := filepath.Glob("/sys/class/block/*/uevent")
		for _, u := range uevents {
			b, err := os.ReadFile(u)
			if err != nil {
				continue
			}
			var name, dev string
			for _, line := range strings.Split(string(b), "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case "PARTNAME":
					name = v
				case "DEVNAME":
					dev = v
				}
			}
			if name == label && dev != "" {
				p := "/dev/" + dev
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no partition labelled %s within %v", label, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mountSlotRoot mounts the slot's read-only root (turbo.slot= on the
// command line) at /newroot and checks that it belongs to the same build
// as this kernel and initramfs: a slot is one unit, never mixed.
func (in *Init) mountSlotRoot() error {
	if in.cmdline.Slot == "" {
		return nil
	}
	dev, err := findPartition(slots.PartitionName(in.cmdline.Slot), 10*time.Second)
	if err != nil {
		return err
	}
	if v, ok := in.cmdline.Params[readaheadParam]; ok {
		if err := setReadahead(dev, v); err != nil {
			in.con.Logf("%s: %v (the kernel's readahead stays)", readaheadParam, err)
		}
	}
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, newRoot, "squashfs", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mount slot %s root %s: %w", in.cmdline.Slot, dev, err)
	}
	mine, err := os.ReadFile(initconfig.BuildIDPath)
	if err != nil {
		return fmt.Errorf("initramfs build id: %w", err)
	}
	theirs, err := os.ReadFile(newRoot + initconfig.BuildIDPath)
	if err != nil {
		return fmt.Errorf("slot %s root has no build id: %w", in.cmdline.Slot, err)
	}
	if !bytes.Equal(bytes.TrimSpace(mine), bytes.TrimSpace(theirs)) {
		return fmt.Errorf("slot %s: root file system is build %s but kernel and initramfs are build %s; refusing to mix builds",
			in.cmdline.Slot, bytes.TrimSpace(theirs), bytes.TrimSpace(mine))
	}
	in.root = newRoot
	return nil
}

// setReadahead sets the readahead window of the disk holding the
// partition dev (the kernel keeps one per request queue, shared by its
// partitions: Documentation/ABI/stable/sysfs-block, read_ahead_kb) to the
// value of turbo.readahead_kb=, before the slot root is mounted: a file
// system takes the window of its device when a file is opened.
func setReadahead(dev, value string) error {
	kb, err := parseReadahead(value)
	if err != nil {
		return err
	}
	part, err := filepath.EvalSymlinks(filepath.Join("/sys/class/block", filepath.Base(dev)))
	if err != nil {
		return err
	}
	// The partition's sysfs folder sits inside its disk's.
	return os.WriteFile(filepath.Join(filepath.Dir(part), "queue", "read_ahead_kb"), []byte(strconv.Itoa(kb)), 0)
}

// ext4Magic is the superblock magic at byte 1080 of an ext2/3/4 file
// system.
const ext4MagicOffset = 1080

// blankCheckBytes is how much of a partition must be zero for it to count
// as blank (never written). The builder writes the data partition as an
// empty ext4; a blank one comes from a disk made otherwise.
const blankCheckBytes = 1 << 20

// partitionState reads the start of a block device and reports whether it
// holds ext4, is blank, or holds something else.
func partitionState(r io.ReaderAt) (string, error) {
	buf := make([]byte, blankCheckBytes)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	buf = buf[:n]
	if len(buf) >= ext4MagicOffset+2 && buf[ext4MagicOffset] == 0x53 && buf[ext4MagicOffset+1] == 0xEF {
		return "ext4", nil
	}
	for _, b := range buf {
		if b != 0 {
			return "unknown", nil
		}
	}
	return "blank", nil
}

// mountData mounts the data partition read-write at /data, creating the
// file system only when the partition is blank. Existing data of an
// unknown kind is never formatted. Its failure is fatal (see bootSteps):
// the init reports TURBO_FATAL and reboots, so a trial slot whose /data
// cannot be mounted is never blessed and fails over.
func (in *Init) mountData() error {
	if in.cmdline.Slot == "" {
		// A plain initramfs boot has no disk of its own.
		return nil
	}
	dev, err := findPartition(slots.DataPartition, 2*time.Second)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	state, err := partitionState(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", dev, err)
	}
	switch state {
	case "blank":
		in.con.Logf("data partition %s is blank; creating an ext4 file system", dev)
		err = makeExt4(f, dev)
	case "unknown":
		err = fmt.Errorf("%s holds data that is not ext4; leaving it alone (not formatting)", dev)
	}
	f.Close()
	if err != nil {
		return err
	}
	target := in.root + "/data"
	if err := unix.Mount(dev, target, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return fmt.Errorf("mount %s on /data: %w", dev, err)
	}
	in.mounts = append(in.mounts, "/data")
	return nil
}

// switchRoot makes /newroot the root: it moves the kernel file systems
// over, frees the initramfs, and chroots, like switch_root(8). The init
// keeps running from memory.
func (in *Init) switchRoot() error {
	if in.root == "/" {
		return nil
	}
	for _, m := range []string{"/dev", "/proc", "/sys", "/run", "/tmp"} {
		if err := unix.Mount(m, in.root+m, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	if err := os.Chdir(in.root); err != nil {
		return err
	}
	freeInitramfs()
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	in.root = "/"
	return nil
}

// freeInitramfs deletes the initramfs's files (it is RAM), staying on the
// root device so nothing mounted below is touched.
func freeInitramfs() {
	var root unix.Stat_t
	if unix.Lstat("/", &root) != nil {
		return
	}
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			var st unix.Stat_t
			if unix.Lstat(p, &st) != nil || st.Dev != root.Dev {
				continue
			}
			if e.IsDir() {
				walk(p)
				unix.Rmdir(p)
			} else {
				unix.Unlink(p)
			}
		}
	}
	walk("/")
}
