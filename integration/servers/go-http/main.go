// Command gohttp is a plain net/http test server for spanwire's end-to-end
// tests and benchmarks.
//
// Routes:
//
//	GET  /hello          200 "hello\n" (Content-Length)
//	POST /echo           200 echoing the request body (Content-Length)
//	GET  /chunked?n=K    200 chunked body of K bytes, written in 4 flushed pieces
//	GET  /status/{code}  that status (200..599) with a short body; none for 204/304
//	GET  /b/{id}         200 "b {id}\n" (the downstream of the chain-a servers)
//	anything else        404
//
// It prints "listening on <addr>" to stdout once the listener is bound. With
// -log-requests it also writes one JSON line per request to stdout (a single
// write(2) each), as an application log for the log-capture benchmark.
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
)

const maxChunked = 64 << 20

func writeFixed(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func notFound(w http.ResponseWriter) {
	writeFixed(w, http.StatusNotFound, []byte("not found\n"))
}

func chunked(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 0 || n > maxChunked {
		writeFixed(w, http.StatusBadRequest, []byte("bad n\n"))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeFixed(w, http.StatusInternalServerError, []byte("no flusher\n"))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	// Flushing before the handler returns makes net/http use chunked encoding.
	flusher.Flush()
	sent := 0
	for i := 0; i < 4; i++ {
		size := n / 4
		if i == 3 {
			size = n - sent
		}
		if size > 0 {
			_, _ = w.Write(bytes.Repeat([]byte{'a' + byte(i)}, size))
		}
		sent += size
		flusher.Flush()
	}
}

func status(w http.ResponseWriter, codeText string) {
	code, err := strconv.Atoi(codeText)
	if err != nil || code < 200 || code > 599 {
		notFound(w)
		return
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	writeFixed(w, code, []byte(fmt.Sprintf("status %d\n", code)))
}

var logRequests bool

func handler(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if logRequests {
		line := fmt.Sprintf("{\"level\":\"info\",\"msg\":\"request\",\"method\":%q,\"path\":%q}\n", r.Method, path)
		_, _ = os.Stdout.WriteString(line)
	}
	switch {
	case r.Method == http.MethodGet && path == "/hello":
		writeFixed(w, http.StatusOK, []byte("hello\n"))
	case r.Method == http.MethodPost && path == "/echo":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeFixed(w, http.StatusBadRequest, []byte("bad body\n"))
			return
		}
		writeFixed(w, http.StatusOK, body)
	case r.Method == http.MethodGet && path == "/chunked":
		chunked(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/b/"):
		writeFixed(w, http.StatusOK, []byte("b "+strings.TrimPrefix(path, "/b/")+"\n"))
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/status/"):
		status(w, strings.TrimPrefix(path, "/status/"))
	default:
		notFound(w)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.BoolVar(&logRequests, "log-requests", false, "write one JSON log line per request to stdout")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	_ = os.Stdout.Sync()
	srv := &http.Server{
		Handler:        http.HandlerFunc(handler),
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	log.Fatal(srv.Serve(ln))
}
