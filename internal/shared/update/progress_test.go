package update

import (
	"bytes"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/shared/update/updatetest"
)

// TestApplyProgress: every operation is announced once with Bytes 0, in
// order; partition writes and read-backs then report their bytes,
// growing, up to the payload's size; the switch comes last.
func TestApplyProgress(t *testing.T) {
	gen := generate(t)
	tg := newTarget(t, false)
	s, err := ReadStream(bytes.NewReader(gen[0].data))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := slots.Read(tg)
	cur := Current{State: st, Running: "a", Manifests: map[string]*manifest.Manifest{"a": corpusManifest("1.0.0")},
		PartitionSizes: map[string]int64{"a": 4096, "b": 4096}}
	p, err := PlanFlash(cur, Request{Manifest: s.Manifest, ManifestBytes: s.ManifestBytes})
	if err != nil {
		t.Fatal(err)
	}
	var evs []Progress
	if err := Apply(p, tg, updatetest.MemParts{M: tg}, s, func(e Progress) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	total := len(p.Ops) + 1
	next, partitionBytes := 0, 0
	for k, e := range evs {
		if e.Total != total {
			t.Fatalf("event %d: Total %d, want %d", k, e.Total, total)
		}
		if e.Bytes == 0 {
			if e.Index != next {
				t.Fatalf("event %d announces op %d, want %d", k, e.Index, next)
			}
			next++
			continue
		}
		prev := evs[k-1]
		if e.Index != next-1 || (prev.Index == e.Index && prev.Bytes >= e.Bytes) || e.Bytes > e.Size {
			t.Fatalf("event %d: %d of %d bytes of op %d after %+v", k, e.Bytes, e.Size, e.Index, prev)
		}
		if k+1 == len(evs) || evs[k+1].Index != e.Index {
			if e.Bytes != e.Size {
				t.Errorf("op %v ended at %d of %d bytes", e.Op, e.Bytes, e.Size)
			}
			if e.Op.Kind != WritePartition && e.Op.Kind != VerifyPartition {
				t.Errorf("bytes reported for %v", e.Op)
			}
			partitionBytes++
		}
	}
	if next != total || evs[len(evs)-1].Op.Kind != Rename {
		t.Errorf("announced %d of %d ops; last event %+v", next, total, evs[len(evs)-1])
	}
	if partitionBytes != 2 {
		t.Errorf("%d operations reported bytes, want the root write and its read-back", partitionBytes)
	}
}
