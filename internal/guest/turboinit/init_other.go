//go:build !linux

package turboinit

import (
	"fmt"
	"os"
	"runtime"
)

// Main is the init's entry point. The init only runs on Linux as PID 1; on
// other systems build it with GOOS=linux (the builder does).
func Main() {
	fmt.Fprintf(os.Stderr, "turbo-init runs only on Linux as PID 1, not on %s; build it with GOOS=linux\n", runtime.GOOS)
	os.Exit(1)
}
