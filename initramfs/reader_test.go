package initramfs

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestListGolden(t *testing.T) {
	entries, err := List(bytes.NewReader(expectedGolden()))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name     string
		mode     uint32
		maj, min uint32
		link     string
		size     int64
	}
	want := []row{
		{"bin", 0o40755, 0, 0, "", 0},
		{"bin/hello", 0o100755, 0, 0, "", 21},
		{"dev", 0o40755, 0, 0, "", 0},
		{"dev/console", 0o20600, 5, 1, "", 0},
		{"dev/null", 0o20666, 1, 3, "", 0},
		{"etc", 0o40755, 0, 0, "", 0},
		{"etc/hostname", 0o100644, 0, 0, "", 6},
		{"init", 0o120777, 0, 0, "bin/hello", 9},
		{"tmp", 0o41777, 0, 0, "", 0},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		got := row{e.Name, e.Mode, e.Major, e.Minor, e.Linkname, e.Size}
		if got != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got, want[i])
		}
		if e.Data != nil {
			t.Errorf("entry %s has Data in a listing", e.Name)
		}
		if e.MTime != 1700000000 {
			t.Errorf("entry %s mtime %d", e.Name, e.MTime)
		}
	}
}

func TestReadAllRoundTrip(t *testing.T) {
	in := []Record{
		File("empty", 0o644, nil),
		File("one", 0o600, []byte("1")),
		File("four", 0o600, []byte("1234")),
		File("big", 0o755, bytes.Repeat([]byte("0123456789"), 100001)),
		Symlink("abs", "/usr/bin/env"),
		Symlink("a", strings.Repeat("t", MaxLinkLen)),
		CharDev("dev/ttyS0", 0o620, 4, 64),
		BlockDev("dev/vda1", 0o660, 254, 1),
		CharDev("dev/max", 0o600, MaxMajor, MaxMinor),
		{Name: "run/fifo", Mode: TypeFifo | 0o600},
		{Name: "run/sock", Mode: TypeSocket | 0o755},
		File(strings.Repeat("n", 200)+"/"+strings.Repeat("m", 100), 0o4755, []byte("suid")),
	}
	in[1].UID, in[1].GID = 1000, 100
	opts := Options{MTime: 0xFFFFFFFF, KeepOwners: true}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, in, opts); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Canonicalize(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, want)
}

func TestReadAllLimit(t *testing.T) {
	var buf bytes.Buffer
	recs := []Record{File("a", 0o644, make([]byte, 600)), File("b", 0o644, make([]byte, 500))}
	if err := WriteArchive(&buf, recs, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		limit int64
		ok    bool
	}{{1100, true}, {1099, false}, {0, false}, {-1, true}} {
		_, err := ReadAllLimit(bytes.NewReader(buf.Bytes()), tt.limit)
		if (err == nil) != tt.ok {
			t.Errorf("limit %d: err = %v, want ok=%v", tt.limit, err, tt.ok)
		}
	}
	// A header claiming 4 GiB of data in a tiny input must fail on the
	// missing data, not try to allocate it.
	var n newc
	n.entry(rawFields{mode: 0o100644, nlink: 1}, "x", nil)
	b := n.Bytes()
	copy(b[54:62], "FFFFFFFF")
	if _, err := ReadAllLimit(bytes.NewReader(b), -1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("huge claimed size: err = %v, want ErrUnexpectedEOF", err)
	}
}

func TestListCRCFormat(t *testing.T) {
	body := []byte("hello")
	var sum uint32
	for _, c := range body {
		sum += uint32(c)
	}
	good := new(newc)
	good.entry(rawFields{magic: "070702", mode: 0o100644, nlink: 1, check: sum}, "f", body)
	entries, err := List(bytes.NewReader(good.trailer()))
	if err != nil || len(entries) != 1 || entries[0].Size != 5 {
		t.Fatalf("070702 archive: %v %v", entries, err)
	}
	bad := new(newc)
	bad.entry(rawFields{magic: "070702", mode: 0o100644, nlink: 1, check: sum + 1}, "f", body)
	if _, err := ReadAll(bytes.NewReader(bad.trailer())); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("bad checksum: err = %v", err)
	}
	if _, err := List(bytes.NewReader(bad.Bytes())); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("bad checksum in List: err = %v", err)
	}
}

// corrupt returns the golden archive with b[at:at+len(s)] replaced by s.
func corrupt(at int, s string) []byte {
	b := expectedGolden()
	copy(b[at:], s)
	return b
}

