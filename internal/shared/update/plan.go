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
	if slot == slots.SlotA {
		return slots.SlotB
	}
	return slots.SlotA
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
	// Ops prepare the inactive slot; none of them changes what boots.
	Ops []Op
	// Switch is the rename that turns the new entry on. Apply makes it
	// only after every Op succeeded and the source was read to its end.
	Switch Op
}

// Errors a caller may test for.
var (
	ErrOtherAppliance = errors.New("the build is for another appliance")
	ErrNotNewer       = errors.New("the build is not newer than the active slot")
	ErrSignature      = errors.New("signature check failed")
	ErrOnTrial        = errors.New("the running slot is on trial")
	ErrNotSelected    = errors.New("the new slot would not boot")
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
	return "", fmt.Errorf("no bootable slot on the disk: %s", unbootableReasons(cur.State, sorted))
}

// unbootableReasons says why no entry gives a bootable slot: the entries
// left out (a missing kernel or initrd, a parse error), those that name no
// slot, those whose tries ran out, or that there are no entries at all.
func unbootableReasons(st *slots.State, sorted []bootloader.Entry) string {
	why := append([]string(nil), st.Skipped...)
	for _, e := range sorted {
		switch {
		case slots.SlotOf(e) == "":
			why = append(why, e.FileName+": names no slot (no turbo.slot= option)")
		case e.Counter.Bad():
			why = append(why, e.FileName+": marked bad (no tries left)")
		}
	}
	if len(why) == 0 {
		return "no boot entries in " + slots.EntriesDir + " or " + slots.UKIDir
	}
	return strings.Join(why, "; ")
}

