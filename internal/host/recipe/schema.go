package recipe

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"gopkg.in/yaml.v3"
	orasregistry "oras.land/oras-go/v2/registry"

	turboimage "github.com/turbo-image/turbo-image"
	"github.com/turbo-image/turbo-image/internal/format/kconfig"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// Format rules of names and values.
var (
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	serviceRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	builtinRE  = regexp.MustCompile(`^[a-z0-9-]+$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	ifnameRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`)
	modeRE     = regexp.MustCompile(`^[0-7]{3,4}$`)
	ownerRE    = regexp.MustCompile(`^([0-9]{1,5}):([0-9]{1,5})$`)
	importElem = regexp.MustCompile(`^[A-Za-z0-9_~+-][A-Za-z0-9._~+-]*$`)
)

const maxID = 65534 // largest uid/gid; 65535 is (uid_t)-1 in 16-bit APIs

// recipe decodes the root mapping.
func (d *decoder) recipe(root *yaml.Node) *Recipe {
	f, ok := d.mapping(root, "", []string{"name", "version", "arch", "hostname", "kernel", "cmdline",
		"compression", "outputs", "network", "services", "files", "disk", "update", "init", "data"})
	if !ok {
		return nil
	}
	r := &Recipe{
		File:        d.file,
		Dir:         d.dir,
		Arch:        DefaultArch,
		Compression: DefaultCompression,
		Outputs:     []string{OutputInitramfs},
	}
	if v := f.required("name"); v != nil {
		if s, ok := d.str(v, "name"); ok {
			if manifest.ValidName(s) {
				r.Name = s
			} else {
				d.add(v.Line, "name", "must be %s, not %s", manifest.NameRule, quoteShort(s))
			}
		}
	}
	if v := f.required("version"); v != nil {
		if s, ok := d.str(v, "version"); ok {
			if manifest.ValidVersion(s) {
				r.Version = s
			} else {
				d.add(v.Line, "version", "must be %s, not %s", manifest.VersionRule, quoteShort(s))
			}
		}
	}
	if v := f.get("arch"); v != nil {
		if s, ok := d.str(v, "arch"); ok && d.oneOf(v, "arch", s, "amd64", "arm64") {
			r.Arch = s
		}
	}
	d.arch = r.Arch
	r.Hostname = strings.TrimRight(r.Name, "-")
	if v := f.get("hostname"); v != nil {
		if s, ok := d.str(v, "hostname"); ok {
			if hostnameRE.MatchString(s) {
				r.Hostname = s
			} else {
				d.add(v.Line, "hostname", "must be an RFC 1123 label: 1-63 letters, digits or -, not starting or ending with -, not %s", quoteShort(s))
			}
		}
	}
	if v := f.required("kernel"); v != nil {
		r.Kernel = d.kernel(v)
	}
	if v := f.get("cmdline"); v != nil {
		r.Cmdline = d.cmdline(v)
	}
	if v := f.get("compression"); v != nil {
		if s, ok := d.str(v, "compression"); ok && d.oneOf(v, "compression", s, "auto", "zstd", "gzip", "lz4", "none") {
			r.Compression = s
		}
	}
	if v := f.get("outputs"); v != nil {
		r.Outputs = d.outputs(v)
	}
	r.Network = Network{Mode: DefaultNetworkMode, Interface: DefaultInterface}
	if v := f.get("network"); v != nil {
		r.Network = d.network(v)
	}
	if v := f.required("services"); v != nil {
		r.Services = d.services(v)
	}
	if v := f.get("files"); v != nil {
		r.Files = d.files(v)
	}
	r.Disk = Disk{ESPSize: DefaultESPSize, RootSize: DefaultRootSize, DataSize: DefaultDataSize,
		RootCompression: DefaultRootCompression, RootBlockSize: DefaultRootBlockSize, BootEntries: BootEntriesType1}
	if v := f.get("disk"); v != nil {
		r.Disk = d.disk(v)
	}
	r.Update = Update{Tries: DefaultUpdateTries, Settle: DefaultSettle, TrialDeadline: DefaultTrialDeadline}
	if v := f.get("update"); v != nil {
		r.Update = d.update(v)
	}
	if fo := r.Update.Follow; fo != nil {
		line := f.get("update").Line
		if !r.Has(OutputDisk) {
			d.add(line, "update.follow", "needs the disk output: a following appliance flashes its inactive disk slot")
		}
		if r.Network.Mode == "none" {
			d.add(line, "update.follow", "needs a network (network.mode static or dhcp) to reach its registry")
		}
	}
	r.Init = Init{ShutdownGrace: DefaultShutdownGrace}
	if v := f.get("init"); v != nil {
		r.Init = d.init(v)
	}
	d.imagePaths()
	if v := f.get("data"); v != nil {
		r.Data = d.data(v)
	}
	return r
}

