// Command app is the benchmark's appliance program: recipes/hello/app's
// behaviour (an HTTP server on :8080 that answers with the appliance's name
// and version, /healthz, a boot counter on /data when it is mounted) plus
// what the benchmark needs to compare boot paths fairly:
//
//   - on the first HTTP request it serves it prints
//     "BENCH_READY uptime_ms=<CLOCK_BOOTTIME in ms>" on stdout and, with
//     -console PATH, into PATH as well (a systemd service gives /dev/console);
//     once it listens, before any request, it prints "BENCH_START
//     uptime_ms=..." the same way (where the boot's time went);
//   - with -net ADDR/PREFIX,GATEWAY it brings up lo and eth0 itself (netlink,
//     no tools) before it listens, for inits that configure no network
//     (u-root's).
//
// It is built static (CGO_ENABLED=0) and uses only the standard library and
// golang.org/x/sys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	dataDir := flag.String("data", "/data", "directory for persistent state (skipped when it is not a mount point)")
	consolePath := flag.String("console", "", "also write the BENCH_READY line to this file (e.g. /dev/console)")
	netSpec := flag.String("net", "", "bring up lo and eth0 with ADDR/PREFIX,GATEWAY (e.g. 10.0.2.15/24,10.0.2.2) before listening")
	iface := flag.String("iface", "eth0", "interface that -net configures")
	flag.Parse()
	log.SetFlags(0)

	if *netSpec != "" {
		addr, prefix, gw, err := parseNet(*netSpec)
		if err != nil {
			log.Fatalf("-net: %v", err)
		}
		if err := setupNetwork(*iface, addr, prefix, gw, 10*time.Second); err != nil {
			log.Fatalf("network: %v", err)
		}
	}

	name, version := os.Getenv("TURBO_NAME"), os.Getenv("TURBO_VERSION")
	if name == "" {
		name = "hello"
	}
	boots := countBoot(*dataDir)

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s %s (slot %s, boots %s)\n", name, version, orDash(os.Getenv("TURBO_SLOT")), boots)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: *listen, Handler: firstRequest(mux, *consolePath), ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-stop
		log.Printf("got %v, shutting down", s)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%s %s listening on %s", name, version, *listen)
	mark("BENCH_START", *consolePath)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Printf("stopped")
}

// firstRequest wraps h so that the first request prints the BENCH_READY
// line before it is served.
func firstRequest(h http.Handler, consolePath string) http.Handler {
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { mark("BENCH_READY", consolePath) })
		h.ServeHTTP(w, r)
	})
}

// mark prints "<what> uptime_ms=<CLOCK_BOOTTIME ms>" on stdout and, if
// consolePath is set, into that file.
func mark(what, consolePath string) {
	line := what + " uptime_ms=" + strconv.FormatInt(uptimeMS(), 10) + "\n"
	os.Stdout.WriteString(line)
	if consolePath != "" {
		if f, err := os.OpenFile(consolePath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			f.WriteString(line)
			f.Close()
		} else {
			log.Printf("console: %v", err)
		}
	}
}

// parseNet splits "ADDR/PREFIX,GATEWAY" into an IPv4 address with its
// prefix length and a gateway.
func parseNet(s string) (addr [4]byte, prefix int, gw [4]byte, err error) {
	cidr, gws, ok := strings.Cut(s, ",")
	if !ok {
		return addr, 0, gw, fmt.Errorf("%q: want ADDR/PREFIX,GATEWAY", s)
	}
	a, p, ok := strings.Cut(cidr, "/")
	if !ok {
		return addr, 0, gw, fmt.Errorf("%q: address needs a /PREFIX", s)
	}
	if addr, err = parseIPv4(a); err != nil {
		return addr, 0, gw, err
	}
	prefix, err = strconv.Atoi(p)
	if err != nil || prefix < 0 || prefix > 32 {
		return addr, 0, gw, fmt.Errorf("prefix %q: want 0-32", p)
	}
	gw, err = parseIPv4(gws)
	return addr, prefix, gw, err
}

func parseIPv4(s string) ([4]byte, error) {
	var b [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return b, fmt.Errorf("%q is not an IPv4 address", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return b, fmt.Errorf("%q is not an IPv4 address", s)
		}
		b[i] = byte(n)
	}
	return b, nil
}

// countBoot increments dataDir/hello/boots and returns the new count, or
// "-" when there is no writable data directory.
func countBoot(dataDir string) string {
	if !isMountPoint(dataDir) {
		return "-"
	}
	dir := filepath.Join(dataDir, "hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Printf("data: %v", err)
		return "-"
	}
	p := filepath.Join(dir, "boots")
	n := 0
	if b, err := os.ReadFile(p); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	tmp := p + ".tmp"
	if err := writeSync(tmp, []byte(strconv.Itoa(n)+"\n")); err != nil {
		log.Printf("data: %v", err)
		return "-"
	}
	if err := os.Rename(tmp, p); err != nil {
		log.Printf("data: %v", err)
		return "-"
	}
	return strconv.Itoa(n)
}

// isMountPoint reports whether dir is a directory on another file system
// than its parent.
func isMountPoint(dir string) bool {
	a, err1 := os.Stat(dir)
	b, err2 := os.Stat(filepath.Dir(dir))
	if err1 != nil || err2 != nil || !a.IsDir() {
		return false
	}
	return deviceOf(a) != deviceOf(b)
}

func writeSync(p string, b []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
