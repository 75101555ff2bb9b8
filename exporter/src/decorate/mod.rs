//! Who a pid is: process metadata that becomes each span's resource.

pub mod process;
