//! Redis on the JS thread's own event loop: no runtime thread, no thread crossing per command.
//!
//! The socket is this crate's (non-blocking, `socket2`), watched by a libuv poll handle on the
//! loop of the environment that opened the connection (`napi_get_uv_event_loop`). A command is
//! encoded and written inside the call that issues it; replies are read when the loop reports
//! the socket readable, parsed here, and completions run on the JS thread inside a callback
//! scope (so promise continuations run right after, as after any Node I/O callback).
//!
//! # The Rust API
//!
//! - [`Config::from_url`]: a `redis://` / `rediss://` URL (host, port, `AUTH` credentials,
//!   database), an optional private CA, connect and command timeouts.
//! - [`Connection::open`] / [`Connection::command`] / [`Connection::close`]: commands as byte
//!   arguments in; each accepted command's [`Completion`] runs exactly once, later, on the JS
//!   thread, with a [`Reply`] (a view of the read buffer) or an [`Error`].
//! - [`Subscriber::open`]: one channel on a second connection; messages and gains/losses of the
//!   subscription go to a [`Handler`].
//! - [`available`]: whether this runtime offers what the transport needs (libuv's functions are
//!   bound at run time); when it does not, callers use the tokio transport.
//!
//! Connections are bound to their environment (one per JS thread: main or worker) and are not
//! `Send`. Behaviour (pipelining, coalescing, deadlines, reconnects, liveness) is described in
//! [`conn`]; the wire format in [`resp`]; plain/TLS I/O in [`stream`].
//!
//! All unsafe code this relies on is in [`crate::ffi::uv`] and [`crate::ffi::loop_napi`].

pub mod config;
pub mod conn;
pub mod pubsub;
pub mod resp;
pub mod stream;
#[cfg(feature = "test-hooks")]
pub mod testing;

pub use config::{Config, ConfigError, Host};
pub use conn::{Completion, Connection, Error, Stats};
pub use pubsub::{Handler, Subscriber, DEFAULT_KEEPALIVE};
pub use resp::Reply;

/// Whether the event-loop transport can run in this process; otherwise why not.
pub fn available() -> Result<(), &'static str> {
  crate::ffi::uv::available()
}
