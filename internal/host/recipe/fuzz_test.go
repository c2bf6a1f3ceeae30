package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, and every
// failure must be a *multierror.Error of *Error values, sorted by line, each
// one line of text, with Line >= 1 unless it is a whole-file problem
// (Line 0, no Field). Seeds: the full example, the minimal recipe and every
// bad case of TestBadRecipes and the recipe of every case of the corpus
// (testdata/corpus, see corpus_test.go).
func FuzzParse(f *testing.F) {
	for _, file := range []string{fullFile, "testdata/minimal/recipe.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range badCases {
		f.Add([]byte(tc.yaml))
	}
	seeds, err := filepath.Glob(filepath.Join(corpusDir, "*", "recipe.yaml"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no corpus seeds in %s: %v", corpusDir, err)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(fullFile, data)
		if err == nil {
			if r == nil || r.Name == "" || r.Version == "" || len(r.Services) == 0 || len(r.Outputs) == 0 {
				t.Fatalf("Parse succeeded with an incomplete recipe: %+v", r)
			}
			for _, s := range r.Services {
				if s.Path == "" || (s.Package == "") == (s.Binary == "") {
					t.Fatalf("service not fully decoded: %+v", s)
				}
			}
			return
		}
		if r != nil {
			t.Fatalf("Parse returned a recipe and an error")
		}
		var m *multierror.Error
		if !errors.As(err, &m) || len(m.Errors) == 0 {
			t.Fatalf("error %T is not a non-empty *multierror.Error: %v", err, err)
		}
		last := 0
		for _, e := range m.Errors {
			re, ok := e.(*Error)
			if !ok {
				t.Fatalf("problem %T is not a *Error: %v", e, e)
			}
			if re.File != fullFile || re.Msg == "" {
				t.Fatalf("bad problem: %#v", re)
			}
			if re.Line < 0 || (re.Line == 0 && re.Field != "") {
				t.Fatalf("problem without a line: %#v", re)
			}
			if re.Line < last {
				t.Fatalf("problems out of line order: %v", err)
			}
			last = re.Line
			if strings.ContainsAny(re.Error(), "\n\r") {
				t.Fatalf("problem spans lines: %q", re.Error())
			}
		}
	})
}
