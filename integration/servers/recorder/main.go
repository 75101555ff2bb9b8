// Command recorder is a TCP proxy that records one connection in the format of
// exporter/tests/golden/http2 (see its README): for every read in either
// direction, [b'C' client->server | b'S' server->client][u32 big-endian length][bytes],
// in the order the proxy read them. A record is taken before its bytes are
// forwarded, so causes always precede their effects in the file.
//
//	recorder --upstream 127.0.0.1:PORT --out FILE
//
// It prints "listening on <addr>" once bound, accepts ONE connection, connects
// it to the upstream, forwards both directions unchanged (half-closing each
// when its sender does), writes FILE once both directions have closed, and exits.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
)

type recording struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recording) add(dir byte, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.WriteByte(dir)
	_ = binary.Write(&r.buf, binary.BigEndian, uint32(len(p)))
	r.buf.Write(p)
}

// pipe copies from -> to, recording every read, then half-closes to.
func (r *recording) pipe(dir byte, from, to *net.TCPConn) error {
	buf := make([]byte, 1<<20)
	defer func() { _ = to.CloseWrite() }()
	for {
		n, err := from.Read(buf)
		if n > 0 {
			r.add(dir, buf[:n])
			if _, werr := to.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func main() {
	upstream := flag.String("upstream", "", "server address, e.g. 127.0.0.1:50051")
	out := flag.String("out", "", "file to write the recording to")
	flag.Parse()
	if *upstream == "" || *out == "" {
		log.Fatal("usage: recorder --upstream HOST:PORT --out FILE")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	client, err := ln.Accept()
	if err != nil {
		log.Fatalf("accept: %v", err)
	}
	server, err := net.Dial("tcp", *upstream)
	if err != nil {
		log.Fatalf("dial %s: %v", *upstream, err)
	}
	var rec recording
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []struct {
		dir      byte
		from, to net.Conn
	}{{'C', client, server}, {'S', server, client}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = rec.pipe(p.dir, p.from.(*net.TCPConn), p.to.(*net.TCPConn))
		}()
	}
	wg.Wait()
	_ = client.Close()
	_ = server.Close()
	if err := errors.Join(errs...); err != nil {
		log.Printf("connection ended with an error (recorded anyway): %v", err)
	}
	if err := os.WriteFile(*out, rec.buf.Bytes(), 0o644); err != nil {
		log.Fatalf("writing %s: %v", *out, err)
	}
}
