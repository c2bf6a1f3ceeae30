// Package flash is the host side of turbo-image flash: it writes a build
// into the inactive slot of a disk image or block device (offline), or
// streams it to the update agent of a running appliance (network). The
// checks and the order of writes are package update's; this package
// supplies the disk and the payloads.
package flash

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// ReadCurrent reads the boot state of an opened disk: its entries, the
// slot manifests on the ESP and the slot partitions' sizes.
func ReadCurrent(d *diskimage.Disk) (update.Current, error) {
	esp, err := d.ESP()
	if err != nil {
		return update.Current{}, err
	}
	st, err := slots.Read(esp)
	if err != nil {
		return update.Current{}, err
	}
	cur := update.Current{State: st, Manifests: map[string]*manifest.Manifest{}, PartitionSizes: map[string]int64{}}
	for _, slot := range []string{"a", "b"} {
		if p, err := d.Partition(slots.PartitionName(slot)); err == nil {
			cur.PartitionSizes[slot] = p.Size
		}
		b, err := esp.ReadFile(slot + "/" + manifest.FileName)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return update.Current{}, err
		}
		m, err := manifest.Parse(b)
		if err != nil {
			return update.Current{}, fmt.Errorf("slot %s manifest: %w", slot, err)
		}
		cur.Manifests[slot] = m
	}
	return cur, nil
}

// Build is a build directory to flash.
type Build struct {
	Dir           string
	Manifest      *manifest.Manifest
	ManifestBytes []byte
	Signature     []byte
}

// LoadBuild reads a build directory's manifest and signature (if any) and
// checks the slot payloads' digests before anything is written.
func LoadBuild(dir string) (*Build, error) {
	m, mb, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	b := &Build{Dir: dir, Manifest: m, ManifestBytes: mb}
	sig, err := os.ReadFile(filepath.Join(dir, signing.SignatureFile))
	switch {
	case err == nil:
		b.Signature = sig
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	root, kernel, initrd, ok := m.SlotPayloads()
	if !ok {
		return nil, fmt.Errorf("%s: the build has no disk slot (build it with outputs: [disk])", dir)
	}
	for _, a := range []manifest.File{root, kernel, initrd} {
		f, err := os.Open(filepath.Join(dir, a.Name))
		if err != nil {
			return nil, err
		}
		err = update.Compare(f, a)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: artifact %s does not match the manifest: %w", dir, a.Name, err)
		}
	}
	return b, nil
}

// Open implements Source over the build directory.
func (b *Build) Open(a manifest.File) (io.ReadCloser, error) {
	return os.Open(filepath.Join(b.Dir, a.Name))
}

// Options of an offline flash.
type Options struct {
	AllowDowngrade bool
	// DryRun plans and checks but writes nothing.
	DryRun   bool
	Progress func(update.Progress)
}

// FlashDisk flashes a build directory into the inactive slot of a disk
// image file or block device.
func FlashDisk(target, buildDir string, o Options) (*update.Plan, error) {
	b, err := LoadBuild(buildDir)
	if err != nil {
		return nil, err
	}
	d, err := diskimage.Open(target, !o.DryRun)
	if err != nil {
		return nil, err
	}
	p, err := FlashOpened(d, b, o)
	cerr := d.Close()
	if err != nil {
		return p, err
	}
	return p, cerr
}

// FlashOpened flashes b into an opened disk (the caller closes it).
func FlashOpened(d *diskimage.Disk, b *Build, o Options) (*update.Plan, error) {
	cur, err := ReadCurrent(d)
	if err != nil {
		return nil, err
	}
	p, err := update.PlanFlash(cur, update.Request{Manifest: b.Manifest, ManifestBytes: b.ManifestBytes, Signature: b.Signature, AllowDowngrade: o.AllowDowngrade})
	if err != nil || o.DryRun {
		return p, err
	}
	esp, err := d.ESP()
	if err != nil {
		return p, err
	}
	return p, update.Apply(p, esp, d, b, o.Progress)
}
