package jail

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// runFilter runs the filter for goarch on one system call in
// golang.org/x/net/bpf's interpreter. seccomp_data is laid out as the
// kernel does, except in big-endian order: the interpreter loads words
// as network order, the kernel in the machine's (little-endian on amd64
// and arm64), so the same program sees the same values.
func runFilter(t *testing.T, goarch string, auditArch uint32, nr uint32, arg0 uint64) uint32 {
	t.Helper()
	raw, err := SeccompFilter(goarch, SeccompDenied())
	if err != nil {
		t.Fatal(err)
	}
	prog := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		prog[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[seccompDataNr:], nr)
	binary.BigEndian.PutUint32(data[seccompDataArch:], auditArch)
	// args[0]'s low word where the filter reads it.
	binary.BigEndian.PutUint32(data[seccompDataArg0:], uint32(arg0))
	binary.BigEndian.PutUint32(data[seccompDataArg0+4:], uint32(arg0>>32))
	out, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

func TestSeccompFilter(t *testing.T) {
	const (
		allow  = seccompRetAllow
		eperm  = seccompRetErrno | errnoEPERM
		enosys = seccompRetErrno | errnoENOSYS
		kill   = seccompRetKillProcess
	)
	for _, tc := range []struct {
		goarch string
		info   *arch.Info
		// foreign is another architecture the same CPU can run.
		foreign *arch.Info
	}{
		{"amd64", arch.X86_64, arch.I386},
		{"arm64", arch.AARCH64, arch.ARM},
	} {
		t.Run(tc.goarch, func(t *testing.T) {
			id := uint32(tc.info.ID)
			nr := func(name string) uint32 {
				t.Helper()
				n, ok := tc.info.SyscallNames[name]
				if !ok {
					t.Fatalf("%s has no %s", tc.goarch, name)
				}
				return uint32(n)
			}
			// The calls the issue names exist on both architectures and
			// are denied there.
			for _, name := range []string{"kexec_load", "init_module", "finit_module", "delete_module", "reboot",
				"swapon", "swapoff", "mount", "umount2", "pivot_root", "open_by_handle_at", "bpf",
				"perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "ptrace", "unshare", "setns"} {
				if !slices.Contains(SeccompDenied(), name) {
					t.Errorf("%s is not in the deny list", name)
				}
				if got := runFilter(t, tc.goarch, id, nr(name), 0); got != eperm {
					t.Errorf("%s: %#x, want EPERM", name, got)
				}
			}
			// Every name of the list is denied where the architecture has it.
			for _, name := range SeccompDenied() {
				if n, ok := tc.info.SyscallNames[name]; ok {
					if got := runFilter(t, tc.goarch, id, uint32(n), 0); got != eperm {
						t.Errorf("%s: %#x, want EPERM", name, got)
					}
				}
			}
			// What services do is allowed.
			for _, name := range []string{"read", "write", "openat", "close", "mmap", "futex", "execve",
				"socket", "bind", "accept4", "epoll_pwait", "clock_gettime", "exit_group", "setresuid", "kill", "wait4"} {
				if got := runFilter(t, tc.goarch, id, nr(name), 0); got != allow {
					t.Errorf("%s: %#x, want allow", name, got)
				}
			}
			// clone: threads and forks yes, namespaces no; clone3 falls back.
			const cloneThread = 0x00000100 | 0x00000200 | 0x00000400 | 0x00000800 | 0x00010000 | 0x00040000 | 0x00080000 | 0x00100000 | 0x00200000
			if got := runFilter(t, tc.goarch, id, nr("clone"), cloneThread); got != allow {
				t.Errorf("clone of a thread: %#x, want allow", got)
			}
			if got := runFilter(t, tc.goarch, id, nr("clone"), 17 /* SIGCHLD: fork */); got != allow {
				t.Errorf("fork: %#x, want allow", got)
			}
			for _, f := range []uint64{0x10000000, 0x20000000, 0x40000000, 0x00020000, 0x00000080, 0x10000000 | 17} {
				if got := runFilter(t, tc.goarch, id, nr("clone"), f); got != eperm {
					t.Errorf("clone %#x: %#x, want EPERM", f, got)
				}
			}
			if got := runFilter(t, tc.goarch, id, nr("clone3"), 0); got != enosys {
				t.Errorf("clone3: %#x, want ENOSYS", got)
			}
			// Another architecture's calls (i386's int 0x80, arm32) die,
			// whatever their number: kexec_load of i386 is 283, an allowed
			// number on x86-64.
			for _, name := range []string{"kexec_load", "read", "mount"} {
				n, ok := tc.foreign.SyscallNames[name]
				if !ok {
					t.Fatalf("%s has no %s", tc.foreign.Name, name)
				}
				if got := runFilter(t, tc.goarch, uint32(tc.foreign.ID), uint32(n), 0); got != kill {
					t.Errorf("%s %s: %#x, want kill", tc.foreign.Name, name, got)
				}
			}
			if tc.info == arch.X86_64 {
				for _, name := range []string{"kexec_load", "read"} {
					n := uint32(arch.X32.SyscallNames[name] | x32SyscallBit)
					if got := runFilter(t, tc.goarch, id, n, 0); got != kill {
						t.Errorf("x32 %s (%#x): %#x, want kill", name, n, got)
					}
				}
			}
		})
	}
}

func TestSeccompFilterErrors(t *testing.T) {
	if _, err := SeccompFilter("riscv64", SeccompDenied()); err == nil {
		t.Error("riscv64: no error")
	}
	if _, err := SeccompFilter("amd64", []string{"mount", "no_such_call"}); err == nil {
		t.Error("an unknown name: no error")
	}
	a, err := SeccompFilter("amd64", SeccompDenied())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SeccompFilter("amd64", SeccompDenied())
	if !slices.Equal(a, b) {
		t.Error("the same list gave two programs")
	}
	if len(a) > 4096 { // BPF_MAXINSNS
		t.Errorf("%d instructions: over the kernel's limit", len(a))
	}
}
