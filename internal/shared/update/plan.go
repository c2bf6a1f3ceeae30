// Package update flashes a build into the inactive A/B slot of an
// appliance's disk, offline (a disk image or block device) or from the
// network agent inside the running appliance.
//
// The work is split the way a power cut demands. PlanFlash is pure: from the
// disk's boot state and the new build's manifest it decides the slots, runs
// every check (same appliance and architecture, newer version, sizes,
// trusted keys) and returns a list of typed operations. Apply is a thin
// executor of those operations against a Target. The operations are ordered
// so that the disk boots the old slot after a cut at any point until the
// very last one, a single rename on the ESP that turns the new boot entry on
// with a boot counter:
//
//  1. remove the inactive slot's old boot entries (the active one stays);
//  2. write the root partition; 3. write kernel, initrd and slot manifest
//     on the ESP; 4. read everything back and compare with the manifest;
//  5. write the entry under a name the loader ignores (".conf.new");
//  6. rename it to turbo-<generation>-<slot>+<tries>.conf — the switch.
//
// Each step ends with a sync. The active slot and the data partition are
// never written.
package update

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/turbo-image/turbo-image/bootloader"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// DefaultTries is the boot counter a new slot gets when the manifest does
// not say.
const DefaultTries = 3

// OtherSlot returns the other slot of an A/B pair.
func OtherSlot(slot string) string {
	if slot == "a" {
		return "b"
	}
	return "a"
}

// Current is the boot state of the target disk.
type Current struct {
	State *slots.State
	// Manifests are the slot manifests found on the ESP (<slot>/manifest.json).
	Manifests map[string]*manifest.Manifest
	// PartitionSizes are the sizes of the slots' root partitions.
	PartitionSizes map[string]int64
	// Running is the slot the caller runs from (the network agent), or ""
	// for an offline disk.
	Running string
}

// Request is a flash to plan.
type Request struct {
	Manifest      *manifest.Manifest
	ManifestBytes []byte
	// Signature is the manifest.json.sig content, nil if unsigned.
	Signature      []byte
	AllowDowngrade bool
}

// OpKind is the kind of one flash operation.
type OpKind int

// Operations, in the order a plan lists them.
const (
	// RemoveEntry removes a boot entry file (Path).
	RemoveEntry OpKind = iota
	// WritePartition writes Artifact's bytes to partition Path.
	WritePartition
	// WriteFile writes Artifact's bytes (or Data) to ESP file Path.
	WriteFile
	// VerifyPartition reads partition Path back and compares Size bytes
	// with the artifact's sha256.
	VerifyPartition
	// VerifyFile reads ESP file Path back and compares it.
	VerifyFile
	// Rename renames ESP file Path to To: the switch.
	Rename
)

func (k OpKind) String() string {
	return [...]string{"remove entry", "write partition", "write file", "verify partition", "verify file", "rename"}[k]
}

// Op is one operation of a plan.
type Op struct {
	Kind OpKind
	Path string
	To   string
	// Artifact names the payload (for writes and verifies); Data is used
	// instead when set (small generated files).
	Artifact manifest.File
	Data     []byte
}

func (o Op) String() string {
	switch o.Kind {
	case Rename:
		return fmt.Sprintf("%v %s -> %s", o.Kind, o.Path, o.To)
	case WritePartition, WriteFile, VerifyPartition, VerifyFile:
		if o.Data != nil {
			return fmt.Sprintf("%v %s (%d bytes)", o.Kind, o.Path, len(o.Data))
		}
		return fmt.Sprintf("%v %s from %s", o.Kind, o.Path, o.Artifact.Name)
	}
	return fmt.Sprintf("%v %s", o.Kind, o.Path)
}

// Plan is a checked flash.
type Plan struct {
	Active, Inactive string
	ActiveVersion    string
	NewVersion       string
	Generation       int
	Tries            int
	// Entry is the final name of the new boot entry.
	Entry string
	// SignedBy is the key that verified the manifest, if any.
	SignedBy string
	Ops      []Op
}

// Errors a caller may test for.
var (
	ErrOtherAppliance = errors.New("the build is for another appliance")
	ErrNotNewer       = errors.New("the build is not newer than the active slot")
	ErrSignature      = errors.New("signature check failed")
	ErrOnTrial        = errors.New("the running slot is on trial")
)

// activeSlot picks the slot to keep: the running one, or else the first
// blessed entry in systemd-boot's order (the newest known-good slot), or
// else the first entry that is not bad.
func activeSlot(cur Current) (string, error) {
	if cur.Running != "" {
		return cur.Running, nil
	}
	sorted := append([]bootloader.Entry(nil), cur.State.Entries...)
	bootloader.Sort(sorted)
	for _, e := range sorted {
		if !e.Counter.Set && slots.SlotOf(e) != "" {
			return slots.SlotOf(e), nil
		}
	}
	for _, e := range sorted {
		if !e.Counter.Bad() && slots.SlotOf(e) != "" {
			return slots.SlotOf(e), nil
		}
	}
	return "", errors.New("no bootable slot on the disk")
}

