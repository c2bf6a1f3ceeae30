// Package bytesize is the one home of how the project shows byte counts to
// people. Units are binary (IEC 80000-13: KiB = 1024 B, MiB, GiB), as in
// recipes ("data_size: 64MiB").
package bytesize

import "fmt"

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
