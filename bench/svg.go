package main

import (
	"fmt"
	"math"
	"strings"
)

// Chart geometry (pixels).
const (
	svgWidth    = 960
	svgLabelW   = 300 // row labels left of the plot
	svgRightPad = 90  // room for the value label of the longest bar
	svgTop      = 92  // title, legend and floor labels
	svgGroupH   = 46  // one row: two bars and a gap
	svgBarH     = 16
	svgBottom   = 44 // axis labels and caption
	colorGuest  = "#2b6cb0"
	colorWall   = "#dd8452"
	colorFloor  = "#2f855a"
)

// logAxis maps values to x positions on a base-10 logarithmic scale
// between two "nice" values (1, 2 or 5 times a power of ten).
type logAxis struct {
	lo, hi      float64
	x0, x1      float64
	ticks       []float64
	logLo, span float64
}

// niceBelow returns the largest 1/2/5×10^k value strictly below v (v > 0).
func niceBelow(v float64) float64 {
	e := math.Floor(math.Log10(v))
	for ; ; e-- {
		for _, m := range []float64{5, 2, 1} {
			if n := m * math.Pow(10, e); n < v*0.999 {
				return n
			}
		}
	}
}

// niceAbove returns the smallest 1/2/5×10^k value at or above v (v > 0).
func niceAbove(v float64) float64 {
	e := math.Floor(math.Log10(v))
	for ; ; e++ {
		for _, m := range []float64{1, 2, 5} {
			if n := m * math.Pow(10, e); n >= v*0.999 {
				return n
			}
		}
	}
}

func newLogAxis(min, max, x0, x1 float64) logAxis {
	if min <= 0 || math.IsNaN(min) || math.IsInf(min, 0) {
		min = 1
	}
	if max < min || math.IsNaN(max) || math.IsInf(max, 0) {
		max = min
	}
	a := logAxis{lo: niceBelow(min), hi: niceAbove(max), x0: x0, x1: x1}
	a.logLo = math.Log10(a.lo)
	a.span = math.Log10(a.hi) - a.logLo
	for e := math.Floor(a.logLo); e <= math.Ceil(math.Log10(a.hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			t := m * math.Pow(10, e)
			if t >= a.lo*0.999 && t <= a.hi*1.001 {
				a.ticks = append(a.ticks, t)
			}
		}
	}
	return a
}

func (a logAxis) x(v float64) float64 {
	if v <= a.lo {
		return a.x0
	}
	return a.x0 + (math.Log10(v)-a.logLo)/a.span*(a.x1-a.x0)
}

// RenderSVG draws the bar chart of latest.svg: per row one bar for the
// guest uptime at ready and one for the host wall time, labelled in ms, on
// a logarithmic axis, with the floor row's two medians as reference lines.
// The output depends only on r.
func RenderSVG(r *Report) string {
	min, max := math.Inf(1), 0.0
	for _, row := range r.Rows {
		if row.Err != "" {
			continue
		}
		for _, s := range []Stats{row.Guest, row.Wall} {
			if s.Valid() && s.Median > 0 {
				min = math.Min(min, s.Median)
				max = math.Max(max, s.Median)
			}
		}
	}
	if max == 0 {
		min, max = 100, 1000
	}
	x0, x1 := float64(svgLabelW), float64(svgWidth-svgRightPad)
	ax := newLogAxis(min, max, x0, x1)
	plotTop := float64(svgTop)
	plotBottom := plotTop + float64(len(r.Rows)*svgGroupH)
	height := int(plotBottom) + svgBottom

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", svgWidth, height, svgWidth, height)
	p(`<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	p(`<text x="12" y="24" font-size="17" font-weight="bold">%s</text>`+"\n",
		xmlText(fmt.Sprintf("Time to ready under QEMU %s: median of %d boots (log scale)", orUnknown(r.Env.Accel), r.Env.Runs)))
	// Legend.
	p(`<rect x="12" y="38" width="14" height="12" fill="%s"/><text x="32" y="49">guest uptime at ready (kernel start → first request served)</text>`+"\n", colorGuest)
	p(`<rect x="470" y="38" width="14" height="12" fill="%s"/><text x="490" y="49">host wall (QEMU start → first HTTP 200)</text>`+"\n", colorWall)

	// Grid and axis labels.
	for _, t := range ax.ticks {
		x := ax.x(t)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e2e2e2" stroke-width="1"/>`+"\n", x, plotTop-6, x, plotBottom)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555555">%s</text>`+"\n", x, plotBottom+16, xmlText(tickLabel(t)))
	}
	p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555555">milliseconds</text>`+"\n", (x0+x1)/2, plotBottom+34)

	// Floor reference lines.
	if f := r.row(RowFloor); f != nil {
		type ref struct {
			s     Stats
			color string
			what  string
			y     float64
		}
		for _, rf := range []ref{{f.Guest, colorFloor, "floor, guest", 66}, {f.Wall, colorWall, "floor, host wall", 82}} {
			if !rf.s.Valid() || rf.s.Median <= 0 {
				continue
			}
			x := ax.x(rf.s.Median)
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="5,4"/>`+"\n", x, rf.y+4, x, plotBottom, rf.color)
			p(`<text x="%.1f" y="%.1f" fill="%s" font-size="12">%s</text>`+"\n", x+4, rf.y, rf.color, xmlText(fmt.Sprintf("%s %.0f ms", rf.what, rf.s.Median)))
		}
	}

	// Rows.
	for i, row := range r.Rows {
		y := plotTop + float64(i*svgGroupH)
		label := rowNumber(row.ID) + ". " + row.Title
		p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLabelW-10, y+svgBarH+4, xmlText(label))
		if row.Machine != "" {
			p(`<text x="%d" y="%.1f" text-anchor="end" fill="#777777" font-size="11">%s</text>`+"\n", svgLabelW-10, y+svgBarH+18, xmlText(row.Machine))
		}
		if row.Err != "" {
			p(`<text x="%.1f" y="%.1f" fill="#c53030">%s</text>`+"\n", x0+6, y+svgBarH+4, xmlText("not measured: "+firstLine(row.Err, 80)))
			continue
		}
		bars := []struct {
			s     Stats
			color string
			dy    float64
		}{{row.Guest, colorGuest, 2}, {row.Wall, colorWall, 2 + svgBarH + 2}}
		for _, bar := range bars {
			by := y + bar.dy
			if !bar.s.Valid() {
				p(`<text x="%.1f" y="%.1f" fill="#777777" font-size="12">n/a</text>`+"\n", x0+4, by+svgBarH-4)
				continue
			}
			xe := ax.x(bar.s.Median)
			w := math.Max(xe-x0, 1)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, by, w, svgBarH, bar.color)
			p(`<text x="%.1f" y="%.1f" font-size="12">%s</text>`+"\n", x0+w+5, by+svgBarH-4, xmlText(fmt.Sprintf("%.0f ms", bar.s.Median)))
		}
	}
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333333" stroke-width="1"/>`+"\n", x0, plotTop-6, x0, plotBottom)
	p("</svg>\n")
	return b.String()
}

// tickLabel formats an axis value in ms: "200", "1k", "20k".
func tickLabel(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gk", v/1000)
	}
	return fmt.Sprintf("%g", v)
}

// xmlText escapes s for XML character data and attribute values.
func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			// Characters XML 1.0 does not allow (its Char production) are
			// dropped.
			if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// firstLine returns s up to its first line break, cut to max runes.
func firstLine(s string, max int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
