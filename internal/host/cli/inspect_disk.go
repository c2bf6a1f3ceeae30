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
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// isDiskImage sniffs a GPT: "EFI PART" at LBA 1.
func isDiskImage(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 8)
	if _, err := f.ReadAt(b, 512); err != nil {
		return false
	}
	return string(b) == "EFI PART"
}

// inspectDisk shows partitions, slot contents, boot entries with their
// counter state, and the ESP's files.
func inspectDisk(w io.Writer, p string) error {
	d, err := diskimage.Open(p, false)
	if err != nil {
		return err
	}
	defer d.Close()
	alloc := ""
	if st, err := os.Stat(p); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && st.Mode().IsRegular() {
			alloc = fmt.Sprintf(", %s allocated", bytesize.Format(sys.Blocks*512))
		}
	}
	fmt.Fprintf(w, "%s: %s%s, GPT disk %s\n\npartitions:\n", p, bytesize.Format(d.Size()), alloc, d.GUID())
	parts, err := d.Partitions()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tname\tsize\tstart\tcontent\ttype")
	for _, pi := range parts {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", pi.Index, pi.Name, bytesize.Format(pi.Size), bytesize.Format(pi.Start), content(d, pi), pi.TypeGUID)
	}
	tw.Flush()
	esp, err := d.ESP()
	if err != nil {
		return err
	}
	st, err := slots.Read(esp)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nloader.conf: default %q, timeout %d\n", st.Loader.Default, st.Loader.Timeout)
	next := ""
	if plan, err := st.Plan(); err == nil {
		next = plan.Entry.FileName
	}
	sorted := append([]bootloader.Entry(nil), st.Entries...)
	bootloader.Sort(sorted)
	fmt.Fprintln(w, "boot entries, in systemd-boot's order (* boots next):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range sorted {
		mark := " "
		if e.FileName == next {
			mark = "*"
		}
		fmt.Fprintf(tw, "  %s %s\tslot %s\tversion %s\t%s\n", mark, e.FileName, slots.SlotOf(e), e.Version, counterState(e.Counter))
	}
	tw.Flush()
	for _, s := range st.Skipped {
		fmt.Fprintf(w, "  (ignored: %s)\n", s)
	}
	fmt.Fprintln(w, "\nESP files:")
	return listESP(w, esp)
}

func counterState(c bootloader.Counter) string {
	switch {
	case !c.Set:
		return "blessed (no counter)"
	case c.Bad():
		return fmt.Sprintf("bad (no tries left, %d done)", c.Done)
	}
	return fmt.Sprintf("on trial: %d tries left, %d done", c.Left, c.Done)
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

// listESP prints every file of the ESP with its size, in path order.
func listESP(w io.Writer, esp fs.FS) error {
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
		fmt.Fprintf(w, "  %10s  /%s\n", bytesize.Format(size), p)
		return nil
	})
}
