//! libuv, reached at run time: the poll handles, timers and name lookups of the event-loop Redis
//! transport, on the loop that runs the JS thread of one environment.
//!
//! # Binding
//!
//! The functions are looked up with `dlsym(RTLD_DEFAULT, ..)` when first needed, not linked: the
//! `node` executable exports libuv's symbols, but a runtime that does not (or a build whose
//! loader binds everything at load time) would otherwise refuse to load the whole addon for one
//! missing symbol. [`available`] says whether every function was found and the handle-type
//! numbers this module assumes are the ones the running libuv uses; when it says no, callers
//! use another transport. Nothing here links libuv itself: a second libuv in the process would
//! have its own, empty loop.
//!
//! # Invariants kept here
//!
//! - Handle and request structs are opaque: they are allocated with the size libuv reports for
//!   their kind at run time and reached only through libuv functions (`uv_handle_set_data`, not
//!   a field at an assumed offset).
//! - Every handle is created through an [`Anchor`] and counted open on it until its close
//!   callback ran; the anchor keeps the environment (and so the loop) alive until then. A handle's
//!   memory and its callback data are freed only in that close callback, after which libuv never
//!   mentions the handle again.
//! - Every type here holds raw pointers, so none is `Send`: handles are made, used and closed on
//!   the thread of the loop they belong to, which is the thread of their anchor's environment.
//! - Callbacks into Rust run inside a handle scope and a callback scope of the anchor's
//!   environment ([`Scope`]), and a panic in them aborts the process with a message instead of
//!   unwinding into libuv's C frames.

#![allow(non_camel_case_types)]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::OnceLock;

use socket2::Socket;

use super::loop_napi::{Anchor, AnchorState, Scope};

/// `uv_loop_t`, opaque.
#[repr(C)]
pub(super) struct uv_loop_t {
  _private: [u8; 0],
}

/// `uv_handle_t` (of any kind), opaque.
#[repr(C)]
struct uv_handle_t {
  _private: [u8; 0],
}

/// `uv_req_t` (of any kind), opaque.
#[repr(C)]
struct uv_req_t {
  _private: [u8; 0],
}

// Kind numbers from uv.h (UV_HANDLE_TYPE_MAP / UV_REQ_TYPE_MAP, unchanged since libuv 1.0);
// checked against the running libuv's own names in `bind`.
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
const UV_GETADDRINFO: c_int = 8;

const UV_READABLE: c_int = 1;
const UV_WRITABLE: c_int = 2;
const UV_DISCONNECT: c_int = 4;

type uv_poll_cb = unsafe extern "C" fn(handle: *mut uv_handle_t, status: c_int, events: c_int);
type uv_timer_cb = unsafe extern "C" fn(handle: *mut uv_handle_t);
type uv_close_cb = unsafe extern "C" fn(handle: *mut uv_handle_t);
type uv_getaddrinfo_cb = unsafe extern "C" fn(req: *mut uv_req_t, status: c_int, res: *mut libc::addrinfo);