func (d *decoder) kernel(n *yaml.Node) Kernel {
	k := Kernel{Base: DefaultKernelBase, Source: DefaultKernelSource}
	f, ok := d.mapping(n, "kernel", []string{"base", "fragments", "source", "prebuilt"})
	if !ok {
		return k
	}
	if v := f.get("base"); v != nil {
		if s, ok := d.str(v, "kernel.base"); ok && d.oneOf(v, "kernel.base", s, "tinyconfig", "defconfig") {
			k.Base = s
		}
	}
	if v := f.get("fragments"); v != nil {
		items, _ := d.list(v, "kernel.fragments")
		for i, it := range items {
			field := index("kernel.fragments", i)
			s, ok := d.str(it, field)
			if !ok {
				continue
			}
			if name, found := strings.CutPrefix(s, "builtin:"); found {
				if !builtinRE.MatchString(name) {
					d.add(it.Line, field, "builtin fragment name must be lower-case letters, digits or -, not %s", quoteShort(name))
					continue
				}
				if _, err := fs.Stat(turboimage.KernelFragments, turboimage.KernelFragmentPath(name, d.arch)); err != nil {
					d.add(it.Line, field, "no shipped fragment %s for %s (have: %s)", quoteShort(name), d.arch, strings.Join(turboimage.KernelFragmentNames(d.arch), ", "))
					continue
				}
				k.Fragments = append(k.Fragments, Fragment{Builtin: name, Line: it.Line})
				continue
			}
			if p, ok := d.localPath(it, field, s, regularFile); ok && d.checkContent(it, field, s, p, fragmentProblem(s)) {
				k.Fragments = append(k.Fragments, Fragment{Path: p, Line: it.Line})
			}
		}
	}
	if v := f.get("source"); v != nil {
		if s, ok := d.str(v, "kernel.source"); ok {
			var p string
			if filepath.IsAbs(s) {
				p, ok = d.hostPath(v, "kernel.source", s, anyPath)
			} else {
				p, ok = d.localPath(v, "kernel.source", s, anyPath)
			}
			if ok {
				k.Source = p
			}
		}
	}
	if v := f.get("prebuilt"); v != nil {
		if s, ok := d.str(v, "kernel.prebuilt"); ok {
			var p string
			if filepath.IsAbs(s) {
				p, ok = d.hostPath(v, "kernel.prebuilt", s, regularFile)
			} else {
				p, ok = d.localPath(v, "kernel.prebuilt", s, regularFile)
			}
			if ok && d.checkContent(v, "kernel.prebuilt", s, p, CheckKernelImage) {
				k.Prebuilt = p
			}
		}
		for _, other := range []string{"base", "fragments", "source"} {
			if f.set(other) {
				d.add(f.keyLine(other), f.field(other), "cannot be combined with kernel.prebuilt (line %d); a prebuilt kernel is used as is", f.keyLine("prebuilt"))
			}
		}
		k.Base, k.Fragments, k.Source = "", nil, ""
	}
	return k
}

func (d *decoder) cmdline(n *yaml.Node) []string {
	items, _ := d.list(n, "cmdline")
	var out []string
	for i, it := range items {
		field := index("cmdline", i)
		s, ok := d.text(it, field, false)
		switch {
		case !ok:
		case s == "":
			d.add(it.Line, field, "must not be empty")
		case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) }) >= 0 || nameTextProblem(s) != "":
			d.add(it.Line, field, "must be one word without spaces or control characters, not %s; list each word separately", quoteShort(s))
		default:
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) outputs(n *yaml.Node) []string {
	items, ok := d.list(n, "outputs")
	if !ok {
		return []string{OutputInitramfs}
	}
	if len(items) == 0 {
		d.add(n.Line, "outputs", "must list at least one of initramfs, disk, uki or iso")
	}
	first := map[string]int{}
	for i, it := range items {
		field := index("outputs", i)
		s, ok := d.str(it, field)
		if !ok || !d.oneOf(it, field, s, AllOutputs()...) {
			continue
		}
		if j, dup := first[s]; dup {
			d.add(it.Line, field, "%s is already listed as outputs[%d]", s, j)
			continue
		}
		first[s] = i
	}
	if i, ok := first[OutputQCOW2Compressed]; ok {
		if j, both := first[OutputQCOW2]; both {
			d.add(items[max(i, j)].Line, index("outputs", max(i, j)), "qcow2 and qcow2-compressed both write disk.qcow2: list one")
		}
	}
	if _, disk := first[OutputDisk]; !disk {
		for _, c := range DiskConversions() {
			if i, ok := first[c]; ok {
				d.add(items[i].Line, index("outputs", i), "%s is converted from the disk image: list disk too", c)
			}
		}
	}
	var out []string
	for _, o := range AllOutputs() { // canonical order
		if _, ok := first[o]; ok {
			out = append(out, o)
		}
	}
	return out
}

func (d *decoder) network(n *yaml.Node) Network {
	nw := Network{Mode: DefaultNetworkMode, Interface: DefaultInterface}
	f, ok := d.mapping(n, "network", []string{"mode", "interface", "address", "gateway", "dns"})
	if !ok {
		return nw
	}
	modeOK := true
	if v := f.get("mode"); v != nil {
		s, ok := d.str(v, "network.mode")
		modeOK = ok && d.oneOf(v, "network.mode", s, "none", "static", "dhcp")
		if modeOK {
			nw.Mode = s
		}
	}
	if v := f.get("interface"); v != nil {
		if s, ok := d.str(v, "network.interface"); ok {
			if ifnameRE.MatchString(s) {
				nw.Interface = s
			} else {
				d.add(v.Line, "network.interface", "must be a Linux interface name (1-15 letters, digits, _ . -), not %s", quoteShort(s))
			}
		}
	}
	var prefix netip.Prefix
	if v := f.get("address"); v != nil {
		if s, ok := d.str(v, "network.address"); ok {
			p, err := netip.ParsePrefix(s)
			switch {
			case err != nil:
				d.add(v.Line, "network.address", "must be an address with a prefix length, like 10.0.2.15/24, not %s", quoteShort(s))
			case p.Addr() == p.Masked().Addr() && p.Bits() < p.Addr().BitLen()-1:
				d.add(v.Line, "network.address", "%s is the network's own address; give the guest's address, like %s", s, netip.PrefixFrom(p.Addr().Next(), p.Bits()))
			default:
				prefix = p
				nw.Address = p.String()
			}
		}
	}
	if v := f.get("gateway"); v != nil {
		if s, ok := d.str(v, "network.gateway"); ok {
			ip, err := netip.ParseAddr(s)
			switch {
			case err != nil || ip.Zone() != "":
				d.add(v.Line, "network.gateway", "must be an IP address, not %s", quoteShort(s))
			case prefix.IsValid() && !prefix.Masked().Contains(ip):
				d.add(v.Line, "network.gateway", "%s is outside the network %s of network.address", s, prefix.Masked())
			case prefix.IsValid() && ip == prefix.Addr():
				d.add(v.Line, "network.gateway", "%s is the guest's own address", s)
			default:
				nw.Gateway = ip.String()
			}
		}
	}
	if v := f.get("dns"); v != nil {
		items, _ := d.list(v, "network.dns")
		for i, it := range items {
			field := index("network.dns", i)
			if s, ok := d.str(it, field); ok {
				ip, err := netip.ParseAddr(s)
				if err != nil || ip.Zone() != "" {
					d.add(it.Line, field, "must be an IP address, not %s", quoteShort(s))
					continue
				}
				nw.DNS = append(nw.DNS, ip.String())
			}
		}
	}
	if modeOK {
		if nw.Mode == "static" && !f.set("address") {
			d.add(f.line, "network.address", "is required when network.mode is static")
		}
		if nw.Mode != "static" {
			for _, key := range []string{"address", "gateway"} {
				if f.set(key) {
					d.add(f.keyLine(key), f.field(key), "is only allowed when network.mode is static, not %s", nw.Mode)
				}
			}
		}
		if nw.Mode == "none" && f.set("dns") {
			d.add(f.keyLine("dns"), "network.dns", "is only allowed when network.mode is static or dhcp, not none")
		}
	}
	return nw
}

