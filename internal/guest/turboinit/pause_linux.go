package turboinit

import (
	"errors"
	"strings"
	"syscall"
)

// evDataPause asks the loop to freeze (pause) or thaw every running
// service; done hears what was done (pause) or what went wrong (thaw).
type evDataPause struct {
	pause bool
	done  chan<- string
}

// dataPause runs on the loop goroutine, which owns svcPID. While paused,
// health results are not counted (in.paused).
func (in *Init) dataPause(e evDataPause) {
	if e.pause {
		in.paused.Add(1)
		var cg, stopped []string
		in.frozen = in.frozen[:0]
		for i, pid := range in.svcPID {
			if pid <= 0 {
				continue
			}
			name := in.cfg.Services[i].Name
			if ok, err := in.freezeCgroup(i, true); ok && err == nil {
				cg = append(cg, name)
				in.frozen = append(in.frozen, frozenSvc{i, pid, true})
				continue
			} else if err != nil {
				in.con.Logf("data export: cgroup.freeze of %s: %v; stopping it with SIGSTOP", name, err)
			}
			if err := syscall.Kill(-pid, syscall.SIGSTOP); err == nil {
				stopped = append(stopped, name)
				in.frozen = append(in.frozen, frozenSvc{i, pid, false})
			}
		}
		var parts []string
		if len(cg) > 0 {
			parts = append(parts, "froze "+strings.Join(cg, ",")+" (cgroup.freeze)")
		}
		if len(stopped) > 0 {
			parts = append(parts, "stopped "+strings.Join(stopped, ",")+" (SIGSTOP to the process group)")
		}
		if len(parts) == 0 {
			parts = append(parts, "no service was running")
		}
		e.done <- strings.Join(parts, "; ")
		return
	}
	var errs []error
	for _, f := range in.frozen {
		if f.cgroup {
			if _, err := in.freezeCgroup(f.svc, false); err != nil {
				errs = append(errs, err)
			}
		} else if err := syscall.Kill(-f.pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	in.frozen = in.frozen[:0]
	in.paused.Add(1)
	if err := errors.Join(errs...); err != nil {
		e.done <- err.Error()
		return
	}
	e.done <- ""
}

type frozenSvc struct {
	svc, pid int
	cgroup   bool
}
