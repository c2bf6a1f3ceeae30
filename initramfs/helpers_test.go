package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// goldenOpts and goldenRecords describe testdata/golden.cpio: directories
// (one implicit), a file, a symlink, /dev/console 5:1 and /dev/null 1:3.
var goldenOpts = Options{MTime: 1700000000}

func goldenRecords() []Record {
	return []Record{
		File("bin/hello", 0o755, []byte("#!/bin/sh\necho hello\n")),
		Symlink("init", "bin/hello"),
		CharDev("dev/console", 0o600, 5, 1),
		CharDev("dev/null", 0o666, 1, 3),
		Dir("bin", 0o755),
		File("etc/hostname", 0o644, []byte("turbo\n")),
		Dir("tmp", 0o1777),
	}
}

// newc builds archives byte by byte, independently of the package's writer,
// straight from buffer-format.rst: header of 13 8-digit hex fields after
// the magic, name + NUL padded to 4, data padded to 4.
type newc struct{ bytes.Buffer }

type rawFields struct {
	ino, mode, uid, gid, nlink, mtime uint32
	rmaj, rmin                        uint32
	magic                             string // default "070701"
	check                             uint32
}

func (n *newc) entry(f rawFields, name string, body []byte) *newc {
	magic := f.magic
	if magic == "" {
		magic = "070701"
	}
	fmt.Fprintf(&n.Buffer, "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		magic, f.ino, f.mode, f.uid, f.gid, f.nlink, f.mtime, len(body), 0, 0, f.rmaj, f.rmin, len(name)+1, f.check)
	n.WriteString(name)
	n.WriteByte(0)
	n.align()
	n.Write(body)
	n.align()
	return n
}

func (n *newc) align() {
	for n.Len()%4 != 0 {
		n.WriteByte(0)
	}
}

func (n *newc) trailer() []byte {
	n.entry(rawFields{nlink: 1}, "TRAILER!!!", nil)
	return n.Bytes()
}

// sameRecords compares records field by field (nil and empty Data are
// equal).
func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d\ngot:  %v\nwant: %v", len(got), len(want), names(got), names(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Mode != w.Mode || g.UID != w.UID || g.GID != w.GID ||
			g.Major != w.Major || g.Minor != w.Minor || g.Linkname != w.Linkname ||
			g.MTime != w.MTime || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("record %d:\n got  %s\n want %s", i, describe(g), describe(w))
		}
	}
}

func names(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func describe(r Record) string {
	return fmt.Sprintf("{%q mode=%#o owner=%d:%d dev=%d:%d link=%q mtime=%d data=%d bytes}",
		r.Name, r.Mode, r.UID, r.GID, r.Major, r.Minor, r.Linkname, r.MTime, len(r.Data))
}

// List reads every entry of an uncompressed newc archive with [Reader], up
// to and including its trailer, without their data. It is a test helper:
// the package's callers stream with [Reader] or [ImageReader].
func List(r io.Reader) ([]Entry, error) {
	ar := NewReader(r)
	var out []Entry
	for {
		e, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}
