package main

import (
	"fmt"
	"strconv"
	"strings"

	"spanwire.test/grpcecho/echo"
)

// call is one planned RPC: "Method:command[@deadline=MS][ xN]".
type call struct {
	method     string // Unary, ServerStream, ClientStream or Bidi
	command    string
	deadlineMs int // 0: no deadline
}

// parsePlan parses a comma-separated plan; "xN" repeats an item N times.
func parsePlan(spec string) ([]call, error) {
	var plan []call
	for _, item := range strings.Split(spec, ",") {
		words := strings.Fields(item)
		if len(words) == 0 {
			continue
		}
		repeat := 1
		for _, opt := range words[1:] {
			n, err := strconv.Atoi(strings.TrimPrefix(opt, "x"))
			if !strings.HasPrefix(opt, "x") || err != nil || n < 1 {
				return nil, fmt.Errorf("bad option %q in plan item %q", opt, item)
			}
			repeat = n
		}
		c, err := parseCall(words[0])
		if err != nil {
			return nil, err
		}
		for range repeat {
			plan = append(plan, c)
		}
	}
	if len(plan) == 0 {
		return nil, fmt.Errorf("empty plan %q", spec)
	}
	return plan, nil
}

func parseCall(text string) (call, error) {
	text, opts, hasOpts := strings.Cut(text, "@")
	method, command, ok := strings.Cut(text, ":")
	if !ok || command == "" {
		return call{}, fmt.Errorf("plan item %q is not Method:command", text)
	}
	switch method {
	case echo.Unary, echo.ServerStream, echo.ClientStream, echo.Bidi:
	default:
		return call{}, fmt.Errorf("unknown method %q", method)
	}
	c := call{method: method, command: command}
	if hasOpts {
		ms, err := strconv.Atoi(strings.TrimPrefix(opts, "deadline="))
		if !strings.HasPrefix(opts, "deadline=") || err != nil || ms < 1 {
			return call{}, fmt.Errorf("bad option %q (want deadline=MS)", opts)
		}
		c.deadlineMs = ms
	}
	return c, nil
}

// requests are the messages the client sends for a call: for the
// client-streaming methods "n:<count>" becomes m1..m<count>, anything else is
// sent as a single message.
func (c call) requests() []string {
	if c.method == echo.Unary || c.method == echo.ServerStream {
		return []string{c.command}
	}
	count, found := strings.CutPrefix(c.command, "n:")
	n, err := strconv.Atoi(count)
	if !found || err != nil || n < 0 {
		return []string{c.command}
	}
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = "m" + strconv.Itoa(i+1)
	}
	return msgs
}
