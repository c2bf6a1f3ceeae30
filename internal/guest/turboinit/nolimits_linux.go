//go:build linux && !turbo_limits

package turboinit

import (
	"errors"
	"fmt"
	"os"
)

// svcLimits is empty without the turbo_limits tag: no service has limits.
type svcLimits struct{}

var errNoLimits = errors.New("this init was built without resource limits (build tag turbo_limits); the builder adds it for recipes with limits")

func (in *Init) setupLimits() error {
	for _, s := range in.cfg.Services {
		if s.Limits != nil {
			return errNoLimits
		}
	}
	return nil
}

func (in *Init) limitStart(i int, attr *os.ProcAttr, argv []string) (string, []string, error) {
	if in.cfg.Services[i].Limits != nil {
		return "", nil, errNoLimits
	}
	return argv[0], argv, nil
}

func (in *Init) limitExited(i int, how string) string { return how }

func runShim(args []string) {
	fmt.Fprintln(os.Stderr, "turbo-init:", errNoLimits)
	os.Exit(127)
}

// freezeCgroup: without limits no service has a cgroup of its own to
// freeze (the data export stops it with SIGSTOP instead).
func (in *Init) freezeCgroup(i int, freeze bool) (bool, error) { return false, nil }
