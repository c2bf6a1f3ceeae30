//go:build !unix

package cli

import "io"

// terminalWidth is defaultWidth where the terminal's size is not read.
func terminalWidth(io.Writer) int { return defaultWidth }