// PlanFlash checks a flash and plans it. It reads nothing and writes
// nothing.
func PlanFlash(cur Current, req Request) (*Plan, error) {
	m := req.Manifest
	if err := m.Validate(); err != nil {
		return nil, err
	}
	root, kernel, initrd, ok := m.SlotPayloads()
	if !ok {
		return nil, fmt.Errorf("build %s %s has no disk slot payloads (build it with outputs: [disk])", m.Name, m.Version)
	}
	active, err := activeSlot(cur)
	if err != nil {
		return nil, err
	}
	if active != slots.SlotA && active != slots.SlotB {
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
	slotManifest, err := m.Slot().Marshal()
	if err != nil {
		return nil, err
	}
	if u, ok := m.SlotUKI(p.Inactive); ok {
		if err := planUKI(cur, p, u, slotManifest, root, m); err != nil {
			return nil, err
		}
		return p, nil
	}
	entry := slots.NewEntry(p.Generation, p.Inactive, m.Name, m.Version, m.Cmdline)
	p.Entry = bootloader.EntryFileName(entry.ID, bootloader.Counter{Set: true, Left: p.Tries})
	temp := path.Join(slots.EntriesDir, entry.ID+".conf.new")
	dir := p.Inactive + "/"
	removeEntries(cur.State, p, temp)
	p.Ops = append(p.Ops,
		Op{Kind: WritePartition, Path: part, Artifact: root},
		Op{Kind: WriteFile, Path: dir + "linux", Artifact: kernel},
		Op{Kind: WriteFile, Path: dir + "initrd", Artifact: initrd},
		Op{Kind: WriteFile, Path: dir + manifest.FileName, Data: slotManifest},
		Op{Kind: VerifyPartition, Path: part, Artifact: root},
		Op{Kind: VerifyFile, Path: dir + "linux", Artifact: kernel},
		Op{Kind: VerifyFile, Path: dir + "initrd", Artifact: initrd},
		Op{Kind: VerifyFile, Path: dir + manifest.FileName, Data: slotManifest},
		Op{Kind: WriteFile, Path: temp, Data: entry.Format()},
	)
	p.Switch = Op{Kind: Rename, Path: temp, To: path.Join(slots.EntriesDir, p.Entry)}
	if err := checkEntry(entry, p); err != nil {
		return nil, err
	}
	if err := checkSelected(cur.State, p, entry); err != nil {
		return nil, err
	}
	return p, nil
}

// removeEntries plans the removal of the inactive slot's entries, of
// either type, and of a leftover temporary entry (temp) from an
// interrupted flash.
func removeEntries(st *slots.State, p *Plan, temp string) {
	for _, e := range st.Entries {
		if slots.SlotOf(e) == p.Inactive {
			p.Ops = append(p.Ops, Op{Kind: RemoveEntry, Path: slots.EntryPath(e)})
		}
	}
	p.Ops = append(p.Ops, Op{Kind: RemoveEntry, Path: temp})
}

// planUKI plans the flash of a build whose boot entries are Unified
// Kernel Images (UAPI.1 Boot Loader Specification, Type #2): the
// inactive slot's UKI (kernel, slot initramfs and a command line naming
// the slot, in one signed-or-not PE file) is its boot entry, written as
// EFI/Linux/turbo-<generation>-<slot>.efi.new (the loader lists only
// names ending in ".efi") and renamed to turbo-<generation>-<slot>+<tries>.efi
// as the switch. No kernel or initrd goes into the slot's folder: the UKI
// carries them.
func planUKI(cur Current, p *Plan, u manifest.File, slotManifest []byte, root manifest.File, m *manifest.Manifest) error {
	entry := slots.NewUKIEntry(p.Generation, p.Inactive, m.Name, m.Version, m.Cmdline)
	entry.Counter = bootloader.Counter{Set: true, Left: p.Tries}
	entry.FileName = entry.FileNameWith(entry.Counter)
	if err := bootloader.ValidateID(entry.ID); err != nil {
		return fmt.Errorf("planned boot entry: %w", err)
	}
	p.Entry = entry.FileName
	temp := path.Join(slots.UKIDir, bootloader.UKIFileName(entry.ID, bootloader.Counter{})+".new")
	part := slots.PartitionName(p.Inactive)
	mf := p.Inactive + "/" + manifest.FileName
	removeEntries(cur.State, p, temp)
	p.Ops = append(p.Ops,
		Op{Kind: WritePartition, Path: part, Artifact: root},
		Op{Kind: WriteFile, Path: mf, Data: slotManifest},
		Op{Kind: WriteFile, Path: temp, Artifact: u},
		Op{Kind: VerifyPartition, Path: part, Artifact: root},
		Op{Kind: VerifyFile, Path: mf, Data: slotManifest},
		Op{Kind: VerifyFile, Path: temp, Artifact: u},
	)
	p.Switch = Op{Kind: Rename, Path: temp, To: path.Join(slots.UKIDir, p.Entry)}
	if slots.SlotOf(entry) != p.Inactive {
		return fmt.Errorf("planned boot entry %s: its command line selects slot %q, not %s", p.Entry, slots.SlotOf(entry), p.Inactive)
	}
	return selectsNew(cur.State, p, entry)
}

// checkEntry validates the planned boot entry as the loader will read it:
// the file's contents are parsed back under the final name and must give
// exactly the planned values, one linux and one initrd of the new slot,
// and the new slot in turbo.slot. A manifest field that slipped a line
// break past manifest.Validate would show up here as a changed value or an
// extra key (issue 9, defect 8).
func checkEntry(want bootloader.Entry, p *Plan) error {
	if err := want.Validate(); err != nil {
		return fmt.Errorf("planned boot entry %s: %w", p.Entry, err)
	}
	got, err := bootloader.ParseEntry(p.Entry, want.Format())
	if err != nil {
		return fmt.Errorf("planned boot entry %s: %w", p.Entry, err)
	}
	switch {
	case got.ID != want.ID || got.Title != want.Title || got.Version != want.Version || got.Options != want.Options ||
		got.Linux != want.Linux || got.EFI != "" || len(got.Initrd) != 1 || got.Initrd[0] != want.Initrd[0] ||
		len(got.Extra) != 0 || got.SortKey != "" || got.MachineID != "" || got.Architecture != "" || got.DeviceTree != "":
		return fmt.Errorf("planned boot entry %s does not read back as planned:\n%s", p.Entry, want.Format())
	case slots.SlotOf(got) != p.Inactive:
		return fmt.Errorf("planned boot entry %s: its options select slot %q, not %s", p.Entry, slots.SlotOf(got), p.Inactive)
	case got.Linux != "/"+p.Inactive+"/linux":
		return fmt.Errorf("planned boot entry %s boots %s, not the new slot's kernel", p.Entry, got.Linux)
	}
	return nil
}

// checkSelected computes what systemd-boot would boot once the plan is
// applied (the inactive slot's old entries removed, the new entry added
// with its counter; bootloader.SelectDefault has the rules) and refuses a
// plan whose new entry would not be chosen: a flash that succeeds must
// boot the new slot next (issue 9, defect 7).
func checkSelected(st *slots.State, p *Plan, entry bootloader.Entry) error {
	newEntry, err := bootloader.ParseEntry(p.Entry, entry.Format())
	if err != nil {
		return fmt.Errorf("planned boot entry %s: %w", p.Entry, err)
	}
	return selectsNew(st, p, newEntry)
}

// selectsNew refuses a plan whose new entry systemd-boot would not choose
// once the inactive slot's old entries are gone.
func selectsNew(st *slots.State, p *Plan, newEntry bootloader.Entry) error {
	after := []bootloader.Entry{newEntry}
	for _, e := range st.Entries {
		if slots.SlotOf(e) != p.Inactive {
			after = append(after, e)
		}
	}
	sel, err := bootloader.SelectDefault(st.Loader, after)
	if err != nil {
		return fmt.Errorf("after the flash the boot loader would fail to choose an entry: %w", err)
	}
	if sel.FileName == newEntry.FileName {
		return nil
	}
	why := "it sorts before the new entry"
	if st.Loader.Default != "" {
		why = fmt.Sprintf("%s says \"default %s\"", slots.LoaderConfPath, st.Loader.Default)
	}
	return fmt.Errorf("%w: after the flash systemd-boot would boot %s, not the new entry %s (%s); the flash would never boot the new slot", ErrNotSelected, sel.FileName, p.Entry, why)
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
