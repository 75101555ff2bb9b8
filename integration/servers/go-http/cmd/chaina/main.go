// Command chaina is service A of the concurrent trace-linking test, in Go: for
// GET /work/{id} it calls GET /b/{id} on -downstream with the default
// http.Client (keep-alive pool), propagating NO trace context, and answers 200.
// It prints "listening on <addr>" once the listener is bound.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	downstream := flag.String("downstream", "", "host:port of service B")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Path, "/work/")
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		resp, err := http.Get("http://" + *downstream + "/b/" + id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, fmt.Sprintf("downstream: %v %d", err, resp.StatusCode), http.StatusBadGateway)
			return
		}
		_, _ = w.Write(body)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: http.HandlerFunc(handler), ErrorLog: log.New(io.Discard, "", 0)}
	log.Fatal(srv.Serve(ln))
}
