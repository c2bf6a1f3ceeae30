package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// The progress renderer of long work (kernel build, Go builds, disk
// writes, flash, push and pull). Library code reports through callbacks
// (builder.Options.Progress, flash.Options.Progress, ...); the commands
// turn each report into a progress value and hand it to a meter, which
// alone writes to stderr.
//
// It is our own rather than github.com/schollz/progressbar or
// github.com/vbauerster/mpb: both draw for a terminal only (carriage
// returns and cursor movements, which a CI log shows as one endless line
// or as noise), neither prints the plain periodic lines a log needs, and
// neither takes a clock, so their output cannot be tested without
// sleeping. What is needed is small: one line, redrawn in place on a
// terminal; in a log, a line per phase, per 10% and every few seconds.

// progress is one report of long work.
type progress struct {
	// Phase names what is being done ("kernel compile", "flash 2/5:
	// write root of slot b"); a new phase starts a new rate and ETA.
	Phase string
	// Done and Total measure the phase in Unit (Total 0: unknown).
	Done, Total int64
	// Unit is "bytes" (shown as KiB, MiB...), a plural noun ("steps",
	// "services"), or "" when the phase has no amounts.
	Unit string
	// Detail is the item at hand (a compiled file, a service's name);
	// only its first line is shown.
	Detail string
}

// Defaults of a meter.
const (
	// heartbeat is how often a log gets a line while a phase goes on
	// without reaching its next 10%: CI systems kill jobs that print
	// nothing for 10 minutes, and people wonder much sooner.
	heartbeat = 10 * time.Second
	// redraw is the fastest a terminal line is redrawn.
	redraw = 100 * time.Millisecond
	// defaultWidth is the terminal width when it cannot be read.
	defaultWidth = 100
)

// meter renders progress on w: on a terminal one line redrawn in place
// with a bar, amounts, rate and ETA; elsewhere (a CI log, a pipe) plain
// lines "turbo-image: PHASE: AMOUNTS DETAIL" when a phase starts, at each
// 10% of it, and at least every heartbeat while it lasts. It is safe for
// concurrent use; a nil meter (quiet) does nothing.
type meter struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	width int
	now   func() time.Time
	every time.Duration

	cur       progress
	started   bool
	start     time.Time // the phase's start
	startDone int64     // Done when the phase started
	lastLine  time.Time // last line written (not a terminal)
	decile    int64     // last 10% step written (not a terminal)
	drawn     bool      // a terminal line is on screen
	lastDraw  time.Time
	stop      chan struct{}
	stopped   sync.WaitGroup
}

// newMeter returns a meter writing to w, or nil when quiet. Call run to
// get heartbeats (and a moving clock on a terminal) during phases that
// report nothing for a while, and finish at the end.
func newMeter(w io.Writer, quiet bool) *meter {
	if quiet {
		return nil
	}
	return &meter{w: w, tty: isTerminal(w), width: terminalWidth(w), now: time.Now, every: heartbeat}
}

// run starts the ticker that calls tick every second, until finish.
func (m *meter) run() *meter {
	if m == nil || m.stop != nil {
		return m
	}
	m.stop = make(chan struct{})
	m.stopped.Add(1)
	go func() {
		defer m.stopped.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.tick()
			}
		}
	}()
	return m
}

// report takes one progress report.
func (m *meter) report(p progress) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	p.Detail = strings.Join(strings.Fields(firstLine(p.Detail)), " ") // kbuild's "  CC      init/main.o"
	if !m.started || p.Phase != m.cur.Phase {
		m.started, m.cur, m.start, m.startDone, m.decile = true, p, now, p.Done, decile(p)
		m.emit(now, true)
		return
	}
	m.cur = p
	if m.tty {
		m.emit(now, false)
		return
	}
	if d := decile(p); d > m.decile {
		m.decile = d
		m.emit(now, true)
	} else if now.Sub(m.lastLine) >= m.every {
		m.emit(now, true)
	}
}

