package jail

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Net is the network a jail gets.
type Net string

const (
	// NetHost shares the host's network: ports bind directly on the host.
	NetHost Net = "host"
	// NetPrivate gives the jail its own network namespace; the runner
	// connects it to the host with user-mode networking (pasta).
	NetPrivate Net = "private"
	// NetNone gives the jail its own network namespace with only loopback.
	NetNone Net = "none"
)

// DefaultRangeBase is the first host id of the range a jail started by
// root maps its ids 0..DefaultRangeSize-1 to, when /etc/subuid names no
// range for root. It is far above any id a distribution gives to users or
// system accounts (Debian's adduser.conf hands out ids below 60000, and
// systemd reserves 524288 up to 1878982656 for its own dynamic container
// ranges, see systemd's docs/UIDS-GIDS.md), so no host account owns it.
const DefaultRangeBase = 2_000_000_000

// DefaultRangeSize is how many ids a root-started jail maps: the 16-bit
// ids a recipe can name.
const DefaultRangeSize = 65536

// IDMap maps Size ids from Container (inside the jail) to Host, as one line
// of /proc/PID/uid_map (user_namespaces(7)).
type IDMap struct {
	Container int `json:"container"`
	Host      int `json:"host"`
	Size      int `json:"size"`
}

// ToHost maps a container id to the host; ok is false if it is not mapped.
func ToHost(maps []IDMap, id int) (int, bool) {
	for _, m := range maps {
		if id >= m.Container && id < m.Container+m.Size {
			return m.Host + id - m.Container, true
		}
	}
	return 0, false
}

// Spec is what a caller asks of a jail.
type Spec struct {
	// Root is the unpacked image (Unpack). It becomes the jail's root as
	// the lower layer of an overlay, so the jail's writes never reach it.
	Root string
	// Argv is the program to run as the jail's PID 1 (default ["/init"]).
	Argv []string
	// Env is its environment.
	Env []string
	// User, when set, is the container user (uid, gid) Argv runs as;
	// otherwise it runs as the jail's root.
	User *User
	// Hostname is the jail's host name (UTS namespace); empty: the
	// appliance's name is up to the caller.
	Hostname string
	// Net is the network (default NetHost).
	Net Net
	// Data is a host folder mounted at /data ("" for none: /data is then
	// the image's empty folder, lost at exit).
	Data string
	// HostUID and HostGID are the ids of the caller (os.Getuid,
	// os.Getgid): 0 runs a root-mapped jail, anything else a rootless one.
	HostUID, HostGID int
	// Range is the host range a root-started jail maps its ids to
	// (default DefaultRangeBase, DefaultRangeSize).
	Range *IDMap
	// NoSeccomp leaves out the seccomp filter (SeccompDenied); tests use
	// it as the control that shows what the filter stops.
	NoSeccomp bool
	// IDs are the container uids and gids the jail's programs run as (the
	// services' users and groups); each must be mappable.
	UIDs, GIDs []int
}

// User is a container user.
type User struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Mount is one mount inside the jail, in order. Target is absolute inside
// the jail's root.
type Mount struct {
	// Type is "proc", "tmpfs", "devpts", "mqueue" or "bind".
	Type string `json:"type"`
	// Source is the host path of a bind mount ("" for the others).
	Source string `json:"source,omitempty"`
	Target string `json:"target"`
	// Data is the file system's options (tmpfs mode, devpts newinstance).
	Data     string `json:"data,omitempty"`
	ReadOnly bool   `json:"ro,omitempty"`
	NoSuid   bool   `json:"nosuid,omitempty"`
	NoDev    bool   `json:"nodev,omitempty"`
	NoExec   bool   `json:"noexec,omitempty"`
	// File is true for a bind mount of a file (its target is created as
	// an empty file, not a folder).
	File bool `json:"file,omitempty"`
}

// Symlink is a symbolic link made inside the jail's /dev.
type Symlink struct {
	Name   string `json:"name"`
	Target string `json:"target"`
}

