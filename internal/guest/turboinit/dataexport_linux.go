//go:build linux && turbo_agent

package turboinit

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turbo-image/turbo-image/internal/shared/datatree"
)

// Live export of /data (docs/data.md, "Live export"). The header and
// trailer names are the contract with internal/host/data.ExportLive.
const (
	hdrDataName    = "Turbo-Data-Name"
	hdrDataVersion = "Turbo-Data-Version"
	hdrDataBuild   = "Turbo-Data-Build"
	// Trailers, sent after the tar: the error that cut the stream ("" when
	// whole), the members sent, how long the app was paused and how.
	trlDataError   = "Turbo-Data-Error"
	trlDataMembers = "Turbo-Data-Members"
	trlDataPaused  = "Turbo-Data-Paused-Us"
	trlDataHow     = "Turbo-Data-Pause"
)

// FIFREEZE and FITHAW of include/uapi/linux/fs.h: _IOWR('X', 119, int)
// and _IOWR('X', 120, int) (golang.org/x/sys/unix does not name them).
const (
	fiFreeze = 0xC0045877
	fiThaw   = 0xC0045878
)

// quiesceTimeout bounds data.quiesce and data.resume.
const quiesceTimeout = 60 * time.Second

// clientStall bounds how long the agent waits on a client that stopped
// moving bytes, both ways: each write of a data export (the app stays
// paused while the copy runs) and each read of a flash stream (the agent
// takes one flash at a time, with the inactive slot half-written). A
// client that stops (hung, or a network that went away without a reset)
// would otherwise hold the agent until TCP gives up, which can take
// hours, or for ever for a live peer that just sends nothing. A read or
// write that cannot move a byte for this long ends the request; a slow
// but moving client is never cut.
const clientStall = 20 * time.Second

// exportData streams /data as a plain pax tar (datatree.Write; the host
// adds the global header and zstd) while the app is paused: the recipe's
// data.quiesce program, else every running service frozen (its cgroup's
// cgroup.freeze when it has one, else SIGSTOP to its process group), then
// sync and FIFREEZE of /data for the copy; FITHAW and data.resume (or the
// thaw) after it, whatever happened. Nothing is written to /data.
func (ag *agent) exportData(w http.ResponseWriter, r *http.Request) {
	if !ag.busy.TryLock() {
		reply(w, http.StatusConflict, agentReply{Error: "a flash or another export is in progress"})
		return
	}
	in := ag.in
	start := time.Now()
	resume, how, err := in.pauseApp(r.Context())
	if err != nil {
		ag.busy.Unlock() // free before the line and the answer, as for a refused flash
		in.con.Logf("data export refused: %v", err)
		reply(w, http.StatusServiceUnavailable, agentReply{Error: err.Error()})
		return
	}
	// free releases the agent; it runs before the console line that ends
	// the export, so whoever reads that line (a person, a test) can start
	// the next export or flash at once. A client that retried the moment
	// it saw "cut short" was refused with 409 while the handler was still
	// between its line and its return.
	free := sync.OnceFunc(ag.busy.Unlock)
	defer free()
	thawFS := func() error { return nil }
	unix.Sync()
	if fd, err := unix.Open("/data", unix.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
		how += "; /data not frozen: " + err.Error()
	} else if err := unix.IoctlSetInt(fd, fiFreeze, 0); err != nil {
		unix.Close(fd)
		how += "; /data not frozen (FIFREEZE: " + err.Error() + ")"
	} else {
		how += "; /data frozen (FIFREEZE)"
		thawFS = func() error {
			defer unix.Close(fd)
			return unix.IoctlSetInt(fd, fiThaw, 0)
		}
	}
	done := false
	finish := func() time.Duration {
		if done {
			return 0
		}
		done = true
		if err := thawFS(); err != nil {
			in.con.Logf("data export: FITHAW /data: %v", err)
		}
		resume()
		return time.Since(start)
	}
	defer finish()

	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Trailer", strings.Join([]string{trlDataError, trlDataMembers, trlDataPaused, trlDataHow}, ", "))
	h.Set(hdrDataName, in.cfg.Name)
	h.Set(hdrDataVersion, in.cfg.Version)
	h.Set(hdrDataBuild, in.build)
	w.WriteHeader(http.StatusOK)
	cw := &countingWriter{w: w, rc: http.NewResponseController(w)}
	tw := tar.NewWriter(cw)
	st, err := datatree.Write(r.Context(), tw, "/data", datatree.Options{})
	if err == nil {
		err = tw.Close()
	}
	paused := finish()
	members := st.Files + st.Dirs + st.Links + st.Symlinks + st.Special
	if err != nil {
		h.Set(trlDataError, headerSafe(err.Error()))
	}
	h.Set(trlDataMembers, strconv.Itoa(members))
	h.Set(trlDataPaused, strconv.FormatInt(paused.Microseconds(), 10))
	h.Set(trlDataHow, headerSafe(how))
	free()
	if err != nil {
		in.con.Logf("data export cut short after %d bytes: %v", cw.n, err)
	} else {
		in.con.Logf("data export: %d members, %d bytes of file data; app paused %d ms (%s)", members, st.Bytes, paused.Milliseconds(), how)
	}
}

