package main

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// svgTexts parses an SVG document strictly and returns its text content
// and the number of elements per name.
func svgTexts(t *testing.T, doc string) (string, map[string]int) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	var texts strings.Builder
	counts := map[string]int{}
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, doc)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (tk.Name.Local != "svg" || tk.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element is %v, want svg in the SVG namespace", tk.Name)
			}
			depth++
			counts[tk.Name.Local]++
		case xml.EndElement:
			depth--
		case xml.CharData:
			texts.Write(tk)
			texts.WriteByte('\n')
		}
	}
	return texts.String(), counts
}

func TestRenderSVG(t *testing.T) {
	r := goldenReport()
	doc := RenderSVG(r)
	texts, counts := svgTexts(t, doc)
	for _, row := range r.Rows {
		if label := rowNumber(row.ID) + ". " + row.Title; !strings.Contains(texts, label) {
			t.Errorf("SVG lacks row label %q", label)
		}
	}
	for _, want := range []string{"412 ms", "655 ms", "1633 ms", "5266 ms", "floor, guest 288 ms", "floor, host wall 506 ms",
		"not measured: debootstrap is not installed <here> & now", "milliseconds", "log scale"} {
		if !strings.Contains(texts, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
	// Two bars per measured row (6 of 8; the app-as-init floor has only
	// host wall: 1), plus the legend's and the background's rects.
	if got, want := counts["rect"], 6*2+1+2+1; got != want {
		t.Errorf("SVG has %d rects, want %d", got, want)
	}
	if RenderSVG(r) != doc {
		t.Error("RenderSVG is not deterministic")
	}
	golden := filepath.Join("testdata", "chart.golden.svg")
	if *update {
		if err := os.WriteFile(golden, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./bench/ -run SVG -update)", err)
	}
	if doc != string(want) {
		t.Errorf("RenderSVG differs from %s (rerun with -update if the change is intended)", golden)
	}
}

func TestRenderSVGEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		r    *Report
	}{
		{"no rows", &Report{}},
		{"only failures", &Report{Rows: []Row{{ID: RowTurbo, Title: "t", Err: "x\ny"}}}},
		{"one sample, no floor", &Report{Rows: []Row{timeRow(RowTurbo, 1, 1)}}},
		{"hostile titles", &Report{Rows: []Row{{ID: RowDisk, Title: "<b>\"&'\x00\x1b\uFFFE", Guest: Stats{N: 1, Median: 5}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svgTexts(t, RenderSVG(tt.r))
		})
	}
}

func TestLogAxis(t *testing.T) {
	tests := []struct {
		min, max     float64
		lo, hi       float64
		ticksInclude []float64
	}{
		{288, 5266, 200, 10000, []float64{200, 500, 1000, 2000, 5000, 10000}},
		{100, 100, 50, 100, []float64{50, 100}},
		{1.5, 7, 1, 10, []float64{1, 2, 5, 10}},
		{0, 10, 0.5, 10, []float64{1, 10}}, // non-positive minimum is treated as 1
	}
	for _, tt := range tests {
		a := newLogAxis(tt.min, tt.max, 0, 100)
		if math.Abs(a.lo-tt.lo) > 1e-9 || math.Abs(a.hi-tt.hi) > 1e-9 {
			t.Errorf("axis(%v, %v) = [%v, %v], want [%v, %v]", tt.min, tt.max, a.lo, a.hi, tt.lo, tt.hi)
		}
		for _, want := range tt.ticksInclude {
			found := false
			for _, tk := range a.ticks {
				found = found || math.Abs(tk-want) < 1e-9
			}
			if !found {
				t.Errorf("axis(%v, %v) ticks %v lack %v", tt.min, tt.max, a.ticks, want)
			}
		}
		if x := a.x(a.lo); x != 0 {
			t.Errorf("x(lo) = %v, want 0", x)
		}
		if x := a.x(a.hi); math.Abs(x-100) > 1e-9 {
			t.Errorf("x(hi) = %v, want 100", x)
		}
		if tt.max > tt.min && a.x(tt.max) <= a.x(tt.min) {
			t.Errorf("x is not increasing")
		}
	}
}

func TestXMLText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`<a href="x">&'`, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"},
		{"bell\x07 esc\x1b nul\x00 tab\t", "bell esc nul tab\t"},
		{"\uFFFE\uFFFF→", "→"},
	}
	for _, tt := range tests {
		if got := xmlText(tt.in); got != tt.want {
			t.Errorf("xmlText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
