//go:build linux

package turboinit

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Watchdog ioctls (linux/watchdog.h).
const (
	wdiocSetTimeout = 0xc0045706 // _IOWR('W', 6, int)
	watchdogTimeout = 10         // seconds
	watchdogPing    = 2 * time.Second
)

// armWatchdog opens /dev/watchdog when the machine has one (QEMU's
// i6300esb) and feeds it from a goroutine. If the kernel or the init hangs,
// the feeding stops and the watchdog resets the machine, which costs a
// boot try like any other failed boot.
func (in *Init) armWatchdog() error {
	f, err := os.OpenFile("/dev/watchdog", os.O_WRONLY, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	t := int32(watchdogTimeout)
	unix.Syscall(unix.SYS_IOCTL, f.Fd(), wdiocSetTimeout, uintptr(unsafe.Pointer(&t)))
	in.watchdog = f
	go func() {
		for range time.Tick(watchdogPing) {
			if _, err := f.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	return nil
}

// disarmWatchdog stops the watchdog with the magic close ('V'), so an
// orderly power-off is not turned into a reset.
func (in *Init) disarmWatchdog() {
	if in.watchdog != nil {
		in.watchdog.Write([]byte("V"))
		in.watchdog.Close()
		in.watchdog = nil
	}
}
