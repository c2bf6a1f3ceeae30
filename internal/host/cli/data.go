package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/data"
	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// runData is `data export|import|ls`: one flag set for the three verbs,
// each checking that it is given only its own flags.
func runData(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "data", commands()["data"].usage)
	out := fs.String("o", "", "export: the archive `FILE` to write (created whole or not at all)")
	target := fs.String("target", "", "import: the disk image or block device `TARGET` whose /data is replaced, or an empty folder (a jail's --data)")
	channel := fs.String("channel", "", "export: the `NAME` of the channel the data comes from, recorded in the archive; import: the channel of the target")
	order := fs.String("channel-order", data.DefaultOrder, "the `CHANNELS` data flows down, highest first, comma-separated")
	inPlace := fs.Bool("in-place", false, "import: allow a block device TARGET, whose data partition is overwritten in place (not atomic: a cut leaves no /data)")
	force := fs.Bool("force", false, "import: import even when the data would flow up to a higher channel")
	token := fs.String("token", "", "live export: update agent `TOKEN` (default: $TURBO_TOKEN; prefer --token-file)")
	tokenFile := fs.String("token-file", "", "live export: `FILE` holding the update agent token")
	with := fs.String("with", "", "scrub: the build `FOLDER` (turbo-image build's output) whose data.scrub program rewrites the copy")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want a verb: export, import, scrub or ls")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	only := func(verb string, allowed ...string) error {
		for name := range set {
			ok := false
			for _, a := range allowed {
				ok = ok || a == name
			}
			if !ok {
				return usagef("data %s does not take --%s", verb, name)
			}
		}
		return nil
	}
	switch verb, rest := pos[0], pos[1:]; verb {
	case "export":
		if err := only("export", "o", "channel", "token", "token-file"); err != nil {
			return err
		}
		if len(rest) != 1 {
			return usagef("data export wants one disk image, block device or http://HOST:PORT of an update agent")
		}
		if *out == "" {
			return usagef("data export needs -o FILE")
		}
		if strings.HasPrefix(rest[0], "http://") || strings.HasPrefix(rest[0], "https://") {
			tok, err := agentToken(e, *token, *tokenFile, "a live export")
			if err != nil {
				return err
			}
			return dataExportLive(ctx, e, rest[0], tok, *out, *channel)
		}
		if set["token"] || set["token-file"] {
			return usagef("--token and --token-file go with a live export (http://HOST:PORT)")
		}
		return dataExport(ctx, e, rest[0], *out, *channel)
	case "import":
		if err := only("import", "target", "channel", "channel-order", "force", "in-place"); err != nil {
			return err
		}
		if len(rest) != 1 {
			return usagef("data import wants one archive")
		}
		if *target == "" {
			return usagef("data import needs --target DISK")
		}
		if strings.HasPrefix(*target, "http://") || strings.HasPrefix(*target, "https://") {
			return errors.New("data import into a running appliance is refused: its services and the init hold /data open, and the only switch that leaves /data whole or as it was is one made while nothing runs; power the appliance off, import into its disk image or block device (data import FILE --target DISK), and boot it (docs/data.md, \"Import into a running appliance\")")
		}
		ord, err := data.ParseOrder(*order)
		if err != nil {
			return usagef("--channel-order: %v", err)
		}
		return dataImport(ctx, e, rest[0], *target, *channel, ord, *force, *inPlace)
	case "scrub":
		if err := only("scrub", "with", "o"); err != nil {
			return err
		}
		if len(rest) != 1 {
			return usagef("data scrub wants one archive")
		}
		if *with == "" || *out == "" {
			return usagef("data scrub needs --with BUILD and -o FILE")
		}
		return dataScrub(ctx, e, rest[0], *with, *out)
	case "ls":
		if err := only("ls"); err != nil {
			return err
		}
		if len(rest) != 1 {
			return usagef("data ls wants one archive")
		}
		return dataList(ctx, e, rest[0])
	default:
		return usagef("unknown verb %q: want export, import, scrub or ls", verb)
	}
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf(", %.1f MiB/s", float64(n)/(1<<20)/d.Seconds())
}

func dataExport(ctx context.Context, e *Env, disk, out, channel string) error {
	start := time.Now()
	pm := newMeter(e.Stderr, false).run()
	src, stats, err := data.ExportDisk(ctx, disk, out, channel, func(n int64) {
		pm.report(progress{Phase: "exporting " + disk, Done: n, Unit: "bytes"})
	})
	pm.finish()
	if err != nil {
		return err
	}
	reportExport(e, disk, src, stats, out, time.Since(start), "")
	return nil
}