// serviceKeys are the keys of a services[] entry.
var serviceKeys = []string{"name", "package", "binary", "path", "args", "env", "user", "group",
	"workdir", "restart", "restart_limit", "health", "limits"}

func (d *decoder) services(n *yaml.Node) []Service {
	items, ok := d.list(n, "services")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.add(n.Line, "services", "must list at least one service")
	}
	var out []Service
	firstLine := map[string]int{}
	firstIndex := map[string]int{}
	for i, it := range items {
		field := index("services", i)
		s, nameLine, ok := d.service(it, field)
		if !ok {
			continue
		}
		if s.Name != "" {
			if j, dup := firstIndex[s.Name]; dup {
				d.add(nameLine, child(field, "name"), "service name %s is already used by services[%d] (line %d)", s.Name, j, firstLine[s.Name])
			} else {
				firstIndex[s.Name], firstLine[s.Name] = i, nameLine
			}
		}
		out = append(out, s)
	}
	return out
}

// service decodes one services[] entry; it also returns the line of its
// name, for the duplicate-name check.
func (d *decoder) service(n *yaml.Node, field string) (Service, int, bool) {
	s := Service{WorkDir: DefaultWorkDir, Restart: DefaultRestart,
		RestartLimit: RestartLimit{Burst: DefaultRestartBurst, Interval: DefaultRestartWindow}}
	f, ok := d.mapping(n, field, serviceKeys)
	if !ok {
		return s, 0, false
	}
	nameLine := f.line
	if v := f.required("name"); v != nil {
		nameLine = v.Line
		if name, ok := d.str(v, f.field("name")); ok {
			if serviceRE.MatchString(name) {
				s.Name = name
			} else {
				d.add(v.Line, f.field("name"), "must be 1-32 lower-case letters, digits, _ or -, starting with a letter or digit, not %s", quoteShort(name))
			}
		}
	}
	switch {
	case !f.set("package") && !f.set("binary"):
		d.add(f.line, field, "needs exactly one of package (a Go package to build) or binary (a prebuilt program)")
	case f.set("package") && f.set("binary"):
		d.add(f.keyLine("binary"), f.field("binary"), "cannot be combined with package (line %d); use exactly one", f.keyLine("package"))
	}
	if v := f.get("package"); v != nil {
		s.Line = v.Line
		if p, ok := d.str(v, f.field("package")); ok {
			s.Package, s.Version, s.PackageDir = d.goPackage(v, f.field("package"), p)
		}
	}
	if v := f.get("binary"); v != nil {
		s.Line = v.Line
		if p, ok := d.str(v, f.field("binary")); ok {
			var abs string
			if filepath.IsAbs(p) { // a program installed by the system's package manager
				abs, ok = d.hostPath(v, f.field("binary"), p, regularFile)
			} else {
				abs, ok = d.localPath(v, f.field("binary"), p, regularFile)
			}
			if ok && d.checkContent(v, f.field("binary"), p, abs, CheckStaticELF) {
				s.Binary = abs
			}
		}
	}
	if v := f.get("path"); v != nil {
		if p, ok := d.str(v, f.field("path")); ok {
			if msg := imagePathProblem(p); msg != "" {
				d.add(v.Line, f.field("path"), "%s", msg)
			} else {
				s.Path = p
				d.claims = append(d.claims, claim{path: p, field: f.field("path"), line: v.Line, kind: kindFile, service: true})
			}
		}
	} else if s.Name != "" {
		s.Path = "/bin/" + s.Name
		d.claims = append(d.claims, claim{path: s.Path, field: f.field("path"), line: f.line, kind: kindFile, derived: true, service: true})
	}
	if v := f.get("args"); v != nil {
		s.Args = d.textList(v, f.field("args"))
	}
	if v := f.get("env"); v != nil {
		s.Env = d.env(v, f.field("env"))
	}
	if v := f.get("user"); v != nil {
		s.UID, _ = d.id(v, f.field("user"))
	}
	s.GID = s.UID
	if v := f.get("group"); v != nil {
		s.GID, _ = d.id(v, f.field("group"))
	}
	if v := f.get("workdir"); v != nil {
		if p, ok := d.str(v, f.field("workdir")); ok {
			switch {
			case nameTextProblem(p) != "":
				d.add(v.Line, f.field("workdir"), "%s", nameTextProblem(p))
			case !strings.HasPrefix(p, "/"):
				d.add(v.Line, f.field("workdir"), "must be an absolute path in the image, not %s", quoteShort(p))
			case path.Clean(p) != p:
				d.add(v.Line, f.field("workdir"), "must be a clean path (no . or .. elements, no // and no trailing /), like %s", quoteShort(path.Clean(p)))
			default:
				s.WorkDir = p
			}
		}
	}
	if v := f.get("restart"); v != nil {
		if r, ok := d.str(v, f.field("restart")); ok && d.oneOf(v, f.field("restart"), r, initconfig.RestartPolicies()...) {
			s.Restart = r
		}
	}
	if v := f.get("restart_limit"); v != nil {
		if rf, ok := d.mapping(v, f.field("restart_limit"), []string{"burst", "interval"}); ok {
			if v := rf.get("burst"); v != nil {
				if b, ok := d.intRange(v, rf.field("burst"), 1, 1<<31-1); ok {
					s.RestartLimit.Burst = b
				}
			}
			if v := rf.get("interval"); v != nil {
				if t, ok := d.duration(v, rf.field("interval"), true); ok {
					s.RestartLimit.Interval = t
				}
			}
		}
	}
	if v := f.get("health"); v != nil {
		s.Health = d.health(v, f.field("health"))
	}
	if v := f.get("limits"); v != nil {
		s.Limits = d.limits(v, f.field("limits"))
	}
	return s, nameLine, true
}

