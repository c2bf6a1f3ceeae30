package jail

import (
	"fmt"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// The jail's seccomp filter (seccomp(2), Documentation/userspace-api/
// seccomp_filter.rst) is a deny list: every system call is allowed except
// the ones below, which no service needs and which are the usual ways from
// a process to the kernel's most dangerous code. They fail with EPERM, as
// in Docker's and systemd's default profiles, so a program that probes
// for a feature sees "not permitted" rather than a crash.
//
// An allow list would be tighter, but the jail runs arbitrary third-party
// programs (Go, C with glibc or musl, anything static) whose system calls
// nobody lists; one missing entry kills a service in production only. The
// capability bounding set and no_new_privs stay the privilege boundary;
// the filter closes the calls an unprivileged process may still make
// (bpf, userfaultfd, perf_event_open, the key ring, new namespaces) and
// puts a second wall before the ones only capabilities guard today
// (modules, kexec, reboot, swap, mounts).
//
// The filter is assembled here rather than by elastic/go-seccomp-bpf's
// Policy: that library's program lets a system call of a foreign
// architecture through with the default action (allow, for a deny list),
// and on x86-64 the i386 entry (int 0x80) and the x32 ABI number the same
// calls differently, which would walk around every entry. This program
// kills the process on any architecture but the jail's own and on any
// x32 call. The syscall numbers come from that library's arch tables
// (generated from the kernel's syscall tables, kept current by Elastic),
// the assembly and the tests' interpreter from golang.org/x/net/bpf.

// SeccompDenied are the system calls the jail's filter answers with EPERM
// (by name, as in the kernel's syscall tables).
func SeccompDenied() []string {
	return []string{
		// Kernel code and the machine itself.
		"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
		"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
		"settimeofday", "clock_settime", "clock_adjtime", "syslog",
		// Mounts: the runner made the jail's; nothing inside changes them.
		"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
		"fsconfig", "fsmount", "fspick", "mount_setattr",
		// New namespaces (a new user namespace hands its creator every
		// capability over it, the start of many kernel exploits); clone
		// is checked by its flags below, clone3 answers ENOSYS.
		"unshare", "setns",
		// Unprivileged attack surface.
		"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
		"open_by_handle_at",
		"process_vm_readv", "process_vm_writev", "ptrace", "kcmp",
		"io_uring_setup", "io_uring_enter", "io_uring_register",
	}
}

// cloneNamespaceFlags are clone(2)'s flags that make new namespaces
// (linux/sched.h); a clone with any of them fails with EPERM.
const cloneNamespaceFlags = 0x00020000 | // CLONE_NEWNS
	0x02000000 | // CLONE_NEWCGROUP
	0x04000000 | // CLONE_NEWUTS
	0x08000000 | // CLONE_NEWIPC
	0x10000000 | // CLONE_NEWUSER
	0x20000000 | // CLONE_NEWPID
	0x40000000 | // CLONE_NEWNET
	0x00000080 // CLONE_NEWTIME

// Return values of a seccomp filter (linux/seccomp.h).
const (
	seccompRetKillProcess = 0x80000000
	seccompRetErrno       = 0x00050000
	seccompRetAllow       = 0x7fff0000
	errnoEPERM            = 1
	errnoENOSYS           = 38
	// x32SyscallBit marks the x32 ABI's calls on x86-64 (asm/unistd.h).
	x32SyscallBit = 0x40000000
)

// Offsets in struct seccomp_data (linux/seccomp.h): nr, arch, then the
// instruction pointer and six 64-bit arguments. The kernel loads 32-bit
// words in the machine's byte order; arguments are read by their low word
// (at +0 on the little-endian amd64 and arm64).
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArg0 = 16
)

// seccompArch is the kernel's table for a Go architecture.
func seccompArch(goarch string) (*arch.Info, error) {
	switch goarch {
	case "amd64":
		return arch.X86_64, nil
	case "arm64":
		return arch.AARCH64, nil
	}
	return nil, fmt.Errorf("jail: no seccomp filter for %s (amd64 and arm64 have one)", goarch)
}

// SeccompFilter assembles the filter for goarch ("amd64" or "arm64") that
// answers the named system calls with EPERM. It is pure: the same names
// and architecture give the same program. A name the architecture does
// not have (the kernel never had that call there) is skipped; a name no
// supported architecture knows is an error.
func SeccompFilter(goarch string, deny []string) ([]bpf.RawInstruction, error) {
	info, err := seccompArch(goarch)
	if err != nil {
		return nil, err
	}
	for _, name := range deny {
		if _, ok := arch.X86_64.SyscallNames[name]; ok {
			continue
		}
		if _, ok := arch.AARCH64.SyscallNames[name]; !ok {
			return nil, fmt.Errorf("jail: seccomp: no system call %q", name)
		}
	}
	kill := bpf.RetConstant{Val: seccompRetKillProcess}
	eperm := bpf.RetConstant{Val: seccompRetErrno | errnoEPERM}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: seccompDataArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		kill,
		bpf.LoadAbsolute{Off: seccompDataNr, Size: 4},
	}
	if info == arch.X86_64 {
		// Same audit architecture, other numbers: x32 is refused whole.
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1}, kill)
	}
	for _, name := range deny {
		nr, ok := info.SyscallNames[name]
		if !ok {
			continue
		}
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(nr), SkipTrue: 1}, eperm)
	}
	if nr, ok := info.SyscallNames["clone3"]; ok {
		// Its flags are in memory a filter cannot read: ENOSYS makes
		// glibc and musl fall back to clone, whose flags it can.
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(nr), SkipTrue: 1},
			bpf.RetConstant{Val: seccompRetErrno | errnoENOSYS})
	}
	clone := info.SyscallNames["clone"]
	prog = append(prog,
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(clone), SkipTrue: 3},
		bpf.LoadAbsolute{Off: seccompDataArg0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: cloneNamespaceFlags, SkipTrue: 1},
		eperm,
		bpf.RetConstant{Val: seccompRetAllow},
	)
	return bpf.Assemble(prog)
}
