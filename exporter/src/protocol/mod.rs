pub mod grpc;
pub mod http1;
pub mod http2;
