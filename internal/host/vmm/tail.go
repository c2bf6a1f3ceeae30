package vmm

import (
	"bytes"
	"sync"
)

// Tail keeps the end of a stream for error reports: the last MaxLines
// lines and at most MaxBytes bytes (0: no limit of that kind). It is the
// one console/stderr tail of the host side (run, the bench, QEMU's
// stderr). Safe for concurrent use.
type Tail struct {
	MaxLines, MaxBytes int

	mu sync.Mutex
	b  []byte
}

// Write keeps the end of what was written so far; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	cut := 0
	if t.MaxBytes > 0 && len(t.b) > t.MaxBytes {
		cut = len(t.b) - t.MaxBytes
	}
	if t.MaxLines > 0 {
		// Keep the last MaxLines lines; an unterminated last line counts.
		end := len(t.b)
		if end > 0 && t.b[end-1] == '\n' {
			end--
		}
		for n := 0; end > cut; {
			i := bytes.LastIndexByte(t.b[cut:end], '\n')
			if i < 0 {
				break
			}
			if n++; n == t.MaxLines {
				cut += i + 1
				break
			}
			end = cut + i
		}
	}
	if cut > 0 {
		t.b = append(t.b[:0], t.b[cut:]...)
	}
	return len(p), nil
}

// Line adds one complete line (for RunOptions.OnLine).
func (t *Tail) Line(l string) { t.Write([]byte(l + "\n")) }

// String returns what is kept, without a final line end.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSuffix(t.b, []byte("\n")))
}
