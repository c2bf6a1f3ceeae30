package data

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestImportFolder unpacks the sample into an empty folder, as a jail's
// --data: owners shifted into the jail's id range (run as root), modes,
// nanosecond times, xattrs, links and holes; a non-empty folder and a
// hostile archive leave the folder as it was and no temporary folder.
func TestImportFolder(t *testing.T) {
	testenv.MustBeRoot(t, "setting owners and security xattrs")
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ImportFolder(context.Background(), bytes.NewReader(writeArchive(t, Source{}, nil, sampleMembers())), dir, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var root unix.Stat_t
	if err := unix.Lstat(dir, &root); err != nil || root.Uid != jail.DefaultRangeBase {
		t.Errorf("the folder belongs to uid %d (%v), want the jail's root %d", root.Uid, err, jail.DefaultRangeBase)
	}
	for _, m := range sampleMembers() {
		p, _ := cleanName(m.h.Name)
		full := filepath.Join(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		switch m.h.Typeflag {
		case 0, '0':
			want := m.h.Mode
			if want == 0 {
				want = 0o644
			}
			if int64(st.Mode&0o7777) != want || int(st.Uid) != jail.DefaultRangeBase+m.h.Uid || int(st.Gid) != jail.DefaultRangeBase+m.h.Gid {
				t.Errorf("%s: mode %#o owner %d:%d", p, st.Mode&0o7777, st.Uid, st.Gid)
			}
			b, err := os.ReadFile(full)
			if err != nil || !bytes.Equal(b, m.body) {
				t.Errorf("%s: content differs (%v)", p, err)
			}
			if !m.h.ModTime.IsZero() && (st.Mtim.Sec != m.h.ModTime.Unix() || st.Mtim.Nsec != int64(m.h.ModTime.Nanosecond())) {
				t.Errorf("%s: mtime %d.%09d, want %v", p, st.Mtim.Sec, st.Mtim.Nsec, m.h.ModTime)
			}
			for k, v := range m.h.PAXRecords {
				buf := make([]byte, 256)
				n, err := unix.Lgetxattr(full, k[len(xattrPAX):], buf)
				if err != nil || string(buf[:n]) != v {
					t.Errorf("%s: %s = %q, %v", p, k, buf[:max(n, 0)], err)
				}
			}
		case '5':
			if int64(st.Mode&0o7777) != m.h.Mode || !m.h.ModTime.IsZero() && st.Mtim.Sec != m.h.ModTime.Unix() {
				t.Errorf("%s: folder mode %#o mtime %d", p, st.Mode&0o7777, st.Mtim.Sec)
			}
		case '2':
			if target, _ := os.Readlink(full); target != m.h.Linkname {
				t.Errorf("%s: readlink %q", p, target)
			}
		case '1':
			var st2 unix.Stat_t
			unix.Lstat(filepath.Join(dir, m.h.Linkname), &st2)
			if st.Ino != st2.Ino {
				t.Errorf("%s: not a hard link of %s", p, m.h.Linkname)
			}
		}
		if p == "sparse" && st.Blocks*512 >= 4<<20 {
			t.Errorf("sparse: %d sectors allocated", st.Blocks)
		}
	}
	// A non-empty folder is refused; so is a hostile archive, into an
	// empty one, which stays empty.
	if _, _, err := ImportFolder(context.Background(), bytes.NewReader(writeArchive(t, Source{}, nil, sampleMembers())), dir, ImportOptions{}); err == nil {
		t.Error("import into a non-empty folder was accepted")
	}
	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o755)
	for _, c := range hostileArchives(t) {
		if c.name == "too big" || c.name == "too many files" {
			continue // a folder has no partition to outgrow
		}
		if _, _, err := ImportFolder(context.Background(), bytes.NewReader(c.arch), empty, ImportOptions{Check: c.check}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("the empty folder got %v", ents)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 2 {
		t.Errorf("left behind in %s: %v", parent, ents)
	}
}