/// The libuv functions used, as found in the running process.
struct Api {
  handle_size: unsafe extern "C" fn(c_int) -> usize,
  req_size: unsafe extern "C" fn(c_int) -> usize,
  handle_type_name: unsafe extern "C" fn(c_int) -> *const c_char,
  req_type_name: unsafe extern "C" fn(c_int) -> *const c_char,
  handle_set_data: unsafe extern "C" fn(*mut uv_handle_t, *mut c_void),
  handle_get_data: unsafe extern "C" fn(*const uv_handle_t) -> *mut c_void,
  req_set_data: unsafe extern "C" fn(*mut uv_req_t, *mut c_void),
  req_get_data: unsafe extern "C" fn(*const uv_req_t) -> *mut c_void,
  close: unsafe extern "C" fn(*mut uv_handle_t, Option<uv_close_cb>),
  ref_: unsafe extern "C" fn(*mut uv_handle_t),
  unref: unsafe extern "C" fn(*mut uv_handle_t),
  poll_init_socket: unsafe extern "C" fn(*mut uv_loop_t, *mut uv_handle_t, c_int) -> c_int,
  poll_start: unsafe extern "C" fn(*mut uv_handle_t, c_int, uv_poll_cb) -> c_int,
  timer_init: unsafe extern "C" fn(*mut uv_loop_t, *mut uv_handle_t) -> c_int,
  timer_start: unsafe extern "C" fn(*mut uv_handle_t, uv_timer_cb, u64, u64) -> c_int,
  timer_stop: unsafe extern "C" fn(*mut uv_handle_t) -> c_int,
  getaddrinfo: unsafe extern "C" fn(
    *mut uv_loop_t,
    *mut uv_req_t,
    uv_getaddrinfo_cb,
    *const c_char,
    *const c_char,
    *const libc::addrinfo,
  ) -> c_int,
  freeaddrinfo: unsafe extern "C" fn(*mut libc::addrinfo),
  cancel: unsafe extern "C" fn(*mut uv_req_t) -> c_int,
  strerror: unsafe extern "C" fn(c_int) -> *const c_char,
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

/// Looks up one function by name in the process's global symbol scope.
///
/// # Safety
/// `F` must be the `unsafe extern "C" fn` type matching the C declaration of `name` in uv.h.
unsafe fn symbol<F: Copy>(name: &CStr) -> Result<F, String> {
  // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loaded objects'
  // symbol tables.
  let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
  if p.is_null() {
    return Err(format!("{} not found", name.to_string_lossy()));
  }
  debug_assert_eq!(size_of::<F>(), size_of::<*mut c_void>());
  // SAFETY: `p` is the address of the function `name`, whose C signature the caller vouches `F`
  // matches; function pointers and data pointers have the same size and representation on the
  // platforms this crate builds for.
  Ok(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
}

fn bind() -> Result<Api, String> {
  // SAFETY (every `symbol` call): each field's type is the uv.h declaration of that function.
  let api = unsafe {
    Api {
      handle_size: symbol(c"uv_handle_size")?,
      req_size: symbol(c"uv_req_size")?,
      handle_type_name: symbol(c"uv_handle_type_name")?,
      req_type_name: symbol(c"uv_req_type_name")?,
      handle_set_data: symbol(c"uv_handle_set_data")?,
      handle_get_data: symbol(c"uv_handle_get_data")?,
      req_set_data: symbol(c"uv_req_set_data")?,
      req_get_data: symbol(c"uv_req_get_data")?,
      close: symbol(c"uv_close")?,
      ref_: symbol(c"uv_ref")?,
      unref: symbol(c"uv_unref")?,
      poll_init_socket: symbol(c"uv_poll_init_socket")?,
      poll_start: symbol(c"uv_poll_start")?,
      timer_init: symbol(c"uv_timer_init")?,
      timer_start: symbol(c"uv_timer_start")?,
      timer_stop: symbol(c"uv_timer_stop")?,
      getaddrinfo: symbol(c"uv_getaddrinfo")?,
      freeaddrinfo: symbol(c"uv_freeaddrinfo")?,
      cancel: symbol(c"uv_cancel")?,
      strerror: symbol(c"uv_strerror")?,
    }
  };
  // The kind numbers compiled in must name the kinds the running libuv means by them.
  let named = |f: unsafe extern "C" fn(c_int) -> *const c_char, kind: c_int, want: &str| {
    // SAFETY: both name functions return a static NUL-terminated string, or NULL for a number
    // they do not know.
    let p = unsafe { f(kind) };
    // SAFETY: non-null, so a static C string.
    !p.is_null() && unsafe { CStr::from_ptr(p) }.to_bytes() == want.as_bytes()
  };
  if !named(api.handle_type_name, UV_POLL, "poll")
    || !named(api.handle_type_name, UV_TIMER, "timer")
    || !named(api.req_type_name, UV_GETADDRINFO, "getaddrinfo")
  {
    return Err("libuv handle kinds differ from uv.h 1.x".into());
  }
  Ok(api)
}

fn api() -> Result<&'static Api, &'static str> {
  API.get_or_init(bind).as_ref().map_err(String::as_str)
}

/// Whether the libuv functions the event-loop transport needs are in this process; otherwise
/// why not (a missing symbol's name, or an ABI mismatch). Safe to call from any thread.
pub fn available() -> Result<(), &'static str> {
  api().map(|_| ())
}

/// The loop of one environment, as N-API reports it.
#[derive(Clone, Copy)]
pub(super) struct Loop(pub(super) *mut uv_loop_t);

/// A libuv error code (a negated errno on Unix).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UvError(pub i32);

impl UvError {
  /// The errno this code stands for (libuv negates errno values on Unix).
  pub fn errno(self) -> i32 {
    -self.0
  }
}

impl fmt::Display for UvError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match api() {
      Ok(api) => {
        // SAFETY: uv_strerror returns a static NUL-terminated string, also for unknown codes.
        let text = unsafe { CStr::from_ptr((api.strerror)(self.0)) };
        f.write_str(&text.to_string_lossy())
      }
      Err(_) => write!(f, "libuv error {}", self.0),
    }
  }
}