func TestListErrors(t *testing.T) {
	reg := func(name string, body []byte) []byte {
		var n newc
		n.entry(rawFields{mode: 0o100644, nlink: 1}, name, body)
		return n.trailer()
	}
	// A header with a custom namesize, then the given bytes.
	withNamesize := func(size string, rest string) []byte {
		var n newc
		n.entry(rawFields{mode: 0o100644, nlink: 1}, "a", nil)
		b := n.Bytes()[:110]
		copy(b[94:102], size)
		return append(b, rest...)
	}
	dirWithData := new(newc)
	dirWithData.entry(rawFields{mode: 0o40755, nlink: 2}, "d", []byte("oops"))
	emptyLink := new(newc)
	emptyLink.entry(rawFields{mode: 0o120777, nlink: 1}, "l", nil)
	badType := new(newc)
	badType.entry(rawFields{mode: 0o644, nlink: 1}, "x", nil)
	crcOnNewc := new(newc)
	crcOnNewc.entry(rawFields{mode: 0o100644, nlink: 1, check: 1}, "x", nil)
	longName := new(newc)
	longName.entry(rawFields{mode: 0o100644, nlink: 1}, strings.Repeat("a", MaxNameLen+1), nil)
	trailerData := new(newc)
	trailerData.entry(rawFields{nlink: 1}, "TRAILER!!!", []byte("x"))

	tests := []struct {
		name string
		in   []byte
		want string // substring of the error
		eof  bool   // error must wrap io.ErrUnexpectedEOF
	}{
		{"empty input", nil, "without a TRAILER", true},
		{"bad magic", corrupt(0, "070709"), "bad magic", false},
		{"odc magic", corrupt(0, "070707"), "odc", false},
		{"bad hex in mode", corrupt(14, "0000z1ED"), "c_mode", false},
		{"space in size", corrupt(54, "       0"), "c_filesize", false},
		{"sign in rdev", corrupt(78, "-0000001"), "c_rdevmajor", false},
		{"no trailer", expectedGolden()[:len(expectedGolden())-124], "without a TRAILER", true},
		{"truncated header", expectedGolden()[:50], "header", true},
		{"truncated file data", reg("f", []byte("0123456789"))[:120], "file data", true},
		{"name size 0", withNamesize("00000000", ""), "name is empty", false},
		{"name size 1", withNamesize("00000001", "\x00"), "name is empty", false},
		{"name size over PATH_MAX", withNamesize("00001001", ""), "PATH_MAX", false},
		{"name too long", longName.trailer(), "PATH_MAX", false},
		{"name not NUL-terminated", withNamesize("00000002", "ab\x00\x00"), "NUL-terminated", false},
		{"NUL inside name", withNamesize("00000004", "a\x00b\x00\x00\x00"), "NUL byte", false},
		{"non-zero name padding", corrupt(110+4, "X"), "padding after the name", false},
		{"non-zero data padding", corrupt(116+110+10+21, "X"), "padding after the previous entry", false},
		{"directory with data", dirWithData.trailer(), "only regular files and symlinks have data", false},
		{"empty symlink", emptyLink.trailer(), "symlink target length 0", false},
		{"no file type", badType.trailer(), "not a known file type", false},
		{"check on 070701", crcOnNewc.trailer(), "c_check", false},
		{"trailer with data", trailerData.Bytes(), "trailer has c_filesize", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := List(bytes.NewReader(tt.in))
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.eof != errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("errors.Is(err, io.ErrUnexpectedEOF) = %v, want %v (err %v)", !tt.eof, tt.eof, err)
			}
			if _, err := ReadAll(bytes.NewReader(tt.in)); err == nil {
				t.Errorf("ReadAll accepted what List rejects")
			}
		})
	}
}

// TestListEveryTruncation cuts the golden archive at every length; all but
// the full archive must fail with ErrUnexpectedEOF.
func TestListEveryTruncation(t *testing.T) {
	full := expectedGolden()
	// The trailer's own name padding is never read, so the archive is
	// complete once "TRAILER!!!\0" (121 bytes with its header) has been read.
	complete := len(full) - 3
	for n := range len(full) {
		_, err := List(bytes.NewReader(full[:n]))
		if n >= complete {
			if err != nil {
				t.Errorf("length %d: %v", n, err)
			}
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("length %d of %d: err = %v, want ErrUnexpectedEOF", n, len(full), err)
		}
	}
}

func TestListStopsAtTrailer(t *testing.T) {
	in := append(expectedGolden(), "junk after the trailer"...)
	r := bytes.NewReader(in)
	if _, err := List(r); err != nil {
		t.Fatal(err)
	}
	if r.Len() == 0 {
		t.Error("List read past the trailer")
	}
}
