package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// runtimeDirs exist in every image: mount points the init fills at boot
// (they must exist in a read-only slot root) and the usual top level.
var runtimeDirs = []struct {
	name string
	perm uint32
}{
	{"bin", 0o755}, {"data", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"etc/turbo", 0o755},
	{"proc", 0o555}, {"root", 0o700}, {"run", 0o755}, {"sys", 0o555}, {"tmp", 0o1777},
}

// deviceNodes are needed before devtmpfs is mounted: the kernel opens
// /dev/console for the init's standard streams.
func deviceNodes() []initramfs.Record {
	return []initramfs.Record{
		initramfs.CharDev("dev/console", 0o600, 5, 1),
		initramfs.CharDev("dev/null", 0o666, 1, 3),
	}
}

// fileRecords turns the recipe's files into records, reading sources from
// disk. Host permission bits other than "executable" are not carried over,
// so a checkout's umask cannot change the image.
func fileRecords(r *recipe.Recipe) ([]initramfs.Record, []inputFile, error) {
	var recs []initramfs.Record
	var inputs []inputFile
	for _, f := range r.Files {
		dest := strings.TrimPrefix(path.Clean(f.Dest), "/")
		own := func(rec initramfs.Record) initramfs.Record {
			if f.OwnerSet {
				rec.UID, rec.GID = f.UID, f.GID
			}
			return rec
		}
		if f.HasContent {
			recs = append(recs, own(initramfs.File(dest, f.Mode, f.Content)))
			inputs = append(inputs, inputFile{fileInputName(dest), f.Content})
			continue
		}
		st, err := os.Stat(f.Src)
		if err != nil {
			return nil, nil, fmt.Errorf("files: %s: %w", f.Dest, err)
		}
		if !st.IsDir() {
			b, err := os.ReadFile(f.Src)
			if err != nil {
				return nil, nil, fmt.Errorf("files: %s: %w", f.Dest, err)
			}
			recs = append(recs, own(initramfs.File(dest, f.Mode, b)))
			inputs = append(inputs, inputFile{fileInputName(dest), b})
			continue
		}
		err = filepath.WalkDir(f.Src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(f.Src, p)
			if err != nil {
				return err
			}
			name := dest
			if rel != "." {
				name = path.Join(dest, filepath.ToSlash(rel))
			}
			switch {
			case d.IsDir():
				recs = append(recs, own(initramfs.Dir(name, recipe.DefaultDirMode)))
			case d.Type()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				recs = append(recs, own(initramfs.Symlink(name, target)))
			case d.Type().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				perm := uint32(0o644)
				if info.Mode()&0o111 != 0 {
					perm = 0o755
				}
				recs = append(recs, own(initramfs.File(name, perm, b)))
				inputs = append(inputs, inputFile{fileInputName(name), b})
			default:
				return fmt.Errorf("%s: unsupported file type %v", p, d.Type())
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("files: %s: %w", f.Dest, err)
		}
	}
	return recs, inputs, nil
}

// fileInputName names the image file name (relative, as in the archive) among
// the manifest's inputs: "file:/" and the path, with every byte outside
// the manifest's name alphabet (letters, digits and . _ / + -) written as
// ":" and two hex digits (":" itself included), so any name the recipe
// checker allows (spaces, UTF-8 letters) fits the manifest and the
// encoding is reversible: "etc/my file" is "file:/etc/my:20file".
func fileInputName(name string) string {
	var b strings.Builder
	b.WriteString("file:/")
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._/+-", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, ":%02x", c)
		}
	}
	return b.String()
}

// inputFile is one input recorded in the manifest.
type inputFile struct {
	name string
	data []byte
}

// appRecords is the appliance's own content: services, files, and the
// generated /etc files. It does not include the init or its config.
func appRecords(r *recipe.Recipe, services [][]byte, files []initramfs.Record) []initramfs.Record {
	var recs []initramfs.Record
	for _, d := range runtimeDirs {
		recs = append(recs, initramfs.Dir(d.name, d.perm))
	}
	recs = append(recs, deviceNodes()...)
	for i, s := range r.Services {
		recs = append(recs, initramfs.File(strings.TrimPrefix(s.Path, "/"), 0o755, services[i]))
	}
	recs = append(recs,
		initramfs.File("etc/hostname", 0o644, []byte(r.Hostname+"\n")),
		initramfs.File("etc/passwd", 0o644, passwd(r)),
		initramfs.File("etc/group", 0o644, group(r)),
		initramfs.File("etc/os-release", 0o644, osRelease(r)),
		initramfs.Symlink("etc/resolv.conf", "/run/resolv.conf"),
	)
	// Recipe files may replace generated ones (e.g. /etc/passwd). The
	// archive writer rejects duplicates, so generated entries the recipe
	// overrides are dropped.
	override := map[string]bool{}
	for _, f := range files {
		override[f.Name] = true
	}
	kept := recs[:0]
	for _, rec := range recs {
		if !override[rec.Name] {
			kept = append(kept, rec)
		}
	}
	return append(kept, files...)
}

