// Command turbo-image builds tiny, fast-booting Linux appliance images from
// a recipe, boots them in QEMU, and upgrades them A/B. All the work is in
// package cli; this is only the process wrapper.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/turbo-image/turbo-image/internal/host/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