// goPackage checks a service's package: a relative directory ("./app"),
// a Go import path (built in the recipe folder's module: its go.mod's
// requirements rule), or an import path at a module version
// ("example.com/x/cmd/y@v1.2.3" or "@latest": built like go install
// pkg@version, without any go.mod of the recipe's). It returns the
// package, the version after "@" ("" when none) and, for a relative
// package, its absolute directory.
func (d *decoder) goPackage(n *yaml.Node, field, p string) (pkg, version, dir string) {
	if strings.Contains(p, "...") {
		d.add(n.Line, field, "must name a single package, not a pattern with ...: %s", quoteShort(p))
		return "", "", ""
	}
	pkg, version, at := strings.Cut(p, "@")
	local := pkg == "." || pkg == ".." || strings.HasPrefix(pkg, "./") || strings.HasPrefix(pkg, "../")
	if at {
		switch {
		case local:
			d.add(n.Line, field, "a version (@%s) goes with a Go import path, not with the folder %s: a folder is built from the code in it", version, quoteShort(pkg))
			return "", "", ""
		case !ValidModuleVersion(version):
			d.add(n.Line, field, "version %s must be latest or a semantic version like v1.2.3 (a tag or pseudo-version; a branch or commit name would not pin the build)", quoteShort(version))
			return "", "", ""
		}
	}
	if local {
		dir, ok := d.localPath(n, field, pkg, directory)
		if !ok {
			return "", "", ""
		}
		return pkg, "", dir
	}
	if ImportPathProblem(pkg) != "" {
		d.add(n.Line, field, "must be a relative directory starting with ./ or a Go import path (optionally @version), not %s", quoteShort(p))
		return "", "", ""
	}
	return pkg, version, ""
}

// semverRE is the regular expression semver.org gives for a Semantic
// Version 2.0.0 (https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string),
// with the "v" Go's module versions start with (https://go.dev/ref/mod#versions).
// Go's pseudo-versions (v0.0.0-20240101000000-abcdefabcdef) are such
// versions too. Shorthands Go's queries also take (v1, v1.2) are refused:
// they name a range, not one version.
var semverRE = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// ValidModuleVersion reports whether v may follow "@" in a package: latest
// or a full semantic version.
func ValidModuleVersion(v string) bool { return v == "latest" || semverRE.MatchString(v) }

// ImportPathProblem returns what is wrong with a Go import path (or module
// path) as the recipe takes it, or "": slash-separated elements of
// letters, digits and . _ ~ + -, none empty, starting with a dot or ending
// with one.
func ImportPathProblem(p string) string {
	bad := p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/")
	for _, elem := range strings.Split(p, "/") {
		if !importElem.MatchString(elem) || strings.HasSuffix(elem, ".") {
			bad = true
		}
	}
	if bad {
		return "not a Go import path (elements of letters, digits and . _ ~ + - separated by /)"
	}
	return ""
}

// textList decodes a list of free-form strings (see text).
func (d *decoder) textList(n *yaml.Node, field string) []string {
	items, _ := d.list(n, field)
	return d.texts(items, field)
}

