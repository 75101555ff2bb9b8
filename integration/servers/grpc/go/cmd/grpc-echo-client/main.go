// Command grpc-echo-client runs a plan of spanwire.test.Echo calls over ONE
// gRPC connection and prints one JSON line per call (format in ../../../README.md).
//
//	grpc-echo-client --target 127.0.0.1:PORT --calls 'Unary:ok,ServerStream:n:5,Unary:sleep:300@deadline=100' [--concurrency N]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"spanwire.test/grpcecho/echo"
)

// maxReplyText bounds last_reply in the output (big:<n> replies are long).
const maxReplyText = 100

// result is one output line; the field set is the same in all three clients.
type result struct {
	Lang          string `json:"lang"`
	Index         int    `json:"index"`
	Method        string `json:"method"`
	Command       string `json:"command"`
	DeadlineMs    *int   `json:"deadline_ms"`
	Code          int    `json:"code"`
	Status        string `json:"status"`
	Message       string `json:"message"`
	Messages      int    `json:"messages"`
	ReplyBytes    int    `json:"reply_bytes"`
	LastReply     string `json:"last_reply"`
	StartUnixNano int64  `json:"start_unix_nano"`
	EndUnixNano   int64  `json:"end_unix_nano"`
	LocalPort     *int   `json:"local_port"`
	Pid           int    `json:"pid"`
}

// conn is the client's one connection, recording the local port of its socket.
type conn struct {
	*grpc.ClientConn
	mu        sync.Mutex
	localPort *int
	dials     int
}

func dial(target string) (*conn, error) {
	c := &conn{}
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		port := nc.LocalAddr().(*net.TCPAddr).Port
		c.mu.Lock()
		c.localPort, c.dials = &port, c.dials+1
		c.mu.Unlock()
		return nc, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+target,
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dialer))
	c.ClientConn = cc
	return c, err
}

func (c *conn) dialCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

func (c *conn) port() *int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localPort
}

// run makes one call and fills in everything but the index.
func (c *conn) run(pc call) result {
	r := result{Lang: "go", Method: echo.Service + "/" + pc.method, Command: pc.command, Pid: os.Getpid()}
	// Before the deadline is set: a call that times out lasts at least deadline_ms.
	r.StartUnixNano = time.Now().UnixNano()
	ctx := context.Background()
	if pc.deadlineMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(pc.deadlineMs)*time.Millisecond)
		defer cancel()
		r.DeadlineMs = &pc.deadlineMs
	}
	var replies []string
	var err error
	if pc.method == echo.Unary {
		reply := new(wrapperspb.StringValue)
		err = c.Invoke(ctx, echo.FullMethod(pc.method), wrapperspb.String(pc.command), reply)
		if err == nil {
			replies = append(replies, reply.GetValue())
		}
	} else {
		replies, err = c.stream(ctx, pc)
	}
	r.EndUnixNano = time.Now().UnixNano()
	st := status.Convert(err)
	r.Code, r.Status, r.Message = int(st.Code()), echo.CodeName(st.Code()), st.Message()
	r.Messages = len(replies)
	for _, v := range replies {
		r.ReplyBytes += len(v)
	}
	if len(replies) > 0 {
		r.LastReply = replies[len(replies)-1]
		if len(r.LastReply) > maxReplyText {
			r.LastReply = r.LastReply[:maxReplyText]
		}
	}
	r.LocalPort = c.port()
	return r
}

// stream sends all requests, half-closes, then reads replies until the status.
func (c *conn) stream(ctx context.Context, pc call) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.NewStream(ctx, echo.StreamDescs[pc.method], echo.FullMethod(pc.method))
	if err != nil {
		return nil, err
	}
	var replies []string
	for _, m := range pc.requests() {
		if err := s.SendMsg(wrapperspb.String(m)); err != nil {
			break // the status comes from RecvMsg
		}
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	for {
		reply := new(wrapperspb.StringValue)
		err := s.RecvMsg(reply)
		if errors.Is(err, io.EOF) {
			return replies, nil
		}
		if err != nil {
			return replies, err
		}
		replies = append(replies, reply.GetValue())
	}
}

func main() {
	target := flag.String("target", "", "server address, e.g. 127.0.0.1:50051")
	calls := flag.String("calls", "Unary:ok", "comma-separated plan: Method:command[@deadline=MS][ xN]")
	concurrency := flag.Int("concurrency", 1, "calls in flight at once (all on the one connection)")
	flag.Parse()
	plan, err := parsePlan(*calls)
	if err != nil || *target == "" || *concurrency < 1 {
		log.Fatalf("usage: --target HOST:PORT --calls PLAN [--concurrency N] (%v)", err)
	}
	c, err := dial(*target)
	if err != nil {
		log.Fatalf("dial %s: %v", *target, err)
	}
	defer c.Close()

	results := make([]result, len(plan))
	slots := make(chan struct{}, *concurrency)
	var wg sync.WaitGroup
	for i, pc := range plan {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			results[i] = c.run(pc)
			results[i].Index = i
		}()
	}
	wg.Wait()

	out := json.NewEncoder(os.Stdout)
	for _, r := range results {
		if err := out.Encode(r); err != nil {
			log.Fatalf("writing output: %v", err)
		}
	}
	if n := c.dialCount(); n != 1 {
		log.Fatalf("expected exactly one connection, dialled %d", n)
	}
}
