//! Redis on the JS thread's own event loop.

pub mod resp;