impl fmt::Debug for UvError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "UvError({}: {self})", self.0)
  }
}

fn check(rc: c_int) -> Result<(), UvError> {
  if rc < 0 {
    Err(UvError(rc))
  } else {
    Ok(())
  }
}

/// Runs a callback body; a panic aborts the process with a message (unwinding into libuv's C
/// frames would be undefined behaviour, and Rust would abort anyway: this only says where).
fn abort_on_panic(what: &str, f: impl FnOnce()) {
  if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
    eprintln!("sequelize-native-cache: panic in a libuv {what} callback; aborting");
    std::process::abort();
  }
}

/// Memory for one handle or request of `size` bytes (zeroed, as uv.h's own examples get it).
fn layout(size: usize) -> Layout {
  assert!(size > 0, "libuv reported a zero size");
  // 16 covers every field of libuv's structs (pointers, u64, and the platform's max_align_t).
  Layout::from_size_align(size, 16).expect("handle layout")
}

fn allocate(size: usize) -> *mut u8 {
  let l = layout(size);
  // SAFETY: the layout has a non-zero size.
  let p = unsafe { alloc_zeroed(l) };
  if p.is_null() {
    std::alloc::handle_alloc_error(l);
  }
  p
}

/// What a handle's `data` points at: the handle's target, its anchor, and how to free it.
struct HandleData<T> {
  target: Rc<T>,
  anchor: Rc<AnchorState>,
  size: usize,
}

/// What a poll handle reports to.
pub trait PollTarget: 'static {
  /// The socket is readable / writable / hung up (`Ok`), or polling failed (`Err`; for a socket
  /// error libuv reports `EBADF`, and the socket's own `SO_ERROR` says what happened).
  fn on_poll(this: &Rc<Self>, scope: &mut Scope<'_>, events: Result<Events, UvError>);
}

/// What a timer reports to.
pub trait TimerTarget: 'static {
  /// The timer expired.
  fn on_timer(this: &Rc<Self>, scope: &mut Scope<'_>);
}

/// What a name lookup reports to.
pub trait ResolveTarget: 'static {
  /// The addresses of the name (possibly empty), or why there are none. Not called for a lookup
  /// whose [`Resolving`] was dropped first.
  fn on_resolved(this: &Rc<Self>, scope: &mut Scope<'_>, addresses: Result<Vec<SocketAddr>, UvError>);
}

/// Readiness reported by a poll handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
  /// Data (or an EOF) can be read.
  pub readable: bool,
  /// A write would not block (also: a non-blocking connect finished, well or not).
  pub writable: bool,
  /// The peer hung up its side.
  pub disconnect: bool,
}

