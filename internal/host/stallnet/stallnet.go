// Package stallnet gives the host's HTTP clients (network flash, channel
// set and live data export to an appliance; push, pull and promote to a
// registry) a limit on silence instead of a
// limit on time: a request fails once no byte has moved either way for a
// while, however long a slow but moving transfer takes.
//
// net/http has only whole-request limits (Client.Timeout) and a limit on
// the wait for response headers (Transport.ResponseHeaderTimeout); neither
// fits a multi-gigabyte flash over a slow link whose answer comes only
// after the agent has written and checked everything. This package sets
// a deadline on the connection before every read and write and pushes
// both deadlines on whenever either direction moves (net.Conn deadlines
// may be changed while a read is blocked: the Transport's reader waits
// for the answer while its writer still sends the body).
package stallnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// DefaultStall is how long an appliance's agent may stay silent: longer
// than anything it does between two bytes (data.quiesce may take 60 s
// before a live export's first byte; a flash syncs its slot after the
// last one).
const DefaultStall = 2 * time.Minute

// Client returns an HTTP client (proxies from the environment, as
// http.DefaultClient) whose requests fail with an error wrapping
// os.ErrDeadlineExceeded once no byte has moved on their connection for
// stall.
func Client(stall time.Duration) *http.Client {
	return &http.Client{Transport: Transport(stall)}
}

// Transport returns a clone of http.DefaultTransport whose connections
// fail once no byte has moved on them for stall (for a caller that sets
// its own TLS roots, say).
func Transport(stall time.Duration) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &conn{Conn: c, stall: stall}, nil
	}
	return tr
}

// conn is a net.Conn whose reads and writes fail after stall without
// progress in either direction.
type conn struct {
	net.Conn
	stall   time.Duration
	stalled atomic.Bool // a deadline fired: later errors are its fallout
}

func (c *conn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.stall))
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.Conn.SetDeadline(time.Now().Add(c.stall))
	}
	return n, c.explain(err)
}

func (c *conn) Write(b []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
	n, err := c.Conn.Write(b)
	if n > 0 {
		// The answer is not due before the request is sent: a read
		// waiting meanwhile gets the same time again.
		c.Conn.SetDeadline(time.Now().Add(c.stall))
	}
	return n, c.explain(err)
}

// explain names the stall in the error of the read or write that hit the
// deadline, and in the errors that follow from it: when the Transport's
// reader hits the deadline first it closes the connection, and the writer
// still blocked in its write gets "use of closed network connection",
// which the Transport may report instead.
func (c *conn) explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.stalled.Store(true)
		return fmt.Errorf("%v: no byte moved either way for %v: %w", c.RemoteAddr(), c.stall, err)
	case c.stalled.Load():
		return fmt.Errorf("%v: no byte moved either way for %v (%w): %w", c.RemoteAddr(), c.stall, os.ErrDeadlineExceeded, err)
	}
	return err
}
