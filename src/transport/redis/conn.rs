//! One Redis connection driven by the event loop of the JS thread that made it.
//!
//! A command is encoded and written (non-blocking) inside the call that asks for it; its
//! completion waits in a FIFO; when the loop reports the socket readable, replies are parsed and
//! completions run in order, on the same thread, inside a callback scope. No other thread is
//! involved (a host name is looked up on libuv's thread pool, once per connect).
//!
//! # Behaviour
//!
//! - **Connect** lazily, on the first command: look the host up (unless it is an address
//!   literal; every address is tried in turn), TCP, TLS when configured, then `AUTH` and
//!   `SELECT` from the URL. Commands issued meanwhile are queued, and written only once every
//!   setup reply said OK (a command must never run unauthenticated or in the wrong database).
//! - **Pipelining**: any number of commands in flight; replies are matched in order.
//! - **Coalescing**: commands issued while a readable event is being handled (by the promise
//!   continuations it runs) are written together when it ends, in one write.
//! - **Deadlines**: each command must be answered within `command_timeout`, the connection must be
//!   usable within `connect_timeout`. One lazily armed, unreferenced timer per connection
//!   enforces both. A reply cannot be skipped in a pipeline, so a missed deadline drops the
//!   connection and fails every pending command at once. Before declaring a timeout the socket
//!   is read, so replies that arrived while the loop was blocked still count.
//! - **Failure** (reset, EOF, protocol error, timeout) fails every pending command. After a
//!   usable connection breaks, the next command reconnects at once; after a failed attempt or a
//!   timeout, commands fail immediately (`Unavailable`) for a back-off of 50 ms, doubling up to
//!   2 s until the server answers again.
//! - **Liveness**: the socket keeps the process alive only while commands are pending; an idle
//!   connection never delays exit.
//! - **Close**: pending commands fail with `Closed`; handles close; the environment is released
//!   once their close callbacks ran. The same happens when the environment is torn down
//!   (a worker ends) while the connection is open.
//!
//! # Ownership and re-entrancy
//!
//! State lives in `Shared`, held by the owner ([`Connection`] or [`Subscriber`]), by each open
//! libuv handle, and by the anchor's teardown hook; all on one thread, so `Rc`. JS never runs
//! while `Shared::inner` is borrowed: completions and handler calls run with no borrow held
//! (they may issue or close), and microtasks run only when a scope drains or closes, also with
//! no borrow held.
//!
//! [`Subscriber`]: super::pubsub::Subscriber

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::config::{Config, Host};
use super::pubsub::{self, Handler};
use super::resp::{self, Parser, Reply};
use super::stream::{ReadBuf, Stream, StreamError};
use crate::ffi::loop_napi::{Anchor, Js, Scope};
use crate::ffi::uv::{self, Events, Poll, PollTarget, ResolveTarget, Resolving, Timer, TimerTarget, UvError};

/// First back-off after a failed connect attempt; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between connect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Longest server error text kept in an [`Error`].
const MAX_ERROR_TEXT: usize = 200;

/// How a command ended, when it did not end with a reply. The texts are safe to log: they never
/// hold credentials, and server error texts are cut and stripped of control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
  /// The connection was closed by its owner, or its environment is being torn down.
  Closed,
  /// Not connected, and not trying right now (back-off after a failed attempt; the text is the
  /// last attempt's failure), or this attempt failed (lookup, TCP, TLS, AUTH, SELECT).
  Unavailable(String),
  /// No reply within the command timeout, or no usable connection within the connect timeout.
  Timeout,
  /// The connection broke before the reply came (reset, EOF, write or TLS failure).
  Lost(String),
  /// The server sent something that is not RESP2 (the connection was dropped).
  Protocol(String),
  /// The server answered this command with an error reply (the connection is fine).
  Server(String),
}

impl Error {
  /// A stable short code for each variant.
  pub fn code(&self) -> &'static str {
    match self {
      Error::Closed => "closed",
      Error::Unavailable(_) => "unavailable",
      Error::Timeout => "timeout",
      Error::Lost(_) => "connection-lost",
      Error::Protocol(_) => "protocol",
      Error::Server(_) => "server",
    }
  }
}

impl fmt::Display for Error {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Error::Closed => f.write_str("the connection is closed"),
      Error::Unavailable(why) => write!(f, "redis is unavailable: {why}"),
      Error::Timeout => f.write_str("no answer from redis in time"),
      Error::Lost(why) => write!(f, "the connection to redis was lost: {why}"),
      Error::Protocol(why) => write!(f, "redis sent an invalid reply: {why}"),
      Error::Server(text) => write!(f, "redis answered with an error: {text}"),
    }
  }
}

impl std::error::Error for Error {}

/// What runs when a command ends: on the connection's JS thread, inside a handle scope, exactly
/// once for each command [`Connection::command`] accepted. A top-level error reply arrives as
/// [`Error::Server`]. The reply borrows the read buffer: copy what must outlive the call.
pub type Completion = Box<dyn FnOnce(&Js<'_>, Result<Reply<'_>, Error>)>;