/// `uv_ref` or `uv_unref` of any handle kind.
///
/// # Safety
/// `h` is an open handle of the loop this thread runs.
unsafe fn set_handle_ref(api: &Api, h: *mut uv_handle_t, on: bool) {
  if on {
    (api.ref_)(h)
  } else {
    (api.unref)(h)
  }
}

/// Takes a new strong reference to a handle's data, so that the handle may be closed (and its
/// data released by the close callback later) while the callback runs.
///
/// # Safety
/// `h` is an open handle (its close callback has not run) whose data is a `HandleData<T>`.
unsafe fn data_of<T>(api: &Api, h: *mut uv_handle_t) -> (Rc<T>, Rc<AnchorState>) {
  // SAFETY: the caller guarantees `h` is open; its data was set at creation.
  let data = unsafe { &*((api.handle_get_data)(h) as *const HandleData<T>) };
  (data.target.clone(), data.anchor.clone())
}

/// libuv's poll callback for handles made by `Poll::new::<T>`.
///
/// # Safety
/// Called by libuv only, for an open poll handle whose data is a `HandleData<T>`.
unsafe extern "C" fn poll_cb<T: PollTarget>(h: *mut uv_handle_t, status: c_int, events: c_int) {
  abort_on_panic("poll", || {
    let Ok(api) = api() else { return };
    // SAFETY: libuv calls this only for the open poll handle it was started with, whose data
    // was set to a HandleData<T> by `Poll::new::<T>`.
    let (target, anchor) = unsafe { data_of::<T>(api, h) };
    let result = if status < 0 {
      Err(UvError(status))
    } else {
      Ok(Events {
        readable: events & UV_READABLE != 0,
        writable: events & UV_WRITABLE != 0,
        disconnect: events & UV_DISCONNECT != 0,
      })
    };
    anchor.enter(|scope| T::on_poll(&target, scope, result));
  });
}

/// libuv's timer callback for timers made by `Timer::new::<T>`.
///
/// # Safety
/// Called by libuv only, for an open timer whose data is a `HandleData<T>`.
unsafe extern "C" fn timer_cb<T: TimerTarget>(h: *mut uv_handle_t) {
  abort_on_panic("timer", || {
    let Ok(api) = api() else { return };
    // SAFETY: as in poll_cb, for the timer made by `Timer::new::<T>`.
    let (target, anchor) = unsafe { data_of::<T>(api, h) };
    anchor.enter(|scope| T::on_timer(&target, scope));
  });
}

/// A handle's close callback: frees its data and memory, and tells its anchor it is closed.
///
/// # Safety
/// Called by libuv only, once, for a handle made by `open_handle::<T>` and closed with it.
unsafe extern "C" fn close_cb<T: 'static>(h: *mut uv_handle_t) {
  abort_on_panic("close", || {
    let Ok(api) = api() else { return };
    // SAFETY: this is the close callback of a handle made by `Poll::new::<T>` or
    // `Timer::new::<T>`: its data is the Box<HandleData<T>> leaked there, libuv will not touch
    // the handle again, and nothing else frees either.
    let data = unsafe { Box::from_raw((api.handle_get_data)(h) as *mut HandleData<T>) };
    // SAFETY: allocated by `allocate(data.size)` and no longer used by libuv.
    unsafe { dealloc(h.cast(), layout(data.size)) };
    let HandleData { target, anchor, .. } = *data;
    // The target may go now (this may be its last reference), before the anchor learns that
    // the handle is closed: that may let the environment go.
    drop(target);
    anchor.handle_closed();
  });
}

