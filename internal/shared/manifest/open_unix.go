//go:build unix

package manifest

import "syscall"

// openFlags: do not follow a symlink, and do not wait for a writer when
// the file is a named pipe (open(2): O_NOFOLLOW, O_NONBLOCK).
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