/// Counters of one connection (for tests and benchmarks).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
  /// Connect attempts started.
  pub connects: u64,
  /// Connections that became usable (setup done).
  pub ready: u64,
  /// Readiness events handled.
  pub poll_events: u64,
  /// Socket reads that returned data.
  pub reads: u64,
  /// Writes handed to the socket.
  pub writes: u64,
  /// Replies parsed (push messages included).
  pub replies: u64,
  /// Pub/sub messages delivered.
  pub messages: u64,
  /// Connections dropped for a missed deadline.
  pub timeouts: u64,
  /// libuv callbacks that ran off the connection's JS thread (must stay 0).
  pub foreign_thread_callbacks: u64,
}

/// What a connection is for.
pub(super) enum Role {
  /// Request/reply commands from [`Connection::command`].
  Commands,
  /// A subscription: `SUBSCRIBE channel` on every connect, push messages to the handler, a
  /// `PING` after `keepalive` of silence, reconnects by itself.
  Subscriber { channel: Vec<u8>, keepalive: Duration },
}

/// Who waits for the next reply.
enum Waiter {
  User(Completion),
  Auth,
  Select,
  Subscribe,
  Ping,
}

struct Pending {
  deadline: Instant,
  waiter: Waiter,
}

/// A socket being connected or in use.
struct Live {
  poll: Poll,
  stream: Stream,
  /// Addresses still to try if this one refuses.
  fallbacks: Vec<SocketAddr>,
  /// The TCP connect completed.
  connected: bool,
  /// TCP, TLS and setup replies done: user commands may be written.
  ready: bool,
  /// The poll watches for writability (a write would block, or the connect is pending).
  write_watch: bool,
}

enum Link {
  /// No socket. A command may start a connect once `retry_at` is reached; `reason` is why the
  /// last connection or attempt ended.
  Down { retry_at: Instant, reason: String },
  /// Looking the host up (dropping the lookup cancels it).
  Resolving { _lookup: Resolving },
  /// Connecting or connected.
  Up(Live),
}

/// A connection's failure, to act on once no borrow is held: the completions to fail, and
/// whether a usable subscription was lost.
#[must_use]
pub(super) struct Fallout {
  completions: Vec<Completion>,
  error: Error,
  lost: bool,
}

/// What a reply is for, decided under the borrow and acted on without it.
enum Route {
  User(Completion),
  Message,
  Subscribed,
  Nothing,
  Fail(Error),
}

pub(super) struct Inner {
  config: Config,
  role: Role,
  anchor: Option<Anchor>,
  timer: Option<Timer>,
  /// When the timer is set to fire (None: stopped).
  armed: Option<Instant>,
  link: Link,
  /// Bumped whenever the link is dropped: bytes and replies of an older link are ignored.
  epoch: u64,
  pending: VecDeque<Pending>,
  /// User commands in `pending` (the socket keeps the process alive while this is not 0).
  users: usize,
  /// Setup replies (AUTH, SELECT, SUBSCRIBE) still expected on this link.
  setup_left: usize,
  /// Setup commands, written before anything else.
  hbuf: Vec<u8>,
  hpos: usize,
  /// User commands (and PINGs), written once the link is ready.
  wbuf: Vec<u8>,
  wpos: usize,
  rbuf: ReadBuf,
  parser: Parser,
  /// Inside a loop callback: commands are buffered and written when it ends.
  dispatching: bool,
  /// A failure found outside a loop callback (a write inside `command`), acted on by the timer
  /// at once, so that completions never run inside `command`.
  deferred: Option<Error>,
  backoff: Duration,
  connect_deadline: Option<Instant>,
  last_rx: Instant,
  ping_out: bool,
  shut: bool,
  stats: Stats,
}

/// A connection's state, shared by its owner, its libuv handles and its anchor's teardown hook.
pub(super) struct Shared {
  inner: RefCell<Inner>,
  /// A subscription's message and state handler.
  handler: RefCell<Option<Box<dyn Handler>>>,
  /// The owner is gone: close once nothing is pending.
  orphaned: Cell<bool>,
}

/// A Redis connection for commands, bound to the JS environment (and thread) that opened it.
/// Dropping it closes it once the commands in flight are answered.
pub struct Connection {
  shared: Rc<Shared>,
}

impl Connection {
  /// A connection to `config`'s server in the environment of `js`. Nothing connects until the
  /// first command. Fails only when this runtime offers no libuv loop (see
  /// [`crate::ffi::uv::available`]); the caller then uses another transport.
  pub fn open(js: &Js<'_>, config: Config) -> Result<Connection, Error> {
    Ok(Connection {
      shared: Shared::new(js, config, Role::Commands, None)?,
    })
  }

  /// Sends one command (its arguments as bytes). `Ok`: `done` will run exactly once, later,
  /// on this thread, never inside this call. `Err`: `done` is dropped unrun; the command was not
  /// sent (closed, or unavailable during a back-off, or a connect could not even start).
  pub fn command<A: AsRef<[u8]>>(&self, args: &[A], done: Completion) -> Result<(), Error> {
    let this = &self.shared;
    let Ok(mut i) = this.inner.try_borrow_mut() else {
      // Unreachable by the re-entrancy rule (module docs); refused rather than panicking.
      return Err(Error::Unavailable("the connection is busy".into()));
    };
    i.submit(this, args, done)
  }

