package data

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestMain makes the test binary the jail's set-up child when jail.Start
// re-executes it with jail.ChildArg, as turbo-image's main does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.ChildArg {
		err := jail.Child(os.Args[2:])
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

var scrubberOnce = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "scrubber-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "scrubber")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/scrubber")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build scrubber: %v\n%s", err, b)
	}
	return os.ReadFile(out)
})

// walkable is a temporary folder the jail's mapped ids may walk to
// (t.TempDir's parents are 0700).
func walkable(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "scrub-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { exec.Command("rm", "-rf", dir).Run() })
	return dir
}

// scrubImage unpacks an image holding only the scrubber, as a build's
// initramfs is unpacked for a jail.
func scrubImage(t *testing.T) string {
	t.Helper()
	prog, err := scrubberOnce()
	if err != nil {
		t.Fatal(err)
	}
	recs := []initramfs.Record{
		initramfs.Dir("bin", 0o755), initramfs.Dir("data", 0o755), initramfs.Dir("dev", 0o755),
		initramfs.Dir("etc", 0o755), initramfs.Dir("proc", 0o555), initramfs.Dir("run", 0o755),
		initramfs.Dir("tmp", 0o1777), initramfs.File("bin/scrubber", 0o755, prog),
	}
	var buf bytes.Buffer
	if err := initramfs.WriteArchive(&buf, recs, initramfs.Options{KeepOwners: true}); err != nil {
		t.Fatal(err)
	}
	dir := walkable(t)
	cpio := filepath.Join(dir, "image.cpio")
	if err := os.WriteFile(cpio, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	own := jail.Owner{Shift: []jail.IDMap{{Container: 0, Host: jail.DefaultRangeBase, Size: jail.DefaultRangeSize}}}
	root, err := jail.Unpack(context.Background(), cpio, filepath.Join(dir, "cache"), own)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestScrub runs a real scrub program in a real jail: exit 0 gives an
// archive with the masked file, the source kept and marked scrubbed;
// exit 1 gives no archive and leaves no temporary file or folder.
func TestScrub(t *testing.T) {
	testenv.MustBeRoot(t, "data scrub (a root-started jail running the program as uid 1000)")
	testenv.MustHaveTool(t, "go", "golang")
	root := scrubImage(t)
	src := Source{Name: "hello", Version: "1.0.1", Channel: "prod", From: "disk"}
	in := writeArchive(t, src, nil, []member{
		{h: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: t0}},
		{h: tar.Header{Name: "./app/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000, ModTime: t0}},
		{h: tar.Header{Name: "./app/users.txt", Mode: 0o600, Uid: 1000, Gid: 1000, ModTime: t0},
			body: []byte("alice alice@example.com\nbob bob@example.org\n")},
		{h: tar.Header{Name: "./app/users.hard", Typeflag: tar.TypeLink, Linkname: "./app/users.txt"}},
		{h: tar.Header{Name: "./keep", Mode: 0o644, ModTime: t0,
			PAXRecords: map[string]string{"SCHILY.xattr.user.tag": "v"}}, body: []byte("untouched\n")},
	})
	for _, tc := range []struct {
		name string
		argv []string
		ok   bool
	}{{"masks", []string{"/bin/scrubber", "-mask"}, true}, {"fails", []string{"/bin/scrubber", "-fail"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			outDir, tmp := walkable(t), walkable(t)
			out := filepath.Join(outDir, "qa.tar.zst")
			var console bytes.Buffer
			got, _, err := Scrub(context.Background(), ScrubSpec{
				Archive: bytes.NewReader(in), Out: out, Root: root, Argv: tc.argv,
				User: jail.User{UID: 1000, GID: 1000}, Hostname: "hello", TempDir: tmp,
				Jail: jail.Options{Console: &console},
			})
			for _, d := range []string{outDir, tmp} {
				ents, _ := os.ReadDir(d)
				for _, e := range ents {
					if e.Name() != "qa.tar.zst" {
						t.Errorf("left behind: %s", filepath.Join(d, e.Name()))
					}
				}
			}
			if !tc.ok {
				if !errors.Is(err, ErrScrubFailed) || !strings.Contains(err.Error(), "exited with code 1") {
					t.Errorf("err = %v, want ErrScrubFailed naming exit code 1\nconsole:\n%s", err, console.String())
				}
				if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
					t.Errorf("a failed scrub wrote %s (%v)", out, serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Scrub: %v\nconsole:\n%s", err, console.String())
			}
			want := src
			want.Scrubbed = "/bin/scrubber -mask"
			if got != want {
				t.Errorf("source = %+v, want %+v", got, want)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			files := map[string]string{}
			var hdrs []string
			rsrc, err := readArchive(f, Limits{}, nil, func(e *Entry, body io.Reader) error {
				b, err := io.ReadAll(body)
				files[e.Path] = string(b)
				h := e.Header
				hdrs = append(hdrs, fmt.Sprintf("%s %c %o %d:%d %s %v", e.Path, h.Typeflag, h.Mode, h.Uid, h.Gid, e.LinkTo, h.PAXRecords["SCHILY.xattr.user.tag"]))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if rsrc != want {
				t.Errorf("archive source = %+v, want %+v", rsrc, want)
			}
			// users.hard comes first in byte order: it carries the data,
			// users.txt is its hard link.
			if g := files["app/users.hard"]; g != "alice ***\nbob ***\n" {
				t.Errorf("app/users.txt = %q, want the addresses masked", g)
			}
			if g := files["keep"]; g != "untouched\n" {
				t.Errorf("keep = %q", g)
			}
			wantH := []string{
				". 5 755 0:0  ",
				"app 5 750 1000:1000  ",
				"app/users.hard 0 600 1000:1000  ",
				"app/users.txt 1 0 0:0 app/users.hard ",
				"keep 0 644 0:0  v",
			}
			if strings.Join(hdrs, "\n") != strings.Join(wantH, "\n") {
				t.Errorf("members:\n%s\nwant\n%s", strings.Join(hdrs, "\n"), strings.Join(wantH, "\n"))
			}
		})
	}
}
