package cli

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

var updateGolden = flag.Bool("update", false, "rewrite docs/cli.md from the command definitions")

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = MainEnv(context.Background(), args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// TestDescribeEveryCommand checks the command table against its order and
// that every command stops at --help having made exactly one flag set:
// describe depends on both.
func TestDescribeEveryCommand(t *testing.T) {
	var names []string
	for n := range commands() {
		names = append(names, n)
	}
	slices.Sort(names)
	order := slices.Clone(commandNames())
	slices.Sort(order)
	if !slices.Equal(names, order) {
		t.Fatalf("commandNames() %v does not list the commands %v", order, names)
	}
	for _, n := range commandNames() {
		var sets int
		var out strings.Builder
		e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" },
			flagSet: func(*flag.FlagSet) { sets++ }}
		err := commands()[n].run(context.Background(), e, []string{"--help"})
		if err != flag.ErrHelp || sets != 1 || out.Len() != 0 {
			t.Errorf("%s --help: err %v, %d flag sets, output %q; want flag.ErrHelp, 1, none", n, err, sets, out.String())
		}
	}
	if len(describe("run")) < 10 || len(describe("build")) < 5 {
		t.Fatalf("describe found too few flags: run %d, build %d", len(describe("run")), len(describe("build")))
	}
}

var goStyleFlag = regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+\b`)

// TestCommandHelp checks every command's help, reached three ways: every
// flag in --name style, no Go-style -name line, at least one example,
// and each example's flags really exist.
func TestCommandHelp(t *testing.T) {
	for _, n := range commandNames() {
		code, help, stderr := runMain(t, "help", n)
		if code != 0 || stderr != "" {
			t.Fatalf("help %s: exit %d, stderr %q", n, code, stderr)
		}
		for _, args := range [][]string{{n, "--help"}, {n, "-h"}, {n, "-help"}} {
			if code, out, _ := runMain(t, args...); code != 0 || out != help {
				t.Errorf("%v: exit %d, output differs from help %s:\n%s", args, code, n, out)
			}
		}
		if !strings.HasPrefix(help, "turbo-image "+n+": ") || !strings.Contains(help, "\n  turbo-image "+commands()[n].usage+"\n") {
			t.Errorf("help %s lacks its summary or usage line:\n%s", n, help)
		}
		for _, f := range describe(n) {
			if !strings.Contains(help, "\n  "+flagSyntax(f)+"\n") {
				t.Errorf("help %s does not list %s:\n%s", n, flagSyntax(f), help)
			}
			if len(f.Name) > 1 && !strings.HasPrefix(flagSyntax(f), "--") {
				t.Errorf("help %s shows %q without a double dash", n, flagSyntax(f))
			}
		}
		if m := goStyleFlag.FindString(help); m != "" {
			t.Errorf("help %s shows a flag Go-style: %q", n, m)
		}
		ex := commands()[n].examples
		if len(ex) == 0 || !strings.Contains(help, "\nExamples:\n  "+ex[0].cmd+"\n") {
			t.Errorf("help %s has no example", n)
		}
		for _, x := range ex {
			checkExample(t, n, x.cmd)
		}
	}
}

// checkExample parses an example's words with the command's flags.
func checkExample(t *testing.T, name, line string) {
	t.Helper()
	words := strings.Fields(strings.NewReplacer("<(", " ", ")", " ").Replace(line))
	i := slices.Index(words, "turbo-image")
	if i < 0 || i+1 >= len(words) || words[i+1] != name {
		t.Errorf("example of %s does not run it: %q", name, line)
		return
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(&strings.Builder{})
	for _, f := range describe(name) {
		fs.Var(f.Value, f.Name, f.Usage)
	}
	var args []string
	for _, w := range words[i+2:] {
		if w == ">" || w == "|" {
			break // shell redirection or substitution
		}
		args = append(args, w)
	}
	if _, err := parseFlags(fs, args); err != nil {
		t.Errorf("example %q: %v", line, err)
	}
}

func TestTopHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, out, _ := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, n := range commandNames() {
			if !strings.Contains(out, "\n  "+n+" ") {
				t.Errorf("%v does not list %s:\n%s", args, n, out)
			}
		}
	}
	if code, out, stderr := runMain(t); code != 2 || out != "" || !strings.Contains(stderr, "Commands:") {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q; want 2 and the help on stderr", code, out, stderr)
	}
	if code, _, stderr := runMain(t, "help", "nosuch"); code != 2 || !strings.Contains(stderr, `no command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, %q", code, stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"build", "--bogus"}, {"run", "--memory", "lots", "x"}, {"frobnicate"}, {"completion", "tcsh"}, {"version", "extra"}} {
		code, _, stderr := runMain(t, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
	if _, _, stderr := runMain(t, "build", "--bogus"); !strings.Contains(stderr, "-bogus") || !strings.Contains(stderr, "turbo-image help build") {
		t.Errorf("build --bogus: %q names neither the flag nor the help command", stderr)
	}
}