  /// Closes the connection: every pending command fails with [`Error::Closed`] (their
  /// completions run before this returns), later commands fail the same way. Idempotent.
  pub fn close(&self, js: &Js<'_>) {
    self.shared.close(js);
  }

  /// This connection's counters.
  pub fn stats(&self) -> Stats {
    self.shared.stats()
  }
}

impl Drop for Connection {
  fn drop(&mut self) {
    self.shared.orphan();
  }
}

impl Shared {
  pub(super) fn new(
    js: &Js<'_>,
    config: Config,
    role: Role,
    handler: Option<Box<dyn Handler>>,
  ) -> Result<Rc<Shared>, Error> {
    let now = Instant::now();
    let shared = Rc::new(Shared {
      inner: RefCell::new(Inner {
        config,
        role,
        anchor: None,
        timer: None,
        armed: None,
        link: Link::Down {
          retry_at: now,
          reason: "not connected yet".into(),
        },
        epoch: 0,
        pending: VecDeque::new(),
        users: 0,
        setup_left: 0,
        hbuf: Vec::new(),
        hpos: 0,
        wbuf: Vec::with_capacity(4096),
        wpos: 0,
        rbuf: ReadBuf::default(),
        parser: Parser::new(),
        dispatching: false,
        deferred: None,
        backoff: Duration::ZERO,
        connect_deadline: None,
        last_rx: now,
        ping_out: false,
        shut: false,
        stats: Stats::default(),
      }),
      handler: RefCell::new(handler),
      orphaned: Cell::new(false),
    });
    // The hook holds the state until the anchor finishes (a cycle, broken then).
    let held = shared.clone();
    let anchor = Anchor::new(js, "RedisConnection", Box::new(move |js| held.close(js))).map_err(Error::Unavailable)?;
    let timer = Timer::new(&anchor, shared.clone()).map_err(|e| Error::Unavailable(format!("no timer: {e}")))?;
    {
      let mut i = shared.inner.borrow_mut();
      i.anchor = Some(anchor);
      i.timer = Some(timer);
    }
    Ok(shared)
  }

  /// Starts connecting now (a subscription does not wait for a command).
  pub(super) fn connect_now(this: &Rc<Shared>) {
    let mut i = this.inner.borrow_mut();
    if matches!(i.link, Link::Down { .. }) && !i.shut {
      i.start_connect(this);
    }
  }

  pub(super) fn stats(&self) -> Stats {
    let i = self.inner.borrow();
    let mut s = i.stats.clone();
    s.foreign_thread_callbacks = i.anchor.as_ref().map_or(0, Anchor::foreign_callbacks);
    s
  }

  pub(super) fn close(&self, js: &Js<'_>) {
    let completions = {
      let mut i = self.inner.borrow_mut();
      if i.anchor.as_ref().is_some_and(|a| !a.same_env(js)) {
        return;
      }
      i.shutdown()
    };
    for c in completions {
      c(js, Err(Error::Closed));
    }
  }

  /// The owner is gone: close now if nothing is pending, else once the last reply is in.
  pub(super) fn orphan(&self) {
    self.orphaned.set(true);
    self.reap();
  }

  fn reap(&self) {
    if !self.orphaned.get() {
      return;
    }
    if let Ok(mut i) = self.inner.try_borrow_mut() {
      if i.users == 0 && !i.shut {
        let completions = i.shutdown();
        debug_assert!(completions.is_empty());
      }
    }
  }

  fn settle(&self, js: &Js<'_>, fallout: Fallout) {
    for c in fallout.completions {
      c(js, Err(fallout.error.clone()));
    }
    if fallout.lost {
      self.notify_state(js, false);
    }
  }

  fn notify_state(&self, js: &Js<'_>, subscribed: bool) {
    if let Ok(mut h) = self.handler.try_borrow_mut() {
      if let Some(h) = h.as_mut() {
        h.state(js, subscribed);
      }
    }
  }

  /// Reads what arrived (`events`: from a readiness event, None: a check from the timer), runs
  /// the completions of complete replies, and acts on a failure found on the way.
  fn pump(this: &Rc<Shared>, js: &Js<'_>, events: Option<Result<Events, UvError>>) {
    let (after, epoch) = {
      let mut i = this.inner.borrow_mut();
      (i.receive(this, events), i.epoch)
    };
    Shared::deliver(this, js);
    if let Err(e) = after {
      let fallout = {
        let mut i = this.inner.borrow_mut();
        // Only the link the failure was found on (a completion may have replaced it).
        (i.epoch == epoch).then(|| i.fail_link(e))
      };
      if let Some(f) = fallout {
        this.settle(js, f);
      }
    }
  }

