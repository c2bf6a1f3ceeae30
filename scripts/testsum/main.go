// Command testsum runs `go test -json` with the given arguments, prints
// what plain `go test` would (the ok/FAIL line of every package, the output
// of failing tests, build errors), then every skipped and failed test by
// name, and ends with a count of tests:
//
//	812 passed, 0 failed, 20 skipped
//
// It exits with go test's status (1 if go test exited 0 but a test failed).
// `make test` runs it so that a reader of the CI log sees at the end how
// many tests ran and how many were skipped.
//
// The event stream is the one cmd/test2json documents (go doc
// cmd/test2json): one JSON object per line with Action, Package, Test and
// Output; Go 1.24 added build-output and build-fail for build errors.
// gotestsum does the same and more; this is about 200 lines, adds no module
// to go.mod and prints exactly the closing line the Makefile promises.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

func main() {
	start := time.Now()
	args := append([]string{"test", "-json"}, os.Args[1:]...)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	s := newSummary(os.Stdout)
	if err := s.read(stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsum: reading go test output:", err)
	}
	werr := cmd.Wait()
	s.finish(time.Since(start))
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(werr, &exit):
		code = exit.ExitCode()
	case werr != nil:
		fmt.Fprintln(os.Stderr, "testsum:", werr)
		code = 2
	}
	if code == 0 && !s.ok() {
		code = 1
	}
	os.Exit(code)
}

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus
// ImportPath of the build events).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

type key struct{ pkg, test string }

// summary consumes events and prints as it goes.
type summary struct {
	w                       io.Writer
	buf                     map[key][]string // output of tests still running
	passed, failed, skipped int
	failedPkgs              map[string]bool
	failedTests             []string
	skippedTests            []string
	packages                map[string]bool
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, buf: map[key][]string{}, failedPkgs: map[string]bool{}, packages: map[string]bool{}}
}

// read handles every line of r; lines that are not JSON are printed as
// they are.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(s.w, "%s\n", line)
			continue
		}
		s.event(e)
	}
	return sc.Err()
}

// event handles one event.
func (s *summary) event(e event) {
	switch e.Action {
	case "build-output":
		io.WriteString(s.w, e.Output)
		return
	case "build-fail":
		// ImportPath names the variant: "p [p.test]".
		pkg, _, _ := strings.Cut(e.ImportPath, " ")
		s.failedPkgs[pkg] = true
		return
	}
	if e.Package == "" {
		return
	}
	s.packages[e.Package] = true
	if e.Test == "" {
		switch e.Action {
		case "output":
			// -json runs the test binary with -test.v; plain go test
			// shows neither the bare PASS nor the progress lines.
			if o := strings.TrimSpace(e.Output); o != "PASS" && !isProgress(e.Output) {
				io.WriteString(s.w, e.Output)
			}
		case "fail":
			s.failedPkgs[e.Package] = true
		}
		return
	}
	k := key{e.Package, e.Test}
	switch e.Action {
	case "output":
		if !isProgress(e.Output) {
			s.buf[k] = append(s.buf[k], e.Output)
		}
	case "pass":
		s.passed++
		delete(s.buf, k)
	case "fail":
		s.failed++
		s.failedTests = append(s.failedTests, e.Package+" "+e.Test)
		io.WriteString(s.w, strings.Join(s.buf[k], ""))
		delete(s.buf, k)
	case "skip":
		s.skipped++
		reason := ""
		for _, l := range s.buf[k] {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "--- SKIP") {
				reason = l
			}
		}
		s.skippedTests = append(s.skippedTests, fmt.Sprintf("%s %s: %s", e.Package, e.Test, reason))
		delete(s.buf, k)
	}
}

// isProgress reports the lines -test.v adds that plain go test does not
// print.
func isProgress(out string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(out, p) {
			return true
		}
	}
	return false
}

// ok reports whether nothing failed.
func (s *summary) ok() bool { return s.failed == 0 && len(s.failedPkgs) == 0 }

// finish prints the output of tests that never ended (a panic or timeout
// kills the binary mid-test), the lists of failures and skips, and the
// closing count line.
func (s *summary) finish(elapsed time.Duration) {
	var open []key
	for k := range s.buf {
		open = append(open, k)
	}
	sort.Slice(open, func(i, j int) bool {
		return open[i].pkg < open[j].pkg || open[i].pkg == open[j].pkg && open[i].test < open[j].test
	})
	for _, k := range open {
		if s.failedPkgs[k.pkg] {
			fmt.Fprintf(s.w, "--- UNFINISHED: %s %s\n%s", k.pkg, k.test, strings.Join(s.buf[k], ""))
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n=== testsum: %d packages, %d tests (subtests included) in %v\n", len(s.packages), s.passed+s.failed+s.skipped, elapsed.Round(time.Second))
	if len(s.skippedTests) > 0 {
		fmt.Fprintf(&b, "skipped:\n")
		for _, t := range s.skippedTests {
			fmt.Fprintf(&b, "  %s\n", t)
		}
	}
	if len(s.failedTests) > 0 {
		fmt.Fprintf(&b, "failed tests:\n")
		for _, t := range s.failedTests {
			fmt.Fprintf(&b, "  %s\n", t)
		}
	}
	if len(s.failedPkgs) > 0 {
		var pk []string
		for p := range s.failedPkgs {
			pk = append(pk, p)
		}
		sort.Strings(pk)
		fmt.Fprintf(&b, "failed packages: %s\n", strings.Join(pk, " "))
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	s.w.Write(b.Bytes())
}
