package update

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// ESP is write access to the target's EFI system partition
// (diskimage.ESP offline, the mounted partition in the agent): an io/fs
// file system for reading, plus the writes a flash does.
type ESP interface {
	fs.FS
	WriteFile(name string, data []byte) error
	Rename(oldname, newname string) error
	Remove(name string) error
	Sync() error
}

// Partitions is write access to the target's partitions (diskimage.Disk
// offline, the block devices in the agent).
type Partitions interface {
	WritePartition(name string, r io.Reader, size int64) error
	ReadPartition(name string) (*io.SectionReader, error)
	Sync() error
}

// Source hands out the payloads. A streaming source (the network agent)
// is asked for them in plan order. Finish is called after the last
// payload and before the switch: it reports whether the source as a whole
// was good (a stream read to its very end, see Stream.Finish). An error
// stops the flash before the switch.
type Source interface {
	Open(a manifest.File) (io.ReadCloser, error)
	Finish() error
}

// Progress reports the operation being applied: once when it starts
// (Bytes 0) and, for the payload writes and read-backs of partitions, as
// its bytes go by.
type Progress struct {
	Op    Op
	Index int
	Total int
	// Bytes of the operation's payload done so far, of Size: for
	// partition writes and read-backs (0 for the other operations).
	Bytes, Size int64
}

// Apply executes a plan. Every payload is checked against the manifest
// while it is copied (size and sha256; a longer or shorter stream is an
// error), everything written is read back and compared before the switch,
// and every operation is followed by a sync. Then the source must Finish
// without error, and only then is the switch (p.Switch) made. On error it
// stops at once: the switch has not happened, so the disk still boots the
// active slot.
func Apply(p *Plan, esp ESP, parts Partitions, src Source, progress func(Progress)) error {
	sync := func() error {
		if err := esp.Sync(); err != nil {
			return err
		}
		return parts.Sync()
	}
	if p.Switch.Kind != Rename {
		return errors.New("the plan has no switch")
	}
	total := len(p.Ops) + 1
	for i, op := range p.Ops {
		if op.Kind == Rename {
			return fmt.Errorf("%v: a rename before the switch", op)
		}
		var onBytes func(int64)
		if progress != nil {
			size := payloadSize(op)
			progress(Progress{Op: op, Index: i, Total: total, Size: size})
			onBytes = func(n int64) { progress(Progress{Op: op, Index: i, Total: total, Bytes: n, Size: size}) }
		}
		if err := applyOp(op, esp, parts, src, onBytes); err != nil {
			return fmt.Errorf("%v: %w", op, err)
		}
		if err := sync(); err != nil {
			return fmt.Errorf("%v: sync: %w", op, err)
		}
	}
	if err := src.Finish(); err != nil {
		return err
	}
	if progress != nil {
		progress(Progress{Op: p.Switch, Index: total - 1, Total: total})
	}
	if err := applyOp(p.Switch, esp, parts, src, nil); err != nil {
		return fmt.Errorf("%v: %w", p.Switch, err)
	}
	if err := sync(); err != nil {
		return fmt.Errorf("%w; %v: sync: %w", ErrSwitched, p.Switch, err)
	}
	return nil
}

// ErrSwitched wraps an error that came after the switch was made: the new
// entry is in place (the loader may see it), so a caller must not report
// the flash as refused.
var ErrSwitched = errors.New("the switch was made")

// payloadSize is the size of what op writes to or reads back from a
// partition (the long operations, which report their bytes); 0 for the
// others.
func payloadSize(op Op) int64 {
	switch op.Kind {
	case WritePartition, VerifyPartition:
		return op.Artifact.Size
	}
	return 0
}

// counter passes reads through and reports the running count to onBytes
// (nil: none).
type counter struct {
	r       io.Reader
	n       int64
	onBytes func(int64)
}

func (c *counter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if k > 0 && c.onBytes != nil {
		c.n += int64(k)
		c.onBytes(c.n)
	}
	return k, err
}

// applyOp carries out one operation; onBytes (may be nil) hears the bytes
// of partition payloads as they are written or read back.
func applyOp(op Op, esp ESP, parts Partitions, src Source, onBytes func(int64)) error {
	switch op.Kind {
	case RemoveEntry:
		if err := esp.Remove(op.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	case WritePartition:
		r, err := openChecked(src, op.Artifact)
		if err != nil {
			return err
		}
		defer r.Close()
		if err := parts.WritePartition(op.Path, &counter{r: r, onBytes: onBytes}, op.Artifact.Size); err != nil {
			return err
		}
		return r.finish()
	case WriteFile:
		data := op.Data
		if data == nil {
			r, err := openChecked(src, op.Artifact)
			if err != nil {
				return err
			}
			defer r.Close()
			if data, err = io.ReadAll(r); err != nil {
				return err
			}
			if err := r.finish(); err != nil {
				return err
			}
		}
		return esp.WriteFile(op.Path, data)
	case VerifyPartition:
		sr, err := parts.ReadPartition(op.Path)
		if err != nil {
			return err
		}
		return Compare(&counter{r: io.NewSectionReader(sr, 0, op.Artifact.Size), onBytes: onBytes}, op.Artifact)
	case VerifyFile:
		b, err := fs.ReadFile(esp, op.Path)
		if err != nil {
			return err
		}
		want := op.Artifact
		if op.Data != nil {
			want = manifest.Digest(op.Path, op.Data)
		}
		return Compare(bytes.NewReader(b), want)
	case Rename:
		return esp.Rename(op.Path, op.To)
	}
	return fmt.Errorf("unknown operation %d", op.Kind)
}

// Compare reads r to its end and checks size and sha256 against want.
func Compare(r io.Reader, want manifest.File) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if n != want.Size || hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		return fmt.Errorf("read back %d bytes with sha256 %x; the manifest says %d bytes, %s", n, h.Sum(nil), want.Size, want.SHA256)
	}
	return nil
}

// checked is a payload reader that refuses to deliver more than the
// manifest's size and, at the end, a wrong digest.
type checked struct {
	rc   io.ReadCloser
	want manifest.File
	h    hash.Hash
	n    int64
}

func openChecked(src Source, a manifest.File) (*checked, error) {
	rc, err := src.Open(a)
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", a.Name, err)
	}
	return &checked{rc: rc, want: a, h: sha256.New()}, nil
}

func (c *checked) Read(p []byte) (int, error) {
	if c.n >= c.want.Size {
		// Everything the manifest promised arrived; a source with more is
		// refused, not truncated silently.
		var one [1]byte
		if k, _ := c.rc.Read(one[:]); k > 0 {
			return 0, fmt.Errorf("payload %s: more than the %d bytes the manifest says", c.want.Name, c.want.Size)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.want.Size-c.n {
		p = p[:c.want.Size-c.n]
	}
	k, err := c.rc.Read(p)
	c.h.Write(p[:k])
	c.n += int64(k)
	if err == io.EOF && c.n < c.want.Size {
		return k, fmt.Errorf("payload %s: truncated at %d of %d bytes: %w", c.want.Name, c.n, c.want.Size, io.ErrUnexpectedEOF)
	}
	return k, err
}

// finish checks the digest once everything was read.
func (c *checked) finish() error {
	if c.n != c.want.Size {
		return fmt.Errorf("payload %s: %d of %d bytes", c.want.Name, c.n, c.want.Size)
	}
	if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want.SHA256 {
		return fmt.Errorf("payload %s: sha256 %s, the manifest says %s", c.want.Name, got, c.want.SHA256)
	}
	return nil
}

func (c *checked) Close() error { return c.rc.Close() }