  /// Parses the complete replies in the read buffer and routes each: user completions and
  /// handler calls run with the buffer taken out of the state and no borrow held.
  fn deliver(this: &Rc<Shared>, js: &Js<'_>) {
    let (mut rbuf, mut parser, epoch) = {
      let mut i = this.inner.borrow_mut();
      if i.rbuf.filled().is_empty() {
        return;
      }
      (std::mem::take(&mut i.rbuf), std::mem::take(&mut i.parser), i.epoch)
    };
    let mut failure = None;
    let mut current = true;
    loop {
      let n = match parser.parse(rbuf.filled()) {
        Ok(Some(n)) => n,
        Ok(None) => break,
        Err(e) => {
          failure = Some(Error::Protocol(e.to_string()));
          break;
        }
      };
      let reply = parser.reply(&rbuf.filled()[..n]);
      let route = {
        let mut i = this.inner.borrow_mut();
        if i.epoch != epoch {
          // A completion closed or failed the link: the rest belongs to a dead connection.
          current = false;
          break;
        }
        i.route(&reply)
      };
      match route {
        Route::User(done) => match reply {
          Reply::Error(text) => done(js, Err(Error::Server(error_code(text)))),
          reply => done(js, Ok(reply)),
        },
        Route::Message => {
          if let Some((channel, payload)) = pubsub::message(&reply) {
            if let Ok(mut h) = this.handler.try_borrow_mut() {
              if let Some(h) = h.as_mut() {
                h.message(js, channel, payload);
              }
            }
          }
        }
        Route::Subscribed => this.notify_state(js, true),
        Route::Nothing => {}
        Route::Fail(e) => failure = Some(e),
      }
      parser.reset();
      rbuf.consume(n);
      if failure.is_some() {
        break;
      }
    }
    let fallout = {
      let mut i = this.inner.borrow_mut();
      if !current || i.epoch != epoch {
        None
      } else {
        i.rbuf = rbuf;
        i.parser = parser;
        failure.map(|e| i.fail_link(e))
      }
    };
    if let Some(f) = fallout {
      this.settle(js, f);
    }
  }

  /// The end of every loop callback: runs the continuations of what was settled (commands they
  /// issue are buffered), writes everything buffered in one go, closes an orphan that is done.
  fn end_callback(this: &Rc<Shared>, scope: &mut Scope<'_>) {
    scope.drain();
    let fallout = {
      let mut i = this.inner.borrow_mut();
      i.dispatching = false;
      match i.flush() {
        Ok(()) => None,
        Err(e) => Some(i.fail_link(e)),
      }
    };
    if let Some(f) = fallout {
      this.settle(&scope.js(), f);
    }
    this.reap();
  }
}

impl PollTarget for Shared {
  fn on_poll(this: &Rc<Shared>, scope: &mut Scope<'_>, events: Result<Events, UvError>) {
    {
      let mut i = this.inner.borrow_mut();
      i.stats.poll_events += 1;
      i.dispatching = true;
    }
    Shared::pump(this, &scope.js(), Some(events));
    Shared::end_callback(this, scope);
  }
}

impl TimerTarget for Shared {
  fn on_timer(this: &Rc<Shared>, scope: &mut Scope<'_>) {
    let deferred = {
      let mut i = this.inner.borrow_mut();
      i.armed = None;
      i.dispatching = true;
      i.deferred.take().map(|e| i.fail_link(e))
    };
    let js = scope.js();
    if let Some(f) = deferred {
      this.settle(&js, f);
    }
    // Replies that arrived while the loop was busy elsewhere are not timeouts.
    Shared::pump(this, &js, None);
    let expired = {
      let mut i = this.inner.borrow_mut();
      let now = Instant::now();
      let setting_up = matches!(&i.link, Link::Up(l) if !l.ready);
      let late_setup = i.connect_deadline.is_some_and(|d| d <= now)
        || i
          .pending
          .iter()
          .any(|p| p.deadline <= now && !matches!(p.waiter, Waiter::User(_)));
      let late_user = i
        .pending
        .iter()
        .any(|p| p.deadline <= now && matches!(p.waiter, Waiter::User(_)));
      if late_setup || (late_user && !setting_up) {
        Some(i.fail_link(Error::Timeout))
      } else if late_user {
        // Still connecting: the commands give up, the attempt goes on until connect_timeout.
        Some(i.fail_queued_users(Error::Timeout))
      } else {
        None
      }
    };
    if let Some(f) = expired {
      this.settle(&js, f);
    }
    {
      let mut i = this.inner.borrow_mut();
      i.maintain(this);
      i.rearm();
    }
    Shared::end_callback(this, scope);
  }
}

impl ResolveTarget for Shared {
  fn on_resolved(this: &Rc<Shared>, scope: &mut Scope<'_>, addresses: Result<Vec<SocketAddr>, UvError>) {
    let fallout = {
      let mut i = this.inner.borrow_mut();
      if !matches!(i.link, Link::Resolving { .. }) {
        return;
      }
      i.dispatching = true;
      let server = i.config.server();
      let opened = match addresses {
        Ok(list) if !list.is_empty() => i.open_socket(this, list),
        Ok(_) => Err(format!("{server}: the name has no address")),
        Err(e) => Err(format!("cannot look up {server}: {e}")),
      };
      opened.err().map(|why| i.fail_link(Error::Unavailable(why)))
    };
    if let Some(f) = fallout {
      this.settle(&scope.js(), f);
    }
    Shared::end_callback(this, scope);
  }
}

