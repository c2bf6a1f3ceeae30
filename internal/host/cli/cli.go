// Package cli implements the turbo-image command line. It is the only code
// in the project that talks to the user: everything else returns errors and
// reports progress through callbacks. Main is callable in-process, so tests
// drive the real commands without a subprocess.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Env is what a command sees of the world: its streams, and environment
// lookups (tests substitute them).
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// command is one sub-command.
type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, e *Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"build":    {"build an appliance from a recipe", "build RECIPE -o DIR [--version V] [--kernel FILE]", runBuild},
		"run":      {"boot a build in QEMU (or print a bhyve command)", "run BUILD_DIR|DISK_IMAGE [flags]", runRun},
		"inspect":  {"show what is in a build, initramfs or disk image", "inspect BUILD_DIR|INITRAMFS|DISK_IMAGE [--extract DIR]", runInspect},
		"flash":    {"write a build into the inactive A/B slot of a disk or a running appliance", "flash BUILD_DIR --target DISK|DEVICE|http://HOST:PORT [--token T] [--allow-downgrade]", runFlash},
		"keygen":   {"make an ed25519 release key pair", "keygen -o release.key", runKeygen},
		"sign":     {"sign a build's manifest (payload bytes are unchanged)", "sign BUILD_DIR --key release.key", runSign},
		"push":     {"upload a build to an OCI registry as one artifact; prints its digest", "push BUILD_DIR REGISTRY/NAME:TAG [--plain-http] [--ca FILE]", runPush},
		"pull":     {"fetch a build from an OCI registry into a verified, byte-identical folder", "pull REGISTRY/NAME:TAG|REGISTRY/NAME@DIGEST -o DIR [--channel NAME --key PUB...] [--plain-http] [--ca FILE]", runPull},
		"promote":  {"sign a build in a registry for a channel and move the channel's tag to it", "promote REGISTRY/NAME:TAG|REGISTRY/NAME@DIGEST --channel NAME --key PRIVATE_KEY [--plain-http] [--ca FILE]", runPromote},
		"channels": {"list a repository's channel tags: digest, version and who signed it for which channel", "channels REGISTRY/NAME [--key PUB...] [--plain-http] [--ca FILE]", runChannels},
		"verify":   {"check a build's signature and every artifact's digest", "verify BUILD_DIR --key release.pub [--key ...]", runVerify},
	}
}

// errUsage marks errors that should be followed by the usage text.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// Main runs turbo-image with args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return MainEnv(ctx, args, &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv})
}

// MainEnv is Main with an explicit environment.
func MainEnv(ctx context.Context, args []string, e *Env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(e.Stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(e.Stdout, "turbo-image", Version())
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.Stderr, "turbo-image: unknown command %q\n", args[0])
		printHelp(e.Stderr, cmds)
		return 2
	}
	err := c.run(ctx, e, args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.Stderr, "turbo-image %s: %v\nusage: turbo-image %s\n", args[0], ue.msg, c.usage)
		return 2
	}
	fmt.Fprintf(e.Stderr, "turbo-image %s: %v\n", args[0], err)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func printHelp(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "turbo-image builds tiny, fast-booting Linux appliance images.")
	fmt.Fprintln(w, "\nCommands:")
	var names []string
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n      turbo-image %s\n", n, cmds[n].summary, cmds[n].usage)
	}
	fmt.Fprintln(w, "\nRun 'turbo-image COMMAND -h' for a command's flags.")
}

// parseFlags parses args allowing flags before and after positional
// arguments ("build recipe.yaml -o out"), and returns the positionals.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(e *Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "usage: turbo-image %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// isTerminal reports whether w is a character device (a terminal), for
// progress display.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
