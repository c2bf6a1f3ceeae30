//go:build linux

package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// command returns the command that starts the child (self, re-executed
// with ChildArg) in new namespaces.
func command(p *Plan, self string) (*exec.Cmd, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	// The child walks to the image and the data folder as the jail's
	// root, a mapped id: overlayfs and bind mounts only take paths of the
	// child's own mount namespace, so a descriptor opened here would not
	// do (overlayfs: "failed to clone lowerpath").
	for what, dir := range map[string]string{"image": p.Root, "data": p.Data} {
		if dir == "" {
			continue
		}
		if err := Walkable(dir, p.UIDMap, p.GIDMap); err != nil {
			return nil, fmt.Errorf("jail: %s folder: %w", what, err)
		}
	}
	cmd := exec.Command(self, ChildArg, string(b))
	cmd.Env = []string{}
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if p.Net != NetHost {
		flags |= unix.CLONE_NEWNET
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: sysMaps(p.UIDMap),
		GidMappings: sysMaps(p.GIDMap),
		// A rootless jail must deny setgroups(2) before it may write its
		// gid map (user_namespaces(7)).
		GidMappingsEnableSetgroups: !p.Rootless,
		// Become the jail's root before the exec: the caller's own ids
		// are not mapped in a root-started jail, and an unmapped process
		// loses its capabilities at execve.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: p.Rootless},
		// A new session: the jail has no controlling terminal (so its
		// /dev/tty opens nothing and a terminal's ctrl-C reaches only the
		// runner, which asks the jail to stop in order).
		Setsid: true,
		// A runner that dies takes the jail with it: its PID 1 gets
		// SIGKILL, and the kernel kills the rest of the PID namespace.
		Pdeathsig: syscall.SIGKILL,
	}
	return cmd, nil
}

func sysMaps(m []IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, x := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: x.Container, HostID: x.Host, Size: x.Size}
	}
	return out
}

// scratch is where the child builds the new root: a tmpfs mounted over
// the host's /tmp in the child's private mount namespace (the host's /tmp
// is not touched; it is only a folder every process may walk to).
const scratch = "/tmp"

// Child is the jail's set-up, run by the re-executed binary as PID 1 of
// the new namespaces, as the jail's root: it makes the root (an overlay of
// the image with a tmpfs on top), mounts /proc, /dev, /tmp and /run,
// pivots into it, drops capabilities, sets no_new_privs and executes the
// plan's program, which keeps PID 1. It returns only on error.
func Child(args []string) error {
	if len(args) != 1 {
		return errors.New("jail child: want one argument, the plan")
	}
	var p Plan
	if err := json.Unmarshal([]byte(args[0]), &p); err != nil {
		return fmt.Errorf("jail child: plan: %w", err)
	}
	if os.Getpid() != 1 {
		return fmt.Errorf("jail child: pid %d, want 1 of a new PID namespace", os.Getpid())
	}
	// Capabilities, the bounding set and no_new_privs belong to a thread,
	// not to the process (capset(2), prctl(2)), and execve keeps only the
	// calling thread's: the set-up and the exec must run on one OS thread,
	// or the init may start on a thread that never dropped anything. The
	// thread is never unlocked: the process is replaced or exits.
	runtime.LockOSThread()
	if err := setup(&p); err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	return fmt.Errorf("jail: exec %s: %w", p.Argv[0], unix.Exec(p.Argv[0], p.Argv, p.Env))
}

