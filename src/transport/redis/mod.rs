//! Redis on the JS thread's own event loop.

pub mod config;
pub mod resp;
pub mod stream;
