package cli

import (
	"fmt"
	"io"
	"time"
)

// statusLine shows the progress of long work. On a terminal it redraws one
// line in place (at most every 100 ms while the key stays the same); on
// anything else it prints a line whenever the key changes, so logs stay
// short.
type statusLine struct {
	w        io.Writer
	tty      bool
	lastKey  string
	drawn    bool
	lastDraw time.Time
}

func newStatusLine(w io.Writer) *statusLine { return &statusLine{w: w, tty: isTerminal(w)} }

// show reports text under key (a step name, an operation).
func (s *statusLine) show(key, text string) {
	if !s.tty {
		if key != s.lastKey {
			fmt.Fprintf(s.w, "turbo-image: %s\n", text)
			s.lastKey = key
		}
		return
	}
	if s.drawn && key == s.lastKey && time.Since(s.lastDraw) < 100*time.Millisecond {
		return
	}
	if len(text) > 100 {
		text = text[:100]
	}
	fmt.Fprintf(s.w, "\r\x1b[K%s", text)
	s.lastKey, s.lastDraw, s.drawn = key, time.Now(), true
}

// finish clears the terminal line.
func (s *statusLine) finish() {
	if s.tty && s.drawn {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
}
