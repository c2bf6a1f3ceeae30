// Package zeroruns is the encoding of the hostile disk and FAT corpora
// (testdata/hostile/*.zimg) and of the fuzz inputs that start from them:
// a run of zeros is written as 0x00, lo, hi, standing for (lo | hi<<8) + 1
// zero bytes; every other byte stands for itself. Disk images are mostly
// zeros, so a complete small image is a 1-3 KiB input instead of tens of
// KiB: Go's fuzzer minimizes every input that finds new coverage byte by
// byte, which made raw images spend whole runs minimizing. Any input
// decodes.
package zeroruns

// Encode returns b with its runs of zeros encoded.
func Encode(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		if b[i] != 0 {
			out = append(out, b[i])
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == 0 && n < 1<<16 {
			n++
		}
		out = append(out, 0, byte(n-1), byte((n-1)>>8))
		i += n
	}
	return out
}

// Decode expands in, stopping at max bytes (a fuzz input may claim far
// more zeros than a test wants to allocate). A run cut short at the end of
// in reads its missing length bytes as zero.
func Decode(in []byte, max int) []byte {
	var out []byte
	for i := 0; i < len(in) && len(out) < max; {
		if in[i] != 0 {
			out = append(out, in[i])
			i++
			continue
		}
		var lo, hi byte
		if i+1 < len(in) {
			lo = in[i+1]
		}
		if i+2 < len(in) {
			hi = in[i+2]
		}
		n := min(int(lo)|int(hi)<<8+1, max-len(out))
		out = append(out, make([]byte, n)...)
		i += 3
	}
	return out
}