func (d *decoder) texts(items []*yaml.Node, field string) []string {
	var out []string
	for i, it := range items {
		if s, ok := d.text(it, index(field, i), false); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) env(n *yaml.Node, field string) []EnvVar {
	f, ok := d.mapping(n, field, nil)
	if !ok {
		return nil
	}
	var out []EnvVar
	for _, name := range f.order {
		kf := f.field(name)
		if !envNameRE.MatchString(name) {
			d.add(f.keyLine(name), kf, "is not a valid variable name (letters, digits and _, not starting with a digit)")
			continue
		}
		v := f.vals[name]
		if isNull(v) {
			d.add(v.Line, kf, "must be a string, not null; write \"\" for an empty value")
			continue
		}
		if s, ok := d.text(v, kf, false); ok {
			out = append(out, EnvVar{Name: name, Value: s})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// id decodes a uid or gid: 0..65534, or the names root and nobody.
func (d *decoder) id(n *yaml.Node, field string) (int, bool) {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		switch r.Value {
		case "root":
			return 0, true
		case "nobody":
			return maxID, true
		}
		d.add(n.Line, field, "must be a number from 0 to %d, root or nobody, not %s", maxID, quoteShort(r.Value))
		return 0, false
	}
	return d.intRange(n, field, 0, maxID)
}

func (d *decoder) health(n *yaml.Node, field string) *Health {
	h := &Health{Interval: DefaultHealthInterval, Timeout: DefaultHealthTimeout,
		Retries: DefaultHealthRetries, StartPeriod: DefaultHealthStartPeriod}
	f, ok := d.mapping(n, field, []string{"http", "tcp", "exec", "interval", "timeout", "retries", "start_period"})
	if !ok {
		return h
	}
	var kinds []string
	for _, k := range []string{"http", "tcp", "exec"} {
		if f.set(k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		d.add(f.line, field, "needs exactly one of http, tcp or exec")
	}
	if len(kinds) > 1 {
		// Report every check after the first one in the file.
		sort.Slice(kinds, func(i, j int) bool { return f.keyLine(kinds[i]) < f.keyLine(kinds[j]) })
		for _, k := range kinds[1:] {
			d.add(f.keyLine(k), f.field(k), "cannot be combined with %s (line %d); use exactly one of http, tcp or exec", kinds[0], f.keyLine(kinds[0]))
		}
	}
	if v := f.get("http"); v != nil {
		if s, ok := d.str(v, f.field("http")); ok {
			if msg := httpCheckProblem(s); msg != "" {
				d.add(v.Line, f.field("http"), "%s", msg)
			} else {
				h.HTTP = s
			}
		}
	}
	if v := f.get("tcp"); v != nil {
		if s, ok := d.str(v, f.field("tcp")); ok {
			if msg := hostPortProblem(s, false); msg != "" {
				d.add(v.Line, f.field("tcp"), "%s", msg)
			} else {
				h.TCP = s
			}
		}
	}
	if v := f.get("exec"); v != nil {
		if items, ok := d.list(v, f.field("exec")); ok {
			argv := d.texts(items, f.field("exec"))
			switch {
			case len(items) == 0:
				d.add(v.Line, f.field("exec"), "must list the program and its arguments")
			case len(argv) < len(items): // problems already reported
			case !strings.HasPrefix(argv[0], "/"):
				d.add(items[0].Line, index(f.field("exec"), 0), "must be an absolute path of a program in the image, not %s", quoteShort(argv[0]))
			default:
				h.Exec = argv
				if len(kinds) == 1 { // else the check is refused already
					d.execs = append(d.execs, claim{path: path.Clean(argv[0]), field: index(f.field("exec"), 0), line: items[0].Line})
				}
			}
		}
	}
	for _, dur := range []struct {
		key string
		to  *int64
	}{{"interval", (*int64)(&h.Interval)}, {"timeout", (*int64)(&h.Timeout)}, {"start_period", (*int64)(&h.StartPeriod)}} {
		if v := f.get(dur.key); v != nil {
			if t, ok := d.duration(v, f.field(dur.key), true); ok {
				*dur.to = int64(t)
			}
		}
	}
	if v := f.get("retries"); v != nil {
		if r, ok := d.intRange(v, f.field("retries"), 1, 1<<31-1); ok {
			h.Retries = r
		}
	}
	return h
}

// httpCheckProblem returns what is wrong with an HTTP health check URL, or "".
func httpCheckProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || hasControl(s):
		return "must be an http:// URL, not " + quoteShort(s)
	case u.Scheme != "http":
		return "must be an http:// URL"
	case u.User != nil:
		return "must not contain a user name or password"
	case u.Opaque != "" || u.Host == "":
		return "must be an http:// URL with a host, like http://127.0.0.1:8080/healthz"
	}
	if msg := hostPortProblem(u.Host, false); msg != "" {
		return msg
	}
	return ""
}

// hostPortProblem returns what is wrong with a host:port address, or "". The
// host must be an IP address or localhost (the guest may have no resolver);
// an empty host is allowed for listen addresses.
func hostPortProblem(s string, emptyHostOK bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "must be host:port, like 127.0.0.1:8080, not " + quoteShort(s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
		return "port must be a number from 1 to 65535, not " + quoteShort(port)
	}
	switch {
	case host == "" && emptyHostOK:
	case host == "":
		return "must include a host, like 127.0.0.1:" + port
	case host == "localhost":
	default:
		if ip, err := netip.ParseAddr(host); err != nil || ip.Zone() != "" {
			return "host must be an IP address or localhost, not " + quoteShort(host)
		}
	}
	return ""
}

func (d *decoder) files(n *yaml.Node) []File {
	items, ok := d.list(n, "files")
	if !ok {
		return nil
	}
	var out []File
	for i, it := range items {
		if fl, ok := d.fileEntry(it, index("files", i)); ok {
			out = append(out, fl)
		}
	}
	return out
}

func (d *decoder) fileEntry(n *yaml.Node, field string) (File, bool) {
	fl := File{Mode: DefaultFileMode}
	f, ok := d.mapping(n, field, []string{"dest", "src", "content", "mode", "owner"})
	if !ok {
		return fl, false
	}
	if v := f.required("dest"); v != nil {
		if p, ok := d.str(v, f.field("dest")); ok {
			if msg := imagePathProblem(p); msg != "" {
				d.add(v.Line, f.field("dest"), "%s", msg)
			} else {
				fl.Dest = p
			}
		}
	}
	switch {
	case !f.set("src") && !f.set("content"):
		d.add(f.line, field, "needs exactly one of src (a file or directory) or content")
	case f.set("src") && f.set("content"):
		d.add(f.keyLine("content"), f.field("content"), "cannot be combined with src (line %d); use exactly one", f.keyLine("src"))
	}
	var srcShown string
	if v := f.get("src"); v != nil {
		if p, ok := d.str(v, f.field("src")); ok {
			if abs, ok := d.localPath(v, f.field("src"), p, fileOrDir); ok {
				fl.Src, srcShown = abs, p
			}
		}
	}
	if v := f.get("content"); v != nil {
		if s, ok := d.text(v, f.field("content"), true); ok {
			fl.Content, fl.HasContent = []byte(s), true
		}
	}
	if fl.Dest != "" {
		switch {
		case fl.HasContent:
			d.claims = append(d.claims, claim{path: fl.Dest, field: f.field("dest"), line: f.get("dest").Line, kind: kindFile})
		case fl.Src != "" && isDir(fl.Src):
			d.claims = append(d.claims, claim{path: fl.Dest, field: f.field("dest"), line: f.get("dest").Line, kind: kindDir})
			d.tree(f.get("src"), f.field("src"), srcShown, fl.Src, fl.Dest)
		case fl.Src != "":
			if d.checkContent(f.get("src"), f.field("src"), srcShown, fl.Src, func([]byte, string) error { return nil }) {
				d.claims = append(d.claims, claim{path: fl.Dest, field: f.field("dest"), line: f.get("dest").Line, kind: kindFile})
			} else {
				fl.Src = ""
			}
		}
	}
	if v := f.get("mode"); v != nil {
		fl.Mode = d.mode(v, f.field("mode"))
	}
	if v := f.get("owner"); v != nil {
		if s, ok := d.str(v, f.field("owner")); ok {
			m := ownerRE.FindStringSubmatch(s)
			uid, _ := strconv.Atoi(m1(m, 1))
			gid, _ := strconv.Atoi(m1(m, 2))
			if m == nil || uid > maxID || gid > maxID {
				d.add(v.Line, f.field("owner"), "must be \"uid:gid\" with numbers from 0 to %d, like \"0:0\", not %s", maxID, quoteShort(s))
			} else {
				fl.OwnerSet, fl.UID, fl.GID = true, uid, gid
			}
		}
	}
	return fl, true
}

func m1(m []string, i int) string {
	if m == nil {
		return ""
	}
	return m[i]
}

// mode decodes an octal permission string like "0644". A YAML integer is
// refused: 0644 would be read as octal by some YAML libraries and 644 as
// decimal by others.
func (d *decoder) mode(n *yaml.Node, field string) uint32 {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!int" {
		hint := strings.Replace(r.Value, "0o", "0", 1)
		d.add(n.Line, field, "must be an octal string; quote it: %s", strconv.Quote(hint))
		return DefaultFileMode
	}
	s, ok := d.str(n, field)
	if !ok {
		return DefaultFileMode
	}
	if !modeRE.MatchString(s) {
		d.add(n.Line, field, "must be 3 or 4 octal digits, like \"0644\", not %s", quoteShort(s))
		return DefaultFileMode
	}
	v, _ := strconv.ParseUint(s, 8, 32)
	return uint32(v)
}

func (d *decoder) disk(n *yaml.Node) Disk {
	dk := Disk{ESPSize: DefaultESPSize, RootSize: DefaultRootSize, DataSize: DefaultDataSize,
		RootCompression: DefaultRootCompression, RootBlockSize: DefaultRootBlockSize, BootEntries: BootEntriesType1}
	f, ok := d.mapping(n, "disk", []string{"esp_size", "root_size", "data_size", "systemd_boot", "root_compression", "root_block_size", "boot_entries"})
	if !ok {
		return dk
	}
	if v := f.get("root_compression"); v != nil {
		if s, ok := d.str(v, f.field("root_compression")); ok && d.oneOf(v, f.field("root_compression"), s, "zstd", "lz4", "gzip", "xz", "none") {
			dk.RootCompression = s
		}
	}
	if v := f.get("boot_entries"); v != nil {
		if s, ok := d.str(v, f.field("boot_entries")); ok && d.oneOf(v, f.field("boot_entries"), s, BootEntriesType1, BootEntriesUKI) {
			dk.BootEntries = s
		}
	}
	if v := f.get("root_block_size"); v != nil {
		// squashfs's limits (Linux fs/squashfs/squashfs_fs.h:
		// SQUASHFS_FILE_MAX_SIZE 1MiB; mksquashfs takes 4KiB up).
		if size, ok := d.size(v, f.field("root_block_size")); ok {
			if size < 4*KiB || size > MiB || size&(size-1) != 0 {
				d.add(v.Line, f.field("root_block_size"), "must be a power of two from 4KiB to 1MiB, not %d bytes", size)
			} else {
				dk.RootBlockSize = size
			}
		}
	}
	if v := f.get("systemd_boot"); v != nil {
		if s, ok := d.str(v, "disk.systemd_boot"); ok {
			var p string
			if filepath.IsAbs(s) {
				p, ok = d.hostPath(v, "disk.systemd_boot", s, regularFile)
			} else {
				p, ok = d.localPath(v, "disk.systemd_boot", s, regularFile)
			}
			if ok && d.checkContent(v, "disk.systemd_boot", s, p, CheckEFIApp) {
				dk.SystemdBoot = p
			}
		}
	}
	for _, s := range []struct {
		key      string
		to       *int64
		min, max int64
		why      string // what the minimum is
	}{
		{"esp_size", &dk.ESPSize, MinESPSize, 0, "the smallest FAT32 file system"},
		{"root_size", &dk.RootSize, MiB, 0, "one alignment unit"},
		{"data_size", &dk.DataSize, MinDataSize, MaxDataSize, "ext4 with its 4MiB journal and room for files"},
	} {
		v := f.get(s.key)
		if v == nil {
			continue
		}
		size, ok := d.size(v, f.field(s.key))
		switch {
		case !ok:
		case size%MiB != 0:
			d.add(v.Line, f.field(s.key), "must be a multiple of 1MiB, not %d bytes", size)
		case size < s.min:
			d.add(v.Line, f.field(s.key), "must be at least %dMiB (%s), not %dMiB", s.min/MiB, s.why, size/MiB)
		case s.max > 0 && size > s.max:
			d.add(v.Line, f.field(s.key), "must be at most %dGiB (its ext4 is written at build time, zeroed inode tables included), not %dMiB", s.max>>30, size/MiB)
		default:
			*s.to = size
		}
	}
	return dk
}

func (d *decoder) update(n *yaml.Node) Update {
	u := Update{Tries: DefaultUpdateTries, Settle: DefaultSettle, TrialDeadline: DefaultTrialDeadline}
	f, ok := d.mapping(n, "update", []string{"tries", "settle", "trial_deadline", "trusted_keys", "agent", "channels", "follow"})
	if !ok {
		return u
	}
	if v := f.get("tries"); v != nil {
		if t, ok := d.intRange(v, "update.tries", 1, 9); ok {
			u.Tries = t
		}
	}
	settleOK, deadlineOK := true, true
	if v := f.get("settle"); v != nil {
		t, ok := d.duration(v, "update.settle", false)
		settleOK = ok
		if ok {
			u.Settle = t
		}
	}
	if v := f.get("trial_deadline"); v != nil {
		t, ok := d.duration(v, "update.trial_deadline", true)
		deadlineOK = ok
		if ok {
			u.TrialDeadline = t
		}
	}
	if settleOK && deadlineOK && u.TrialDeadline <= u.Settle {
		key := "trial_deadline"
		if !f.set(key) {
			key = "settle"
		}
		d.add(f.get(key).Line, f.field(key), "update.trial_deadline (%s) must be longer than update.settle (%s)", u.TrialDeadline, u.Settle)
	}
	if v := f.get("trusted_keys"); v != nil {
		items, _ := d.list(v, "update.trusted_keys")
		for i, it := range items {
			field := index("update.trusted_keys", i)
			if s, ok := d.str(it, field); ok {
				if p, ok := d.localPath(it, field, s, regularFile); ok && d.checkContent(it, field, s, p, publicKeyProblem) {
					u.TrustedKeys = append(u.TrustedKeys, p)
				}
			}
		}
	}
	if v := f.get("agent"); v != nil {
		u.Agent = d.agent(v)
		if !f.set("trusted_keys") {
			d.add(f.keyLine("agent"), "update.agent", "needs update.trusted_keys to verify the images it receives")
		}
	}
	if v := f.get("channels"); v != nil {
		u.Channels = d.channels(v)
	}
	if v := f.get("follow"); v != nil {
		u.Follow = d.follow(v)
		switch {
		case u.Follow == nil || u.Follow.Channel == "" || u.Channels[u.Follow.Channel] != nil:
		case !f.set("channels"):
			d.add(f.keyLine("follow"), "update.follow", "needs update.channels naming the keys channel %q trusts", u.Follow.Channel)
		case !hasKey(f.get("channels"), u.Follow.Channel):
			d.add(f.keyLine("follow"), "update.follow.channel", "channel %q is not in update.channels; name the keys it trusts there", u.Follow.Channel)
		}
	}
	return u
}

// hasKey reports whether the mapping n has the key (whatever its value).
func hasKey(n *yaml.Node, key string) bool {
	r := resolve(n)
	if r == nil || r.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(r.Content); i += 2 {
		if resolve(r.Content[i]).Value == key {
			return true
		}
	}
	return false
}

// channels decodes update.channels: channel name -> public key files.
func (d *decoder) channels(n *yaml.Node) map[string][]string {
	f, ok := d.mapping(n, "update.channels", nil)
	if !ok {
		return nil
	}
	out := map[string][]string{}
	for _, name := range f.order {
		field := f.field(name)
		if err := signing.ValidChannel(name); err != nil {
			d.add(f.keyLine(name), field, "%v", err)
			continue
		}
		v := f.get(name)
		if v == nil {
			d.add(f.keyLine(name), field, "needs a list of public key files (from turbo-image keygen)")
			continue
		}
		items, ok := d.list(v, field)
		if !ok {
			continue
		}
		if len(items) == 0 {
			d.add(v.Line, field, "needs at least one public key file")
			continue
		}
		var keys []string
		for i, it := range items {
			kf := index(field, i)
			if s, ok := d.str(it, kf); ok {
				if p, ok := d.localPath(it, kf, s, regularFile); ok && d.checkContent(it, kf, s, p, publicKeyProblem) {
					keys = append(keys, p)
				}
			}
		}
		if len(keys) == len(items) {
			out[name] = keys
		}
	}
	return out
}

// follow decodes update.follow.
func (d *decoder) follow(n *yaml.Node) *Follow {
	fo := &Follow{Interval: DefaultFollowInterval}
	f, ok := d.mapping(n, "update.follow", []string{"ref", "channel", "interval", "plain_http", "ca"})
	if !ok {
		return nil
	}
	if v := f.required("ref"); v != nil {
		if s, ok := d.str(v, "update.follow.ref"); ok {
			if reg, repo, msg := followRefProblem(s); msg != "" {
				d.add(v.Line, "update.follow.ref", "%s %s", quoteShort(s), msg)
			} else {
				fo.Registry, fo.Repository = reg, repo
			}
		}
	}
	if v := f.required("channel"); v != nil {
		if s, ok := d.str(v, "update.follow.channel"); ok {
			if err := signing.ValidChannel(s); err != nil {
				d.add(v.Line, "update.follow.channel", "%v", err)
			} else {
				fo.Channel = s
			}
		}
	}
	if v := f.get("interval"); v != nil {
		if t, ok := d.duration(v, "update.follow.interval", true); ok {
			if t < MinFollowInterval || t > MaxFollowInterval {
				d.add(v.Line, "update.follow.interval", "must be between %s and %s, not %s", MinFollowInterval, MaxFollowInterval, t)
			} else {
				fo.Interval = t
			}
		}
	}
	if v := f.get("plain_http"); v != nil {
		if b, ok := d.boolean(v, "update.follow.plain_http"); ok {
			fo.PlainHTTP = b
		}
	}
	if v := f.get("ca"); v != nil {
		if s, ok := d.str(v, "update.follow.ca"); ok {
			if p, ok := d.localPath(v, "update.follow.ca", s, regularFile); ok && d.checkContent(v, "update.follow.ca", s, p, caProblem) {
				fo.CAFile = p
			}
		}
		if fo.PlainHTTP {
			d.add(v.Line, "update.follow.ca", "plain_http is true: a CA is for TLS; drop one of them")
		}
	}
	return fo
}

// Bounds of update.follow.interval: a poll is a few small requests, but a
// fleet polling every few milliseconds would be a load test of the
// registry; more than a day is no longer "following".
const (
	MinFollowInterval = time.Second
	MaxFollowInterval = 24 * time.Hour
)

// followRefProblem splits a repository reference "host[:port]/name" (the
// distribution spec's repository name rules, as oras-go parses them) and
// says what is wrong with it; a tag or digest is refused, since the channel
// names the tag.
func followRefProblem(s string) (registryHost, repository, problem string) {
	ref, err := orasregistry.ParseReference(s)
	if err != nil {
		return "", "", "is not a repository reference (REGISTRY/NAME, e.g. registry.example.com/acme/hello): " + err.Error()
	}
	if ref.Reference != "" {
		return "", "", "names a tag or digest; write the repository only (REGISTRY/NAME): the channel is the tag"
	}
	return ref.Registry, ref.Repository, ""
}

// boolean decodes a YAML boolean (true or false).
func (d *decoder) boolean(n *yaml.Node, field string) (bool, bool) {
	r := resolve(n)
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!bool" {
		d.add(n.Line, field, "must be true or false, not %s", describe(r))
		return false, false
	}
	switch r.Value {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.add(n.Line, field, "must be true or false, not %s (write it in lowercase)", quoteShort(r.Value))
	return false, false
}

// caProblem checks a PEM file of CA certificates.
func caProblem(data []byte, _ string) error {
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

func (d *decoder) agent(n *yaml.Node) *Agent {
	a := &Agent{MaxBytes: DefaultAgentMaxBytes}
	f, ok := d.mapping(n, "update.agent", []string{"listen", "token_file", "max_bytes"})
	if !ok {
		return a
	}
	if v := f.required("listen"); v != nil {
		if s, ok := d.str(v, "update.agent.listen"); ok {
			if msg := hostPortProblem(s, true); msg != "" {
				d.add(v.Line, "update.agent.listen", "%s", msg)
			} else {
				a.Listen = s
			}
		}
	}
	if v := f.required("token_file"); v != nil {
		if s, ok := d.str(v, "update.agent.token_file"); ok {
			if p, ok := d.localPath(v, "update.agent.token_file", s, regularFile); ok && d.checkContent(v, "update.agent.token_file", s, p, tokenProblem) {
				a.TokenFile = p
			}
		}
	}
	if v := f.get("max_bytes"); v != nil {
		if s, ok := d.size(v, "update.agent.max_bytes"); ok {
			a.MaxBytes = s
		}
	}
	return a
}

func (d *decoder) init(n *yaml.Node) Init {
	in := Init{ShutdownGrace: DefaultShutdownGrace}
	f, ok := d.mapping(n, "init", []string{"shutdown_grace"})
	if !ok {
		return in
	}
	if v := f.get("shutdown_grace"); v != nil {
		if t, ok := d.duration(v, "init.shutdown_grace", true); ok {
			in.ShutdownGrace = t
		}
	}
	return in
}

// data decodes the data mapping: scrub is the argv of a program shipped
// in the image that `turbo-image data scrub` runs on a copy of /data;
// quiesce and resume are programs the update agent runs before and after
// a live export of /data.
func (d *decoder) data(n *yaml.Node) Data {
	var out Data
	f, ok := d.mapping(n, "data", []string{"scrub", "quiesce", "resume"})
	if !ok {
		return out
	}
	out.Scrub = d.dataArgv(f.get("scrub"), "data.scrub")
	out.Quiesce = d.dataArgv(f.get("quiesce"), "data.quiesce")
	out.Resume = d.dataArgv(f.get("resume"), "data.resume")
	if out.Resume != nil && f.get("quiesce") == nil {
		d.add(f.get("resume").Line, "data.resume", "needs data.quiesce: resume undoes what quiesce did")
	}
	return out
}

// dataArgv decodes [/bin/PROGRAM, ARG...] naming a program in the image.
func (d *decoder) dataArgv(v *yaml.Node, field string) []string {
	if v == nil {
		return nil
	}
	items, ok := d.list(v, field)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.add(v.Line, field, "must name a program: [/bin/PROGRAM, ARG...]")
		return nil
	}
	argv := d.texts(items, field)
	if len(argv) != len(items) {
		return nil
	}
	prog, line := argv[0], items[0].Line
	switch {
	case !path.IsAbs(prog) || path.Clean(prog) != prog:
		d.add(line, field+"[0]", "must be the absolute, clean path of a program in the image, not %s", quoteShort(prog))
	case !d.shipsFile(prog):
		d.add(line, field+"[0]", "%s is not in the image: name a service's program or a files[] entry", prog)
	default:
		return argv
	}
	return nil
}

// shipsFile reports whether a service or files[] entry puts a file at p.
func (d *decoder) shipsFile(p string) bool {
	for _, c := range d.claims {
		if c.path == p && c.kind == kindFile {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// maxCheckedFile bounds what checkContent reads: no program, kernel, key
// or token a recipe names is this large.
const maxCheckedFile = 1 << 30

// checkContent reads the file abs (written as shown in the recipe) and
// reports what check finds wrong with it, as "shown <problem>".
func (d *decoder) checkContent(n *yaml.Node, field, shown, abs string, check func(data []byte, arch string) error) bool {
	if st, err := os.Stat(abs); err == nil && st.Size() > maxCheckedFile {
		d.add(n.Line, field, "%s is %d bytes, larger than the %d allowed", quoteShort(shown), st.Size(), maxCheckedFile)
		return false
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		d.statProblem(n, field, abs, err)
		return false
	}
	if err := check(data, d.arch); err != nil {
		d.add(n.Line, field, "%s %v", quoteShort(shown), err)
		return false
	}
	return true
}

// fragmentProblem checks a kernel config fragment's syntax (the kernel
// package's rules); its problems name the fragment's own line.
func fragmentProblem(shown string) func([]byte, string) error {
	return func(data []byte, _ string) error {
		if _, err := kconfig.ParseFragment(shown, data); err != nil {
			return fmt.Errorf("is not a kernel config fragment: %w", err)
		}
		return nil
	}
}

func publicKeyProblem(data []byte, _ string) error {
	if _, err := signing.ParsePublicKey("key", data); err != nil {
		return fmt.Errorf("is not a turbo-image public key (from turbo-image keygen): %w", err)
	}
	return nil
}

// minTokenLen is the shortest bearer token the agent accepts.
const minTokenLen = 16

func tokenProblem(data []byte, _ string) error {
	tok := strings.TrimSpace(string(data))
	switch {
	case len(tok) < minTokenLen:
		return fmt.Errorf("holds a token shorter than %d characters", minTokenLen)
	case hasControl(tok) || strings.ContainsAny(tok, " \t"):
		return errors.New("holds a token with spaces or control characters; the token is one line of printable text")
	}
	return nil
}
