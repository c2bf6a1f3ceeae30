package fat32

import (
	"bytes"
	"io/fs"
	"testing"
	"testing/fstest"
)

// TestFSConformance checks the volume against io/fs's contract with
// testing/fstest: Open, ReadDir, ReadFile, Stat, their agreement, and the
// rejection of invalid paths ("/a", "a/.", "a//b").
func TestFSConformance(t *testing.T) {
	_, v := newTestFAT(t, 1<<20)
	writeAll(t, v, sampleESP())
	var want []string
	for _, f := range sampleESP() {
		want = append(want, f.Path)
	}
	if err := fstest.TestFS(v, want...); err != nil {
		t.Fatal(err)
	}
	// Reading through fs.FS gives the bytes written.
	for _, f := range sampleESP() {
		got, err := fs.ReadFile(v, f.Path)
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("fs.ReadFile(%s): %d bytes, %v", f.Path, len(got), err)
		}
	}
	for _, bad := range []string{"/loader/loader.conf", "", "loader/", "loader/../a/linux"} {
		if _, err := v.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}
