// Command grpc-echo-server serves spanwire.test.Echo (package echo) over
// cleartext HTTP/2 for spanwire's end-to-end tests.
//
// It prints "listening on <addr>" to stdout once the listener is bound.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"

	"google.golang.org/grpc"

	"spanwire.test/grpcecho/echo"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	flag.Parse()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&echo.ServiceDesc, echo.Server{})
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	log.Fatal(srv.Serve(ln))
}
