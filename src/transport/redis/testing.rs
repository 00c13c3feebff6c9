//! A test-only N-API surface over the event-loop transport, so that JS suites and the bench can
//! drive it against real `redis-server` processes. Every name starts with `evloop_test`
//! (`evloopTest…` in JS); nothing in the package's JS uses them.
//!
//! Replies become JS values: status and bulk strings as strings (UTF-8), integers as numbers,
//! nil as `null`, arrays as arrays, nested error replies as `Error`s. A failed command rejects
//! with an `Error` whose `code` is [`Error::code`](super::Error::code).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{Config, Connection, Error as TransportError, Handler, Reply, Stats, Subscriber};
use crate::ffi::loop_napi::{FnRef, Js, JsValue};

/// Options of [`evloop_test_connect`] and [`evloop_test_subscribe`], read from a JS object
/// (`connectTimeoutMs`, `commandTimeoutMs`, `tlsCa`, `keepaliveMs`). A plain struct rather than a
/// `#[napi(object)]`, so the test-only surface adds nothing to the generated typings.
#[derive(Default)]
pub struct EvloopTestOptions {
  /// Bound on reaching a usable connection (default 1000).
  pub connect_timeout_ms: Option<u32>,
  /// Bound on each command (default 1000).
  pub command_timeout_ms: Option<u32>,
  /// PEM certificates to trust for `rediss://`.
  pub tls_ca: Option<String>,
  /// A subscription's PING after this much silence (default 500).
  pub keepalive_ms: Option<u32>,
}

impl EvloopTestOptions {
  fn from_js(o: Option<Object>) -> Result<Self> {
    let Some(o) = o else { return Ok(Self::default()) };
    Ok(EvloopTestOptions {
      connect_timeout_ms: o.get("connectTimeoutMs")?,
      command_timeout_ms: o.get("commandTimeoutMs")?,
      tls_ca: o.get("tlsCa")?,
      keepalive_ms: o.get("keepaliveMs")?,
    })
  }
}

/// Counters of a test connection or subscription (see [`Stats`]), as a plain JS object.
fn stats_object(s: Stats) -> std::collections::HashMap<&'static str, f64> {
  [
    ("connects", s.connects),
    ("ready", s.ready),
    ("pollEvents", s.poll_events),
    ("reads", s.reads),
    ("writes", s.writes),
    ("replies", s.replies),
    ("messages", s.messages),
    ("timeouts", s.timeouts),
    ("foreignThreadCallbacks", s.foreign_thread_callbacks),
  ]
  .into_iter()
  .map(|(k, v)| (k, v as f64))
  .collect()
}

/// A test connection (an opaque handle in JS).
pub struct TestConnection(Connection);

/// A test subscription (an opaque handle in JS).
pub struct TestSubscriber(Subscriber);

fn config(url: &str, o: &EvloopTestOptions) -> Result<Config> {
  let ms = |v: Option<u32>| Duration::from_millis(u64::from(v.unwrap_or(1000)));
  Config::from_url(
    url,
    o.tls_ca.as_deref().map(str::as_bytes),
    ms(o.connect_timeout_ms),
    ms(o.command_timeout_ms),
  )
  .map_err(|e| Error::new(Status::InvalidArg, format!("url: {e}")))
}

fn transport_error(e: TransportError) -> Error {
  Error::new(Status::GenericFailure, format!("{}: {e}", e.code()))
}

/// Why the event-loop transport cannot run in this process, or null when it can.
#[napi(skip_typescript)]
pub fn evloop_test_unavailable() -> Option<String> {
  crate::ffi::uv::available().err().map(str::to_owned)
}

/// Opens a connection (connecting on the first command).
#[napi(skip_typescript)]
pub fn evloop_test_connect(env: Env, url: String, options: Option<Object>) -> Result<External<TestConnection>> {
  let config = config(&url, &EvloopTestOptions::from_js(options)?)?;
  let conn = Connection::open(&Js::from_call(&env), config).map_err(transport_error)?;
  Ok(External::new(TestConnection(conn)))
}

