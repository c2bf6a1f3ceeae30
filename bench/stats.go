package main

import (
	"fmt"
	"math"
	"sort"
)

// Stats summarises the samples of one measurement (milliseconds or bytes).
type Stats struct {
	// N is the number of samples; 0 means "not measured".
	N int
	// Median is the middle sample (the mean of the two middle samples for an
	// even N).
	Median float64
	// Min and Max are the extremes.
	Min, Max float64
}

// Summarize returns the median, minimum and maximum of samples. NaN samples
// are an error: they would make the order meaningless.
func Summarize(samples []float64) (Stats, error) {
	if len(samples) == 0 {
		return Stats{}, nil
	}
	s := append([]float64(nil), samples...)
	for _, v := range s {
		if math.IsNaN(v) {
			return Stats{}, fmt.Errorf("summarize: NaN sample in %v", samples)
		}
	}
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stats{N: n, Median: med, Min: s[0], Max: s[n-1]}, nil
}

// Valid reports whether the stats hold at least one sample.
func (s Stats) Valid() bool { return s.N > 0 }

// msCell formats stats in milliseconds for a table cell: "412 (398–460)".
func (s Stats) msCell() string {
	if !s.Valid() {
		return "–"
	}
	if s.N == 1 {
		return fmt.Sprintf("%.0f", s.Median)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Median, s.Min, s.Max)
}
