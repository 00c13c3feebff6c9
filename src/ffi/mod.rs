//! Every `unsafe` block of the crate's own code lives under this module, each with a `SAFETY`
//! comment; what is exported is safe to call, its types carrying the conditions the C APIs ask
//! for.
//!
//! - [`uv`]: libuv (bound at run time) — poll handles, timers, name lookups;
//! - [`loop_napi`]: the N-API side of code running on the event loop — anchors that keep an
//!   environment alive while its handles close, callback scopes, promises and values.

pub mod loop_napi;
pub mod uv;