/// Allocates and initialises a handle, attaching `target` as its data.
///
/// # Safety
/// `init` initialises the handle of `kind` at the given address on the given loop (a
/// `uv_*_init` function).
unsafe fn open_handle<T: 'static>(
  api: &Api,
  anchor: &Anchor,
  kind: c_int,
  target: Rc<T>,
  init: impl FnOnce(*mut uv_loop_t, *mut uv_handle_t) -> c_int,
) -> Result<*mut uv_handle_t, UvError> {
  if !anchor.state().accepting() {
    return Err(UvError(-libc::ECANCELED));
  }
  // SAFETY: a size lookup.
  let size = unsafe { (api.handle_size)(kind) };
  let h = allocate(size) as *mut uv_handle_t;
  let rc = init(anchor.uv_loop().0, h);
  if rc < 0 {
    // SAFETY: a failed init leaves the handle unknown to the loop; the memory is ours.
    unsafe { dealloc(h.cast(), layout(size)) };
    return Err(UvError(rc));
  }
  let state = anchor.state();
  state.handle_opened();
  let data = Box::new(HandleData {
    target,
    anchor: state,
    size,
  });
  // SAFETY: the handle is initialised; the data is freed by close_cb::<T>, the close callback
  // every handle made here is closed with.
  unsafe { (api.handle_set_data)(h, Box::into_raw(data).cast()) };
  Ok(h)
}

/// A poll handle watching one socket for readiness. It owns the socket; dropping it closes the
/// handle first (stopping the watch at once) and then the socket, as libuv requires.
pub struct Poll {
  api: &'static Api,
  raw: *mut uv_handle_t,
  close: uv_close_cb,
  callback: uv_poll_cb,
  socket: Socket,
}

impl Poll {
  /// Starts watching `socket` (non-blocking) on `anchor`'s loop, reporting to `target`. The
  /// handle starts referenced (it keeps the loop alive) and watching nothing until
  /// [`Poll::watch`].
  pub fn new<T: PollTarget>(anchor: &Anchor, socket: Socket, target: Rc<T>) -> Result<Poll, (UvError, Socket)> {
    let api = match api() {
      Ok(a) => a,
      Err(_) => return Err((UvError(-libc::ENOSYS), socket)),
    };
    let fd = socket.as_raw_fd();
    // SAFETY: uv_poll_init_socket initialises a poll handle on the anchor's loop for an open
    // socket; the socket stays open as long as the handle (it is dropped after uv_close).
    let opened = unsafe { open_handle(api, anchor, UV_POLL, target, |lp, h| (api.poll_init_socket)(lp, h, fd)) };
    match opened {
      Ok(raw) => Ok(Poll {
        api,
        raw,
        close: close_cb::<T>,
        callback: poll_cb::<T>,
        socket,
      }),
      Err(e) => Err((e, socket)),
    }
  }

  /// Watches for readability and hang-ups, and for writability when `writable`.
  pub fn watch(&mut self, writable: bool) -> Result<(), UvError> {
    let events = UV_READABLE | UV_DISCONNECT | if writable { UV_WRITABLE } else { 0 };
    // SAFETY: the handle is open (it is closed only by Drop); the callback was instantiated
    // for the type of the handle's data, both in `new`.
    check(unsafe { (self.api.poll_start)(self.raw, events, self.callback) })
  }

  /// Whether the handle keeps the loop (and so the process) alive.
  pub fn set_ref(&self, on: bool) {
    // SAFETY: the handle is open.
    unsafe { set_handle_ref(self.api, self.raw, on) }
  }

  /// The socket watched.
  pub fn socket(&self) -> &Socket {
    &self.socket
  }
}

impl Drop for Poll {
  fn drop(&mut self) {
    // SAFETY: the handle is open and closed exactly once, here; uv_close stops the watch at
    // once (so the socket, a field dropped after this, may then be closed), and close_cb frees
    // the handle later.
    unsafe { (self.api.close)(self.raw, Some(self.close)) };
  }
}

/// A one-shot timer on an anchor's loop. It never keeps the loop alive by itself unless
/// [`Timer::set_ref`] says so. Dropping it closes it.
pub struct Timer {
  api: &'static Api,
  raw: *mut uv_handle_t,
  close: uv_close_cb,
  callback: uv_timer_cb,
}

