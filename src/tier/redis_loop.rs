//! The Redis tier of a single node on the JS thread's own event loop (see [`crate::transport`]):
//! the command is written inside the call that asks for it, the reply is parsed, its frames
//! opened and the caller's promise settled on the same thread, with no tokio task and no thread
//! crossing. It answers the same calls as [`super::redis::RedisTier`] (MGET, SET PX, DEL,
//! PUBLISH, the L1's subscription), with the same breaker, frames and error codes, so the shim
//! cannot tell them apart except by speed.
//!
//! It is bound to the environment that created it (one per JS thread) and is not `Send`. A
//! Redis Cluster, and a runtime without libuv, stay on the tokio tier.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::Breaker;
use crate::ffi::loop_napi::{Deferred, Failed, Js, JsValue};
use crate::frame::Sealer;
use crate::store::{Store, TrustReason};
use crate::tier::{Read, TierError};
use crate::transport::redis::{self as transport, Config, Connection, Handler, Reply, Subscriber};

/// A single Redis node on this thread's event loop.
pub struct LoopRedisTier {
  conn: Connection,
  /// The subscription's connection settings (a second connection, opened by `attach_l1`).
  config: Config,
  shared: Rc<Shared>,
  subscriber: RefCell<Option<Subscriber>>,
}

/// What completions need after the call that issued them returned.
struct Shared {
  sealer: Sealer,
  breaker: Breaker,
  closed: Cell<bool>,
}

/// A transport failure as the tier error every tier reports (its text never holds credentials:
/// see [`transport::Error`]).
fn tier_error(e: &transport::Error) -> TierError {
  match e {
    transport::Error::Timeout => TierError::Timeout,
    transport::Error::Closed => TierError::Failed("the client is closed".into()),
    other => TierError::Failed(other.to_string()),
  }
}

impl LoopRedisTier {
  /// A tier for `url` (`redis://` or `rediss://`, trusting `tls_ca` when given). Nothing connects
  /// until the first command. Fails when this runtime has no libuv loop or the URL is refused.
  pub fn open(
    js: &Js<'_>,
    url: &str,
    tls_ca: Option<&[u8]>,
    connect_timeout: Duration,
    command_timeout: Duration,
    sealer: Sealer,
  ) -> Result<LoopRedisTier, String> {
    transport::available().map_err(str::to_owned)?;
    let config = Config::from_url(url, tls_ca, connect_timeout, command_timeout).map_err(|e| e.to_string())?;
    let conn = Connection::open(js, config.clone()).map_err(|e| e.to_string())?;
    Ok(LoopRedisTier {
      conn,
      config,
      shared: Rc::new(Shared {
        sealer,
        breaker: Breaker::for_tier(),
        closed: Cell::new(false),
      }),
      subscriber: RefCell::new(None),
    })
  }

  /// The tier's circuit breaker.
  pub fn breaker(&self) -> &Breaker {
    &self.shared.breaker
  }

  /// The command connection's counters.
  pub fn stats(&self) -> transport::Stats {
    self.conn.stats()
  }

  /// Sends one command through the breaker; `done` gets the reply or the tier error, on this
  /// thread, later (never inside this call, so a caller's promise is always settled
  /// asynchronously). Returns the error instead when nothing was sent.
  fn command(
    &self,
    args: &[&[u8]],
    done: impl FnOnce(&Js<'_>, Result<Reply<'_>, TierError>) + 'static,
  ) -> Result<(), TierError> {
    if self.shared.closed.get() {
      return Err(TierError::Failed("the client is closed".into()));
    }
    if !self.shared.breaker.allow() {
      return Err(TierError::Open);
    }
    let shared = Rc::clone(&self.shared);
    let completion = Box::new(move |js: &Js<'_>, r: Result<Reply<'_>, transport::Error>| {
      match &r {
        Ok(_) => shared.breaker.success(),
        // Our own close says nothing about Redis.
        Err(transport::Error::Closed) => {}
        // As on the tokio tier, an error reply counts as a failure: the ones this tier can get
        // (NOAUTH, OOM, READONLY, LOADING) last, and every call would pay a round trip for them.
        Err(_) => shared.breaker.failure(),
      }
      done(js, r.map_err(|e| tier_error(&e)));
    });
    self.conn.command(args, completion).map_err(|e| {
      self.shared.breaker.failure();
      tier_error(&e)
    })
  }

