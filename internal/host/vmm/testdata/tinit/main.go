// Command tinit is the /init of the vmm package's boot tests: it prints
// "TINIT uptime=<seconds>" on the console, then powers the VM off, or
// restarts it when an argument after the kernel's "--" is "reboot".
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

func main() {
	uptime := "?"
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		fmt.Println("TINIT mount /proc:", err)
	} else if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			uptime = f[0]
		}
	}
	fmt.Printf("TINIT uptime=%s\n", uptime)
	cmd := syscall.LINUX_REBOOT_CMD_POWER_OFF
	for _, a := range os.Args[1:] {
		if a == "reboot" {
			cmd = syscall.LINUX_REBOOT_CMD_RESTART
		}
	}
	syscall.Sync()
	if err := syscall.Reboot(cmd); err != nil {
		fmt.Println("TINIT reboot:", err)
	}
	select {}
}
