package cli

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func testMeter(b *strings.Builder, tty bool, c *fakeClock) *meter {
	return &meter{w: b, tty: tty, width: 80, now: c.now, every: heartbeat}
}

// In a log, a compile of 1000 steps reported step by step, one step per
// 100 ms, prints its start and a line at each 10%, no more: the step
// reports in between print nothing.
func TestMeterLogTenPercentSteps(t *testing.T) {
	var b strings.Builder
	c := newFakeClock()
	m := testMeter(&b, false, c)
	for i := 0; i <= 1000; i++ {
		m.report(progress{Phase: "kernel compile", Done: int64(i), Total: 1000, Unit: "steps", Detail: "  CC      init/main.o"})
		c.add(5 * time.Millisecond)
	}
	m.finish()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want the start and one per 10%%:\n%s", len(lines), b.String())
	}
	if want := "turbo-image: kernel compile: 0/1000 steps (0%)  CC init/main.o"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	for i, l := range lines[1:] {
		if want := "(" + strconv.Itoa((i+1)*10) + "%)"; !strings.Contains(l, want) {
			t.Errorf("line %d %q lacks %s", i+1, l, want)
		}
	}
	// 500 steps in 2.5 s: 200 steps/s, 500 left: ETA 3s (2.5 s, rounded).
	if want := "turbo-image: kernel compile: 500/1000 steps (50%), 200.0 steps/s, ETA 3s, 3s elapsed  CC init/main.o"; lines[5] != want {
		t.Errorf("50%% line %q, want %q", lines[5], want)
	}
}

// A phase that reports nothing for a while still gets a line every
// heartbeat in a log, from the ticker; a new phase prints at once.
func TestMeterLogHeartbeat(t *testing.T) {
	var b strings.Builder
	c := newFakeClock()
	m := testMeter(&b, false, c)
	m.report(progress{Phase: "services", Done: 0, Total: 2, Unit: "services", Detail: "hello"})
	for i := 0; i < 25; i++ { // 25 s of go build, ticking every second
		c.add(time.Second)
		m.tick()
	}
	m.report(progress{Phase: "kernel", Detail: "cached"})
	m.finish()
	want := "turbo-image: services: 0/2 services (0%)  hello\n" +
		"turbo-image: services: 0/2 services (0%), 10s elapsed  hello\n" +
		"turbo-image: services: 0/2 services (0%), 20s elapsed  hello\n" +
		"turbo-image: kernel  cached\n"
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// Bytes show in binary units with a rate; an unknown total shows what
// was done so far.
func TestMeterLogBytes(t *testing.T) {
	var b strings.Builder
	c := newFakeClock()
	m := testMeter(&b, false, c)
	m.report(progress{Phase: "flash 2/5: write root of slot b", Done: 0, Total: 64 << 20, Unit: "bytes"})
	c.add(2 * time.Second)
	m.report(progress{Phase: "flash 2/5: write root of slot b", Done: 32 << 20, Total: 64 << 20, Unit: "bytes"})
	m.report(progress{Phase: "push", Done: 3 << 20, Unit: "bytes"})
	m.finish()
	want := "turbo-image: flash 2/5: write root of slot b: 0 B of 64.0 MiB (0%)\n" +
		"turbo-image: flash 2/5: write root of slot b: 32.0 MiB of 64.0 MiB (50%), 16.0 MiB/s, ETA 2s, 2s elapsed\n" +
		"turbo-image: push: 3.0 MiB\n"
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// On a terminal the line is redrawn in place, at most every 100 ms,
// with a bar; finish clears it. Control characters in details are shown
// escaped, never sent to the terminal.
func TestMeterTerminal(t *testing.T) {
	var b strings.Builder
	c := newFakeClock()
	m := testMeter(&b, true, c)
	m.width = 200
	m.report(progress{Phase: "pull", Done: 0, Total: 100, Unit: "steps"})
	c.add(10 * time.Millisecond)
	m.report(progress{Phase: "pull", Done: 1, Total: 100, Unit: "steps"}) // throttled
	c.add(2 * time.Second)
	m.report(progress{Phase: "pull", Done: 50, Total: 100, Unit: "steps", Detail: "evil\x1b]0;title\x07"})
	m.finish()
	want := "\r\x1b[Kpull: [>                   ]   0%, 0/100 steps" +
		"\r\x1b[Kpull: [==========>         ]  50%, 50/100 steps, 24.9 steps/s, ETA 2s, 2s elapsed  evil\\x1b]0;title\\x07" +
		"\r\x1b[K"
	if got := b.String(); got != want {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
}

// A terminal line never wraps: it is cut to the terminal's width.
func TestMeterTerminalWidth(t *testing.T) {
	var b strings.Builder
	m := testMeter(&b, true, newFakeClock())
	m.width = 40
	m.report(progress{Phase: "kernel compile", Done: 5, Total: 10, Unit: "steps", Detail: strings.Repeat("x", 100)})
	if got, want := b.String(), "\r\x1b[K"+"kernel compile: [==========>         ] "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMeterQuiet(t *testing.T) {
	var m *meter = newMeter(nil, true)
	m.run()
	m.report(progress{Phase: "x"})
	m.tick()
	m.finish() // no panic, nothing written anywhere
}
