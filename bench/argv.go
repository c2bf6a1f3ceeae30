package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/turbo-image/turbo-image/internal/host/vmm"
)

// SplitShellWords splits a command line as a POSIX shell would split the
// output of `turbo-image run --dry-run`: words separated by blanks,
// '...' taken literally, "..." with \" \\ \$ \` escapes, and a backslash
// outside quotes escaping the next character. Expansions ($x, globs) are
// not performed. An unterminated quote or trailing backslash is an error.
func SplitShellWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// argValue returns the value after the first occurrence of flag in args.
func argValue(args []string, flag string) (string, bool) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1], true
		}
	}
	return "", false
}

// AddHostfwd returns a copy of args in which the user-mode network
// (-netdev user,...) also forwards 127.0.0.1:hostPort to the guest's
// guestPort, as `turbo-image run --publish hostPort:guestPort` would.
func AddHostfwd(args []string, hostPort, guestPort int) ([]string, error) {
	if hostPort < 1 || hostPort > 65535 || guestPort < 1 || guestPort > 65535 {
		return nil, fmt.Errorf("hostfwd %d->%d: ports must be 1-65535", hostPort, guestPort)
	}
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "-netdev" && strings.HasPrefix(out[i+1], "user,") {
			out[i+1] += ",hostfwd=tcp:" + vmm.DefaultHostAddr + ":" + strconv.Itoa(hostPort) + "-" + vmm.GuestAddr + ":" + strconv.Itoa(guestPort)
			return out, nil
		}
	}
	return nil, errors.New("no -netdev user,... in the QEMU arguments to add a port forward to")
}

// SpecFromDryRun reconstructs the vmm.Spec of a `turbo-image run --dry-run
// --boot initramfs --accel tcg` command line (argv[0] included): binary,
// machine, accelerator, kernel, initrd and command line (with the
// tsc_early_khz= it carries, whose value is returned). The caller checks
// that vmm.QEMUCommand of the spec gives back the same arguments, so the
// other rows boot with exactly row 1's QEMU arguments.
func SpecFromDryRun(argv []string) (spec vmm.Spec, tscKHz int, err error) {
	if len(argv) < 2 {
		return vmm.Spec{}, 0, errors.New("dry-run printed no QEMU command")
	}
	args := argv[1:]
	get := func(flag string) string {
		v, _ := argValue(args, flag)
		return v
	}
	spec = vmm.Spec{Binary: argv[0], NoReboot: true, Net: &vmm.Net{}}
	m := get("-machine")
	spec.Machine, _, _ = strings.Cut(m, ",")
	a, err := vmm.ParseAccel(get("-accel"))
	if err != nil {
		return vmm.Spec{}, 0, fmt.Errorf("dry-run command: %w", err)
	}
	spec.Accel = a
	spec.Kernel, spec.Initrd, spec.Cmdline = get("-kernel"), get("-initrd"), get("-append")
	if spec.Kernel == "" || spec.Initrd == "" {
		return vmm.Spec{}, 0, errors.New("dry-run command has no -kernel and -initrd: not an initramfs boot")
	}
	if v, ok := argValue(args, "-smp"); ok {
		if spec.CPUs, err = strconv.Atoi(v); err != nil {
			return vmm.Spec{}, 0, fmt.Errorf("dry-run command: -smp %q", v)
		}
	}
	if v, ok := argValue(args, "-m"); ok {
		if spec.MemoryMiB, err = strconv.Atoi(v); err != nil {
			return vmm.Spec{}, 0, fmt.Errorf("dry-run command: -m %q", v)
		}
	}
	tscKHz = cmdlineInt(spec.Cmdline, "tsc_early_khz")
	if tscKHz > 0 {
		spec.TSCkHz = tscKHz
	}
	return spec, tscKHz, nil
}

// cmdlineInt returns the integer value of name=value on a kernel command
// line, or 0.
func cmdlineInt(cmdline, name string) int {
	for _, w := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(w, name+"="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return 0
}

// equalArgs reports whether two argument lists are equal, and if not, the
// first difference.
func equalArgs(a, b []string) (bool, string) {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y || i >= len(a) || i >= len(b) {
			return false, fmt.Sprintf("argument %d: %q vs %q", i, x, y)
		}
	}
	return true, ""
}
