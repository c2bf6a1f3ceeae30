// Command web is the front end of the pair example: every GET / asks the
// store service (another process of the same appliance, on a loopback
// port) to count the visit, and answers with the count. Its /healthz is
// healthy only while the store answers, so the appliance reports ready
// only once the two talk.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	store := flag.String("store", "http://127.0.0.1:9000", "the store service's URL")
	flag.Parse()
	log.SetFlags(0)
	client := &http.Client{Timeout: 2 * time.Second}
	ask := func(method, path string) (string, error) {
		req, err := http.NewRequest(method, *store+path, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("store: %s", resp.Status)
		}
		return strings.TrimSpace(string(b)), err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		n, err := ask("POST", "/count/healthz")
		if err != nil {
			http.Error(w, "store unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if n == "1" {
			log.Printf("store answered on %s", *store)
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		n, err := ask("POST", "/count/visits")
		if err != nil {
			http.Error(w, "store unreachable: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "visit %s\n", n)
	})
	log.Printf("web listening on %s, store at %s", *listen, *store)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
