package ext4fs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// writeTree makes files on the host, for mke2fs -d to copy.
func writeTree(t *testing.T, dir string, files []want) {
	t.Helper()
	for _, w := range files {
		p := filepath.Join(dir, w.path)
		var err error
		switch {
		case w.linkTo != "":
			err = os.Link(filepath.Join(dir, w.linkTo), p)
		case w.typ == ModeDir:
			err = os.MkdirAll(p, 0o755)
		case w.typ == ModeFile:
			err = os.WriteFile(p, nil, 0o644)
			if err == nil && w.content != nil {
				err = os.WriteFile(p, w.content, 0o644)
			} else if err == nil {
				var fh *os.File
				if fh, err = os.OpenFile(p, os.O_WRONLY, 0); err == nil {
					for off, d := range w.data {
						fh.WriteAt(d, off)
					}
					err = fh.Truncate(w.size)
					fh.Close()
				}
			}
		case w.typ == ModeLink:
			err = os.Symlink(w.target, p)
		case w.typ == ModeFIFO:
			err = syscall.Mkfifo(p, 0o600)
		default:
			continue // device nodes need root: left out
		}
		if err != nil {
			t.Fatal(err)
		}
		if w.linkTo == "" && w.typ != ModeLink {
			if err := os.Chmod(p, os.FileMode(w.perm&0o777)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, w.mtime, w.mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestReadMke2fs reads file systems that mke2fs -d made from a host tree:
// ext4 with 4 KiB blocks, metadata_csum and a hash-indexed directory, and
// ext2 and ext3 with indirect block maps.
func TestReadMke2fs(t *testing.T) {
	mke2fs := testenv.MustHaveTool(t, "mke2fs", "e2fsprogs")
	var files []want
	for _, w := range sample() {
		if w.typ == ModeChar || w.typ == ModeBlock {
			continue
		}
		// Owners, setgid bits and xattrs are the host's: not compared here.
		w.perm &= 0o777
		w.xattrs = nil
		// mke2fs copies whole seconds; a folder's time changes as files
		// are added, and 128-byte inodes end in 2038.
		w.mtime = w.mtime.Truncate(time.Second)
		if w.typ != ModeFile || w.mtime.Year() != 2023 {
			w.mtime = time.Time{}
		}
		files = append(files, w)
	}
	// Enough names for an htree directory.
	files = append(files, want{path: "many", typ: ModeDir, perm: 0o755})
	for i := 0; i < 300; i++ {
		files = append(files, want{path: fmt.Sprintf("many/file-with-a-long-name-%04d", i), typ: ModeFile, perm: 0o644, content: []byte{byte(i)}})
	}
	src := t.TempDir()
	writeTree(t, src, files[1:])
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]string{
		{"-t", "ext4", "-b", "4096", "-O", "metadata_csum,dir_index"},
		{"-t", "ext4", "-b", "1024"},
		{"-t", "ext3", "-b", "1024"},
		{"-t", "ext2", "-b", "4096"},
	} {
		t.Run(strings.Join(opts, " "), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			args := append([]string{"-q", "-F", "-d", src, "-E", "root_owner=0:0"}, opts...)
			args = append(args, img, "64M")
			if out, err := exec.Command(mke2fs, args...).CombinedOutput(); err != nil {
				t.Fatalf("mke2fs %v: %v\n%s", args, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var ws []want
			for _, w := range files {
				if w.path == "." {
					w.mtime = time.Time{} // the temporary folder's
				}
				ws = append(ws, w)
			}
			ws = append(ws, want{path: "lost+found", typ: ModeDir, perm: 0o700})
			check(t, f, 64<<20, ws, false)
		})
	}
}
