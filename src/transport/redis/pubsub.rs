//! A subscription to one channel on its own connection, on the same event loop as commands.
//!
//! The connection is never referenced (a subscription alone never keeps the process alive),
//! connects as soon as it is opened, sends `SUBSCRIBE` after `AUTH`/`SELECT` on every connect,
//! and reconnects by itself (at once after losing a usable subscription, then with the same
//! back-off as commands). A hung server keeps its socket open while messages sent through it
//! never arrive, so after `keepalive` without a byte received it sends `PING`; no answer within
//! the command timeout drops the connection. The handler hears of every gain and loss
//! ([`Handler::state`]): messages published while unsubscribed are lost, and the handler must
//! act as if it missed some.

use std::rc::Rc;
use std::time::Duration;

use super::config::Config;
use super::conn::{Error, Role, Shared, Stats};
use super::resp::Reply;
use crate::ffi::loop_napi::Js;

/// Silence after which a subscription checks the server with `PING`.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_millis(500);

/// What a subscription reports, on its JS thread inside a handle scope.
pub trait Handler {
  /// A message published on the channel.
  fn message(&mut self, js: &Js<'_>, channel: &[u8], payload: &[u8]);
  /// `true`: subscribed (again); `false`: the subscription was lost (messages may be missed
  /// until the next `true`).
  fn state(&mut self, js: &Js<'_>, subscribed: bool);
}

/// A subscription, bound to the JS environment that opened it. Dropping it closes it.
pub struct Subscriber {
  shared: Rc<Shared>,
}

impl Subscriber {
  /// Subscribes to `channel` on `config`'s server, reporting to `handler`; starts connecting
  /// now. Fails only when this runtime offers no libuv loop.
  pub fn open(
    js: &Js<'_>,
    config: Config,
    channel: &[u8],
    keepalive: Duration,
    handler: Box<dyn Handler>,
  ) -> Result<Subscriber, Error> {
    let role = Role::Subscriber {
      channel: channel.to_vec(),
      keepalive: keepalive.max(Duration::from_millis(10)),
    };
    let shared = Shared::new(js, config, role, Some(handler))?;
    Shared::connect_now(&shared);
    Ok(Subscriber { shared })
  }

  /// Unsubscribes and closes the connection (the handler is not called). Idempotent.
  pub fn close(&self, js: &Js<'_>) {
    self.shared.close(js);
  }

  /// This subscription's counters.
  pub fn stats(&self) -> Stats {
    self.shared.stats()
  }
}

impl Drop for Subscriber {
  fn drop(&mut self) {
    self.shared.orphan();
  }
}

/// The channel and payload of a pushed `message` (`["message", channel, payload]`).
pub(super) fn message<'a>(reply: &Reply<'a>) -> Option<(&'a [u8], &'a [u8])> {
  let Reply::Array(items) = reply else {
    return None;
  };
  if items.len() != 3 {
    return None;
  }
  let mut it = items.iter();
  match (it.next(), it.next(), it.next()) {
    (Some(Reply::Bulk(b"message")), Some(Reply::Bulk(channel)), Some(Reply::Bulk(payload))) => Some((channel, payload)),
    _ => None,
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::transport::redis::resp::Parser;

  fn parsed<R>(wire: &[u8], f: impl FnOnce(Reply<'_>) -> R) -> R {
    let mut p = Parser::new();
    let n = p.parse(wire).unwrap().unwrap();
    f(p.reply(&wire[..n]))
  }

  #[test]
  fn recognises_pushed_messages_only() {
    let msg = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
    assert_eq!(
      parsed(msg, |r| message(&r).map(|(c, p)| (c.to_vec(), p.to_vec()))),
      Some((b"ch".to_vec(), b"hello".to_vec()))
    );
    for other in [
      b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".as_slice(),
      b"*2\r\n$4\r\npong\r\n$0\r\n\r\n",
      b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$2\r\nch\r\n$1\r\nx\r\n",
      b"$7\r\nmessage\r\n",
    ] {
      assert!(
        parsed(other, |r| message(&r).is_none()),
        "{}",
        String::from_utf8_lossy(other)
      );
    }
  }
}
