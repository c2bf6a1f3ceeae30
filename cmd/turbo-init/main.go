// Command turbo-init is PID 1 inside a turbo-image appliance. The builder
// compiles it for the target and installs it as /init; see package
// turboinit.
package main

import "github.com/turbo-image/turbo-image/internal/guest/turboinit"

func main() { turboinit.Main() }