func users(r *recipe.Recipe) (uids, gids []int) {
	su, sg := map[int]bool{0: true}, map[int]bool{0: true}
	for _, s := range r.Services {
		su[s.UID], sg[s.GID] = true, true
	}
	for u := range su {
		uids = append(uids, u)
	}
	for g := range sg {
		gids = append(gids, g)
	}
	sort.Ints(uids)
	sort.Ints(gids)
	return uids, gids
}

func userName(id int) string {
	switch id {
	case 0:
		return "root"
	case 65534:
		return "nobody"
	}
	return fmt.Sprintf("u%d", id)
}

func passwd(r *recipe.Recipe) []byte {
	uids, _ := users(r)
	var b strings.Builder
	for _, u := range uids {
		home := "/"
		if u == 0 {
			home = "/root"
		}
		fmt.Fprintf(&b, "%s:x:%d:%d::%s:/bin/false\n", userName(u), u, u, home)
	}
	return []byte(b.String())
}

func group(r *recipe.Recipe) []byte {
	_, gids := users(r)
	var b strings.Builder
	for _, g := range gids {
		fmt.Fprintf(&b, "%s:x:%d:\n", userName(g), g)
	}
	return []byte(b.String())
}

func osRelease(r *recipe.Recipe) []byte {
	return []byte(fmt.Sprintf("NAME=%q\nID=turbo-image\nVERSION=%q\nVARIANT_ID=%q\n", r.Name, r.Version, r.Name))
}

// buildID is the identity of an appliance's content: the sha256 over the
// canonical records (names, types, modes, owners, device numbers, link
// targets and content digests). Kernel, initramfs and slot root built from
// the same content share it.
func buildID(recs []initramfs.Record, kernelDigest string) string {
	sorted := append([]initramfs.Record(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	h := sha256.New()
	fmt.Fprintf(h, "turbo-build v1\nkernel %s\n", kernelDigest)
	for _, r := range sorted {
		d := sha256.Sum256(r.Data)
		fmt.Fprintf(h, "%s %o %d %d %d:%d %q %x\n", r.Name, r.Mode, r.UID, r.GID, r.Major, r.Minor, r.Linkname, d)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// initConfig turns the recipe into the init's config.
func initConfig(r *recipe.Recipe, id string, trusted [][]byte, agentTokenSHA string) *initconfig.Config {
	c := &initconfig.Config{
		Schema: initconfig.Schema, Name: r.Name, Version: r.Version, BuildID: id, Hostname: r.Hostname,
		Network: initconfig.Network{Mode: r.Network.Mode, Interface: r.Network.Interface,
			Address: r.Network.Address, Gateway: r.Network.Gateway, DNS: r.Network.DNS},
		ShutdownGrace: initconfig.Duration(r.Init.ShutdownGrace),
		Scrub:         r.Data.Scrub,
		Quiesce:       r.Data.Quiesce,
		Resume:        r.Data.Resume,
		Update: initconfig.Update{
			Settle:        initconfig.Duration(r.Update.Settle),
			TrialDeadline: initconfig.Duration(r.Update.TrialDeadline),
			TrustedKeys:   trusted,
		},
	}
	if c.Network.Mode == "none" {
		c.Network.Interface = ""
	}
	for _, s := range r.Services {
		sc := initconfig.Service{
			Name: s.Name, Path: s.Path, Args: s.Args, UID: s.UID, GID: s.GID, Dir: s.WorkDir,
			Restart: s.Restart, Burst: s.RestartLimit.Burst, Interval: initconfig.Duration(s.RestartLimit.Interval),
		}
		for _, e := range s.Env {
			sc.Env = append(sc.Env, e.Name+"="+e.Value)
		}
		if h := s.Health; h != nil {
			sc.Health = &initconfig.Health{HTTP: h.HTTP, TCP: h.TCP, Exec: h.Exec,
				Interval: initconfig.Duration(h.Interval), Timeout: initconfig.Duration(h.Timeout),
				StartPeriod: initconfig.Duration(h.StartPeriod), Retries: h.Retries}
		}
		if s.Limits != nil {
			l := *s.Limits
			sc.Limits = &l
		}
		c.Services = append(c.Services, sc)
	}
	if a := r.Update.Agent; a != nil {
		c.Update.Agent = &initconfig.Agent{Listen: a.Listen, TokenSHA256: agentTokenSHA, MaxBytes: a.MaxBytes}
	}
	return c
}

// initTags are the build tags the init needs for this recipe; disk is set
// for the init of a disk slot.
func initTags(r *recipe.Recipe, disk bool) []string {
	var tags []string
	if r.Network.Mode == "dhcp" {
		tags = append(tags, "turbo_dhcp")
	}
	if disk {
		tags = append(tags, "turbo_disk")
	}
	if r.Update.Agent != nil && disk {
		// The agent updates disk slots; an initramfs boot has none.
		tags = append(tags, "turbo_agent")
	}
	if r.Update.Follow != nil && disk {
		// The registry follower also flashes disk slots.
		tags = append(tags, "turbo_follow")
	}
	for _, s := range r.Services {
		if s.Limits != nil {
			// cgroup v2 and rlimits for services with limits.
			tags = append(tags, "turbo_limits")
			break
		}
	}
	return tags
}
