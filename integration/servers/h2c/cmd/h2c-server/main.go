// Command h2c-server is a plain (non-gRPC) HTTP/2 cleartext test server for
// spanwire's end-to-end tests. It speaks h2c with prior knowledge (RFC 9113
// section 3.3), HTTP/1.1 "Upgrade: h2c" (RFC 7540 section 3.2) and plain HTTP/1.1,
// through golang.org/x/net/http2/h2c. That package is deprecated in favour of
// http.Server.Protocols, which does not implement the Upgrade path we want to
// test.
//
// Routes:
//
//	GET  /hello          200 "hello\n"
//	GET  /status/{code}  that status (200..599) with body "status {code}\n"; none for 204/304
//	GET  /bytes/{n}      200 with n bytes (0 <= n <= 16 MiB)
//	GET  /sleep/{ms}     200 "ok\n" after ms milliseconds (at most 60000)
//	POST /echo           200 echoing the request body
//	anything else        404 "not found\n"
//
// It prints "listening on <addr>" to stdout once the listener is bound.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

const (
	maxBytes   = 16 << 20
	maxSleepMs = 60_000
	maxEcho    = 16 << 20
)

func writeFixed(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// param is the integer after prefix in path, if it is within 0..limit.
func param(path, prefix string, limit int) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(path, prefix))
	return n, err == nil && n >= 0 && n <= limit
}

func handler(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	get := r.Method == http.MethodGet
	switch {
	case get && path == "/hello":
		writeFixed(w, http.StatusOK, []byte("hello\n"))
	case get && strings.HasPrefix(path, "/status/"):
		code, ok := param(path, "/status/", 599)
		switch {
		case !ok || code < 200:
			writeFixed(w, http.StatusNotFound, []byte("not found\n"))
		case code == http.StatusNoContent || code == http.StatusNotModified:
			w.WriteHeader(code)
		default:
			writeFixed(w, code, []byte(fmt.Sprintf("status %d\n", code)))
		}
	case get && strings.HasPrefix(path, "/bytes/"):
		n, ok := param(path, "/bytes/", maxBytes)
		if !ok {
			writeFixed(w, http.StatusNotFound, []byte("not found\n"))
			return
		}
		writeFixed(w, http.StatusOK, bytes.Repeat([]byte{'b'}, n))
	case get && strings.HasPrefix(path, "/sleep/"):
		ms, ok := param(path, "/sleep/", maxSleepMs)
		if !ok {
			writeFixed(w, http.StatusNotFound, []byte("not found\n"))
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			writeFixed(w, http.StatusOK, []byte("ok\n"))
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && path == "/echo":
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEcho))
		if err != nil {
			writeFixed(w, http.StatusBadRequest, []byte("bad body\n"))
			return
		}
		writeFixed(w, http.StatusOK, body)
	default:
		writeFixed(w, http.StatusNotFound, []byte("not found\n"))
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	flag.Parse()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{
		Handler:        h2c.NewHandler(http.HandlerFunc(handler), &http2.Server{}),
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	log.Fatal(srv.Serve(ln))
}
