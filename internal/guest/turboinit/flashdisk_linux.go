//go:build linux && (turbo_agent || turbo_follow)

package turboinit

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// The running disk as a flash target, for the update agent and the
// registry follower.

// currentDisk reads the running disk's boot state.
func (in *Init) currentDisk(esp string) (update.Current, *blockParts, error) {
	st, err := slots.Read(os.DirFS(esp))
	if err != nil {
		return update.Current{}, nil, err
	}
	cur := update.Current{State: st, Manifests: map[string]*manifest.Manifest{}, PartitionSizes: map[string]int64{},
		Running: in.cmdline.Slot}
	parts := &blockParts{devs: map[string]string{}}
	for _, slot := range []string{slots.SlotA, slots.SlotB} {
		name := slots.PartitionName(slot)
		dev, err := findPartition(name, time.Second)
		if err != nil {
			return update.Current{}, nil, err
		}
		parts.devs[name] = dev
		b, err := os.ReadFile("/sys/class/block/" + filepath.Base(dev) + "/size")
		if err != nil {
			return update.Current{}, nil, err
		}
		sectors, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		cur.PartitionSizes[slot] = sectors * 512
		if mb, err := os.ReadFile(path.Join(esp, slot, manifest.FileName)); err == nil {
			m, err := manifest.Parse(mb)
			if err != nil {
				return update.Current{}, nil, fmt.Errorf("slot %s manifest: %w", slot, err)
			}
			cur.Manifests[slot] = m
		}
	}
	return cur, parts, nil
}

// blockParts writes slot partitions through their block devices.
type blockParts struct {
	devs  map[string]string
	files []*os.File
}

func (b *blockParts) WritePartition(name string, r io.Reader, size int64) error {
	dev, ok := b.devs[name]
	if !ok {
		return fmt.Errorf("no partition %s", name)
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("partition %s: got %d of %d bytes: %w", name, n, size, io.ErrUnexpectedEOF)
	}
	return f.Sync()
}

func (b *blockParts) ReadPartition(name string) (*io.SectionReader, error) {
	dev, ok := b.devs[name]
	if !ok {
		return nil, fmt.Errorf("no partition %s", name)
	}
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	b.files = append(b.files, f)
	// Drop cached pages so the read-back checks what is on the disk.
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(f, 0, size), nil
}

func (b *blockParts) Sync() error { return nil }

func (b *blockParts) close() {
	for _, f := range b.files {
		f.Close()
	}
}

// dirESP is the mounted ESP: read through os.DirFS, written with new
// content going to a temporary file that is synced and renamed over the
// old one.
type dirESP struct {
	fs.FS
	dir string
}

func newDirESP(dir string) dirESP { return dirESP{os.DirFS(dir), dir} }

func (d dirESP) p(name string) string { return path.Join(d.dir, name) }

func (d dirESP) WriteFile(name string, data []byte) error {
	p := d.p(name)
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, data, 0o644)
}

func (d dirESP) Rename(oldname, newname string) error { return os.Rename(d.p(oldname), d.p(newname)) }

func (d dirESP) Remove(name string) error { return os.Remove(d.p(name)) }

func (d dirESP) Sync() error {
	unix.Sync()
	return nil
}
