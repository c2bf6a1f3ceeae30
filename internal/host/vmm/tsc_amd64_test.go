package vmm

import (
	"math"
	"testing"
)

func TestTSCRate(t *testing.T) {
	a := tscPoint{tsc: 1_000_000, ns: 0}
	b := tscPoint{tsc: 1_000_000 + 2_596_096*40, ns: 40_000_000}
	if r := tscRate(a, b); math.Abs(r-2_596_096) > 0.5 {
		t.Errorf("tscRate = %f, want 2596096", r)
	}
	if r := tscRate(b, a); r != 0 {
		t.Errorf("tscRate backwards = %f, want 0", r)
	}
}