impl Timer {
  /// A stopped, unreferenced timer reporting to `target`.
  pub fn new<T: TimerTarget>(anchor: &Anchor, target: Rc<T>) -> Result<Timer, UvError> {
    let api = api().map_err(|_| UvError(-libc::ENOSYS))?;
    // SAFETY: uv_timer_init initialises a timer handle on the anchor's loop.
    let raw = unsafe { open_handle(api, anchor, UV_TIMER, target, |lp, h| (api.timer_init)(lp, h))? };
    let timer = Timer {
      api,
      raw,
      close: close_cb::<T>,
      callback: timer_cb::<T>,
    };
    timer.set_ref(false);
    Ok(timer)
  }

  /// (Re)starts the timer to fire once, `ms` milliseconds after the loop's current time.
  pub fn start(&mut self, ms: u64) {
    // SAFETY: the handle is open; its callback matches its data's type (both from `new`).
    let rc = unsafe { (self.api.timer_start)(self.raw, self.callback, ms, 0) };
    debug_assert!(rc == 0, "uv_timer_start on an open timer cannot fail");
  }

  /// Stops the timer (no effect when stopped).
  pub fn stop(&mut self) {
    // SAFETY: the handle is open.
    unsafe { (self.api.timer_stop)(self.raw) };
  }

  /// Whether the timer, while started, keeps the loop alive.
  pub fn set_ref(&self, on: bool) {
    // SAFETY: the handle is open.
    unsafe { set_handle_ref(self.api, self.raw, on) }
  }
}

impl Drop for Timer {
  fn drop(&mut self) {
    // SAFETY: open, closed exactly once here; close_cb frees it.
    unsafe { (self.api.close)(self.raw, Some(self.close)) };
  }
}

/// The shared state of one name lookup: the request while it runs (null once its callback
/// ran), and whether its result is still wanted.
struct Lookup<T> {
  req: Cell<*mut uv_req_t>,
  wanted: Cell<bool>,
  target: Rc<T>,
  anchor: Rc<AnchorState>,
  size: usize,
}

/// A name lookup in progress (on libuv's thread pool; its result comes back on the loop).
/// Dropping it cancels it: the target is not called.
pub struct Resolving {
  cancel: Box<dyn Fn()>,
}

impl Drop for Resolving {
  fn drop(&mut self) {
    (self.cancel)();
  }
}

/// Looks up `host` (a name, not an address literal) for TCP on `port`, reporting to `target`.
/// The lookup keeps the loop alive while it runs.
pub fn resolve<T: ResolveTarget>(anchor: &Anchor, host: &str, port: u16, target: Rc<T>) -> Result<Resolving, UvError> {
  let api = api().map_err(|_| UvError(-libc::ENOSYS))?;
  if !anchor.state().accepting() {
    return Err(UvError(-libc::ECANCELED));
  }
  let node = CString::new(host).map_err(|_| UvError(-libc::EINVAL))?;
  let service = CString::new(port.to_string()).expect("digits");
  // SAFETY: a zeroed addrinfo is a valid "no hints" value; the fields set are plain integers.
  let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
  hints.ai_family = libc::AF_UNSPEC;
  hints.ai_socktype = libc::SOCK_STREAM;
  hints.ai_flags = libc::AI_NUMERICSERV | libc::AI_ADDRCONFIG;
  // SAFETY: a size lookup.
  let size = unsafe { (api.req_size)(UV_GETADDRINFO) };
  let req = allocate(size) as *mut uv_req_t;
  let state = anchor.state();
  let lookup = Rc::new(Lookup {
    req: Cell::new(req),
    wanted: Cell::new(true),
    target,
    anchor: state.clone(),
    size,
  });
  // SAFETY: `req` is zeroed memory of the request's size; the callback's data is one strong
  // reference to `lookup`, released by resolve_cb. libuv copies `node`, `service` and the hints
  // before returning.
  let rc = unsafe {
    (api.req_set_data)(req, Rc::into_raw(lookup.clone()) as *mut c_void);
    (api.getaddrinfo)(
      anchor.uv_loop().0,
      req,
      resolve_cb::<T>,
      node.as_ptr(),
      service.as_ptr(),
      &hints,
    )
  };
  if rc < 0 {
    // SAFETY: the request was not started: its data reference and memory are still ours.
    unsafe {
      drop(Rc::from_raw((api.req_get_data)(req) as *const Lookup<T>));
      dealloc(req.cast(), layout(size));
    }
    return Err(UvError(rc));
  }
  state.handle_opened();
  let weak = Rc::downgrade(&lookup);
  drop(lookup);
  Ok(Resolving {
    cancel: Box::new(move || {
      if let Some(l) = weak.upgrade() {
        l.wanted.set(false);
        let req = l.req.get();
        if !req.is_null() {
          // SAFETY: non-null means the callback has not run: the request is live. uv_cancel
          // fails harmlessly when the lookup is already running; either way the callback comes.
          unsafe { (api.cancel)(req) };
        }
      }
    }),
  })
}

