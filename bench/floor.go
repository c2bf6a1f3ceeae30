package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
)

// floorC is the init of row 5, the floor: the least an init can do. It
// prints its CLOCK_BOOTTIME in ms, waits until the UART has sent it, then
// ends QEMU through isa-debug-exit (a byte written to I/O port 0xf4 through
// /dev/port, CONFIG_DEVPORT) and, if that device is absent, powers off.
// It is compiled static with the host's gcc and glibc.
const floorC = `// The floor init of turbo-image's benchmark (bench/floor.go).
#include <fcntl.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	char line[64];
	int n = snprintf(line, sizeof line, "BENCH_FLOOR uptime_ms=%lld\n", ms);
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY);
	if (fd < 0)
		fd = 1;
	if (write(fd, line, n) != n)
		return 1;
	tcdrain(fd);
	int port = open("/dev/port", O_WRONLY);
	if (port < 0 && mknod("/dev/port", S_IFCHR | 0600, makedev(1, 4)) == 0)
		port = open("/dev/port", O_WRONLY);
	if (port >= 0) {
		unsigned char v = 0x10;
		pwrite(port, &v, 1, 0xf4);
	}
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
`

// floorImage compiles the floor init and packs it with /dev/console and
// /dev/port into a zstd initramfs, cached by source and compiler. It
// returns the initramfs and the gcc command.
func (b *bench) floorImage(ctx context.Context) (path string, gccArgs []string, err error) {
	cc, _ := runOutput(ctx, "", nil, nil, "gcc", "--version")
	dir := filepath.Join(b.cache, "floor", keyOf("floor v1", floorC, firstLine(cc, 200)))
	path = filepath.Join(dir, "floor.cpio.zst")
	src := filepath.Join(dir, "init.c")
	bin := filepath.Join(dir, "init")
	gccArgs = []string{"gcc", "-static", "-O2", "-s", "-o", bin, src}
	if _, err := uncompressedSize(path); err == nil {
		return path, gccArgs, nil
	}
	if err := atomicfile.WriteFileAll(src, []byte(floorC), 0o644); err != nil {
		return "", nil, err
	}
	if err := runCmd(ctx, dir, nil, b.verbose(), gccArgs[0], gccArgs[1:]...); err != nil {
		return "", nil, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", nil, err
	}
	recs := []initramfs.Record{
		initramfs.File("init", 0o755, data),
		initramfs.CharDev("dev/console", 0o600, 5, 1),
		initramfs.CharDev("dev/port", 0o600, 1, 4),
	}
	_, err = writeInitramfs(path, recs)
	return path, gccArgs, err
}

// floorNote explains how a floor boot ended.
func floorNote(exits []string) string {
	seen := map[string]bool{}
	var uniq []string
	for _, e := range exits {
		if !seen[e] {
			seen[e] = true
			uniq = append(uniq, e)
		}
	}
	return strings.Join(uniq, "; ")
}