/// Sends one command; resolves to its reply.
#[napi(skip_typescript)]
pub fn evloop_test_command<'e>(
  env: &'e Env,
  conn: &External<TestConnection>,
  args: Vec<Either<String, Buffer>>,
) -> Result<Unknown<'e>> {
  let js = Js::from_call(env);
  let failed = |_| Error::from_reason("N-API failure");
  let (deferred, promise) = js.promise().map_err(failed)?;
  // Shared with the completion: whichever runs settles the promise, the completion with its
  // reply or this call when the command is refused (an unsettled deferred is never freed).
  let slot = Rc::new(Cell::new(Some(deferred)));
  let args: Vec<&[u8]> = args
    .iter()
    .map(|a| match a {
      Either::A(s) => s.as_bytes(),
      Either::B(b) => b.as_ref(),
    })
    .collect();
  let for_reply = Rc::clone(&slot);
  let done = Box::new(
    move |js: &Js<'_>, result: std::result::Result<Reply<'_>, TransportError>| {
      let Some(deferred) = for_reply.take() else { return };
      let settled = match result.map_err(|e| error_value(js, &e)) {
        Ok(reply) => match to_js(js, &reply) {
          Ok(v) => deferred.resolve(js, v),
          Err(_) => match js.error("napi", "the reply could not be converted") {
            Ok(e) => deferred.reject(js, e),
            Err(f) => Err(f),
          },
        },
        Err(Ok(e)) => deferred.reject(js, e),
        Err(Err(f)) => Err(f),
      };
      // Settling fails only while the environment is being torn down (no JS can run then):
      // nobody is left to observe the promise.
      let _ = settled;
    },
  );
  if let Err(e) = conn.0.command(&args, done) {
    if let Some(deferred) = slot.take() {
      let reason = error_value(&js, &e).map_err(failed)?;
      deferred.reject(&js, reason).map_err(failed)?;
    }
  }
  Ok(promise.into_unknown(&js))
}

/// Closes a connection: pending commands reject with code `closed`.
#[napi(skip_typescript)]
pub fn evloop_test_close(env: Env, conn: &External<TestConnection>) {
  conn.0.close(&Js::from_call(&env));
}

/// A connection's counters.
#[napi(skip_typescript)]
pub fn evloop_test_stats(conn: &External<TestConnection>) -> std::collections::HashMap<&'static str, f64> {
  stats_object(conn.0.stats())
}

struct CallbackHandler {
  on_message: FnRef,
  on_state: FnRef,
}

impl Handler for CallbackHandler {
  fn message(&mut self, js: &Js<'_>, channel: &[u8], payload: &[u8]) {
    if let (Ok(c), Ok(p)) = (js.string(channel), js.string(payload)) {
      let _ = js.call(&self.on_message, &[c, p]);
    }
  }

  fn state(&mut self, js: &Js<'_>, subscribed: bool) {
    if let Ok(b) = js.boolean(subscribed) {
      let _ = js.call(&self.on_state, &[b]);
    }
  }
}

/// Subscribes to `channel`: `onMessage(channel, payload)` for each message,
/// `onState(subscribed)` on every gain and loss of the subscription.
#[napi(
  skip_typescript,
  ts_args_type = "url: string, channel: string, onMessage: (channel: string, payload: string) => void, onState: (subscribed: boolean) => void, options?: EvloopTestOptions"
)]
pub fn evloop_test_subscribe(
  env: Env,
  url: String,
  channel: String,
  on_message: Unknown,
  on_state: Unknown,
  options: Option<Object>,
) -> Result<External<TestSubscriber>> {
  let options = EvloopTestOptions::from_js(options)?;
  let config = config(&url, &options)?;
  let js = Js::from_call(&env);
  let function = |v: &Unknown, name: &str| {
    FnRef::new(&js, v).map_err(|_| Error::new(Status::InvalidArg, format!("{name} must be a function")))
  };
  let handler = CallbackHandler {
    on_message: function(&on_message, "onMessage")?,
    on_state: function(&on_state, "onState")?,
  };
  let keepalive = options
    .keepalive_ms
    .map_or(super::DEFAULT_KEEPALIVE, |ms| Duration::from_millis(u64::from(ms)));
  let sub = Subscriber::open(&js, config, channel.as_bytes(), keepalive, Box::new(handler)).map_err(transport_error)?;
  Ok(External::new(TestSubscriber(sub)))
}

/// Closes a subscription.
#[napi(skip_typescript)]
pub fn evloop_test_subscriber_close(env: Env, sub: &External<TestSubscriber>) {
  sub.0.close(&Js::from_call(&env));
}

/// A subscription's counters.
#[napi(skip_typescript)]
pub fn evloop_test_subscriber_stats(sub: &External<TestSubscriber>) -> std::collections::HashMap<&'static str, f64> {
  stats_object(sub.0.stats())
}

fn error_value<'s>(js: &Js<'s>, e: &TransportError) -> std::result::Result<JsValue<'s>, crate::ffi::loop_napi::Failed> {
  js.error(e.code(), &e.to_string())
}

fn to_js<'s>(js: &Js<'s>, reply: &Reply<'_>) -> std::result::Result<JsValue<'s>, crate::ffi::loop_napi::Failed> {
  match reply {
    Reply::Status(s) | Reply::Bulk(s) => js.string(s),
    Reply::Error(text) => js.error("server", &String::from_utf8_lossy(text)),
    Reply::Int(n) => js.number(*n as f64),
    Reply::Nil => js.null(),
    Reply::Array(items) => {
      let values = items
        .iter()
        .map(|r| to_js(js, &r))
        .collect::<std::result::Result<Vec<_>, _>>()?;
      js.array(&values)
    }
  }
}