/// libuv's getaddrinfo callback for lookups made by `resolve::<T>`.
///
/// # Safety
/// Called by libuv only, once, for a request whose data is a leaked `Rc<Lookup<T>>`.
unsafe extern "C" fn resolve_cb<T: ResolveTarget>(req: *mut uv_req_t, status: c_int, res: *mut libc::addrinfo) {
  abort_on_panic("getaddrinfo", || {
    let Ok(api) = api() else { return };
    // SAFETY: the request's data is the strong reference leaked by `resolve::<T>`; this
    // callback runs once and releases it.
    let lookup = unsafe { Rc::from_raw((api.req_get_data)(req) as *const Lookup<T>) };
    let addresses = if status < 0 {
      Err(UvError(status))
    } else {
      // SAFETY: on success `res` is the list getaddrinfo made, read then freed once.
      Ok(unsafe { addresses(res) })
    };
    if !res.is_null() {
      // SAFETY: the list is ours to free, once, after reading it.
      unsafe { (api.freeaddrinfo)(res) };
    }
    lookup.req.set(std::ptr::null_mut());
    // SAFETY: libuv is done with the request (its callback is running).
    unsafe { dealloc(req.cast(), layout(lookup.size)) };
    let anchor = lookup.anchor.clone();
    if lookup.wanted.get() {
      let target = lookup.target.clone();
      anchor.enter(|scope| T::on_resolved(&target, scope, addresses));
    }
    // As in close_cb: the target may go first, then the anchor learns the request is over.
    drop(lookup);
    anchor.handle_closed();
  });
}

/// The TCP addresses in a getaddrinfo list.
///
/// # Safety
/// `res` is null or a list returned by getaddrinfo, not yet freed.
unsafe fn addresses(mut res: *mut libc::addrinfo) -> Vec<SocketAddr> {
  let mut out = Vec::new();
  while !res.is_null() {
    // SAFETY: a node of the list.
    let ai = unsafe { &*res };
    if !ai.ai_addr.is_null() {
      match ai.ai_family {
        libc::AF_INET if ai.ai_addrlen as usize >= size_of::<libc::sockaddr_in>() => {
          // SAFETY: an AF_INET address of at least sockaddr_in's size.
          let sa = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
          out.push(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
            u16::from_be(sa.sin_port),
          )));
        }
        libc::AF_INET6 if ai.ai_addrlen as usize >= size_of::<libc::sockaddr_in6>() => {
          // SAFETY: an AF_INET6 address of at least sockaddr_in6's size.
          let sa = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
          out.push(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(sa.sin6_addr.s6_addr),
            u16::from_be(sa.sin6_port),
            u32::from_be(sa.sin6_flowinfo),
            sa.sin6_scope_id,
          )));
        }
        _ => {}
      }
    }
    res = ai.ai_next;
  }
  out
}