func setup(p *Plan) error {
	// Nothing this namespace mounts may reach the host's (shared subtrees,
	// Documentation/filesystems/sharedsubtree.rst).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// Hold the image and data folders by descriptor (O_PATH, in this
	// namespace) before the scratch tmpfs may hide their paths.
	lower, err := unix.Open(p.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("image folder: %w", err)
	}
	dataFD := -1
	if p.Data != "" {
		if dataFD, err = unix.Open(p.Data, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
	}
	fdPath := func(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
	if err := unix.Mount("tmpfs", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		return fmt.Errorf("scratch tmpfs: %w", err)
	}
	newRoot := filepath.Join(scratch, "root")
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(scratch, d), 0o755); err != nil {
			return err
		}
	}
	// The image is the overlay's read-only lower layer: the jail may
	// write anywhere, as in an initramfs, and its writes vanish with it.
	// userxattr: a user namespace may not set trusted.* attributes
	// (overlayfs.rst, "Permission model").
	opts := "lowerdir=" + fdPath(lower) + ",upperdir=" + scratch + "/upper,workdir=" + scratch + "/work,userxattr"
	if err := unix.Mount("overlay", newRoot, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay of the image: %w", err)
	}
	for _, m := range p.Mounts {
		if m.Type == "bind" && m.Source == p.Data && p.Data != "" {
			m.Source = fdPath(dataFD)
		}
		if err := doMount(newRoot, m); err != nil {
			return err
		}
	}
	unix.Close(lower)
	if dataFD >= 0 {
		unix.Close(dataFD)
	}
	for _, l := range p.Links {
		if err := os.Symlink(l.Target, newRoot+l.Name); err != nil {
			return fmt.Errorf("symlink %s: %w", l.Name, err)
		}
	}
	if p.Hostname != "" {
		if err := unix.Sethostname([]byte(p.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root under the new one; the
	// lazy unmount then drops it (pivot_root(2), NOTES).
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if p.Net != NetHost {
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
	}
	if err := dropCaps(p.KeepCaps); err != nil {
		return err
	}
	// No program in the jail can gain privileges through exec (set-id
	// files, file capabilities): prctl(2) PR_SET_NO_NEW_PRIVS, kept
	// across fork and execve.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if u := p.User; u != nil {
		if !p.Rootless {
			if err := unix.Setgroups(nil); err != nil {
				return fmt.Errorf("setgroups: %w", err)
			}
		}
		if err := unix.Setresgid(u.GID, u.GID, u.GID); err != nil {
			return fmt.Errorf("setresgid %d: %w", u.GID, err)
		}
		if err := unix.Setresuid(u.UID, u.UID, u.UID); err != nil {
			return fmt.Errorf("setresuid %d: %w", u.UID, err)
		}
		// A change of ids clears the parent-death signal (prctl(2)).
		unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	}
	// Last: the filter denies the mounts made above.
	if len(p.SeccompDeny) > 0 {
		if err := installSeccomp(p.SeccompDeny); err != nil {
			return err
		}
	}
	return nil
}

func doMount(newRoot string, m Mount) error {
	target := newRoot + m.Target
	if m.File {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		f.Close()
	} else if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("mount point %s: %w", m.Target, err)
	}
	var flags uintptr
	if m.NoSuid {
		flags |= unix.MS_NOSUID
	}
	if m.NoDev {
		flags |= unix.MS_NODEV
	}
	if m.NoExec {
		flags |= unix.MS_NOEXEC
	}
	if m.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if m.Type != "bind" {
		if err := unix.Mount(m.Type, target, m.Type, flags, m.Data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Type, m.Target, err)
		}
		return nil
	}
	src := m.Source
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", m.Source, m.Target, err)
	}
	// A bind mount takes its flags only from a remount, which must keep
	// the flags the source mount has locked (mount(2), EPERM in a user
	// namespace).
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", m.Target, err)
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags|lockedFlags(st.Flags), ""); err != nil {
		return fmt.Errorf("remount %s: %w", m.Target, err)
	}
	return nil
}

// lockedFlags maps statfs(2)'s ST_* flags to the MS_* flags a remount
// must repeat.
func lockedFlags(f int64) uintptr {
	var out uintptr
	for st, ms := range map[int64]uintptr{
		unix.ST_RDONLY: unix.MS_RDONLY, unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV,
		unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME,
		unix.ST_RELATIME: unix.MS_RELATIME,
	} {
		if f&st != 0 {
			out |= ms
		}
	}
	return out
}

// dropCaps drops every capability but keep from the bounding set, and
// clears the ambient and inheritable sets, so that whatever the jail's
// root executes holds at most keep (capabilities(7), "Capabilities and
// execution of programs by root").
func dropCaps(keep []int) error {
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	kept := map[int]bool{}
	for _, c := range keep {
		kept[c] = true
	}
	for c := 0; c <= last; c++ {
		if kept[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for i := range data {
		data[i].Inheritable = 0
		var mask uint32
		for _, c := range keep {
			if c/32 == i {
				mask |= 1 << (c % 32)
			}
		}
		data[i].Permitted &= mask
		data[i].Effective &= mask
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// Walkable reports whether the jail's root (uid and gid 0 mapped by the
// maps) may walk to dir: every folder from / down to dir must let it
// search. A folder owned by an id the maps do not map counts by its
// "other" bits.
func Walkable(dir string, uids, gids []IDMap) error {
	hostUID, _ := ToHost(uids, 0)
	hostGID, _ := ToHost(gids, 0)
	p := filepath.Clean(dir)
	for {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		var bit uint32 = 0o001
		switch {
		case int(st.Uid) == hostUID:
			bit = 0o100
		case int(st.Gid) == hostGID:
			bit = 0o010
		}
		if st.Mode&bit == 0 {
			return fmt.Errorf("the jail's root (host uid %d) may not enter %s (mode %o, owner %d:%d)", hostUID, p, st.Mode&0o7777, st.Uid, st.Gid)
		}
		if p == "/" {
			return nil
		}
		p = filepath.Dir(p)
	}
}

// installSeccomp loads the plan's filter (SeccompFilter for this machine's
// architecture) on every thread of the set-up process (TSYNC); the
// execve that follows keeps it, and every process of the jail inherits
// it. It needs no_new_privs (seccomp(2)), which setup sets first.
func installSeccomp(deny []string) error {
	raw, err := SeccompFilter(runtime.GOARCH, deny)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, in := range raw {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp filter: %w", errno)
	}
	runtime.KeepAlive(filter)
	return nil
}
