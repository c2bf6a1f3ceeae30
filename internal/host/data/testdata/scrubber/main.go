// Command scrubber is the test's data.scrub program: it masks the e-mail
// addresses in /data/app/users.txt, or with -fail exits 1 having changed
// nothing. It checks that it runs as the service user (uid 1000).
package main

import (
	"fmt"
	"os"
	"regexp"
)

func main() {
	if os.Getuid() != 1000 {
		fmt.Fprintf(os.Stderr, "scrubber: running as uid %d, want 1000\n", os.Getuid())
		os.Exit(3)
	}
	if len(os.Args) > 1 && os.Args[1] == "-fail" {
		fmt.Fprintln(os.Stderr, "scrubber: refusing")
		os.Exit(1)
	}
	const p = "/data/app/users.txt"
	b, err := os.ReadFile(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scrubber:", err)
		os.Exit(2)
	}
	b = regexp.MustCompile(`[^ \n]+@[^ \n]+`).ReplaceAll(b, []byte("***"))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "scrubber:", err)
		os.Exit(2)
	}
}
