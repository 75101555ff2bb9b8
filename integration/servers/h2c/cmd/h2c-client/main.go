// Command h2c-client opens ONE cleartext HTTP/2 connection (prior knowledge)
// and runs a plan of requests over it, up to --concurrency at once, printing
// one JSON line per request in plan order.
//
//	h2c-client --target 127.0.0.1:PORT --plan '/hello x3, /status/404, POST /echo body=1000' [--concurrency M]
//
// Plan items are "[METHOD] PATH [xN] [body=BYTES]" (the grammar of
// ../../keepalive_client.py; METHOD defaults to GET). Output fields:
// index, method, path, status, proto, body_bytes, start_unix_nano (before the
// request is handed to the connection), wrote_headers_unix_nano (taken by the
// connection's writer after the HEADERS write returned, so under load it may
// be later than the next field), first_byte_unix_nano (response HEADERS read),
// end_unix_nano (body read to the end), local_port, pid.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type request struct {
	method  string
	path    string
	bodyLen int
}

type result struct {
	Index         int    `json:"index"`
	Method        string `json:"method"`
	Path          string `json:"path"`
	Status        int    `json:"status"`
	Proto         string `json:"proto"`
	BodyBytes     int64  `json:"body_bytes"`
	StartUnixNano int64  `json:"start_unix_nano"`
	WroteHeaders  int64  `json:"wrote_headers_unix_nano"`
	FirstByte     int64  `json:"first_byte_unix_nano"`
	EndUnixNano   int64  `json:"end_unix_nano"`
	LocalPort     int    `json:"local_port"`
	Pid           int    `json:"pid"`
}

func parsePlan(spec string) ([]request, error) {
	var plan []request
	for _, item := range strings.Split(spec, ",") {
		words := strings.Fields(item)
		if len(words) == 0 {
			continue
		}
		req := request{method: http.MethodGet}
		if !strings.HasPrefix(words[0], "/") {
			req.method, words = strings.ToUpper(words[0]), words[1:]
		}
		if len(words) == 0 || !strings.HasPrefix(words[0], "/") {
			return nil, fmt.Errorf("plan item %q has no path starting with '/'", item)
		}
		req.path = words[0]
		repeat := 1
		for _, opt := range words[1:] {
			var err error
			switch {
			case strings.HasPrefix(opt, "x"):
				repeat, err = strconv.Atoi(opt[1:])
				err = nonNegative(repeat, err)
			case strings.HasPrefix(opt, "body="):
				req.bodyLen, err = strconv.Atoi(opt[5:])
				err = nonNegative(req.bodyLen, err)
			default:
				err = fmt.Errorf("unknown option")
			}
			if err != nil {
				return nil, fmt.Errorf("bad option %q in plan item %q: %v", opt, item, err)
			}
		}
		for range repeat {
			plan = append(plan, req)
		}
	}
	if len(plan) == 0 {
		return nil, fmt.Errorf("empty plan %q", spec)
	}
	return plan, nil
}

func nonNegative(n int, err error) error {
	if err == nil && n < 0 {
		return fmt.Errorf("%d is negative", n)
	}
	return err
}

// do runs one request on cc and reads the whole response body.
func do(cc *http.ClientConn, target string, req request) (result, error) {
	r := result{Method: req.method, Path: req.path, Pid: os.Getpid()}
	var wrote, first atomic.Int64
	trace := &httptrace.ClientTrace{
		WroteHeaders:         func() { wrote.Store(time.Now().UnixNano()) },
		GotFirstResponseByte: func() { first.Store(time.Now().UnixNano()) },
	}
	var body io.Reader
	if req.bodyLen > 0 {
		body = bytes.NewReader(bytes.Repeat([]byte("0123456789abcdef"), req.bodyLen/16+1)[:req.bodyLen])
	}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	hr, err := http.NewRequestWithContext(ctx, req.method, "http://"+target+req.path, body)
	if err != nil {
		return r, err
	}
	r.StartUnixNano = time.Now().UnixNano()
	resp, err := cc.RoundTrip(hr)
	if err != nil {
		return r, err
	}
	r.BodyBytes, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.EndUnixNano = time.Now().UnixNano()
	r.Status, r.Proto = resp.StatusCode, resp.Proto
	r.WroteHeaders, r.FirstByte = wrote.Load(), first.Load()
	return r, err
}

func main() {
	target := flag.String("target", "", "server address, e.g. 127.0.0.1:8080")
	planSpec := flag.String("plan", "/hello", "comma-separated requests: [METHOD] PATH [xN] [body=BYTES]")
	concurrency := flag.Int("concurrency", 1, "requests in flight at once (all on the one connection)")
	flag.Parse()
	plan, err := parsePlan(*planSpec)
	if err != nil || *target == "" || *concurrency < 1 {
		log.Fatalf("usage: --target HOST:PORT --plan PLAN [--concurrency M] (%v)", err)
	}

	var localPort atomic.Int64
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				localPort.Store(int64(c.LocalAddr().(*net.TCPAddr).Port))
			}
			return c, err
		},
	}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	cc, err := tr.NewClientConn(context.Background(), "http", *target)
	if err != nil {
		log.Fatalf("connecting to %s: %v", *target, err)
	}
	defer cc.Close()

	results := make([]result, len(plan))
	errs := make([]error, len(plan))
	slots := make(chan struct{}, *concurrency)
	var wg sync.WaitGroup
	for i, req := range plan {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			results[i], errs[i] = do(cc, *target, req)
			results[i].Index = i
		}()
	}
	wg.Wait()

	out := json.NewEncoder(os.Stdout)
	for i, r := range results {
		if errs[i] != nil {
			log.Fatalf("request %d (%s %s): %v", i, r.Method, r.Path, errs[i])
		}
		r.LocalPort = int(localPort.Load())
		if err := out.Encode(r); err != nil {
			log.Fatalf("writing output: %v", err)
		}
	}
}
