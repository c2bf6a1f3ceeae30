//go:build !amd64

package vmm

import (
	"fmt"
	"runtime"
)

// HostTSCkHz measures the host TSC frequency. The TSC is an x86 counter:
// on this GOARCH it returns an error, and callers boot without
// tsc_early_khz= (leave Spec.TSCkHz 0).
func HostTSCkHz() (int, error) {
	return 0, fmt.Errorf("measure TSC frequency: the TSC is x86-only and this is %s; leave TSCkHz unset", runtime.GOARCH)
}
