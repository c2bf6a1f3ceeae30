package fat32

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// mkdirAll returns the directory for comps, creating missing directories.
func (v *FS) mkdirAll(comps []string, p string) (*fatDir, error) {
	d, err := v.readDir(v.rootCluster)
	if err != nil {
		return nil, fmt.Errorf("ESP %s: %w", p, err)
	}
	for _, c := range comps {
		i := d.find(c)
		if i >= 0 {
			e := d.entries[i]
			if !e.isDir() {
				return nil, fmt.Errorf("ESP %s: %s is not a directory", p, e.name)
			}
			if d, err = v.readDir(e.cluster); err != nil {
				return nil, fmt.Errorf("ESP %s: %w", p, err)
			}
			continue
		}
		ch, err := v.alloc(1)
		if err != nil {
			return nil, fmt.Errorf("ESP %s: %w", p, err)
		}
		parent := d.cluster
		if parent == v.rootCluster {
			parent = 0 // ".." of a first-level directory points at cluster 0
		}
		body := make([]byte, v.clusterSize)
		dot := newShortEntry(attrDir, ch[0], 0)
		dotName, dotdotName := packShort(".", ""), packShort("..", "")
		copy(dot[:11], dotName[:])
		dotdot := newShortEntry(attrDir, parent, 0)
		copy(dotdot[:11], dotdotName[:])
		copy(body, dot[:])
		copy(body[dirEntrySize:], dotdot[:])
		if err := writeFull(v.dev, body, v.clusterOffset(ch[0])); err != nil {
			return nil, fmt.Errorf("ESP %s: writing directory: %w", p, err)
		}
		if err := v.flush(); err != nil {
			return nil, err
		}
		set, err := newEntrySet(d, c, -1, newShortEntry(attrDir, ch[0], 0))
		if err == nil {
			err = v.insertSet(d, set)
		}
		if err != nil {
			return nil, v.undoAlloc(ch, fmt.Errorf("ESP %s: %w", p, err))
		}
		if d, err = v.readDir(ch[0]); err != nil {
			return nil, fmt.Errorf("ESP %s: %w", p, err)
		}
	}
	return d, nil
}

// WriteFile implements ESP.
func (v *FS) WriteFile(name string, data []byte) error {
	if err := v.checkWritable(); err != nil {
		return err
	}
	comps, err := splitPath("write", name)
	if err != nil {
		return err
	}
	if len(comps) == 0 {
		return fmt.Errorf("ESP %q: not a file name", name)
	}
	base := comps[len(comps)-1]
	if err := checkLongName(base); err != nil {
		return fmt.Errorf("ESP %s: %w", name, err)
	}
	if int64(len(data)) > 0xffffffff {
		return fmt.Errorf("ESP %s: %s is too large for FAT (4 GiB - 1 byte at most)", name, bytesize.CeilMiB(int64(len(data))))
	}
	d, err := v.mkdirAll(comps[:len(comps)-1], name)
	if err != nil {
		return err
	}
	i := d.find(base)
	var old []uint32
	if i >= 0 {
		e := d.entries[i]
		if e.isDir() {
			return fmt.Errorf("ESP %s: is a directory", name)
		}
		if e.cluster != 0 {
			// A broken old chain is not freed, but is no reason to fail.
			old, _ = v.chain(e.cluster)
		}
	}
	ch, err := v.alloc((int64(len(data)) + v.clusterSize - 1) / v.clusterSize)
	if err != nil {
		return fmt.Errorf("ESP %s: %w", name, err)
	}
	var first uint32
	if len(ch) > 0 {
		first = ch[0]
	}
	if err := v.writeClusters(ch, data); err != nil {
		return fmt.Errorf("ESP %s: %w", name, err)
	}
	if err := v.flush(); err != nil {
		return err
	}
	if i >= 0 {
		// Replace: point the existing entry at the new data (one sector),
		// then free the old chain.
		e := d.entries[i]
		raw := d.buf[e.slot*dirEntrySize : (e.slot+1)*dirEntrySize]
		setEntryCluster(raw, first)
		binary.LittleEndian.PutUint32(raw[28:], uint32(len(data)))
		if err := v.writeSlots(d, e.slot, e.slot+1); err != nil {
			return err
		}
		v.release(old)
		return v.flush()
	}
	set, err := newEntrySet(d, base, -1, newShortEntry(attrArchive, first, uint32(len(data))))
	if err == nil {
		err = v.insertSet(d, set)
	}
	if err != nil {
		return v.undoAlloc(ch, fmt.Errorf("ESP %s: %w", name, err))
	}
	return nil
}

