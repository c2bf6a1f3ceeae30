package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Help, shell completion and docs/cli.md all come from one source: the
// command table (commands) and the flag set each command defines when it
// runs. describe runs a command with --help under an Env that captures its
// flag set; every command parses its flags before it does anything else,
// so this has no side effect (TestDescribeEveryCommand checks that each
// command hands over a flag set).
//
// The CLI stays on the standard flag package rather than cobra or kong:
// both parse with POSIX/GNU rules in which a single dash starts a cluster of
// one-letter flags, so the single-dash long flags every existing script
// and test uses (-exit-on-ready, -timeout 120s) would stop working, and
// the command table here is a dozen entries. What they add (help,
// completion, docs) is generated below from the same definitions.

// describe returns the flags of command name, in the order flag.VisitAll
// gives (sorted by name).
func describe(name string) []*flag.Flag {
	c, ok := commands()[name]
	if !ok {
		return nil
	}
	var sets []*flag.FlagSet
	e := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
		Getenv:  func(string) string { return "" },
		flagSet: func(fs *flag.FlagSet) { sets = append(sets, fs) }}
	// The context is cancelled so that a command that did not stop at
	// --help would stop at its first blocking step.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.run(ctx, e, []string{"--help"})
	var flags []*flag.Flag
	for _, fs := range sets {
		fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	}
	return flags
}

// dashes is the prefix help shows for a flag: -o for one letter, --name
// for longer names (the flag package accepts either for both).
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagValueName is the placeholder for a flag's value: the back-quoted
// word of its usage (flag.UnquoteUsage's rule), else one derived from the
// value's type.
func flagValueName(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	switch name {
	case "":
		return ""
	case "string", "value":
		return "VALUE"
	case "int", "uint", "int64", "uint64":
		return "N"
	case "duration":
		return "DURATION"
	case "float":
		return "NUMBER"
	}
	return name
}

// flagSyntax is how help writes a flag: "--name VALUE", "-o DIR", "--dry-run".
func flagSyntax(f *flag.Flag) string {
	if v := flagValueName(f); v != "" {
		return dashes(f.Name) + " " + v
	}
	return dashes(f.Name)
}

// flagDescription is the flag's usage text with its default when that is
// not the zero value.
func flagDescription(f *flag.Flag) string {
	_, usage := flag.UnquoteUsage(f)
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
	default:
		if isBoolFlag(f) {
			usage += fmt.Sprintf(" (default %s; %s=false turns it off)", f.DefValue, dashes(f.Name))
		} else {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
	}
	return usage
}

// fileValued reports whether a flag's value names a file or folder, for
// completion.
func fileValued(f *flag.Flag) bool {
	v := flagValueName(f)
	for _, w := range []string{"DIR", "FILE", "PATH", "TARGET", "BINARY"} {
		if strings.Contains(v, w) {
			return true
		}
	}
	return false
}

// flagChoices lists the values a flag accepts, when there is a fixed set,
// for completion. run's parser rejects anything else.
func flagChoices(cmd, name string) []string {
	switch cmd + " " + name {
	case "run boot":
		return []string{"initramfs", "disk", "uefi"}
	case "run vmm":
		return []string{"qemu", "bhyve"}
	case "run accel":
		return []string{"kvm", "tcg"}
	}
	return nil
}

// argChoices lists the words a command's positional argument can be, or
// nil for files.
func argChoices(cmd string) []string {
	switch cmd {
	case "help":
		return commandNames()
	case "completion":
		return shells()
	case "version":
		return []string{}
	}
	return nil
}

// exitStatus is one documented exit status.
type exitStatus struct {
	code    int
	cmds    string // the commands that use it ("" for all)
	meaning string
}

func exitCodes() []exitStatus {
	return []exitStatus{
		{0, "", "success (for run --exit-on-ready: the appliance became ready, or a followed trial was blessed)"},
		{1, "", "error: the command failed (a message on stderr names what and where)"},
		{2, "", "usage error: unknown command or flag, bad flag value, missing or extra arguments"},
		{exitRolledBack, "run", "the followed trial failed and the appliance rolled back: it is ready on the old slot"},
		{exitTrialFailed, "run", "the followed trial had no outcome: neither slot became healthy (timeout, boots used up, QEMU failed)"},
		{exitInterrupted, "", "interrupted (ctrl-C, SIGTERM) by any command; run powers the guest off first"},
	}
}

// printHelp writes the top-level help.
func printHelp(w io.Writer) {
	cmds := commands()
	fmt.Fprint(w, "turbo-image builds tiny, fast-booting Linux appliance images.\n\nUsage:\n  turbo-image COMMAND [ARGUMENTS] [FLAGS]\n\nCommands:\n")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprint(w, `
Run 'turbo-image help COMMAND' or 'turbo-image COMMAND --help' for a
command's flags and examples. Flags are written --name VALUE (one-letter
ones -o VALUE); -name VALUE and --name=VALUE work too, before or after the
arguments. Exit codes: 0 success, 1 error, 2 usage error; run has more
(turbo-image help run). turbo-image --version prints the version.
`)
}

// printCommandHelp writes one command's help: usage, flags, examples.
func printCommandHelp(w io.Writer, name string) {
	c := commands()[name]
	fmt.Fprintf(w, "turbo-image %s: %s\n\nUsage:\n  turbo-image %s\n\nFlags:\n", name, c.summary, c.usage)
	for _, f := range describe(name) {
		fmt.Fprintf(w, "  %s\n        %s\n", flagSyntax(f), flagDescription(f))
	}
	fmt.Fprint(w, "  -h, --help\n        show this help\n\nExamples:\n")
	for _, x := range c.examples {
		fmt.Fprintf(w, "  %s\n        %s\n", x.cmd, x.what)
	}
	if codes := commandExitCodes(name); len(codes) > 0 {
		fmt.Fprint(w, "\nExit codes:\n")
		for _, x := range codes {
			fmt.Fprintf(w, "  %-3d %s\n", x.code, x.meaning)
		}
	}
}

// commandExitCodes returns the exit codes of a command that has its own
// beyond 0, 1 and 2 (then all of them), else nil.
func commandExitCodes(name string) []exitStatus {
	var own bool
	for _, x := range exitCodes() {
		own = own || x.cmds == name
	}
	if !own {
		return nil
	}
	var out []exitStatus
	for _, x := range exitCodes() {
		if x.cmds == "" || x.cmds == name {
			out = append(out, x)
		}
	}
	return out
}

func runHelp(_ context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "help", commands()["help"].usage)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
		printHelp(e.Stdout)
		return nil
	case 1:
		if _, ok := commands()[pos[0]]; !ok {
			return usagef("no command %q; the commands are %s", pos[0], strings.Join(commandNames(), ", "))
		}
		printCommandHelp(e.Stdout, pos[0])
		return nil
	}
	return usagef("help takes at most one command")
}
