// Package bytesize is the one home of how the project shows byte counts to
// people. Units are binary (IEC 80000-13: KiB = 1024 B, MiB, GiB), as in
// recipes ("data_size: 64MiB").
package bytesize

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Binary units.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
)

// Format shows n in the largest unit it reaches, with one decimal:
// "1023 B", "1.0 KiB", "5.7 MiB", "3.0 GiB".
func Format(n int64) string {
	switch {
	case n >= GiB:
		return fmt.Sprintf("%.1f GiB", float64(n)/float64(GiB))
	case n >= MiB:
		return fmt.Sprintf("%.1f MiB", float64(n)/float64(MiB))
	case n >= KiB:
		return fmt.Sprintf("%.1f KiB", float64(n)/float64(KiB))
	}
	return fmt.Sprintf("%d B", n)
}

// CeilMiB shows n in MiB with at most one decimal ("64 MiB", "70.2 MiB"),
// rounding up, so that a size something needs is never understated next
// to the MiB sizes of a recipe's disk section.
func CeilMiB(n int64) string {
	if n%MiB == 0 {
		return fmt.Sprintf("%d MiB", n/MiB)
	}
	tenths := (n*10 + MiB - 1) / MiB
	if tenths%10 == 0 {
		return fmt.Sprintf("%d MiB", tenths/10)
	}
	return fmt.Sprintf("%d.%d MiB", tenths/10, tenths%10)
}

// Parse errors.
var (
	// ErrSyntax: not digits with an optional KiB, MiB or GiB suffix.
	ErrSyntax = errors.New("not a size in bytes or with a KiB, MiB or GiB suffix")
	// ErrRange: larger than MaxParse.
	ErrRange = errors.New("size too large")
)

// MaxParse is the largest size Parse accepts (2^62 bytes, so sums of a
// few sizes cannot overflow an int64).
const MaxParse = 1 << 62

var units = map[string]int64{"": 1, "KiB": KiB, "MiB": MiB, "GiB": GiB}

// Parse reads a size as recipes write it: decimal digits, optionally
// followed by KiB, MiB or GiB with no space ("64MiB", "4096"). No sign, no
// fraction, no decimal units (KB is ambiguous between 1000 and 1024). It
// returns ErrSyntax or ErrRange (wrapped) on bad input.
func Parse(s string) (int64, error) {
	digits := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := s[len(digits):]
	mult, ok := units[unit]
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v > MaxParse/mult {
		return 0, fmt.Errorf("%q: %w", s, ErrRange)
	}
	return v * mult, nil
}