// undoAlloc frees a chain that no directory entry references after a
// failure, and returns err.
func (v *FS) undoAlloc(ch []uint32, err error) error {
	v.release(ch)
	if ferr := v.flush(); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// Remove implements ESP.
func (v *FS) Remove(name string) error {
	if err := v.checkWritable(); err != nil {
		return err
	}
	d, i, err := v.lookup(name)
	if err != nil {
		return err
	}
	e := d.entries[i]
	var ch []uint32
	if e.cluster != 0 {
		if ch, err = v.chain(e.cluster); err != nil {
			return fmt.Errorf("ESP %s: %w", name, err)
		}
	}
	if e.isDir() {
		sub, err := v.readDir(e.cluster)
		if err != nil {
			return fmt.Errorf("ESP %s: %w", name, err)
		}
		for _, se := range sub.entries {
			if !se.dot {
				return fmt.Errorf("ESP %s: directory not empty", name)
			}
		}
	}
	for s := e.first; s <= e.slot; s++ {
		d.buf[s*dirEntrySize] = entryDeleted
	}
	if err := v.writeSlots(d, e.first, e.slot+1); err != nil {
		return err
	}
	v.release(ch)
	return v.flush()
}

// Rename implements ESP.
func (v *FS) Rename(oldname, newname string) error {
	if err := v.checkWritable(); err != nil {
		return err
	}
	oc, err := splitPath("rename", oldname)
	if err != nil {
		return err
	}
	nc, err := splitPath("rename", newname)
	if err != nil {
		return err
	}
	if len(oc) == 0 || len(nc) == 0 {
		return errors.New("ESP: cannot rename the root directory")
	}
	if !strings.EqualFold(path.Join(oc[:len(oc)-1]...), path.Join(nc[:len(nc)-1]...)) {
		return fmt.Errorf("ESP rename %s -> %s: only renames within one directory are supported", oldname, newname)
	}
	d, i, err := v.lookup(oldname)
	if err != nil {
		return err
	}
	newBase := nc[len(nc)-1]
	if err := checkLongName(newBase); err != nil {
		return fmt.Errorf("ESP rename %s: %w", oldname, err)
	}
	if j := d.find(newBase); j >= 0 && j != i {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	e := d.entries[i]
	var sfn [dirEntrySize]byte
	copy(sfn[:], d.buf[e.slot*dirEntrySize:])
	set, err := newEntrySet(d, newBase, i, sfn)
	if err != nil {
		return fmt.Errorf("ESP rename %s: %w", oldname, err)
	}
	n := len(set) / dirEntrySize
	oldN := e.slot - e.first + 1
	start := -1
	switch {
	case n <= oldN:
		start = e.slot - n + 1
	case e.first-(n-oldN) >= 0:
		s := e.first - (n - oldN)
		ok := true
		for k := s; k < e.first; k++ {
			ok = ok && d.buf[k*dirEntrySize] == entryDeleted
		}
		if ok {
			start = s
		}
	}
	if start >= 0 {
		// In place: the new set ends at the 8.3 entry's slot, leftover slots
		// in front of it become deleted. One sector when the set fits one.
		lo := min(start, e.first)
		for k := lo; k < start; k++ {
			d.buf[k*dirEntrySize] = entryDeleted
		}
		copy(d.buf[start*dirEntrySize:], set)
		if err := v.writeSlots(d, lo, e.slot+1); err != nil {
			return err
		}
		d.parse()
		return nil
	}
	// Elsewhere: write the new set first, then delete the old one. A power
	// cut in between leaves both names pointing at the same data.
	if err := v.insertSet(d, set); err != nil {
		return fmt.Errorf("ESP rename %s: %w", oldname, err)
	}
	for s := e.first; s <= e.slot; s++ {
		d.buf[s*dirEntrySize] = entryDeleted
	}
	if err := v.writeSlots(d, e.first, e.slot+1); err != nil {
		return err
	}
	d.parse()
	return nil
}

// Sync implements ESP.
func (v *FS) Sync() error {
	if !v.writable {
		return nil
	}
	if err := v.flush(); err != nil {
		return err
	}
	if s, ok := v.dev.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("ESP: sync: %w", err)
		}
	}
	return nil
}