// headerSafe makes s a valid header value: a file name in an error may
// hold control characters.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// countingWriter counts the bytes sent and gives every write clientStall
// to reach the client (a write deadline per write, so a slow but moving
// client is never cut, only a stalled one).
type countingWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	n  int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if err := c.rc.SetWriteDeadline(time.Now().Add(clientStall)); err != nil {
		return 0, fmt.Errorf("set a write deadline: %w", err)
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("the client took no data for %v: %w", clientStall, err)
	}
	return n, err
}

// stallReader is countingWriter's twin for a request body (the flash
// stream): every read gets clientStall to bring a byte. At the body's end
// the deadline is cleared: the server's own read that watches for the
// client going away starts then, and must not fire while the handler
// still works (the switch and its syncs) and cancel the request.
type stallReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (s *stallReader) Read(b []byte) (int, error) {
	if err := s.rc.SetReadDeadline(time.Now().Add(clientStall)); err != nil {
		return 0, fmt.Errorf("set a read deadline: %w", err)
	}
	n, err := s.r.Read(b)
	switch {
	case err == io.EOF:
		s.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("the client sent nothing for %v: %w", clientStall, err)
	}
	return n, err
}

// pauseApp quiesces the app for a copy of /data and returns how to
// resume it and what it did. With data.quiesce, that program runs (as
// the user of the service whose program it is, else of the first
// service) and must exit 0; data.resume runs after the copy. Otherwise
// the loop freezes every running service (evDataPause).
func (in *Init) pauseApp(ctx context.Context) (resume func(), how string, err error) {
	if q := in.cfg.Quiesce; len(q) > 0 {
		if err := in.runAs(ctx, q); err != nil {
			if r := in.cfg.Resume; len(r) > 0 {
				in.runAs(context.Background(), r) // undo a half-done quiesce
			}
			return nil, "", fmt.Errorf("data.quiesce %s: %w", q[0], err)
		}
		return func() {
			if r := in.cfg.Resume; len(r) > 0 {
				if err := in.runAs(context.Background(), r); err != nil {
					in.con.Logf("data.resume %s: %v", r[0], err)
				}
			}
		}, "data.quiesce " + strings.Join(q, " "), nil
	}
	res := make(chan string, 1)
	in.events <- evDataPause{pause: true, done: res}
	how = <-res
	return func() {
		done := make(chan string, 1)
		in.events <- evDataPause{pause: false, done: done}
		if s := <-done; s != "" {
			in.con.Logf("data export: resuming the services: %s", s)
		}
	}, how, nil
}

// runAs runs argv (data.quiesce, data.resume) as the user of the service
// whose program it is, else of the first service, with its output on the
// console, and waits for it at most quiesceTimeout.
func (in *Init) runAs(ctx context.Context, argv []string) error {
	ctx, cancel := context.WithTimeout(ctx, quiesceTimeout)
	defer cancel()
	svc := in.cfg.Services[0]
	for _, s := range in.cfg.Services {
		if s.Path == argv[0] {
			svc = s
			break
		}
	}
	attr := &os.ProcAttr{Dir: "/", Files: []*os.File{nil, os.Stderr, os.Stderr}, Env: []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin",
		"TURBO_NAME=" + in.cfg.Name, "TURBO_VERSION=" + in.cfg.Version}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	if svc.UID != 0 || svc.GID != 0 {
		attr.Sys.Credential = &syscall.Credential{Uid: uint32(svc.UID), Gid: uint32(svc.GID), Groups: []uint32{}}
	}
	return in.runWait(ctx, argv, attr, fmt.Sprintf("did not finish in %v", quiesceTimeout))
}
