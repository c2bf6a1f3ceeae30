package vmm

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// The TSC cache file: a host's TSC frequency does not change while it
// runs, so `turbo-image run` measures it once per host boot (about 80 ms,
// more when the host is busy and the two halves must be retried) and
// reads it back on later runs. The file names the boot it was measured
// in (/proc/sys/kernel/random/boot_id, random(4)): after a reboot, or on
// another machine sharing the cache, the boot id differs and the
// frequency is measured again.
const tscCacheHeader = "turbo-image host TSC v1"

// CachedTSCkHz returns the TSC frequency recorded in file for the host
// boot bootID, else measures it with measure and records it (an atomic
// replace; a cache that cannot be written is not an error, the value is
// just measured again next time). A file that does not parse, names
// another boot or holds an implausible value is measured over.
func CachedTSCkHz(file, bootID string, measure func() (int, error)) (khz int, cached bool, err error) {
	if b, err := os.ReadFile(file); err == nil {
		if id, k, ok := parseTSCCache(b); ok && id == bootID && bootID != "" {
			return k, true, nil
		}
	}
	khz, err = measure()
	if err != nil {
		return 0, false, err
	}
	if bootID != "" && validBootID(bootID) {
		_ = atomicfile.WriteFileAll(file, formatTSCCache(bootID, khz), 0o644)
	}
	return khz, false, nil
}

func formatTSCCache(bootID string, khz int) []byte {
	return []byte(fmt.Sprintf("%s\nboot_id %s\nkhz %d\n", tscCacheHeader, bootID, khz))
}

// parseTSCCache reads what formatTSCCache wrote, exactly: anything else
// (another version, extra lines, an implausible frequency) is not a cache.
func parseTSCCache(b []byte) (bootID string, khz int, ok bool) {
	lines := strings.Split(string(b), "\n")
	if len(lines) != 4 || lines[0] != tscCacheHeader || lines[3] != "" {
		return "", 0, false
	}
	id, ok1 := strings.CutPrefix(lines[1], "boot_id ")
	ks, ok2 := strings.CutPrefix(lines[2], "khz ")
	if !ok1 || !ok2 || !validBootID(id) {
		return "", 0, false
	}
	k, err := strconv.Atoi(ks)
	if err != nil || k < 100_000 || k > 20_000_000 || strconv.Itoa(k) != ks {
		return "", 0, false
	}
	return id, k, true
}

// validBootID accepts what the kernel's boot_id holds: a UUID in
// lower-case hex with dashes (36 characters).
func validBootID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return true
}
