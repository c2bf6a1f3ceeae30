package squashfs

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestSquashfsKernelMount loop-mounts the images with the running kernel,
// the reader that matters (unsquashfs accepted an inode mode Linux
// rejects). Needs root, a loop device and squashfs support.
func TestSquashfsKernelMount(t *testing.T) {
	testenv.MustBeRoot(t, "loop-mounting squashfs")
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(fs), "squashfs") {
		testenv.Missing(t, "the running kernel has no squashfs support: modprobe squashfs")
	}
	losetup := testenv.MustHaveTool(t, "losetup", "mount")
	mount := testenv.MustHaveTool(t, "mount", "mount")
	umount := testenv.MustHaveTool(t, "umount", "mount")
	es := sampleTree()
	for _, c := range compressions {
		t.Run(c, func(t *testing.T) {
			img, err := Build(es, c)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			p := filepath.Join(dir, "root.sqfs")
			if err := os.WriteFile(p, img, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(losetup, "--find", "--show", "--read-only", p).CombinedOutput()
			if err != nil {
				testenv.Missing(t, "no loop device available: %v: %s", err, out)
			}
			loop := strings.TrimSpace(string(out))
			t.Cleanup(func() { exec.Command(losetup, "-d", loop).Run() })
			mnt := filepath.Join(dir, "mnt")
			os.Mkdir(mnt, 0o755)
			if out, err := exec.Command(mount, "-t", "squashfs", "-o", "ro", loop, mnt).CombinedOutput(); err != nil {
				t.Fatalf("kernel refused the image: %v: %s", err, out)
			}
			t.Cleanup(func() { exec.Command(umount, mnt).Run() })
			for _, e := range es {
				fp := filepath.Join(mnt, e.Path)
				fi, err := os.Lstat(fp)
				if err != nil {
					t.Errorf("%s: %v", e.Path, err)
					continue
				}
				st := fi.Sys().(*syscall.Stat_t)
				if int(st.Uid) != e.UID || int(st.Gid) != e.GID || st.Mtim.Sec != 0 {
					t.Errorf("%s: owner %d:%d mtime %d", e.Path, st.Uid, st.Gid, st.Mtim.Sec)
				}
				if e.Mode.Type() != fs.ModeSymlink && fi.Mode() != e.Mode {
					t.Errorf("%s: mode %v, want %v", e.Path, fi.Mode(), e.Mode)
				}
				switch e.Mode.Type() {
				case 0:
					if got, err := os.ReadFile(fp); err != nil || !bytes.Equal(got, e.Data) {
						t.Errorf("%s: read %d bytes (%v), want %d", e.Path, len(got), err, len(e.Data))
					}
				case fs.ModeSymlink:
					if got, _ := os.Readlink(fp); got != e.Linkname {
						t.Errorf("%s -> %q, want %q", e.Path, got, e.Linkname)
					}
				}
			}
		})
	}
}
