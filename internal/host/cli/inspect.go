package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

func runInspect(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "inspect", commands()["inspect"].usage)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one build directory, initramfs or disk image")
	}
	target := pos[0]
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	switch {
	case st.IsDir():
		return inspectBuild(e.Stdout, target)
	case isDiskImage(target):
		return inspectDisk(e.Stdout, target)
	}
	return inspectFile(e.Stdout, target)
}

func inspectBuild(w io.Writer, dir string) error {
	m, _, err := manifest.Load(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %s (%s)  build %s\n", m.Name, m.Version, m.Arch, m.BuildID)
	fmt.Fprintf(w, "cmdline: %s\n", m.Cmdline)
	fmt.Fprintf(w, "toolchain: %s", m.Toolchain.Go)
	if m.Toolchain.KernelRelease != "" {
		fmt.Fprintf(w, ", linux %s", m.Toolchain.KernelRelease)
	}
	if m.Toolchain.CC != "" {
		fmt.Fprintf(w, ", %s", m.Toolchain.CC)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nartifacts:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var bootTotal int64
	for _, a := range m.Artifacts {
		fmt.Fprintf(tw, "  %s\t%s\t  sha256:%s\t\n", a.Name, bytesize.Format(a.Size), a.SHA256[:16])
		if a.Name == "kernel" || strings.HasPrefix(a.Name, "initramfs.") {
			bootTotal += a.Size
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "  kernel + initramfs: %s\n", bytesize.Format(bootTotal))
	fmt.Fprintln(w, "\ninputs:")
	for _, in := range m.Inputs {
		fmt.Fprintf(w, "  %-28s sha256:%s\n", in.Name, in.SHA256[:16])
	}
	for _, a := range m.Artifacts {
		if strings.HasPrefix(a.Name, "initramfs.") {
			fmt.Fprintf(w, "\n%s:\n", a.Name)
			if err := inspectFile(w, filepath.Join(dir, a.Name)); err != nil {
				return err
			}
		}
	}
	if _, ok := m.Artifact("disk.img"); ok {
		fmt.Fprintln(w)
		return inspectDisk(w, filepath.Join(dir, "disk.img"))
	}
	return nil
}

// inspectFile lists an initramfs (any compression) with a size breakdown.
func inspectFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	r, comp, err := initramfs.Decompress(f)
	if err != nil {
		return fmt.Errorf("%s: %w (not an initramfs; disk images are inspected with the disk support)", path, err)
	}
	defer r.Close()
	entries, err := initramfs.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	printBreakdown(w, entries, st.Size(), comp)
	fmt.Fprintln(w, "\nfiles:")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, en := range entries {
		size := fmt.Sprint(len(en.Data))
		switch en.Type() {
		case initramfs.TypeChar, initramfs.TypeBlock:
			size = fmt.Sprintf("%d,%d", en.Major, en.Minor)
		}
		name := "/" + en.Name
		if en.Type() == initramfs.TypeSymlink {
			name += " -> " + en.Linkname
		}
		fmt.Fprintf(tw, "  %s\t%d:%d\t%s\t%s\n", modeString(en.Mode), en.UID, en.GID, size, name)
	}
	return tw.Flush()
}

// printBreakdown shows where the bytes go: kernel is separate; inside the
// archive: the init, each service, everything else.
func printBreakdown(w io.Writer, entries []initramfs.Record, fileSize int64, comp initramfs.Compression) {
	var cfg *initconfig.Config
	for _, en := range entries {
		if "/"+en.Name == initconfig.Path {
			cfg, _ = initconfig.Parse(en.Data)
		}
	}
	services := map[string]string{}
	if cfg != nil {
		for _, s := range cfg.Services {
			services[strings.TrimPrefix(s.Path, "/")] = s.Name
		}
	}
	type part struct {
		name string
		size int64
	}
	var total, initSize, other int64
	var svcs []part
	for _, en := range entries {
		n := int64(len(en.Data))
		total += n
		switch {
		case en.Name == "init":
			initSize = n
		case services[en.Name] != "":
			svcs = append(svcs, part{"service " + services[en.Name], n})
		default:
			other += n
		}
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].size > svcs[j].size })
	parts := append([]part{{"init", initSize}}, svcs...)
	parts = append(parts, part{"other files", other})
	fmt.Fprintf(w, "  %d entries, %s uncompressed, %s as %s (%.0f%%)\n", len(entries), bytesize.Format(total),
		bytesize.Format(fileSize), comp, 100*float64(fileSize)/float64(max(total, 1)))
	for _, p := range parts {
		bar := strings.Repeat("#", int(30*p.size/max(total, 1)))
		fmt.Fprintf(w, "  %-22s %10s %5.1f%%  %s\n", p.name, bytesize.Format(p.size), 100*float64(p.size)/float64(max(total, 1)), bar)
	}
}

func modeString(mode uint32) string {
	t := "-"
	switch mode & initramfs.TypeMask {
	case initramfs.TypeDir:
		t = "d"
	case initramfs.TypeSymlink:
		t = "l"
	case initramfs.TypeChar:
		t = "c"
	case initramfs.TypeBlock:
		t = "b"
	case initramfs.TypeFifo:
		t = "p"
	case initramfs.TypeSocket:
		t = "s"
	}
	const rwx = "rwxrwxrwx"
	b := []byte(t)
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	if mode&0o1000 != 0 {
		b[9] = 't'
	}
	return string(b)
}