impl Inner {
  fn submit<A: AsRef<[u8]>>(&mut self, this: &Rc<Shared>, args: &[A], done: Completion) -> Result<(), Error> {
    if self.shut {
      return Err(Error::Closed);
    }
    if let Link::Down { retry_at, reason } = &self.link {
      if Instant::now() < *retry_at {
        return Err(Error::Unavailable(reason.clone()));
      }
      self.start_connect(this);
      if let Link::Down { reason, .. } = &self.link {
        return Err(Error::Unavailable(reason.clone()));
      }
    }
    resp::encode(&mut self.wbuf, args);
    let deadline = Instant::now() + self.config.command_timeout;
    self.pending.push_back(Pending {
      deadline,
      waiter: Waiter::User(done),
    });
    self.users += 1;
    if self.users == 1 {
      self.set_ref(true);
    }
    self.wake_by(deadline);
    if !self.dispatching {
      if let Err(e) = self.flush() {
        self.deferred = Some(e);
        self.wake_by(Instant::now());
      }
    }
    Ok(())
  }

  /// Starts a connect attempt from `Link::Down`: queues the setup commands, then looks the host
  /// up or opens the socket. On an immediate failure the link is down again, with a back-off.
  fn start_connect(&mut self, this: &Rc<Shared>) {
    debug_assert!(self.pending.is_empty() && self.users == 0);
    self.stats.connects += 1;
    let now = Instant::now();
    let deadline = now + self.config.connect_timeout;
    self.connect_deadline = Some(deadline);
    self.hbuf.clear();
    self.hpos = 0;
    self.setup_left = 0;
    if let Some(password) = &self.config.password {
      match &self.config.username {
        Some(user) => resp::encode(&mut self.hbuf, &[b"AUTH".as_slice(), user, password]),
        None => resp::encode(&mut self.hbuf, &[b"AUTH".as_slice(), password]),
      }
      self.push_setup(Waiter::Auth, deadline);
    }
    if self.config.db != 0 {
      let db = self.config.db.to_string();
      resp::encode(&mut self.hbuf, &[b"SELECT".as_slice(), db.as_bytes()]);
      self.push_setup(Waiter::Select, deadline);
    }
    if let Role::Subscriber { channel, .. } = &self.role {
      resp::encode(&mut self.hbuf, &[b"SUBSCRIBE".as_slice(), channel]);
      self.push_setup(Waiter::Subscribe, deadline);
    }
    let started = match self.config.host.clone() {
      Host::Ip(ip) => self.open_socket(this, vec![SocketAddr::new(ip, self.config.port)]),
      Host::Name(name) => match self.anchor.as_ref() {
        None => Err("the connection is closed".into()),
        Some(anchor) => match uv::resolve(anchor, &name, self.config.port, this.clone()) {
          Ok(r) => {
            self.link = Link::Resolving { _lookup: r };
            Ok(())
          }
          Err(e) => Err(format!("cannot look up {}: {e}", self.config.server())),
        },
      },
    };
    match started {
      Ok(()) => self.wake_by(deadline),
      Err(why) => {
        // Only setup waiters are pending: nothing to run.
        let fallout = self.fail_link(Error::Unavailable(why));
        debug_assert!(fallout.completions.is_empty() && !fallout.lost);
      }
    }
  }

  fn push_setup(&mut self, waiter: Waiter, deadline: Instant) {
    self.pending.push_back(Pending { deadline, waiter });
    self.setup_left += 1;
  }

