package cli

import (
	"strings"
	"testing"
)

func TestStatusLineNotATerminal(t *testing.T) {
	var b strings.Builder
	st := newStatusLine(&b)
	st.show("kernel", "[kernel] unpack")
	st.show("kernel", "[kernel] CC init/main.o") // same key: not repeated in a log
	st.show("initramfs", "[initramfs]")
	st.finish()
	if got := b.String(); got != "turbo-image: [kernel] unpack\nturbo-image: [initramfs]\n" {
		t.Fatalf("%q", got)
	}
}

func TestStatusLineTerminal(t *testing.T) {
	var b strings.Builder
	st := &statusLine{w: &b, tty: true}
	st.show("a", "first")
	st.show("a", "throttled")
	st.show("b", strings.Repeat("x", 150))
	st.finish()
	want := "\r\x1b[Kfirst" + "\r\x1b[K" + strings.Repeat("x", 100) + "\r\x1b[K"
	if got := b.String(); got != want {
		t.Fatalf("%q", got)
	}
}
