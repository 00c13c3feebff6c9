//! Network transports driven by the JS thread's own event loop (see [`redis`]).

pub mod redis;
