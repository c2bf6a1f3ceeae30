// Package flash is the host side of turbo-image flash: it writes a build
// into the inactive slot of a disk image or block device (offline), or
// streams it to the update agent of a running appliance (network). The
// checks and the order of writes are package update's; this package
// supplies the disk and the payloads.
package flash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

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
	for _, slot := range []string{slots.SlotA, slots.SlotB} {
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
	dir           *manifest.Dir
	ctx           context.Context
}

// LoadBuild loads a build directory as every command does
// (manifest.LoadDir: the manifest and every artifact, not only the slot
// payloads, must match, each a regular file) and reads its signature if
// any. Payload reads stop when ctx is done.
func LoadBuild(ctx context.Context, dir string) (*Build, error) {
	d, err := manifest.LoadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	if _, _, _, ok := d.Manifest.SlotPayloads(); !ok {
		return nil, fmt.Errorf("%s: the build has no disk slot (build it with outputs: [disk])", dir)
	}
	sig, err := signing.ReadSignatureFile(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &Build{Dir: dir, Manifest: d.Manifest, ManifestBytes: d.Bytes, Signature: sig, dir: d, ctx: ctx}, nil
}

// Open implements Source over the build directory: the artifact must still
// be a regular file of the manifest's size (Apply hashes what it copies).
func (b *Build) Open(a manifest.File) (io.ReadCloser, error) {
	return b.dir.Open(b.ctx, a)
}

// Finish implements Source: a build folder has no trailer to check.
func (b *Build) Finish() error { return b.ctx.Err() }

// Options of an offline flash.
type Options struct {
	AllowDowngrade bool
	// DryRun plans and checks but writes nothing.
	DryRun   bool
	Progress func(update.Progress)
}

// FlashDisk flashes a build directory into the inactive slot of a disk
// image file or block device.
func FlashDisk(ctx context.Context, target, buildDir string, o Options) (*update.Plan, error) {
	b, err := LoadBuild(ctx, buildDir)
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
	return flashSource(d, Source{Manifest: b.Manifest, ManifestBytes: b.ManifestBytes, Signature: b.Signature, Payloads: b}, o)
}

// Source is a build to flash that is not a local folder (a registry
// reference, registry.RemoteBuild): its manifest, its signature if any,
// and its payloads, each checked by update.Apply as it is written.
type Source struct {
	Manifest      *manifest.Manifest
	ManifestBytes []byte
	Signature     []byte
	Payloads      update.Source
}

// FlashDiskFrom flashes s into the inactive slot of a disk image file or
// block device.
func FlashDiskFrom(target string, s Source, o Options) (*update.Plan, error) {
	d, err := diskimage.Open(target, !o.DryRun)
	if err != nil {
		return nil, err
	}
	p, err := flashSource(d, s, o)
	cerr := d.Close()
	if err != nil {
		return p, err
	}
	return p, cerr
}

func flashSource(d *diskimage.Disk, s Source, o Options) (*update.Plan, error) {
	cur, err := ReadCurrent(d)
	if err != nil {
		return nil, err
	}
	p, err := update.PlanFlash(cur, update.Request{Manifest: s.Manifest, ManifestBytes: s.ManifestBytes, Signature: s.Signature, AllowDowngrade: o.AllowDowngrade})
	if err != nil || o.DryRun {
		return p, err
	}
	esp, err := d.ESP()
	if err != nil {
		return p, err
	}
	return p, update.Apply(p, esp, d, s.Payloads, o.Progress)
}