  /// MGET of `keys`; `done` gets what is stored under each, frames opened.
  pub fn mget(
    &self,
    keys: Vec<String>,
    done: impl FnOnce(&Js<'_>, Result<Vec<Read>, TierError>) + 'static,
  ) -> Result<(), TierError> {
    // Shared: the arguments borrow the keys while the completion keeps them for opening frames.
    let keys = Rc::new(keys);
    let wanted = Rc::clone(&keys);
    let mut args: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
    args.push(b"MGET");
    args.extend(keys.iter().map(|k| k.as_bytes()));
    let shared = Rc::clone(&self.shared);
    self.command(&args, move |js, r| {
      let keys = wanted;
      let reads = r.and_then(|reply| match reply {
        Reply::Array(items) if items.len() == keys.len() => Ok(
          keys
            .iter()
            .zip(items)
            .map(|(k, item)| match item {
              Reply::Bulk(bytes) => Read::of(&shared.sealer, k, Some(bytes)),
              // Nil, or (never from MGET) anything that is not a value: nothing usable.
              _ => Read::Absent,
            })
            .collect(),
        ),
        other => Err(TierError::Failed(format!(
          "MGET of {} keys answered {}",
          keys.len(),
          match other {
            Reply::Array(items) => format!("{} values", items.len()),
            _ => "something other than an array".to_owned(),
          }
        ))),
      });
      done(js, reads)
    })
  }

  /// SET `key` to `value` sealed in its frame, for `ttl_ms` milliseconds.
  pub fn set(
    &self,
    key: &str,
    value: &str,
    ttl_ms: u64,
    done: impl FnOnce(&Js<'_>, Result<(), TierError>) + 'static,
  ) -> Result<(), TierError> {
    let ttl_ms = ttl_ms.max(1);
    let frame = self.shared.sealer.seal(key, value, ttl_ms);
    let ttl = ttl_ms.to_string();
    self.command(
      &[b"SET", key.as_bytes(), &frame, b"PX", ttl.as_bytes()],
      move |js, r| done(js, r.map(|_| ())),
    )
  }

  /// DEL `key`.
  pub fn del(&self, key: &str, done: impl FnOnce(&Js<'_>, Result<(), TierError>) + 'static) -> Result<(), TierError> {
    self.command(&[b"DEL", key.as_bytes()], move |js, r| done(js, r.map(|_| ())))
  }

  /// PUBLISH `message` on `channel`.
  pub fn publish(
    &self,
    channel: &str,
    message: &str,
    done: impl FnOnce(&Js<'_>, Result<(), TierError>) + 'static,
  ) -> Result<(), TierError> {
    self.command(&[b"PUBLISH", channel.as_bytes(), message.as_bytes()], move |js, r| {
      done(js, r.map(|_| ()))
    })
  }

  /// Puts `cache` in front of this tier as its L1, kept coherent through `channel` on a second
  /// connection of the same loop: a message bumps the generation of each table it names that
  /// this process knows; while the subscription is down the L1 is untrusted (and emptied on
  /// every change, since messages may have been missed).
  pub fn attach_l1(&self, js: &Js<'_>, cache: Arc<Store>, channel: &str) -> Result<(), String> {
    if self.shared.closed.get() {
      return Err("the client is closed".into());
    }
    cache.set_trust(TrustReason::Subscription, false);
    let handler = Box::new(L1Coherence { cache });
    let sub = Subscriber::open(
      js,
      self.config.clone(),
      channel.as_bytes(),
      transport::DEFAULT_KEEPALIVE,
      handler,
    )
    .map_err(|e| e.to_string())?;
    if let Some(old) = self.subscriber.replace(Some(sub)) {
      old.close(js);
    }
    Ok(())
  }

  /// Refuses further commands, fails pending ones and ends the subscription. Idempotent.
  pub fn close(&self, js: &Js<'_>) {
    self.shared.closed.set(true);
    self.conn.close(js);
    if let Some(sub) = self.subscriber.take() {
      sub.close(js);
    }
  }
}

/// The L1's side of the invalidation channel.
struct L1Coherence {
  cache: Arc<Store>,
}

impl Handler for L1Coherence {
  fn message(&mut self, _js: &Js<'_>, _channel: &[u8], payload: &[u8]) {
    self.cache.apply_invalidation(payload);
  }

  fn state(&mut self, _js: &Js<'_>, subscribed: bool) {
    self.cache.set_trust(TrustReason::Subscription, subscribed);
  }
}

// ---- settling a caller's promise --------------------------------------------------------------

/// A caller's promise, shared by the call that made it and the completion of its command, so
/// that exactly one of them settles it: the completion with the reply, or the call itself when
/// the command was refused (the transport then drops the completion unrun). An N-API deferred
/// left unsettled keeps its promise alive for the life of the process, so none may be dropped:
/// a breaker that stays open would otherwise leak one per read.
#[derive(Clone)]
pub struct Pending(Rc<Cell<Option<Deferred>>>);

impl Pending {
  /// Wraps the resolver of a promise just made.
  pub fn new(deferred: Deferred) -> Pending {
    Pending(Rc::new(Cell::new(Some(deferred))))
  }

  /// Settles the promise (see [`settle`]) unless it already was.
  pub fn settle<T>(
    &self,
    js: &Js<'_>,
    result: Result<T, TierError>,
    value: impl for<'s> FnOnce(&Js<'s>, T) -> Result<JsValue<'s>, Failed>,
  ) {
    if let Some(deferred) = self.0.take() {
      settle(js, deferred, result, value);
    }
  }
}

/// Resolves `deferred` with what a network call yields to the shim: the value, or an `Error`
/// whose `code` is the tier error's (as the tokio tiers' `Settled` results do).
fn settle<T>(
  js: &Js<'_>,
  deferred: Deferred,
  result: Result<T, TierError>,
  value: impl for<'s> FnOnce(&Js<'s>, T) -> Result<JsValue<'s>, Failed>,
) {
  let v = match result {
    Ok(v) => value(js, v),
    Err(e) => js.error(e.code(), &e.to_string()),
  };
  // A value that could not be made (V8 refused a string) is still an answer: a failure.
  let v = v.or_else(|_| js.error("failed", "the reply could not be handed to JavaScript"));
  // Settling fails only while the environment is being torn down: nobody is left to observe it.
  if let Ok(v) = v {
    let _ = deferred.resolve(js, v);
  }
}

/// Reads as the shim's `RemoteValues` in array form: `[values, rejected]`, where `values` has a
/// string or null per key and `rejected` holds `[index, reason]` for each value refused.
pub fn reads_value<'s>(js: &Js<'s>, reads: Vec<Read>) -> Result<JsValue<'s>, Failed> {
  let mut values = Vec::with_capacity(reads.len());
  let mut rejected = Vec::new();
  for (i, r) in reads.into_iter().enumerate() {
    values.push(match r {
      Read::Value(v) => js.string(v.as_bytes())?,
      Read::Absent => js.null()?,
      Read::Rejected(e) => {
        let pair = [js.number(i as f64)?, js.string(e.to_string().as_bytes())?];
        rejected.push(js.array(&pair)?);
        js.null()?
      }
    });
  }
  let values = js.array(&values)?;
  let rejected = js.array(&rejected)?;
  js.array(&[values, rejected])
}