  /// Opens a non-blocking socket to the first of `addresses` that does not refuse at once and
  /// watches it; the rest are kept as fallbacks for a refused connect.
  fn open_socket(&mut self, this: &Rc<Shared>, mut addresses: Vec<SocketAddr>) -> Result<(), String> {
    let server = self.config.server();
    let Some(anchor) = self.anchor.as_ref() else {
      return Err("the connection is closed".into());
    };
    addresses.reverse(); // popped from the end, in the given order
    let mut last = String::from("no address");
    while let Some(addr) = addresses.pop() {
      let attempt = (|| -> std::io::Result<(Socket, bool)> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        sock.set_tcp_nodelay(true)?;
        match sock.connect(&SockAddr::from(addr)) {
          Ok(()) => Ok((sock, true)),
          Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok((sock, false)),
          Err(e) => Err(e),
        }
      })();
      let (sock, connected) = match attempt {
        Ok(v) => v,
        Err(e) => {
          last = e.to_string();
          continue;
        }
      };
      let stream =
        Stream::new(self.config.tls.as_ref()).map_err(|e| format!("TLS setup for {server}: {}", e.message))?;
      let mut poll = Poll::new(anchor, sock, this.clone()).map_err(|(e, _)| format!("cannot watch a socket: {e}"))?;
      poll
        .watch(!connected)
        .map_err(|e| format!("cannot watch a socket: {e}"))?;
      poll.set_ref(self.users > 0);
      self.link = Link::Up(Live {
        poll,
        stream,
        fallbacks: addresses,
        connected: false,
        ready: false,
        write_watch: !connected,
      });
      if connected {
        self.on_connected();
      }
      return Ok(());
    }
    Err(format!("cannot connect to {server}: {last}"))
  }

  fn on_connected(&mut self) {
    if let Link::Up(live) = &mut self.link {
      live.connected = true;
    }
    let _ = self.check_ready();
  }

  /// Marks the link ready once TCP, TLS and every setup reply are done. `Subscribed` when this
  /// made a subscription usable.
  fn check_ready(&mut self) -> Route {
    let Link::Up(live) = &mut self.link else {
      return Route::Nothing;
    };
    if live.ready || !live.connected || self.setup_left > 0 || live.stream.handshaking() {
      return Route::Nothing;
    }
    live.ready = true;
    self.connect_deadline = None;
    self.stats.ready += 1;
    self.last_rx = Instant::now();
    match self.role {
      Role::Subscriber { .. } => Route::Subscribed,
      Role::Commands => Route::Nothing,
    }
  }

  /// Socket I/O for an event: completes a pending connect, reads what arrived into `rbuf`.
  /// `Err`: the link failed (acted on after the replies already read are delivered).
  fn receive(&mut self, this: &Rc<Shared>, events: Option<Result<Events, UvError>>) -> Result<(), Error> {
    let Link::Up(live) = &mut self.link else {
      return Ok(());
    };
    let failed = match events {
      Some(Err(e)) => Some(match live.poll.socket().take_error() {
        // libuv reports a socket error (EPOLLERR) as EBADF: the socket says what it was.
        Ok(Some(err)) => err.to_string(),
        _ => e.to_string(),
      }),
      Some(Ok(ev)) if !live.connected => match live.poll.socket().take_error() {
        Ok(None) if ev.writable => None,
        Ok(None) => return Ok(()),
        Ok(Some(err)) | Err(err) => Some(err.to_string()),
      },
      _ => None,
    };
    if let Some(why) = failed {
      if live.connected {
        return Err(if live.ready {
          Error::Lost(why)
        } else {
          Error::Unavailable(format!("{}: {why}", self.config.server()))
        });
      }
      // A refused connect: try the next address, if any, keeping what is queued.
      let rest = std::mem::take(&mut live.fallbacks);
      if rest.is_empty() {
        return Err(Error::Unavailable(format!(
          "cannot connect to {}: {why}",
          self.config.server()
        )));
      }
      return self.open_socket(this, rest).map_err(Error::Unavailable);
    }
    if !live.connected {
      if events.is_none() {
        return Ok(());
      }
      self.on_connected();
    }
    let Link::Up(live) = &mut self.link else {
      return Ok(());
    };
    let got = live
      .stream
      .read(live.poll.socket(), &mut self.rbuf, self.parser.wanted());
    let ready = live.ready;
    match got {
      Ok(r) => {
        if r.bytes > 0 {
          self.stats.reads += 1;
          self.last_rx = Instant::now();
        }
        let _ = self.check_ready();
        if r.eof {
          let why = "the server closed the connection".to_string();
          return Err(if ready {
            Error::Lost(why)
          } else {
            Error::Unavailable(format!("{}: {why}", self.config.server()))
          });
        }
        Ok(())
      }
      Err(e) => Err(self.stream_error(e, ready)),
    }
  }

  fn stream_error(&self, e: StreamError, ready: bool) -> Error {
    let server = self.config.server();
    match (e.tls, ready) {
      (true, false) => Error::Unavailable(format!("TLS handshake with {server} failed: {}", e.message)),
      (true, true) => Error::Lost(format!("TLS: {}", e.message)),
      (false, false) => Error::Unavailable(format!("{server}: {}", e.message)),
      (false, true) => Error::Lost(e.message),
    }
  }

  /// Decides who a complete reply is for (popping its waiter).
  fn route(&mut self, reply: &Reply<'_>) -> Route {
    self.stats.replies += 1;
    if matches!(self.role, Role::Subscriber { .. }) && pubsub::message(reply).is_some() {
      self.stats.messages += 1;
      return Route::Message;
    }
    let Some(p) = self.pending.pop_front() else {
      return Route::Fail(Error::Protocol("a reply nobody asked for".into()));
    };
    // The server answers: attempts after a later failure need not back off from earlier ones.
    self.backoff = Duration::ZERO;
    let config = &self.config;
    // Only the error's code: a server (or a proxy) may echo the command's arguments, and AUTH's
    // are the credentials.
    let refused = |what: &str, text: &[u8]| {
      Route::Fail(Error::Unavailable(format!(
        "{} refused {what}: {}",
        config.server(),
        error_code(text)
      )))
    };
    match p.waiter {
      Waiter::User(done) => {
        self.users -= 1;
        if self.users == 0 {
          self.set_ref(false);
        }
        Route::User(done)
      }
      Waiter::Auth => match reply {
        Reply::Status(b"OK") => self.setup_done(),
        Reply::Error(text) => refused("AUTH", text),
        _ => Route::Fail(Error::Protocol("unexpected answer to AUTH".into())),
      },
      Waiter::Select => match reply {
        Reply::Status(b"OK") => self.setup_done(),
        Reply::Error(text) => refused("SELECT", text),
        _ => Route::Fail(Error::Protocol("unexpected answer to SELECT".into())),
      },
      Waiter::Subscribe => match reply {
        Reply::Array(items) if items.iter().next().and_then(|r| r.bulk()) == Some(b"subscribe") => self.setup_done(),
        Reply::Error(text) => refused("SUBSCRIBE", text),
        _ => Route::Fail(Error::Protocol("unexpected answer to SUBSCRIBE".into())),
      },
      Waiter::Ping => {
        self.ping_out = false;
        match reply {
          Reply::Error(text) => Route::Fail(Error::Lost(format!("PING refused: {}", error_code(text)))),
          _ => Route::Nothing,
        }
      }
    }
  }

  fn setup_done(&mut self) -> Route {
    self.setup_left -= 1;
    self.check_ready()
  }

  /// Writes what is buffered, as far as the socket takes it: setup commands always, user
  /// commands once ready; watches for writability while something is left.
  fn flush(&mut self) -> Result<(), Error> {
    let Link::Up(live) = &mut self.link else {
      return Ok(());
    };
    if !live.connected {
      return Ok(());
    }
    let ready = live.ready;
    let sock = live.poll.socket();
    let mut blocked = false;
    let mut failure = None;
    if self.hpos < self.hbuf.len() {
      match live.stream.write(sock, &self.hbuf[self.hpos..]) {
        Ok((n, b)) => {
          self.hpos += n;
          blocked = b;
          self.stats.writes += u64::from(n > 0);
        }
        Err(e) => failure = Some(e),
      }
    }
    if failure.is_none() && !blocked && ready && self.hpos == self.hbuf.len() && self.wpos < self.wbuf.len() {
      match live.stream.write(sock, &self.wbuf[self.wpos..]) {
        Ok((n, b)) => {
          self.wpos += n;
          blocked = b;
          self.stats.writes += u64::from(n > 0);
        }
        Err(e) => failure = Some(e),
      }
    }
    if failure.is_none() && !blocked && live.stream.has_records() {
      match live.stream.flush(sock) {
        Ok(b) => blocked = b,
        Err(e) => failure = Some(e),
      }
    }
    if let Some(e) = failure {
      return Err(self.stream_error(e, ready));
    }
    if self.hpos == self.hbuf.len() {
      self.hbuf.clear();
      self.hpos = 0;
    }
    if self.wpos == self.wbuf.len() {
      self.wbuf.clear();
      self.wpos = 0;
      if self.wbuf.capacity() > 1 << 20 {
        self.wbuf.shrink_to(4096);
      }
    }
    if blocked != live.write_watch {
      live.write_watch = blocked;
      live
        .poll
        .watch(blocked)
        .map_err(|e| Error::Lost(format!("cannot watch the socket: {e}")))?;
    }
    Ok(())
  }

  /// Drops the link and fails everything pending. After a usable connection broke, the next
  /// attempt may start at once; after a failed attempt or a server that stopped answering (a
  /// timeout), not before the back-off, which doubles until a reply arrives again.
  fn fail_link(&mut self, error: Error) -> Fallout {
    let was_ready = matches!(&self.link, Link::Up(l) if l.ready);
    self.epoch += 1;
    let now = Instant::now();
    if was_ready && error != Error::Timeout {
      self.backoff = Duration::ZERO;
    } else {
      self.backoff = (self.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
    }
    // Dropping the live link closes its poll handle, then its socket.
    self.link = Link::Down {
      retry_at: now + self.backoff,
      reason: match &error {
        Error::Unavailable(why) => why.clone(),
        other => other.to_string(),
      },
    };
    if error == Error::Timeout {
      self.stats.timeouts += 1;
    }
    self.hbuf.clear();
    self.hpos = 0;
    self.wbuf.clear();
    self.wpos = 0;
    self.rbuf.clear();
    self.parser.reset();
    self.setup_left = 0;
    self.users = 0;
    self.ping_out = false;
    self.connect_deadline = None;
    self.deferred = None;
    let completions = self.take_user_completions();
    let subscriber = matches!(self.role, Role::Subscriber { .. });
    if subscriber && !self.shut {
      self.rearm();
    }
    Fallout {
      completions,
      error,
      lost: was_ready && subscriber,
    }
  }

  /// Empties the pending queue, returning the callers' completions (setup and keepalive
  /// commands have none).
  /// Fails the user commands queued on a connection still being set up, and keeps the attempt:
  /// none of them was written (user commands wait for the link to be ready), so dropping their
  /// bytes leaves nothing out of order, and a connection slower to make than a command's
  /// deadline (a far server, TLS) is still made.
  fn fail_queued_users(&mut self, error: Error) -> Fallout {
    let mut completions = Vec::new();
    let mut setup = VecDeque::with_capacity(self.pending.len());
    for p in self.pending.drain(..) {
      match p.waiter {
        Waiter::User(done) => completions.push(done),
        waiter => setup.push_back(Pending {
          deadline: p.deadline,
          waiter,
        }),
      }
    }
    self.pending = setup;
    debug_assert_eq!(self.wpos, 0, "no user command is written before the link is ready");
    self.wbuf.clear();
    self.wpos = 0;
    self.users = 0;
    self.set_ref(false);
    self.stats.timeouts += 1;
    Fallout {
      completions,
      error,
      lost: false,
    }
  }

  fn take_user_completions(&mut self) -> Vec<Completion> {
    self
      .pending
      .drain(..)
      .filter_map(|p| match p.waiter {
        Waiter::User(done) => Some(done),
        _ => None,
      })
      .collect()
  }

  /// Closes the handles and releases the environment; returns the pending completions (to
  /// fail with `Closed`). Idempotent.
  fn shutdown(&mut self) -> Vec<Completion> {
    if self.shut {
      return Vec::new();
    }
    self.shut = true;
    self.epoch += 1;
    let completions = self.take_user_completions();
    self.users = 0;
    self.link = Link::Down {
      retry_at: Instant::now(),
      reason: "the connection is closed".into(),
    };
    self.timer = None;
    self.armed = None;
    // The anchor finishes (and lets the environment go) once the handles' close callbacks ran.
    self.anchor = None;
    self.hbuf = Vec::new();
    self.wbuf = Vec::new();
    self.rbuf = ReadBuf::default();
    self.parser.reset();
    completions
  }

  fn set_ref(&self, on: bool) {
    if let Link::Up(live) = &self.link {
      live.poll.set_ref(on);
    }
  }

  /// Makes the timer fire no later than `at`.
  fn wake_by(&mut self, at: Instant) {
    if self.armed.is_none_or(|a| at < a) {
      self.arm(at);
    }
  }

  fn arm(&mut self, at: Instant) {
    if let Some(timer) = &mut self.timer {
      let wait = at.saturating_duration_since(Instant::now());
      // Round up: a timer that fires early only re-arms; one that fires late delays a timeout.
      let ms = wait.as_micros().div_ceil(1000) as u64;
      timer.start(ms);
      self.armed = Some(at);
    }
  }

  /// Sets the timer for the earliest thing it watches: a deferred failure, the connect
  /// deadline, the pending deadlines, a subscription's keepalive or reconnect.
  fn rearm(&mut self) {
    let now = Instant::now();
    let mut next: Option<Instant> = None;
    let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
    if self.deferred.is_some() {
      consider(now);
    }
    if let Some(d) = self.connect_deadline {
      consider(d);
    }
    if let Some(d) = self.pending.iter().map(|p| p.deadline).min() {
      consider(d);
    }
    if let Role::Subscriber { keepalive, .. } = &self.role {
      match &self.link {
        Link::Up(l) if l.ready && !self.ping_out => consider(self.last_rx + *keepalive),
        Link::Down { retry_at, .. } if !self.shut => consider(*retry_at),
        _ => {}
      }
    }
    match next {
      Some(t) => self.arm(t),
      None => {
        if let Some(timer) = &mut self.timer {
          timer.stop();
        }
        self.armed = None;
      }
    }
  }

  /// A subscription's upkeep from the timer: PING after silence, reconnect when due.
  fn maintain(&mut self, this: &Rc<Shared>) {
    let Role::Subscriber { keepalive, .. } = &self.role else {
      return;
    };
    let keepalive = *keepalive;
    if self.shut {
      return;
    }
    let now = Instant::now();
    match &self.link {
      Link::Up(l) if l.ready && !self.ping_out && now >= self.last_rx + keepalive => {
        resp::encode(&mut self.wbuf, &[b"PING"]);
        self.pending.push_back(Pending {
          deadline: now + self.config.command_timeout,
          waiter: Waiter::Ping,
        });
        self.ping_out = true;
      }
      Link::Down { retry_at, .. } if now >= *retry_at => self.start_connect(this),
      _ => {}
    }
  }
}