// Plan is everything the jail's set-up does, decided before any process
// starts. It is data: the runner hands it to the child as JSON.
type Plan struct {
	Root     string   `json:"root"`
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	User     *User    `json:"user,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Net      Net      `json:"net"`
	Data     string   `json:"data,omitempty"`
	// Rootless is true when the caller is not root: one id is mapped
	// (the caller's, as the jail's root) and setgroups(2) is denied.
	Rootless bool    `json:"rootless"`
	UIDMap   []IDMap `json:"uid_map"`
	GIDMap   []IDMap `json:"gid_map"`
	Mounts   []Mount `json:"mounts"`
	// Links are symlinks made in /dev after the mounts.
	Links []Symlink `json:"links"`
	// KeepCaps are the capabilities left in the bounding set (numbers,
	// linux/capability.h); every other one is dropped before Argv runs.
	KeepCaps []int `json:"keep_caps"`
	// SeccompDeny are the system calls the jail's seccomp filter answers
	// with EPERM (SeccompFilter); empty: no filter.
	SeccompDeny []string `json:"seccomp_deny,omitempty"`
}

// Capabilities the init keeps (linux/capability.h): it starts services as
// their users and signals them; a service running as the jail's root may
// bind low ports of a private network. Nothing else: no mounts, no raw
// sockets, no module loading, no ptrace, no chown of others' files.
const (
	capKill           = 5
	capSetgid         = 6
	capSetuid         = 7
	capNetBindService = 10
)

// HostDevices returns the host's device nodes bound into the jail's /dev: the
// character devices every Unix program may expect, none of which reaches
// hardware or another process (null(4), zero, full, random(4), urandom;
// tty(4) only opens the caller's controlling terminal, and the jail's
// processes have none: the runner starts them in a new session).
func HostDevices() []string { return []string{"null", "zero", "full", "random", "urandom", "tty"} }

// NewPlan checks spec and plans the jail. All errors are returned at once.
func NewPlan(spec Spec) (*Plan, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	p := &Plan{
		Root:     spec.Root,
		Argv:     slices.Clone(spec.Argv),
		Env:      slices.Clone(spec.Env),
		User:     spec.User,
		Hostname: spec.Hostname,
		Net:      spec.Net,
		Data:     spec.Data,
		KeepCaps: []int{capKill, capSetgid, capSetuid, capNetBindService},
	}
	if !spec.NoSeccomp {
		p.SeccompDeny = SeccompDenied()
	}
	if len(p.Argv) == 0 {
		p.Argv = []string{"/init"}
	}
	if !path.IsAbs(p.Argv[0]) {
		bad("program %q: want an absolute path inside the jail", p.Argv[0])
	}
	if p.Net == "" {
		p.Net = NetHost
	}
	switch p.Net {
	case NetHost, NetPrivate, NetNone:
	default:
		bad("network %q: want host, private or none", p.Net)
	}
	if p.Root == "" || !path.IsAbs(p.Root) {
		bad("root %q: want an absolute path", p.Root)
	}
	if p.Data != "" && !path.IsAbs(p.Data) {
		bad("data folder %q: want an absolute path", p.Data)
	}
	if err := checkHostname(p.Hostname); err != nil {
		bad("%v", err)
	}
	for _, e := range p.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			bad("environment %q is not NAME=value", e)
		}
	}
	uids, gids := slices.Clone(spec.UIDs), slices.Clone(spec.GIDs)
	if p.User != nil {
		uids, gids = append(uids, p.User.UID), append(gids, p.User.GID)
	}
	if spec.HostUID < 0 || spec.HostGID < 0 {
		bad("host ids %d:%d are negative", spec.HostUID, spec.HostGID)
	}
	if spec.HostUID != 0 {
		// Without privileges a process may map exactly one id of its own
		// into a new user namespace (user_namespaces(7), "Defining user
		// and group ID mappings"), and must deny setgroups first.
		p.Rootless = true
		p.UIDMap = []IDMap{{0, spec.HostUID, 1}}
		p.GIDMap = []IDMap{{0, spec.HostGID, 1}}
	} else {
		r := IDMap{0, DefaultRangeBase, DefaultRangeSize}
		if spec.Range != nil {
			r = *spec.Range
		}
		if r.Container != 0 || r.Host <= 0 || r.Size < 1 || r.Host+r.Size > 1<<32-1 {
			bad("id range %d+%d: want a host range above 0 mapped from container id 0", r.Host, r.Size)
		}
		p.UIDMap, p.GIDMap = []IDMap{r}, []IDMap{r}
	}
	for _, u := range sortedUnique(uids) {
		if _, ok := ToHost(p.UIDMap, u); !ok {
			if p.Rootless {
				bad("uid %d cannot run in a rootless jail: without privileges only the jail's root (uid 0, which is you, uid %d) can be mapped; run turbo-image as root, which maps the jail's ids to an unprivileged host range", u, spec.HostUID)
			} else {
				bad("uid %d is outside the jail's id range (0-%d)", u, p.UIDMap[0].Size-1)
			}
		}
	}
	for _, g := range sortedUnique(gids) {
		if _, ok := ToHost(p.GIDMap, g); !ok {
			if p.Rootless {
				bad("gid %d cannot run in a rootless jail: without privileges only the jail's root group (gid 0, which is your gid %d) can be mapped; run turbo-image as root", g, spec.HostGID)
			} else {
				bad("gid %d is outside the jail's id range (0-%d)", g, p.GIDMap[0].Size-1)
			}
		}
	}
	p.Mounts = baseMounts()
	if p.Data != "" {
		p.Mounts = append(p.Mounts, Mount{Type: "bind", Source: p.Data, Target: "/data", NoSuid: true, NoDev: true})
	}
	p.Links = devLinks()
	if len(errs) > 0 {
		return nil, fmt.Errorf("jail: %w", errors.Join(errs...))
	}
	return p, nil
}

// baseMounts are the jail's kernel file systems: what turbo-init mounts
// in a VM, minus what a user namespace cannot or should not have (sysfs,
// which describes the host's devices; devtmpfs, which holds all of them).
func baseMounts() []Mount {
	m := []Mount{
		{Type: "proc", Target: "/proc", NoSuid: true, NoDev: true, NoExec: true},
		{Type: "tmpfs", Target: "/dev", Data: "mode=0755,size=64k", NoSuid: true, NoExec: true},
	}
	for _, d := range HostDevices() {
		m = append(m, Mount{Type: "bind", Source: "/dev/" + d, Target: "/dev/" + d, File: true, NoSuid: true, NoExec: true})
	}
	return append(m,
		Mount{Type: "devpts", Target: "/dev/pts", Data: "newinstance,ptmxmode=0666,mode=0620", NoSuid: true, NoExec: true},
		Mount{Type: "tmpfs", Target: "/dev/shm", Data: "mode=1777", NoSuid: true, NoDev: true},
		Mount{Type: "tmpfs", Target: "/run", Data: "mode=0755", NoSuid: true, NoDev: true},
		Mount{Type: "tmpfs", Target: "/tmp", Data: "mode=1777", NoSuid: true, NoDev: true},
	)
}

func devLinks() []Symlink {
	return []Symlink{
		{"/dev/ptmx", "pts/ptmx"},
		{"/dev/fd", "/proc/self/fd"},
		{"/dev/stdin", "/proc/self/fd/0"},
		{"/dev/stdout", "/proc/self/fd/1"},
		{"/dev/stderr", "/proc/self/fd/2"},
		// The console is a pipe to the runner, never a terminal; a pipe
		// cannot be bind-mounted, so /dev/console is whatever the writer's
		// standard output is: the console for the init, the init's
		// line-prefixing pipe for a service.
		{"/dev/console", "/proc/self/fd/1"},
	}
}

// checkHostname applies sethostname(2)'s limit (64 bytes) and RFC 1123's
// alphabet, so nothing odd reaches the console or a log.
func checkHostname(h string) error {
	if h == "" {
		return nil
	}
	if len(h) > 64 {
		return fmt.Errorf("hostname %q: longer than 64 bytes", h)
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("hostname %q: only letters, digits, '-' and '.'", h)
		}
	}
	return nil
}

func sortedUnique(ids []int) []int {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// PortForward is one port of a private network published on the host.
type PortForward struct {
	HostAddr  string
	HostPort  int
	GuestPort int
	Proto     string // "tcp" or "udp"
}

// PastaArgs are pasta(1)'s arguments that join the network namespace of
// the jail's PID 1 and forward ports: each "ADDR:HOST:GUEST" or
// "HOST:GUEST" (tcp or /udp) becomes -t/-u ADDR/HOST:GUEST. It is pure.
func PastaArgs(pid, runAs int, ports []PortForward) []string {
	args := []string{"--config-net", "--quiet", "--foreground", "--ipv4-only", "--runas", strconv.Itoa(runAs)}
	var tcp, udp []string
	for _, p := range ports {
		spec := fmt.Sprintf("%s/%d:%d", p.HostAddr, p.HostPort, p.GuestPort)
		if p.Proto == "udp" {
			udp = append(udp, spec)
		} else {
			tcp = append(tcp, spec)
		}
	}
	for _, s := range []struct {
		flag  string
		specs []string
	}{{"-t", tcp}, {"-u", udp}} {
		if len(s.specs) == 0 {
			args = append(args, s.flag, "none")
			continue
		}
		for _, spec := range s.specs {
			args = append(args, s.flag, spec)
		}
	}
	// Nothing from the jail reaches the host's own ports.
	args = append(args, "-T", "none", "-U", "none")
	return append(args, strconv.Itoa(pid))
}
