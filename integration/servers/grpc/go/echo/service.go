package echo

import (
	"context"
	"errors"
	"io"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// handler is what ServiceDesc.HandlerType names; Server implements it.
type handler interface {
	unary(ctx context.Context, cmd string) (string, error)
	serverStream(cmd string, stream grpc.ServerStream) error
	clientStream(stream grpc.ServerStream) error
	bidi(stream grpc.ServerStream) error
}

// ServiceDesc describes spanwire.test.Echo without generated code: every
// message is a google.protobuf.StringValue.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: Service,
	HandlerType: (*handler)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: Unary, Handler: unaryHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: ServerStream, Handler: serverStreamHandler, ServerStreams: true},
		{StreamName: ClientStream, Handler: clientStreamHandler, ClientStreams: true},
		{StreamName: Bidi, Handler: bidiHandler, ServerStreams: true, ClientStreams: true},
	},
}

// StreamDescs are the client-side descriptors of the streaming methods, by name.
var StreamDescs = map[string]*grpc.StreamDesc{
	ServerStream: &ServiceDesc.Streams[0],
	ClientStream: &ServiceDesc.Streams[1],
	Bidi:         &ServiceDesc.Streams[2],
}

// FullMethod is "/spanwire.test.Echo/<method>", the HTTP/2 :path.
func FullMethod(method string) string {
	return "/" + Service + "/" + method
}

func unaryHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := new(wrapperspb.StringValue)
	if err := dec(req); err != nil {
		return nil, err
	}
	call := func(ctx context.Context, req any) (any, error) {
		reply, err := srv.(handler).unary(ctx, req.(*wrapperspb.StringValue).GetValue())
		if err != nil {
			return nil, err
		}
		return wrapperspb.String(reply), nil
	}
	if interceptor == nil {
		return call(ctx, req)
	}
	return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: FullMethod(Unary)}, call)
}

func serverStreamHandler(srv any, stream grpc.ServerStream) error {
	req := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	return srv.(handler).serverStream(req.GetValue(), stream)
}

func clientStreamHandler(srv any, stream grpc.ServerStream) error {
	return srv.(handler).clientStream(stream)
}

func bidiHandler(srv any, stream grpc.ServerStream) error {
	return srv.(handler).bidi(stream)
}

// Server implements spanwire.test.Echo.
type Server struct{}

func (Server) unary(ctx context.Context, cmd string) (string, error) {
	return Run(ctx, cmd)
}

func (Server) serverStream(cmd string, stream grpc.ServerStream) error {
	plan, ok := ParseStream(cmd)
	if !ok {
		reply, err := Run(stream.Context(), cmd)
		if err != nil {
			return err
		}
		return stream.SendMsg(wrapperspb.String(reply))
	}
	for i := 1; i <= plan.Count; i++ {
		if err := stream.SendMsg(wrapperspb.String(StreamReply(i))); err != nil {
			return err
		}
	}
	return plan.Final
}

// clientStream counts "m<i>" messages and applies any command it receives;
// the first failing command ends the call with its status.
func (Server) clientStream(stream grpc.ServerStream) error {
	received := 0
	for {
		msg := new(wrapperspb.StringValue)
		err := stream.RecvMsg(msg)
		if errors.Is(err, io.EOF) {
			return stream.SendMsg(wrapperspb.String("received " + strconv.Itoa(received)))
		}
		if err != nil {
			return err
		}
		received++
		if !IsClientMessage(msg.GetValue()) {
			if _, err := Run(stream.Context(), msg.GetValue()); err != nil {
				return err
			}
		}
	}
}

// bidi answers every "m<i>" with "echo m<i>" and every command with its reply.
func (Server) bidi(stream grpc.ServerStream) error {
	for {
		msg := new(wrapperspb.StringValue)
		err := stream.RecvMsg(msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		reply := "echo " + msg.GetValue()
		if !IsClientMessage(msg.GetValue()) {
			if reply, err = Run(stream.Context(), msg.GetValue()); err != nil {
				return err
			}
		}
		if err := stream.SendMsg(wrapperspb.String(reply)); err != nil {
			return err
		}
	}
}
