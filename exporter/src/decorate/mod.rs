//! Who a pid is: process metadata, container and Kubernetes pod, which become each span's
//! resource; and who a remote address is (peer workload attributes).

pub mod cgroup;
pub mod env;
pub mod k8s;
pub mod process;
pub mod runtime;