// PlanFlash checks a flash and plans it. It reads nothing and writes
// nothing.
func PlanFlash(cur Current, req Request) (*Plan, error) {
	m := req.Manifest
	root, kernel, initrd, ok := m.SlotPayloads()
	if !ok {
		return nil, fmt.Errorf("build %s %s has no disk slot payloads (build it with outputs: [disk])", m.Name, m.Version)
	}
	active, err := activeSlot(cur)
	if err != nil {
		return nil, err
	}
	if active != "a" && active != "b" {
		return nil, fmt.Errorf("active slot %q is not a or b", active)
	}
	am := cur.Manifests[active]
	if am == nil {
		return nil, fmt.Errorf("the active slot %s has no manifest on the ESP (%s/%s); was this disk made by turbo-image?", active, active, manifest.FileName)
	}
	if cur.Running != "" {
		if e, ok := cur.State.Slot(cur.Running); ok && e.Counter.Set {
			return nil, fmt.Errorf("%w: slot %s (%s) is not blessed yet; flash again once it is", ErrOnTrial, cur.Running, e.FileName)
		}
	}
	if m.Name != am.Name {
		return nil, fmt.Errorf("%w: build is %q, the disk runs %q", ErrOtherAppliance, m.Name, am.Name)
	}
	if m.Arch != am.Arch {
		return nil, fmt.Errorf("%w: build is for %s, the disk is %s", ErrOtherAppliance, m.Arch, am.Arch)
	}
	if c := bootloader.StrVerCmp(m.Version, am.Version); c <= 0 && !req.AllowDowngrade {
		word := "older than"
		if c == 0 {
			word = "the same as"
		}
		return nil, fmt.Errorf("%w: version %s is %s the active slot's %s (use --allow-downgrade to flash it anyway)", ErrNotNewer, m.Version, word, am.Version)
	}
	p := &Plan{Active: active, Inactive: OtherSlot(active), ActiveVersion: am.Version, NewVersion: m.Version}
	if len(am.TrustedKeys) > 0 {
		var keys []signing.PublicKey
		for i, t := range am.TrustedKeys {
			k, err := signing.ParsePublicKey(fmt.Sprintf("active slot trusted key %d", i+1), []byte(t+"\n"))
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		if len(req.Signature) == 0 {
			return nil, fmt.Errorf("%w: the active slot trusts %d signing key(s) and the build is not signed (turbo-image sign)", ErrSignature, len(keys))
		}
		k, err := signing.Verify(req.ManifestBytes, req.Signature, keys)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSignature, err)
		}
		p.SignedBy = k.ID()
	}
	part := slots.PartitionName(p.Inactive)
	if size, ok := cur.PartitionSizes[p.Inactive]; !ok {
		return nil, fmt.Errorf("the disk has no partition %s", part)
	} else if root.Size > size {
		return nil, fmt.Errorf("partition %s: the new root needs %d bytes, the partition has %d", part, root.Size, size)
	}
	p.Tries = m.Tries
	if p.Tries <= 0 {
		p.Tries = DefaultTries
	}
	p.Generation = cur.State.NextGeneration()
	entry := slots.NewEntry(p.Generation, p.Inactive, m.Name, m.Version, m.Cmdline)
	slotManifest, err := m.Slot().Marshal()
	if err != nil {
		return nil, err
	}
	p.Entry = bootloader.EntryFileName(entry.ID, bootloader.Counter{Set: true, Left: p.Tries})
	temp := path.Join(slots.EntriesDir, entry.ID+".conf.new")
	dir := p.Inactive + "/"
	for _, e := range cur.State.Entries {
		if slots.SlotOf(e) == p.Inactive {
			p.Ops = append(p.Ops, Op{Kind: RemoveEntry, Path: path.Join(slots.EntriesDir, e.FileName)})
		}
	}
	// A leftover temp entry from an interrupted flash.
	p.Ops = append(p.Ops,
		Op{Kind: RemoveEntry, Path: temp},
		Op{Kind: WritePartition, Path: part, Artifact: root},
		Op{Kind: WriteFile, Path: dir + "linux", Artifact: kernel},
		Op{Kind: WriteFile, Path: dir + "initrd", Artifact: initrd},
		Op{Kind: WriteFile, Path: dir + manifest.FileName, Data: slotManifest},
		Op{Kind: VerifyPartition, Path: part, Artifact: root},
		Op{Kind: VerifyFile, Path: dir + "linux", Artifact: kernel},
		Op{Kind: VerifyFile, Path: dir + "initrd", Artifact: initrd},
		Op{Kind: VerifyFile, Path: dir + manifest.FileName, Data: slotManifest},
		Op{Kind: WriteFile, Path: temp, Data: entry.Format()},
		Op{Kind: Rename, Path: temp, To: path.Join(slots.EntriesDir, p.Entry)},
	)
	return p, nil
}

// Summary describes the plan in one line.
func (p *Plan) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flash %s into slot %s (active: slot %s, %s); boot entry %s with %d tries", p.NewVersion, p.Inactive, p.Active, p.ActiveVersion, p.Entry, p.Tries)
	if p.SignedBy != "" {
		fmt.Fprintf(&b, "; signed by key %s", p.SignedBy)
	}
	return b.String()
}