// TestCompletionScripts checks that each script names every command and
// flag, passes its shell's syntax check, and (bash, fish) completes a flag
// and a flag's values when the shell is there to ask.
func TestCompletionScripts(t *testing.T) {
	mark := map[string]func(f *flag.Flag) string{
		"bash": func(f *flag.Flag) string { return dashes(f.Name) },
		"zsh":  func(f *flag.Flag) string { return dashes(f.Name) + "[" },
		"fish": func(f *flag.Flag) string {
			if len(f.Name) == 1 {
				return " -s " + f.Name + " "
			}
			return " -l " + f.Name + " "
		},
	}
	for _, sh := range shells() {
		code, script, stderr := runMain(t, "completion", sh)
		if code != 0 || stderr != "" {
			t.Fatalf("completion %s: exit %d: %s", sh, code, stderr)
		}
		for _, n := range commandNames() {
			if !strings.Contains(script, n) {
				t.Errorf("%s script lacks command %s", sh, n)
			}
			for _, f := range describe(n) {
				if !strings.Contains(script, mark[sh](f)) {
					t.Errorf("%s script lacks %s's flag %s", sh, n, mark[sh](f))
				}
			}
		}
		t.Run(sh, func(t *testing.T) {
			bin := testenv.MustHaveTool(t, sh, sh)
			file := filepath.Join(t.TempDir(), "turbo-image."+sh)
			if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-n", file).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", sh, err, out)
			}
			var probe string
			switch sh {
			case "bash":
				probe = `source "$1"; complete() { :; }
COMP_WORDS=(turbo-image run --bo); COMP_CWORD=2; _turbo_image; echo "${COMPREPLY[*]}"
COMP_WORDS=(turbo-image run --boot ""); COMP_CWORD=3; _turbo_image; echo "${COMPREPLY[*]}"
COMP_WORDS=(turbo-image he); COMP_CWORD=1; _turbo_image; echo "${COMPREPLY[*]}"`
			case "zsh":
				// Completing needs a terminal (zle); check that compinit
				// registers the function the script defines.
				out, err := exec.Command(bin, "-f", "-c", `autoload -Uz compinit; compinit -u -D; source $1; print -r -- $_comps[turbo-image]; whence -w _turbo-image`, sh, file).CombinedOutput()
				if err != nil || string(out) != "_turbo-image\n_turbo-image: function\n" {
					t.Fatalf("zsh did not register _turbo-image for turbo-image: %v\n%s", err, out)
				}
				return
			case "fish":
				probe = `source $argv[1]; complete -C 'turbo-image run --bo'; complete -C 'turbo-image run --boot '; complete -C 'turbo-image he'`
			default:
				return
			}
			args := []string{"-c", probe, sh, file} // bash: $0 then $1
			if sh == "fish" {
				args = []string{"-c", probe, file} // fish: $argv[1]
			}
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", sh, err, out)
			}
			for _, want := range []string{"--boot", "initramfs", "uefi", "help"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("%s completion offered no %q:\n%s", sh, want, out)
				}
			}
		})
	}
}

// parseVersion reads `turbo-image version` output: the first line
// "turbo-image VERSION", then "key: value" lines.
func parseVersion(t *testing.T, out string) (string, map[string]string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	if !sc.Scan() {
		t.Fatalf("empty version output")
	}
	v, ok := strings.CutPrefix(sc.Text(), "turbo-image ")
	if !ok || v == "" || strings.Contains(v, " ") {
		t.Fatalf("first line %q is not \"turbo-image VERSION\"", sc.Text())
	}
	kv := map[string]string{}
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok || val == "" || kv[k] != "" {
			t.Fatalf("line %q is not a new \"key: value\"", sc.Text())
		}
		kv[k] = val
	}
	return v, kv
}

func TestVersion(t *testing.T) {
	code, out, _ := runMain(t, "version")
	if code2, out2, _ := runMain(t, "--version"); code != 0 || code2 != 0 || out != out2 {
		t.Fatalf("version: exit %d, --version: exit %d, outputs differ: %q %q", code, code2, out, out2)
	}
	v, kv := parseVersion(t, out)
	if v != Version() || kv["module"] != "github.com/turbo-image/turbo-image" || !strings.HasPrefix(kv["go"], "go1.") {
		t.Fatalf("version %q, fields %v", v, kv)
	}

	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/turbo-image/turbo-image", Version: "v1.2.3-0.20261130141648-574c331fa712+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "574c331fa7124baeb62de7b6d83f7b28abb4c7bf"},
			{Key: "vcs.time", Value: "2026-11-30T14:16:48Z"}, {Key: "vcs.modified", Value: "true"}}}
	var b bytes.Buffer
	versionFromBuildInfo(bi, true).write(&b)
	v, kv = parseVersion(t, b.String())
	if v != bi.Main.Version || kv["revision"] != "574c331fa7124baeb62de7b6d83f7b28abb4c7bf" || kv["modified"] != "true" ||
		kv["time"] != "2026-11-30T14:16:48Z" || !strings.HasPrefix(kv["go"], "go1.26.8 ") {
		t.Fatalf("from build info: %q %v", v, kv)
	}
	b.Reset()
	versionFromBuildInfo(nil, false).write(&b)
	if v, kv = parseVersion(t, b.String()); v != "(devel)" || kv["revision"] != "" {
		t.Fatalf("without build info: %q %v", v, kv)
	}
}

// TestCLIDoc fails when docs/cli.md differs from what the command
// definitions generate; `go generate ./internal/host/cli` (this test with
// -update) rewrites it.
func TestCLIDoc(t *testing.T) {
	var b bytes.Buffer
	writeCLIDoc(&b)
	path := filepath.Join("..", "..", "..", "docs", "cli.md")
	if *updateGolden {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run %s", err, docCommand)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("docs/cli.md is out of date with the command definitions; run: %s", docCommand)
	}
	for _, n := range commandNames() {
		if !bytes.Contains(got, []byte("\n## turbo-image "+n+"\n")) {
			t.Errorf("docs/cli.md has no section for %s", n)
		}
	}
}