// reportExport prints what an export wrote: entries skipped (on stderr)
// and one summary line; live is the pause the appliance reported.
func reportExport(e *Env, from string, src data.Source, stats data.Stats, out string, took time.Duration, live string) {
	size := int64(0)
	if fi, err := os.Stat(out); err == nil {
		size = fi.Size()
	}
	for _, s := range stats.Skipped {
		fmt.Fprintf(e.Stderr, "turbo-image data: skipped %s: tar cannot carry it\n", terminalSafe(s))
	}
	how := describeSource(src)
	if live != "" {
		how = "live (" + how + ")"
	} else {
		how = "(" + how + ")"
	}
	fmt.Fprintf(e.Stdout, "exported /data of %s %s to %s: %d files, %d folders, %d links, %d symlinks, %d special; %s of file data, archive %s; %s%s%s\n",
		from, how, out, stats.Files, stats.Dirs, stats.Links, stats.Symlinks, stats.Special,
		bytesize.Format(stats.Bytes), bytesize.Format(size), took.Round(time.Millisecond), rate(stats.Bytes, took), live)
}

// dataExportLive streams /data from a running appliance's update agent.
func dataExportLive(ctx context.Context, e *Env, url, token, out, channel string) error {
	start := time.Now()
	pm := newMeter(e.Stderr, false).run()
	src, stats, pause, err := data.ExportLive(ctx, url, token, out, data.LiveOptions{Channel: channel, Progress: func(n int64) {
		pm.report(progress{Phase: "exporting " + url, Done: n, Unit: "bytes"})
	}})
	pm.finish()
	if pause.How != "" {
		fmt.Fprintf(e.Stderr, "turbo-image data: the appliance paused its app for %s: %s\n", pause.Took.Round(time.Millisecond), terminalSafe(pause.How))
	}
	if err != nil {
		return err
	}
	reportExport(e, url, src, stats, out, time.Since(start), "; app paused "+pause.Took.Round(time.Millisecond).String())
	return nil
}

func describeSource(s data.Source) string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"name", s.Name}, {"version", s.Version}, {"channel", s.Channel}, {"build", s.Build}, {"from", s.From}, {"scrubbed by", s.Scrubbed}} {
		if f.v != "" {
			parts = append(parts, f.k+"="+f.v)
		}
	}
	if len(parts) == 0 {
		return "source unknown"
	}
	return strings.Join(parts, " ")
}

func dataImport(ctx context.Context, e *Env, archive, target, channel string, order []string, force, inPlace bool) error {
	var epoch int64
	if s := e.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var err error
		if epoch, err = strconv.ParseInt(s, 10, 64); err != nil || epoch < 0 {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a non-negative integer", s)
		}
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	pm := newMeter(e.Stderr, false).run()
	check := func(src data.Source) error {
		note, err := data.CheckDirection(order, src.Channel, channel)
		var de *data.DirectionError
		switch {
		case errors.As(err, &de) && force:
			fmt.Fprintf(e.Stderr, "turbo-image data: --force: %s\n", de.Reason)
		case err != nil:
			return fmt.Errorf("%s: refused: %w", archive, err)
		case note != "":
			fmt.Fprintf(e.Stderr, "turbo-image data: %s\n", note)
		}
		if src.Name != "" {
			fmt.Fprintf(e.Stderr, "turbo-image data: importing %s (%s) into %s\n", archive, describeSource(src), target)
		}
		return nil
	}
	opts := data.ImportOptions{Time: epoch, Check: check, InPlace: inPlace, Progress: func(n int64) {
		pm.report(progress{Phase: "importing " + archive, Done: n, Unit: "bytes"})
	}}
	var src data.Source
	var stats data.Stats
	if fi, serr := os.Stat(target); serr == nil && fi.IsDir() {
		src, stats, err = data.ImportFolder(ctx, f, target, opts) // a jail's --data folder
	} else {
		src, stats, err = data.ImportDisk(ctx, f, target, opts)
	}
	pm.finish()
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(e.Stdout, "imported %s (%s) into /data of %s: %d files, %d folders, %d links, %d symlinks, %d special; %s of file data; %s%s\n",
		archive, describeSource(src), target, stats.Files, stats.Dirs, stats.Links, stats.Symlinks, stats.Special,
		bytesize.Format(stats.Bytes), took.Round(time.Millisecond), rate(stats.Bytes, took))
	return nil
}

