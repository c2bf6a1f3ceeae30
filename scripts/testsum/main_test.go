package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// sampleModule writes a module whose tests pass, fail, skip and nest, and
// a package that does not build.
func sampleModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module sample\n\ngo 1.24\n",
		"a/a_test.go": `package a

import "testing"

func TestPass(t *testing.T) {}
func TestFail(t *testing.T) { t.Log("detail of the failure"); t.Fatal("boom") }
func TestSkip(t *testing.T) { t.Skip("SKIP: qemu missing") }
func TestSubs(t *testing.T) {
	t.Run("one", func(t *testing.T) {})
	t.Run("two", func(t *testing.T) { t.Skip("SKIP: no kvm") })
}
`,
		"b/b_test.go": "package b\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) { t.Log(\"quiet\") }\n",
		"c/c_test.go": "package c\n\nimport \"testing\"\n\nfunc TestBroken(t *testing.T) { undefined() }\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSummaryOfRealGoTest(t *testing.T) {
	dir := sampleModule(t)
	cmd := exec.Command("go", "test", "-json", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("go test on the sample: %v, want a failing exit", err)
	}
	var w bytes.Buffer
	s := newSummary(&w)
	if err := s.read(bytes.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	s.finish(0)
	got := w.String()
	t.Logf("output:\n%s", got)
	// Pass, Subs, Subs/one, b.OK: 4; Fail: 1; Skip, Subs/two: 2.
	if s.passed != 4 || s.failed != 1 || s.skipped != 2 {
		t.Errorf("counts %d/%d/%d, want 4 passed, 1 failed, 2 skipped", s.passed, s.failed, s.skipped)
	}
	if !strings.HasSuffix(got, "\n4 passed, 1 failed, 2 skipped\n") {
		t.Errorf("output does not end with the count line")
	}
	for _, want := range []string{
		"--- FAIL: TestFail", "detail of the failure", "boom", // the failing test's output
		"FAIL\tsample/a", "ok  \tsample/b", // go test's package lines
		"undefined: undefined", // the build error
		"sample/a TestSkip: a_test.go:7: SKIP: qemu missing",
		"sample/a TestSubs/two: a_test.go:10: SKIP: no kvm",
		"failed tests:\n  sample/a TestFail\n",
		"failed packages: sample/a sample/c",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, unwanted := range []string{"=== RUN", "quiet", "--- PASS", "\nPASS\n"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output has %q, which plain go test does not print", unwanted)
		}
	}
}

// TestExitStatus runs the command itself: it must fail when a test fails.
func TestExitStatus(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "testsum")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dir := sampleModule(t)
	for _, tc := range []struct {
		pkg  string
		code int
		last string
	}{
		{"./b", 0, "1 passed, 0 failed, 0 skipped"},
		{"./a", 1, "3 passed, 1 failed, 2 skipped"},
	} {
		cmd := exec.Command(bin, tc.pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
		out, err := cmd.Output()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if code != tc.code || lines[len(lines)-1] != tc.last {
			t.Errorf("testsum %s: exit %d, last line %q; want %d, %q", tc.pkg, code, lines[len(lines)-1], tc.code, tc.last)
		}
	}
}

var countLine = regexp.MustCompile(`\n\d+ passed, \d+ failed, \d+ skipped\n$`)

// FuzzRead feeds arbitrary streams: no panic, always the count line.
func FuzzRead(f *testing.F) {
	for _, seed := range []string{
		"",
		"not json\n",
		`{"Action":"fail","Package":"p","Test":"T"}` + "\n",
		`{"Action":"output","Package":"p","Test":"T","Output":"x"}` + "\n" + `{"Action":"skip","Package":"p","Test":"T"}`,
		`{"Action":"build-fail","ImportPath":"p [p.test]"}`,
		`{"Action":"output","Package":"p","Output":"PASS\n"}`,
		`{"Action":` + "\n",
		`{"Action":"pass","Package":"","Test":"T"}`,
		strings.Repeat("{", 70000),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w bytes.Buffer
		s := newSummary(&w)
		s.read(bytes.NewReader(data))
		s.finish(0)
		if !countLine.Match(w.Bytes()) {
			t.Fatalf("no count line at the end: %q", w.String())
		}
		if s.failed > 0 && s.ok() {
			t.Fatal("ok with failures")
		}
	})
}
