// Package powercut simulates power cuts under code that writes to a disk,
// without root and without a real disk: a Recorder is a diskimage.Device
// that keeps every write (and sync) in order on top of a read-only base
// image, and States materialises the disk as it would be after a cut at any
// point of that history. The flash tests use it to check that every cut
// leaves a disk that still boots.
package powercut

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"sort"
)

// Write is one recorded write; Sync marks a sync (no data).
type Write struct {
	Off  int64
	Data []byte
	Sync bool
}

// Recorder is a disk made of a base (read-only) plus recorded writes.
type Recorder struct {
	base  io.ReaderAt
	size  int64
	pages map[int64][]byte // current content, by page
	Log   []Write
}

const page = 4096

// NewRecorder returns a recorder over base.
func NewRecorder(base io.ReaderAt, size int64) *Recorder {
	return &Recorder{base: base, size: size, pages: map[int64][]byte{}}
}

// Size is the disk size.
func (r *Recorder) Size() int64 { return r.size }

func (r *Recorder) page(n int64) ([]byte, error) {
	if p, ok := r.pages[n]; ok {
		return p, nil
	}
	p := make([]byte, page)
	if _, err := r.base.ReadAt(p, n*page); err != nil && err != io.EOF {
		return nil, err
	}
	r.pages[n] = p
	return p, nil
}

// ReadAt reads the current content.
func (r *Recorder) ReadAt(b []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && off+int64(n) < r.size {
		pos := off + int64(n)
		if p, ok := r.pages[pos/page]; ok {
			n += copy(b[n:], p[pos%page:])
			continue
		}
		// Unwritten: read straight from the base, up to the page end.
		end := min(int64(len(b)-n), page-pos%page)
		if _, err := r.base.ReadAt(b[n:n+int(end)], pos); err != nil && err != io.EOF {
			return n, err
		}
		n += int(end)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt records a write and applies it.
func (r *Recorder) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > r.size {
		return 0, fmt.Errorf("powercut: write [%d, %d) outside the %d-byte disk", off, off+int64(len(b)), r.size)
	}
	r.Log = append(r.Log, Write{Off: off, Data: append([]byte(nil), b...)})
	if err := r.apply(off, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (r *Recorder) apply(off int64, b []byte) error {
	for len(b) > 0 {
		p, err := r.page(off / page)
		if err != nil {
			return err
		}
		k := copy(p[off%page:], b)
		b = b[k:]
		off += int64(k)
	}
	return nil
}

// Sync records a sync.
func (r *Recorder) Sync() error {
	r.Log = append(r.Log, Write{Sync: true})
	return nil
}

// Close does nothing.
func (r *Recorder) Close() error { return nil }

// Cut is a point in a write history: the first Writes writes landed, and
// then Partial bytes of the next one.
type Cut struct {
	Writes  int
	Partial int
}

func (c Cut) String() string {
	if c.Partial > 0 {
		return fmt.Sprintf("after %d writes + %d bytes of the next", c.Writes, c.Partial)
	}
	return fmt.Sprintf("after %d writes", c.Writes)
}

// Cuts lists the cut points of log: after every write, plus up to
// perWrite random byte offsets inside every write larger than one sector.
// The random offsets come from seed, so a failure can be reproduced.
func Cuts(log []Write, perWrite int, seed int64) []Cut {
	rng := rand.New(rand.NewSource(seed))
	var out []Cut
	for i, w := range log {
		if w.Sync {
			continue
		}
		if len(w.Data) > 512 {
			offs := map[int]bool{}
			for k := 0; k < perWrite; k++ {
				offs[1+rng.Intn(len(w.Data)-1)] = true
			}
			var sorted []int
			for o := range offs {
				sorted = append(sorted, o)
			}
			sort.Ints(sorted)
			for _, o := range sorted {
				out = append(out, Cut{Writes: i, Partial: o})
			}
		}
		out = append(out, Cut{Writes: i + 1})
	}
	return out
}

// Materialize returns the disk as it is after cut: a fresh Recorder over
// base with the writes before the cut applied.
func Materialize(base io.ReaderAt, size int64, log []Write, c Cut) (*Recorder, error) {
	r := NewRecorder(base, size)
	for i := 0; i < c.Writes && i < len(log); i++ {
		if log[i].Sync {
			continue
		}
		if err := r.apply(log[i].Off, log[i].Data); err != nil {
			return nil, err
		}
	}
	if c.Partial > 0 && c.Writes < len(log) {
		w := log[c.Writes]
		if err := r.apply(w.Off, w.Data[:min(c.Partial, len(w.Data))]); err != nil {
			return nil, err
		}
	}
	r.Log = nil
	return r, nil
}

// WriteFile saves the recorder's disk to path as a sparse file: the base
// is copied, then the written pages are written over it.
func (r *Recorder) WriteFile(path string, base *os.File) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := out.Truncate(r.size); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for off := int64(0); off < r.size; off += int64(len(buf)) {
		n, err := base.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return err
		}
		if n == 0 {
			break
		}
		if string(buf[:n]) == string(zero[:n]) {
			continue
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	for n, p := range r.pages {
		if _, err := out.WriteAt(p[:min(page, r.size-n*page)], n*page); err != nil {
			return err
		}
	}
	return out.Sync()
}
