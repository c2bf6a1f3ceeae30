package builder

import (
	"testing"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// The disk writer and everything that finds partitions by name (the init,
// flash) must agree on the names.
func TestPartitionNamesAgree(t *testing.T) {
	for _, c := range [][2]string{
		{slots.ESPPartition, diskimage.PartESP},
		{slots.PartitionName("a"), diskimage.PartA},
		{slots.PartitionName("b"), diskimage.PartB},
		{slots.DataPartition, diskimage.PartData},
	} {
		if c[0] != c[1] {
			t.Errorf("slots says %q, diskimage writes %q", c[0], c[1])
		}
	}
}
