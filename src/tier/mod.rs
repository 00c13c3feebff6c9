//! Storage tiers. Each tier stores framed values (see [`crate::codec`]) under canonical keys.
//! The in-process tier is the only one so far; network tiers plug in behind the same engine.

pub mod memory;
pub mod redis;
