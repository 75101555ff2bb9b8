// Package echo is the Go side of the spanwire.test.Echo test service: the
// command language shared by the Go, Python and Node servers (see ../../README.md),
// the hand-written service descriptor and the server implementation.
package echo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Service is the fully qualified gRPC service name.
const Service = "spanwire.test.Echo"

// Method names, as they appear after "/spanwire.test.Echo/".
const (
	Unary        = "Unary"
	ServerStream = "ServerStream"
	ClientStream = "ClientStream"
	Bidi         = "Bidi"
)

// Limits keep a mistyped command from exhausting memory or time.
const (
	maxBig      = 1 << 20
	maxSleepMs  = 60_000
	maxMessages = 10_000
)

// Error messages are identical in all three server languages so that tests can
// compare them exactly.
const (
	NotFoundMessage = "not found: requested by client"
	InternalMessage = "internal error: requested by client"
)

// Run applies one command (ok, not_found, internal, sleep:<ms>, big:<bytes>)
// and returns the reply value or a gRPC status error.
func Run(ctx context.Context, cmd string) (string, error) {
	switch {
	case cmd == "ok":
		return "ok", nil
	case cmd == "not_found":
		return "", status.Error(codes.NotFound, NotFoundMessage)
	case cmd == "internal":
		return "", status.Error(codes.Internal, InternalMessage)
	case strings.HasPrefix(cmd, "sleep:"):
		ms, err := bounded(strings.TrimPrefix(cmd, "sleep:"), maxSleepMs)
		if err != nil {
			return "", badCommand(cmd)
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return "ok", nil
		case <-ctx.Done():
			return "", status.FromContextError(ctx.Err()).Err()
		}
	case strings.HasPrefix(cmd, "big:"):
		n, err := bounded(strings.TrimPrefix(cmd, "big:"), maxBig)
		if err != nil {
			return "", badCommand(cmd)
		}
		return strings.Repeat("x", n), nil
	}
	return "", badCommand(cmd)
}

// StreamPlan is a parsed ServerStream command "n:<count>[:not_found|:internal]":
// Count replies, then the final status.
type StreamPlan struct {
	Count int
	Final error
}

// ParseStream parses a ServerStream command; ok is false for anything else
// (which ServerStream then answers like Unary, with at most one reply).
func ParseStream(cmd string) (plan StreamPlan, ok bool) {
	rest, found := strings.CutPrefix(cmd, "n:")
	if !found {
		return StreamPlan{}, false
	}
	countText, final, hasFinal := strings.Cut(rest, ":")
	n, err := bounded(countText, maxMessages)
	if err != nil {
		return StreamPlan{}, false
	}
	plan.Count = n
	if hasFinal {
		switch final {
		case "not_found":
			plan.Final = status.Error(codes.NotFound, NotFoundMessage)
		case "internal":
			plan.Final = status.Error(codes.Internal, InternalMessage)
		default:
			return StreamPlan{}, false
		}
	}
	return plan, true
}

// StreamReply is the i-th (1-based) ServerStream reply.
func StreamReply(i int) string {
	return "reply " + strconv.Itoa(i)
}

// IsClientMessage reports whether v is a plain client-stream message "m<i>"
// rather than a command.
func IsClientMessage(v string) bool {
	digits, ok := strings.CutPrefix(v, "m")
	if !ok || digits == "" {
		return false
	}
	_, err := strconv.Atoi(digits)
	return err == nil
}

func bounded(text string, limit int) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > limit {
		return 0, fmt.Errorf("%d is outside 0..%d", n, limit)
	}
	return n, nil
}

func badCommand(cmd string) error {
	return status.Error(codes.InvalidArgument, "unknown command: "+cmd)
}
