package fat32

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// The file allocation table (Microsoft FAT specification, section 4):
// one 32-bit entry per cluster, of which the low 28 bits are used.
const (
	fatMask      = 0x0fffffff
	fatEOC       = 0x0fffffff
	fatEOCMin    = 0x0ffffff8
	fatMaxClus   = 0x0ffffff4 // highest allowed data cluster count
	maxDirSlots  = 65536      // a directory holds at most 65536 entries
	maxClusterSz = 64 << 10
)

func (v *FS) validCluster(c uint32) bool { return c >= 2 && c <= v.clusters+1 }

func (v *FS) get(c uint32) uint32 {
	return binary.LittleEndian.Uint32(v.fat[4*int64(c):]) & fatMask
}

// set changes a FAT entry, keeping its reserved top 4 bits.
func (v *FS) set(c, val uint32) {
	o := 4 * int64(c)
	old := binary.LittleEndian.Uint32(v.fat[o:])
	binary.LittleEndian.PutUint32(v.fat[o:], old&^fatMask|val&fatMask)
	v.dirty[o/v.bps] = struct{}{}
}

func (v *FS) clusterOffset(c uint32) int64 {
	return v.dataStart + int64(c-2)*v.clusterSize
}

// chain returns the cluster chain starting at start. Loops, free or
// reserved entries and out-of-range numbers are errors.
func (v *FS) chain(start uint32) ([]uint32, error) {
	if !v.validCluster(start) {
		return nil, fmt.Errorf("FAT: bad start cluster %d", start)
	}
	var out []uint32
	for c := start; ; {
		out = append(out, c)
		if uint32(len(out)) > v.clusters {
			return nil, fmt.Errorf("FAT: cluster chain from %d loops", start)
		}
		n := v.get(c)
		if n >= fatEOCMin {
			return out, nil
		}
		if !v.validCluster(n) {
			return nil, fmt.Errorf("FAT: cluster chain from %d has bad link %#x at cluster %d", start, n, c)
		}
		c = n
	}
}

// alloc allocates n clusters as one chain (first fit from the next-free
// hint), marking them in the in-memory FAT only.
func (v *FS) alloc(n int64) ([]uint32, error) {
	if n == 0 {
		return nil, nil
	}
	if n > int64(v.free) {
		return nil, fmt.Errorf("ESP full: need %s, %s free", bytesize.CeilMiB(n*v.clusterSize), bytesize.CeilMiB(int64(v.free)*v.clusterSize))
	}
	out := make([]uint32, 0, n)
	c := v.nextFree
	if !v.validCluster(c) {
		c = 2
	}
	for i := uint32(0); i < v.clusters && int64(len(out)) < n; i++ {
		if v.get(c) == 0 {
			out = append(out, c)
		}
		c++
		if c > v.clusters+1 {
			c = 2
		}
	}
	if int64(len(out)) < n {
		return nil, errors.New("ESP full: free cluster count is wrong")
	}
	for i, cl := range out {
		if i+1 < len(out) {
			v.set(cl, out[i+1])
		} else {
			v.set(cl, fatEOC)
		}
	}
	v.free -= uint32(n)
	v.nextFree = c
	v.infoDirty = true
	return out, nil
}

// release marks the clusters free in the in-memory FAT.
func (v *FS) release(chain []uint32) {
	for _, c := range chain {
		v.set(c, 0)
	}
	v.free += uint32(len(chain))
	v.infoDirty = true
}

// flush writes the changed FAT sectors to every FAT copy, then FSInfo.
func (v *FS) flush() error {
	if len(v.dirty) > 0 {
		secs := make([]int64, 0, len(v.dirty))
		for s := range v.dirty {
			secs = append(secs, s)
		}
		sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
		for i := 0; i < len(secs); {
			j := i + 1
			for j < len(secs) && secs[j] == secs[j-1]+1 {
				j++
			}
			buf := v.fat[secs[i]*v.bps : (secs[j-1]+1)*v.bps]
			for k := 0; k < v.nfats; k++ {
				if v.activeFAT >= 0 && k != v.activeFAT {
					continue
				}
				if err := writeFull(v.dev, buf, v.fatOffset+int64(k)*v.fatBytes+secs[i]*v.bps); err != nil {
					return fmt.Errorf("ESP: writing FAT: %w", err)
				}
			}
			i = j
		}
		v.dirty = map[int64]struct{}{}
	}
	if v.infoDirty && v.fsinfoOff >= 0 {
		v.fsinfo.setHints(v.free, v.nextFree)
		if err := writeFull(v.dev, v.fsinfo, v.fsinfoOff); err != nil {
			return fmt.Errorf("ESP: writing FSInfo: %w", err)
		}
	}
	v.infoDirty = false
	return nil
}

// writeClusters writes data over chain, zero-padding the last cluster.
// Runs of consecutive clusters are written with one call.
func (v *FS) writeClusters(chain []uint32, data []byte) error {
	cs := v.clusterSize
	for i := 0; i < len(chain); {
		j := i + 1
		for j < len(chain) && chain[j] == chain[j-1]+1 {
			j++
		}
		lo, hi := int64(i)*cs, int64(j)*cs
		off := v.clusterOffset(chain[i])
		if hi <= int64(len(data)) {
			if err := writeFull(v.dev, data[lo:hi], off); err != nil {
				return fmt.Errorf("ESP: writing data: %w", err)
			}
		} else {
			full := (int64(len(data)) - lo) / cs * cs
			if full > 0 {
				if err := writeFull(v.dev, data[lo:lo+full], off); err != nil {
					return fmt.Errorf("ESP: writing data: %w", err)
				}
			}
			rest := make([]byte, hi-lo-full)
			copy(rest, data[lo+full:])
			if err := writeFull(v.dev, rest, off+full); err != nil {
				return fmt.Errorf("ESP: writing data: %w", err)
			}
		}
		i = j
	}
	return nil
}