/// A server's error text, safe to carry: cut, control characters replaced.
/// The first word of a server's error reply (`WRONGPASS`, `NOAUTH`, `ERR`), cleaned as
/// [`server_text`]; the rest may echo the command's arguments.
fn error_code(text: &[u8]) -> String {
  let word = text.split(|&b| b == b' ').next().unwrap_or_default();
  server_text(&word[..word.len().min(32)])
}

fn server_text(text: &[u8]) -> String {
  String::from_utf8_lossy(text)
    .chars()
    .take(MAX_ERROR_TEXT)
    .map(|c| if c.is_control() { '?' } else { c })
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_refusal_shows_only_the_error_code() {
    assert_eq!(
      error_code(b"ERR unknown command 'AUTH', with args beginning with: 'admin' 'Secret42'"),
      "ERR"
    );
    assert_eq!(error_code(b"WRONGPASS invalid username-password pair"), "WRONGPASS");
    assert_eq!(error_code(b""), "");
    assert_eq!(error_code(&[b'x'; 100]).len(), 32);
  }

  #[test]
  fn server_text_is_cut_and_cleaned() {
    assert_eq!(server_text(b"ERR bad\r\nthing\x00"), "ERR bad??thing?");
    assert_eq!(server_text(&[b'x'; 500]).len(), MAX_ERROR_TEXT);
  }

  #[test]
  fn error_codes_and_texts() {
    assert_eq!(Error::Timeout.code(), "timeout");
    assert_eq!(
      Error::Server("ERR x".into()).to_string(),
      "redis answered with an error: ERR x"
    );
    assert!(Error::Unavailable("cannot connect".into())
      .to_string()
      .contains("cannot connect"));
  }
}
