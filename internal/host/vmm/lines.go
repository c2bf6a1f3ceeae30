package vmm

import "bytes"

// MaxLineBytes is the longest console line handed to a line callback in one
// piece; longer lines are delivered in MaxLineBytes chunks.
const MaxLineBytes = 64 << 10

// lineSplitter cuts a byte stream into lines for a callback. A line ends at
// '\n'; one trailing '\r' is removed (serial consoles end lines with
// "\r\n"). How the stream is cut into writes does not change the lines. It
// is not safe for concurrent use.
type lineSplitter struct {
	onLine func(string)
	buf    []byte
}

// write feeds p and calls onLine for every line it completes.
func (l *lineSplitter) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.buf = append(l.buf, p...)
			l.spill(false)
			return
		}
		l.buf = append(l.buf, p[:i]...)
		p = p[i+1:]
		l.endLine()
	}
}

// flush delivers a final unterminated line, if any.
func (l *lineSplitter) flush() {
	if len(l.buf) > 0 {
		l.endLine()
	}
}

// endLine delivers the buffered line without its trailing '\r'.
func (l *lineSplitter) endLine() {
	if n := len(l.buf); n > 0 && l.buf[n-1] == '\r' {
		l.buf = l.buf[:n-1]
	}
	l.spill(true)
	l.emit(l.buf)
	l.buf = l.buf[:0]
}

// spill delivers MaxLineBytes pieces while more than that is buffered. In
// the middle of a line it keeps a '\r' that may turn out to be the line end.
func (l *lineSplitter) spill(lineEnded bool) {
	for len(l.buf) > MaxLineBytes {
		if !lineEnded && len(l.buf) == MaxLineBytes+1 && l.buf[MaxLineBytes] == '\r' {
			return
		}
		l.emit(l.buf[:MaxLineBytes])
		l.buf = append(l.buf[:0], l.buf[MaxLineBytes:]...)
	}
}

func (l *lineSplitter) emit(b []byte) {
	if l.onLine != nil {
		l.onLine(string(b))
	}
}
