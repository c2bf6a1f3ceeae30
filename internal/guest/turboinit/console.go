package turboinit

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Console serialises whole lines onto the serial console so that output of
// concurrent services never interleaves inside a line.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsole returns a Console writing to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Line writes one line (a trailing newline is added).
func (c *Console) Line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, s+"\n")
}

// Logf writes a line prefixed with "turbo-init: ".
func (c *Console) Logf(format string, a ...any) {
	c.Line("turbo-init: " + fmt.Sprintf(format, a...))
}

// CopyLines copies r to the console line by line, each prefixed with
// "prefix: ". Very long lines are split at 4 KiB. It returns when r ends.
func (c *Console) CopyLines(prefix string, r io.Reader) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			c.Line(prefix + ": " + strings.TrimRight(string(line), "\r\n"))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
