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
	"strings"

	"github.com/turbo-image/turbo-image/internal/host/jail"
)

// Env is what a command sees of the world: its streams, and environment
// lookups (tests substitute them).
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string

	// flagSet, when set, receives each flag set the command makes
	// (describe uses it; see newFlagSet).
	flagSet func(*flag.FlagSet)
}

// command is one sub-command. Its flags are not listed here: they are the
// flag.FlagSet the command itself defines, found by describe (usage.go), so
// help, completion scripts and docs/cli.md come from the definitions the
// parser uses.
type command struct {
	summary  string
	usage    string
	examples []example
	run      func(ctx context.Context, e *Env, args []string) error
}

// example is one line of a command's help: a command line and what it does.
type example struct{ cmd, what string }

// commandNames is the order commands appear in help and docs.
func commandNames() []string {
	return []string{"new", "build", "run", "dev", "inspect", "flash", "keygen", "sign", "verify", "sbom", "push", "pull", "promote", "channels", "channel", "data", "completion", "version", "help"}
}

func commands() map[string]command {
	return map[string]command{
		"new": {summary: "create a recipe folder to start from: a Go app, a Go package at a module version, or a prebuilt binary", usage: "new NAME [--package IMPORT@VERSION | --binary FILE] [flags]", run: runNew, examples: []example{
			{"turbo-image new hello", "hello/: recipe.yaml, a Go HTTP app in app/ (go.mod, /healthz), README.md"},
			{"turbo-image new broker --package github.com/nats-io/nats-server/v2@v2.15.2 --port 4222", "a recipe that builds nats-server like go install, no go.mod"},
			{"turbo-image new web --binary ./server --port 8080", "a recipe around a prebuilt static program, copied to web/bin/web"},
		}},
		"build": {summary: "build an appliance from a recipe", usage: "build RECIPE -o DIR [flags]", run: runBuild, examples: []example{
			{"turbo-image build recipes/hello/recipe.yaml -o out/hello", "kernel, initramfs, disk.img and manifest.json in out/hello"},
			{"turbo-image build recipes/hello/recipe.yaml -o out/v2 --version 1.0.1", "the same recipe as version 1.0.1 (for example from a CI tag)"},
			{"turbo-image build recipes/hello/recipe.yaml -o out/hello --json", "summary on stdout as JSON: artifacts, digests, step timings (docs/json.md)"},
		}},
		"run": {summary: "boot a build in QEMU, or run it in a jail without a VM (or print a bhyve or FreeBSD jail command)", usage: "run BUILD_DIR|DISK_IMAGE [flags]", run: runRun, examples: []example{
			{"turbo-image run out/hello --publish 8080:8080", "console on stdout; curl localhost:8080"},
			{"turbo-image run out/hello --exit-on-ready --timeout 120s", "CI smoke test: boot, wait for ready, exit 0"},
			{"turbo-image run out/hello --exit-on-ready --json", "the outcome and boot times as JSON on stdout, the console on stderr"},
			{"turbo-image run out/hello --boot uefi --exit-on-ready", "OVMF, then systemd-boot, then slot a"},
			{"turbo-image run out/hello --vmm bhyve --dry-run", "the bhyve command for a FreeBSD host"},
			{"turbo-image run out/hello --vmm jail --exit-on-ready", "same initramfs and init, no kernel: Linux namespaces on this host"},
			{"turbo-image run out/hello --vmm jail --net private --publish 8081:8080 --data ./hello-data", "own network through pasta; /data is a host folder that persists"},
			{"turbo-image run out/hello --vmm jail --dry-run --os freebsd", "the jail(8) command for a FreeBSD host"},
		}},
		"dev": {summary: "build a recipe, run it in a jail, and rebuild and restart it on every saved change", usage: "dev RECIPE [flags]", run: runDev, examples: []example{
			{"turbo-image dev recipes/hello/recipe.yaml", "edit recipes/hello/app/main.go, save: the new version answers on :8080"},
			{"turbo-image dev recipes/hello/recipe.yaml --net private --publish 8081:8080", "the jail in its own network, port 8080 on the host's 8081"},
		}},
		"inspect": {summary: "show what is in a build, initramfs or disk image", usage: "inspect BUILD_DIR|INITRAMFS|DISK_IMAGE [--extract DIR]", run: runInspect, examples: []example{
			{"turbo-image inspect out/hello", "files, sizes, digests, size breakdown"},
			{"turbo-image inspect out/hello/disk.img", "partitions, boot entries and their counters, ESP files"},
			{"turbo-image inspect out/hello --extract /tmp/hello-root", "unpack the initramfs into a new folder"},
			{"turbo-image inspect out/hello --json", "everything the listing shows, as one JSON document (docs/json.md)"},
		}},
		"flash": {summary: "write a build into the inactive A/B slot of a disk or a running appliance", usage: "flash BUILD_DIR|REF --target DISK|DEVICE|http://HOST:PORT [flags]", run: runFlash, examples: []example{
			{"turbo-image flash out/v2 --target appliance.img", "offline: a disk image or /dev/sdX"},
			{"turbo-image flash localhost:5000/acme/hello:prod --channel prod --key prod.pub --target appliance.img", "straight from a registry, refused unless signed for prod"},
			{"turbo-image flash out/v2 --target http://127.0.0.1:8443 --token-file agent.token", "a running appliance; it reboots into the trial"},
		}},
		"keygen": {summary: "make an ed25519 release key pair", usage: "keygen -o FILE", run: runKeygen, examples: []example{
			{"turbo-image keygen -o release.key", "release.key (secret) and release.pub"},
		}},
		"sign": {summary: "sign a build's manifest (payload bytes are unchanged)", usage: "sign BUILD_DIR --key FILE", run: runSign, examples: []example{
			{"turbo-image sign out/v2 --key release.key", "writes out/v2/manifest.json.sig"},
		}},
		"sbom": {summary: "print a build's software bill of materials (SPDX 2.3 or CycloneDX 1.6 JSON)", usage: "sbom BUILD_DIR [--format spdx|cyclonedx]", run: runSBOM, examples: []example{
			{"turbo-image sbom out/hello", "out/hello/sbom.spdx.json (SPDX 2.3), checked against the manifest"},
			{"turbo-image sbom out/hello --format cyclonedx > hello.cdx.json", "the same components as CycloneDX 1.6"},
		}},
		"verify": {summary: "check a build's signature and every artifact's digest", usage: "verify BUILD_DIR --key FILE [--key FILE ...]", run: runVerify, examples: []example{
			{"turbo-image verify out/v2 --key release.pub", "exit 0 only if the signature and every digest match"},
		}},
		"push": {summary: "upload a build to an OCI registry as one artifact; prints its digest", usage: "push BUILD_DIR REGISTRY/NAME:TAG [flags]", run: runPush, examples: []example{
			{"turbo-image push out/v2 localhost:5000/acme/hello:1.0.1", "prints REF@sha256:..."},
		}},
		"pull": {summary: "fetch a build from an OCI registry into a verified, byte-identical folder", usage: "pull REGISTRY/NAME:TAG|REGISTRY/NAME@DIGEST -o DIR [--channel NAME --key PUB...] [flags]", run: runPull, examples: []example{
			{"turbo-image pull localhost:5000/acme/hello:1.0.1 -o out/prod", "every digest verified"},
			{"turbo-image pull localhost:5000/acme/hello:stable --channel stable --key release.pub -o out/prod", "refused unless signed for stable by release.pub"},
		}},
		"promote": {summary: "sign a build in a registry for a channel and move the channel's tag to it", usage: "promote REGISTRY/NAME:TAG|REGISTRY/NAME@DIGEST --channel NAME --key PRIVATE_KEY [flags]", run: runPromote, examples: []example{
			{"turbo-image promote localhost:5000/acme/hello:1.0.1 --channel stable --key release.key", "signs the build for stable and moves the stable tag to it"},
		}},
		"channels": {summary: "list a repository's channel tags: digest, version and who signed it for which channel", usage: "channels REGISTRY/NAME [--key PUB...] [flags]", run: runChannels, examples: []example{
			{"turbo-image channels localhost:5000/acme/hello --key release.pub", "each channel's digest, version and verified signers"},
		}},
		"channel": {summary: "set, show or clear the channel one appliance follows (a file on its disk's ESP, offline or through a running appliance's update agent; the recipe's update.follow.channel is the default)", usage: "channel set DISK|http://HOST:PORT NAME [--token-file FILE] | channel show DISK | channel clear DISK|http://HOST:PORT [--token-file FILE]", run: runChannel, examples: []example{
			{"turbo-image channel set appliance.img canary", "this appliance follows canary (one of the recipe's update.channels), the same image as the rest of the fleet"},
			{"turbo-image channel show appliance.img", "the channel set on the disk, if any"},
			{"turbo-image channel set http://10.0.0.5:8443 canary --token-file agent.token", "a running appliance, through its update agent: the same ESP file, and its follower switches before its next poll"},
		}},
		"data": {summary: "export, import, scrub or list an appliance's /data as a tar + zstd archive", usage: "data export DISK|http://HOST:PORT -o FILE [--channel NAME] [--token-file FILE] | data import FILE --target DISK [--channel NAME] [--force] | data scrub FILE --with BUILD -o FILE | data ls FILE", run: runData, examples: []example{
			{"turbo-image data export appliance.img -o prod-data.tar.zst --channel prod", "offline, from a disk image or block device; nothing is mounted, nothing written to it"},
			{"turbo-image data export http://10.0.0.5:8443 --token-file t -o prod-data.tar.zst --channel prod", "live, through the update agent: the app is paused (data.quiesce, else its services frozen) and /data frozen for the copy"},
			{"turbo-image data import prod-data.tar.zst --target qa.img --channel qa", "replaces qa.img's /data whole, or leaves it as it was"},
			{"turbo-image data scrub prod-data.tar.zst --with out/hello -o qa-data.tar.zst", "runs the build's data.scrub program on a copy, in a jail without network; writes the output only if it exits 0"},
			{"turbo-image data ls prod-data.tar.zst", "the source, and every member with mode, owner, size and time"},
		}},
		"completion": {summary: "print a shell completion script (bash, zsh or fish)", usage: "completion bash|zsh|fish", run: runCompletion, examples: []example{
			{"source <(turbo-image completion bash)", "bash, this shell; put the script in ~/.local/share/bash-completion/completions/turbo-image to keep it"},
			{"turbo-image completion zsh > \"${fpath[1]}/_turbo-image\"", "zsh"},
			{"turbo-image completion fish > ~/.config/fish/completions/turbo-image.fish", "fish"},
		}},
		"version": {summary: "print the version, VCS revision and Go version turbo-image was built from", usage: "version", run: runVersion, examples: []example{
			{"turbo-image version", "also: turbo-image --version"},
		}},
		"help": {summary: "show help for turbo-image or one command", usage: "help [COMMAND]", run: runHelp, examples: []example{
			{"turbo-image help build", "the same as turbo-image build --help"},
		}},
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
	if len(args) == 0 {
		printHelp(e.Stderr)
		return 2
	}
	if args[0] == jail.ChildArg {
		// The hidden set-up process of run --vmm jail (package jail): it
		// returns only when it could not execute the jail's init.
		err := jail.Child(args[1:])
		fmt.Fprintf(e.Stderr, "turbo-image: %s\n", terminalSafe(err.Error()))
		return 1
	}
	switch args[0] {
	case "-h", "-help", "--help":
		args = []string{"help"}
	case "-version", "--version":
		args = []string{"version"}
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.Stderr, "turbo-image: unknown command %q\n\n", args[0])
		printHelp(e.Stderr)
		return 2
	}
	err := c.run(ctx, e, args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(e.Stdout, args[0])
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.Stderr, "turbo-image %s: %s\nusage: turbo-image %s\nRun 'turbo-image help %s' for its flags and examples.\n", args[0], terminalSafe(ue.msg), c.usage, args[0])
		return 2
	}
	var ee exitError
	if !errors.As(err, &ee) && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// ctrl-C or SIGTERM in the middle of any command's work: the
		// shells' 128+SIGINT, whatever step noticed it first.
		err = exitError{exitInterrupted, fmt.Errorf("interrupted (%w)", err)}
	}
	fmt.Fprintf(e.Stderr, "turbo-image %s: %s\n", args[0], terminalSafe(err.Error()))
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// parseFlags parses args allowing flags before and after positional
// arguments ("build recipe.yaml -o out"), and returns the positionals. A
// flag the command does not have, or a bad flag value, is a usage error;
// -h and --help return flag.ErrHelp, and Main prints the command's help.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
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

// newFlagSet makes a command's flag set. The flag package's own messages
// and usage text are silenced: parse errors come back as usage errors and
// help is printed by printCommandHelp in the --flag style. When describe
// runs the command, e.flagSet receives the set so that help, completion
// and docs/cli.md read the flags the command really defines.
func newFlagSet(e *Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if e.flagSet != nil {
		e.flagSet(fs)
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
