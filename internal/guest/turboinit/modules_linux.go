//go:build linux

package turboinit

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ModulesList names kernel modules to load at boot, one absolute path per
// line, in dependency order. turbo-image's own kernels have everything
// built in and no list; it is for generic distribution kernels (the
// benchmarks boot the same initramfs on Debian's kernel this way).
const ModulesList = "/etc/turbo/modules"

func (in *Init) loadModules() error {
	b, err := os.ReadFile(ModulesList)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(string(b), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("load %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
