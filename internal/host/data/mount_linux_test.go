package data

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestKernelMountsImport: the Linux kernel's ext4 driver, the real
// consumer, mounts what import built and sees every member as the archive
// says; it writes to it, and e2fsck finds it clean afterwards.
func TestKernelMountsImport(t *testing.T) {
	testenv.MustBeRoot(t, "a loop mount of the imported file system")
	mount := testenv.MustHaveTool(t, "mount", "mount")
	umount := testenv.MustHaveTool(t, "umount", "mount")
	e2fsck := testenv.MustHaveTool(t, "e2fsck", "e2fsprogs")
	disk := newDisk(t, 16, "kernel")
	if _, _, err := importBytes(t, writeArchive(t, Source{}, nil, sampleMembers()), disk, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	img := dataPart(t, disk)
	dir := t.TempDir()
	if out, err := exec.Command(mount, "-o", "loop", img, dir).CombinedOutput(); err != nil {
		if testenv.InCI() {
			t.Fatalf("mount: %v %s", err, out)
		}
		t.Skipf("SKIP: cannot loop-mount here: %v %s", err, out)
	}
	mounted := true
	defer func() {
		if mounted {
			exec.Command(umount, dir).Run()
		}
	}()
	for _, m := range sampleMembers() {
		p, _ := cleanName(m.h.Name)
		full := filepath.Join(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if m.h.Typeflag == 0 || m.h.Typeflag == '0' {
			b, err := os.ReadFile(full)
			if err != nil || !bytes.Equal(b, m.body) {
				t.Errorf("%s: content differs (%v)", p, err)
			}
			want := m.h.Mode
			if want == 0 {
				want = 0o644 // writeArchive's default
			}
			if int64(st.Mode&0o7777) != want || int(st.Uid) != m.h.Uid || int(st.Gid) != m.h.Gid {
				t.Errorf("%s: mode %#o owner %d:%d, want %#o %d:%d", p, st.Mode&0o7777, st.Uid, st.Gid, want, m.h.Uid, m.h.Gid)
			}
			if !m.h.ModTime.IsZero() && (st.Mtim.Sec != m.h.ModTime.Unix() || st.Mtim.Nsec != int64(m.h.ModTime.Nanosecond())) {
				t.Errorf("%s: mtime %d.%09d, want %v", p, st.Mtim.Sec, st.Mtim.Nsec, m.h.ModTime)
			}
			for k, v := range m.h.PAXRecords {
				name := k[len(xattrPAX):]
				buf := make([]byte, 256)
				n, err := unix.Lgetxattr(full, name, buf)
				if err != nil || string(buf[:n]) != v {
					t.Errorf("%s: xattr %s = %q, %v; want %q", p, name, buf[:max(n, 0)], err, v)
				}
			}
		}
		switch m.h.Typeflag {
		case '2':
			if target, err := os.Readlink(full); err != nil || target != m.h.Linkname {
				t.Errorf("%s: readlink %q, %v", p, target, err)
			}
		case '1':
			var st2 unix.Stat_t
			unix.Stat(filepath.Join(dir, m.h.Linkname), &st2)
			if st.Ino != st2.Ino || st.Nlink != 2 {
				t.Errorf("%s: inode %d (links %d), want %d", p, st.Ino, st.Nlink, st2.Ino)
			}
		case '6':
			if st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
				t.Errorf("%s: mode %#o is not a FIFO", p, st.Mode)
			}
		}
		if p == "sparse" && st.Blocks > 16 {
			t.Errorf("sparse: %d sectors allocated", st.Blocks)
		}
	}
	// The kernel writes to it.
	if err := os.WriteFile(filepath.Join(dir, "db", "written-by-linux"), bytes.Repeat([]byte("k"), 100000), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "sparse")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(umount, dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	mounted = false
	if out, err := exec.Command(e2fsck, "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn after the kernel wrote: %v\n%s", err, out)
	}
}
