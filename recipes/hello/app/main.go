// Command hello is turbo-image's example appserver: a small static HTTP
// server that answers with the appliance's name and version, has a health
// endpoint, and keeps a boot counter on the data partition when there is
// one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	dataDir := flag.String("data", "/data", "directory for persistent state (skipped when absent)")
	flag.Parse()
	log.SetFlags(0)

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
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-stop
		log.Printf("got %v, shutting down", s)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	log.Printf("%s %s listening on %s", name, version, *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Printf("stopped")
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
	log.Printf("boot %d recorded in %s", n, p)
	return strconv.Itoa(n)
}

// isMountPoint reports whether dir is a directory on another file system
// than its parent: the data partition, not a plain directory of the root.
func isMountPoint(dir string) bool {
	var st, parent syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Mode&syscall.S_IFMT == syscall.S_IFDIR && st.Dev != parent.Dev
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