// tick is the clock: a heartbeat line in a log when the phase printed
// nothing for a while, the elapsed time on a terminal.
func (m *meter) tick() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		return
	}
	now := m.now()
	if m.tty || now.Sub(m.lastLine) >= m.every {
		m.emit(now, true)
	}
}

// finish stops the ticker and clears the terminal line.
func (m *meter) finish() {
	if m == nil {
		return
	}
	if m.stop != nil {
		close(m.stop)
		m.stopped.Wait()
		m.stop = nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tty && m.drawn {
		fmt.Fprint(m.w, "\r\x1b[K")
		m.drawn = false
	}
	m.started = false
}

// decile is the 10% step p has reached (0-10), or -1 without a total.
func decile(p progress) int64 {
	if p.Total <= 0 {
		return -1
	}
	return 10 * min(p.Done, p.Total) / p.Total
}

// emit writes the current state: a line in a log, a redraw on a terminal
// (throttled unless force).
func (m *meter) emit(now time.Time, force bool) {
	if !m.tty {
		fmt.Fprintf(m.w, "turbo-image: %s\n", m.line(now, false))
		m.lastLine = now
		return
	}
	if !force && m.drawn && now.Sub(m.lastDraw) < redraw {
		return
	}
	fmt.Fprintf(m.w, "\r\x1b[K%s", m.line(now, true))
	m.drawn, m.lastDraw = true, now
}

// line formats the current state: "PHASE: AMOUNTS DETAIL", with a bar on
// a terminal, cut to the terminal's width.
func (m *meter) line(now time.Time, tty bool) string {
	p := m.cur
	elapsed := now.Sub(m.start)
	var b strings.Builder
	b.WriteString(terminalSafe(p.Phase))
	var parts []string
	if p.Total > 0 {
		pct := 100 * min(p.Done, p.Total) / p.Total
		if tty {
			parts = append(parts, bar(pct, 20)+fmt.Sprintf(" %3d%%", pct))
			parts = append(parts, amount(p.Done, p.Total, p.Unit))
		} else {
			parts = append(parts, fmt.Sprintf("%s (%d%%)", amount(p.Done, p.Total, p.Unit), pct))
		}
	} else if p.Unit != "" && p.Done > 0 {
		parts = append(parts, amount(p.Done, 0, p.Unit))
	}
	rate := 0.0
	if secs := elapsed.Seconds(); secs >= 1 && p.Done > m.startDone {
		rate = float64(p.Done-m.startDone) / secs
	}
	if rate > 0 && p.Unit != "" {
		parts = append(parts, rateText(rate, p.Unit))
		if p.Total > p.Done {
			eta := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
			parts = append(parts, "ETA "+shortDuration(eta))
		}
	}
	if elapsed >= time.Second {
		parts = append(parts, shortDuration(elapsed)+" elapsed")
	}
	if len(parts) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(parts, ", "))
	}
	if p.Detail != "" {
		b.WriteString("  ")
		b.WriteString(terminalSafe(p.Detail))
	}
	s := b.String()
	limit := 160
	if tty {
		limit = m.width - 1
	}
	return cut(s, limit)
}

// amount shows done (of total) in unit.
func amount(done, total int64, unit string) string {
	if unit == "bytes" {
		if total > 0 {
			return bytesize.Format(done) + " of " + bytesize.Format(total)
		}
		return bytesize.Format(done)
	}
	if total > 0 {
		return fmt.Sprintf("%d/%d %s", done, total, unit)
	}
	return fmt.Sprintf("%d %s", done, unit)
}

func rateText(perSec float64, unit string) string {
	if unit == "bytes" {
		return bytesize.Format(int64(perSec)) + "/s"
	}
	return fmt.Sprintf("%.1f %s/s", perSec, unit)
}

// bar draws pct (0-100) in width cells: [=====>    ].
func bar(pct int64, width int) string {
	full := int(pct) * width / 100
	s := strings.Repeat("=", full)
	if full < width {
		s += ">" + strings.Repeat(" ", width-full-1)
	}
	return "[" + s + "]"
}

// shortDuration shows d rounded to what a person reads: 45s, 3m05s, 1h02m.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	if n < 1 {
		n = 1
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
