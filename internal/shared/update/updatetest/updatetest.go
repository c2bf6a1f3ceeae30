// Package updatetest holds an in-memory appliance disk for tests of
// flashes (package update, the registry follower).
package updatetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"testing/fstest"
	"time"
)

// MemTarget is an appliance disk in memory: the ESP's files by path and
// the partitions' bytes by name. It is an update.ESP (an fs.FS with the
// writes a flash does); MemParts are its update.Partitions.
type MemTarget struct {
	Files map[string][]byte
	Parts map[string][]byte
}

// ReadFile reads an ESP file.
func (m *MemTarget) ReadFile(name string) ([]byte, error) {
	b, ok := m.Files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), b...), nil
}
func (m *MemTarget) WriteFile(name string, data []byte) error {
	m.Files[name] = append([]byte(nil), data...)
	return nil
}
func (m *MemTarget) Rename(o, n string) error {
	b, ok := m.Files[o]
	if !ok {
		return fs.ErrNotExist
	}
	delete(m.Files, o)
	m.Files[n] = b
	return nil
}
func (m *MemTarget) Remove(name string) error {
	if _, ok := m.Files[name]; !ok {
		return fs.ErrNotExist
	}
	delete(m.Files, name)
	return nil
}
func (m *MemTarget) Sync() error { return nil }

// Open makes the target an fs.FS, as update.ESP and slots.Read want.
func (m *MemTarget) Open(name string) (fs.File, error) {
	mfs := fstest.MapFS{}
	for n, b := range m.Files {
		mfs[n] = &fstest.MapFile{Data: b}
	}
	return mfs.Open(name)
}
func (m *MemTarget) ReadDir(dir string) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	seen := map[string]bool{}
	for name := range m.Files {
		rest, ok := strings.CutPrefix(name, dir+"/")
		if !ok {
			continue
		}
		first, _, sub := strings.Cut(rest, "/")
		if !seen[first] {
			seen[first] = true
			out = append(out, fs.FileInfoToDirEntry(memInfo{first, sub}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

type memInfo struct {
	name string
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return 0 }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir
	}
	return 0
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

// MemParts are the target's partitions.
type MemParts struct{ M *MemTarget }

func (p MemParts) WritePartition(name string, r io.Reader, size int64) error {
	old, ok := p.M.Parts[name]
	if !ok {
		return fmt.Errorf("no partition %s", name)
	}
	b, err := io.ReadAll(io.LimitReader(r, size))
	// Like a block device: what arrived before an error is written.
	copy(old, b)
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return io.ErrUnexpectedEOF
	}
	return nil
}
func (p MemParts) ReadPartition(name string) (*io.SectionReader, error) {
	b, ok := p.M.Parts[name]
	if !ok {
		return nil, fmt.Errorf("no partition %s", name)
	}
	return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), nil
}
func (p MemParts) Sync() error { return nil }

// Digest is the sha256 of everything on the target, in name order.
func (m *MemTarget) Digest() [32]byte {
	h := sha256.New()
	for _, set := range []map[string][]byte{m.Files, m.Parts} {
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(h, "%q %d\n", n, len(set[n]))
			h.Write(set[n])
		}
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