func dataList(ctx context.Context, e *Env, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	var total int64
	var n int
	src, err := data.List(ctx, f, data.Limits{}, func(en *data.Entry) error {
		if n == 0 {
			fmt.Fprintf(tw, "MODE\tOWNER\tSIZE\tMODIFIED\tPATH\n")
		}
		n++
		h := en.Header
		name := en.Path
		if name == "." {
			name = "./"
		}
		mode, what := fs.FileMode(h.Mode&0o777), ""
		switch h.Typeflag {
		case '5':
			mode |= fs.ModeDir
		case '2':
			mode |= fs.ModeSymlink
			what = " -> " + h.Linkname
		case '1':
			what = " => " + en.LinkTo + " (hard link)"
		case '3':
			mode |= fs.ModeDevice | fs.ModeCharDevice
			what = fmt.Sprintf(" (%d:%d)", h.Devmajor, h.Devminor)
		case '4':
			mode |= fs.ModeDevice
			what = fmt.Sprintf(" (%d:%d)", h.Devmajor, h.Devminor)
		case '6':
			mode |= fs.ModeNamedPipe
		}
		if h.Mode&0o4000 != 0 {
			mode |= fs.ModeSetuid
		}
		if h.Mode&0o2000 != 0 {
			mode |= fs.ModeSetgid
		}
		if h.Mode&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
		var xs []string
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xs = append(xs, strings.TrimPrefix(k, "SCHILY.xattr."))
			}
		}
		if len(xs) > 0 {
			what += fmt.Sprintf(" [%d xattrs]", len(xs))
		}
		total += h.Size
		modTime := ""
		if h.Typeflag != '1' {
			modTime = h.ModTime.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%d:%d\t%d\t%s\t%s\n", mode, h.Uid, h.Gid, h.Size, modTime, terminalSafe(name+what))
		return nil
	})
	tw.Flush()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s: %d members, %s of file data; %s\n", archive, n, bytesize.Format(total), describeSource(src))
	return nil
}

// dataScrub runs the build's data.scrub program in a jail on a private
// copy of the archive's /data; its exit status gates the output.
func dataScrub(ctx context.Context, e *Env, archive, build, out string) error {
	if os.Geteuid() != 0 {
		return errors.New("data scrub needs root: the scrub program runs as its service user in a root-started jail (a rootless jail maps only your own id, and would lose the files' owners)")
	}
	t, err := loadTarget(ctx, build)
	if err != nil {
		return err
	}
	jt, err := loadJail(ctx, e, t, 0)
	if err != nil {
		return err
	}
	argv := jt.cfg.Scrub
	if len(argv) == 0 {
		return fmt.Errorf("%s names no scrub program: add data.scrub: [/bin/PROGRAM, ARG...] to its recipe and build again", build)
	}
	// The program runs as the service whose program it is, else as the
	// first service's user: never as the jail's root.
	user := jail.User{UID: jt.cfg.Services[0].UID, GID: jt.cfg.Services[0].GID}
	for _, s := range jt.cfg.Services {
		if s.Path == argv[0] {
			user = jail.User{UID: s.UID, GID: s.GID}
			break
		}
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(e.Stderr, "turbo-image data: scrubbing %s with %s (%s, uid %d, no network)\n", archive, strings.Join(argv, " "), t.name, user.UID)
	start := time.Now()
	src, stats, err := data.Scrub(ctx, data.ScrubSpec{
		Archive: f, Out: out, Root: jt.root, Argv: argv, User: user, Hostname: jt.cfg.Hostname,
		Jail: jail.Options{Console: e.Stderr},
	})
	if err != nil {
		return fmt.Errorf("data scrub %s: %w", archive, err)
	}
	fmt.Fprintf(e.Stdout, "scrubbed %s (%s) into %s: %d files, %d folders, %d links, %d symlinks, %d special; %s of file data; %s\n",
		archive, describeSource(src), out, stats.Files, stats.Dirs, stats.Links, stats.Symlinks, stats.Special,
		bytesize.Format(stats.Bytes), time.Since(start).Round(time.Millisecond))
	return nil
}
