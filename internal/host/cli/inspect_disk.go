package cli

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/turbo-image/turbo-image/bootloader"
	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/format/vdisk"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// isDiskImage sniffs a GPT: "EFI PART" at LBA 1, or a qcow2, VMDK or VHD
// image (which inspectDisk refuses).
func isDiskImage(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && vdisk.Detect(f, st.Size()) != "" {
		return true // refused by inspectDisk, with what to do instead
	}
	b := make([]byte, 8)
	if _, err := f.ReadAt(b, 512); err != nil {
		return false
	}
	return string(b) == "EFI PART"
}

// readDisk reads what inspect shows of a disk image: partitions, slot
// contents, boot entries with their counter state, and the ESP's files.
func readDisk(p string) (*DiskJSON, error) {
	out, err := readDiskParts(p)
	if err != nil {
		return nil, err
	}
	_, err = readDiskESP(p, out)
	return out, err
}

// readDiskParts reads the GPT part of readDisk.
func readDiskParts(p string) (*DiskJSON, error) {
	d, err := diskimage.Open(p, false)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out := &DiskJSON{Path: p, Size: d.Size(), GUID: d.GUID(), Partitions: []PartitionJSON{},
		BootEntries: []BootEntryJSON{}, Ignored: []string{}, ESPFiles: []ESPFileJSON{}}
	if st, err := os.Stat(p); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && st.Mode().IsRegular() {
			n := sys.Blocks * 512
			out.Allocated = &n
		}
	}
	parts, err := d.Partitions()
	if err != nil {
		return nil, err
	}
	for _, pi := range parts {
		out.Partitions = append(out.Partitions, PartitionJSON{Index: pi.Index, Name: pi.Name, Size: pi.Size, Start: pi.Start,
			Content: content(d, pi), TypeGUID: pi.TypeGUID})
	}
	return out, nil
}

// readDiskESP reads the ESP part of readDisk into out. entries reports
// whether the loader and the boot entries were read (an error then comes
// from listing the ESP's files, and out holds those listed before it).
func readDiskESP(p string, out *DiskJSON) (entries bool, err error) {
	d, err := diskimage.Open(p, false)
	if err != nil {
		return false, err
	}
	defer d.Close()
	esp, err := d.ESP()
	if err != nil {
		return false, err
	}
	st, err := slots.Read(esp)
	if err != nil {
		return false, err
	}
	out.Loader = LoaderJSON{Default: st.Loader.Default, Timeout: st.Loader.Timeout}
	next := ""
	if plan, err := st.Plan(); err == nil {
		next = plan.Entry.FileName
	}
	sorted := append([]bootloader.Entry(nil), st.Entries...)
	bootloader.Sort(sorted)
	for _, e := range sorted {
		be := BootEntryJSON{File: e.FileName, Slot: slots.SlotOf(e), Version: e.Version, Next: e.FileName == next, State: "blessed"}
		if e.Counter.Set {
			be.Counter = &CounterJSON{Left: e.Counter.Left, Done: e.Counter.Done}
			be.State = "trial"
			if e.Counter.Bad() {
				be.State = "bad"
			}
		}
		out.BootEntries = append(out.BootEntries, be)
	}
	out.Ignored = append(out.Ignored, st.Skipped...)
	return true, walkESP(esp, func(p string, size int64) {
		out.ESPFiles = append(out.ESPFiles, ESPFileJSON{Path: "/" + p, Size: size})
	})
}

// inspectDisk shows partitions, slot contents, boot entries with their
// counter state, and the ESP's files. The partitions are shown even when
// the ESP cannot be read.
func inspectDisk(w io.Writer, p string) error {
	out, err := readDiskParts(p)
	if err != nil {
		return err
	}
	alloc := ""
	if out.Allocated != nil {
		alloc = fmt.Sprintf(", %s allocated", bytesize.Format(*out.Allocated))
	}
	fmt.Fprintf(w, "%s: %s%s, GPT disk %s\n\npartitions:\n", p, bytesize.Format(out.Size), alloc, out.GUID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tname\tsize\tstart\tcontent\ttype")
	for _, pi := range out.Partitions {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", pi.Index, quoteName(pi.Name), bytesize.Format(pi.Size), bytesize.Format(pi.Start), pi.Content, pi.TypeGUID)
	}
	tw.Flush()
	entries, espErr := readDiskESP(p, out)
	if !entries {
		return espErr
	}
	fmt.Fprintf(w, "\nloader.conf: default %q, timeout %d\n", out.Loader.Default, out.Loader.Timeout)
	fmt.Fprintln(w, "boot entries, in systemd-boot's order (* boots next):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range out.BootEntries {
		mark := " "
		if e.Next {
			mark = "*"
		}
		fmt.Fprintf(tw, "  %s %s\tslot %s\tversion %s\t%s\n", mark, quoteName(e.File), quoteName(e.Slot), quoteName(e.Version), counterState(e))
	}
	tw.Flush()
	for _, s := range out.Ignored {
		fmt.Fprintf(w, "  (ignored: %s)\n", terminalSafe(s))
	}
	fmt.Fprintln(w, "\nESP files:")
	for _, f := range out.ESPFiles {
		fmt.Fprintf(w, "  %10s  %s\n", bytesize.Format(f.Size), quoteName(f.Path))
	}
	return espErr
}

func counterState(e BootEntryJSON) string {
	switch {
	case e.Counter == nil:
		return "blessed (no counter)"
	case e.State == "bad":
		return fmt.Sprintf("bad (no tries left, %d done)", e.Counter.Done)
	}
	return fmt.Sprintf("on trial: %d tries left, %d done", e.Counter.Left, e.Counter.Done)
}
func content(d *diskimage.Disk, pi diskimage.Partition) string {
	r, err := d.ReadPartition(pi.Name)
	if err != nil {
		return "?"
	}
	b := make([]byte, 2048)
	n, _ := r.ReadAt(b, 0)
	b = b[:n]
	switch {
	case bytes.HasPrefix(b, []byte("hsqs")):
		return "squashfs"
	case len(b) > 0x5a && string(b[0x52:0x5a]) == "FAT32   ":
		return "FAT32"
	case len(b) >= 1082 && b[1080] == 0x53 && b[1081] == 0xEF:
		return "ext4"
	case bytes.Count(b, []byte{0}) == len(b):
		return "empty"
	}
	return "unknown"
}

// maxESPDepth bounds the directories listESP descends: a corrupt FAT
// directory can name an ancestor's cluster, which makes the tree endless.
const maxESPDepth = 32

// walkESP calls file for every file of the ESP with its size, in path
// order.
func walkESP(esp fs.FS, file func(p string, size int64)) error {
	return fs.WalkDir(esp, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if strings.Count(p, "/") >= maxESPDepth {
				return fmt.Errorf("ESP /%s: directories nested more than %d deep (a directory loop?)", p, maxESPDepth)
			}
			return nil
		}
		size := int64(0)
		if info, err := de.Info(); err == nil {
			size = info.Size()
		}
		file(p, size)
		return nil
	})
}
