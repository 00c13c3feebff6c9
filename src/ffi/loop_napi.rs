//! The raw Node-API calls of code that runs on the JS thread's event loop: an [`Anchor`] per
//! connection (the environment's loop, an async context for callback scopes, and an async
//! cleanup hook that keeps the environment alive until the connection's handles are closed),
//! [`Scope`]s opened around libuv callbacks, and the few values such code makes ([`Js`]):
//! promises, strings, arrays, errors, and calls of JS functions.
//!
//! # Invariants kept here
//!
//! 1. **A [`Js`] exists only on its environment's JS thread, inside an open handle scope**: it is
//!    made from the `napi::Env` of a `#[napi]` call (napi-rs opens the scope for the call), or
//!    by a [`Scope`] (which opens one), and borrows it, so it cannot outlive it. It holds a raw
//!    pointer, so it is neither `Send` nor `Sync`.
//! 2. **An anchor's environment outlives everything made through the anchor.** Creating an
//!    anchor registers an async cleanup hook; Node does not finish tearing the environment
//!    down until the hook is removed, and the hook is removed only when the anchor is released
//!    *and* every libuv handle and request made through it has run its close callback (counted
//!    by `AnchorState::handle_opened` / `AnchorState::handle_closed`). So the loop, the env
//!    and the async context are valid in every callback libuv makes for those handles.
//! 3. **Callbacks run in a handle scope and a callback scope.** `AnchorState::enter` opens
//!    both, with the anchor's async context, around each libuv callback; closing the callback
//!    scope runs the microtask and `process.nextTick` queues, as Node does after its own
//!    callbacks. Without it, promise continuations would wait for some unrelated later callback.
//! 4. **A deferred is settled at most once**: [`Deferred`] is consumed by settling it.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::null_mut;
use std::rc::Rc;
use std::thread::{self, ThreadId};

use napi::bindgen_prelude::{JsValue as _, Unknown};
use napi::sys;

use super::uv::{self, Loop};

/// An N-API call failed (the caller reports what it was doing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

fn ok(status: sys::napi_status) -> Result<(), Failed> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(Failed)
  }
}

/// One environment's JS thread, inside an open handle scope (invariant 1), for the lifetime `'s`.
#[derive(Clone, Copy)]
pub struct Js<'s> {
  env: sys::napi_env,
  _scope: PhantomData<&'s ()>,
}

/// A JS value handle, valid while the handle scope of the [`Js`] that made it is open.
#[derive(Clone, Copy)]
pub struct JsValue<'s> {
  raw: sys::napi_value,
  _scope: PhantomData<&'s ()>,
}

impl<'s> JsValue<'s> {
  fn new(raw: sys::napi_value) -> JsValue<'s> {
    JsValue {
      raw,
      _scope: PhantomData,
    }
  }

  /// The value as napi-rs's `Unknown`, to return it from a `#[napi]` function.
  pub fn into_unknown(self, js: &Js<'s>) -> Unknown<'s> {
    // SAFETY: a live handle of `js`'s environment (invariant 1 and this type's lifetime).
    unsafe { Unknown::from_raw_unchecked(js.env, self.raw) }
  }
}

impl<'s> Js<'s> {
  /// The JS thread of a `#[napi]` call, for the duration of the call.
  pub fn from_call(env: &'s napi::Env) -> Js<'s> {
    Js {
      env: env.raw(),
      _scope: PhantomData,
    }
  }

  fn value(
    &self,
    f: impl FnOnce(sys::napi_env, *mut sys::napi_value) -> sys::napi_status,
  ) -> Result<JsValue<'s>, Failed> {
    let mut v = null_mut();
    ok(f(self.env, &mut v))?;
    Ok(JsValue::new(v))
  }

  /// `null`.
  pub fn null(&self) -> Result<JsValue<'s>, Failed> {
    // SAFETY (all value makers below): on the env's thread in an open handle scope
    // (invariant 1); the out-pointer is a live local; input pointers and lengths describe
    // live Rust buffers.
    self.value(|env, out| unsafe { sys::napi_get_null(env, out) })
  }

  /// `undefined`.
  pub fn undefined(&self) -> Result<JsValue<'s>, Failed> {
    // SAFETY: see `null`.
    self.value(|env, out| unsafe { sys::napi_get_undefined(env, out) })
  }

  /// A boolean.
  pub fn boolean(&self, b: bool) -> Result<JsValue<'s>, Failed> {
    // SAFETY: see `null`.
    self.value(|env, out| unsafe { sys::napi_get_boolean(env, b, out) })
  }

  /// A number.
  pub fn number(&self, n: f64) -> Result<JsValue<'s>, Failed> {
    // SAFETY: see `null`.
    self.value(|env, out| unsafe { sys::napi_create_double(env, n, out) })
  }

  /// A string from UTF-8 bytes (invalid sequences become U+FFFD).
  pub fn string(&self, utf8: &[u8]) -> Result<JsValue<'s>, Failed> {
    let len = isize::try_from(utf8.len()).map_err(|_| Failed)?;
    // SAFETY: see `null`.
    self.value(|env, out| unsafe { sys::napi_create_string_utf8(env, utf8.as_ptr().cast(), len, out) })
  }

  /// A Buffer holding a copy of `bytes`.
  pub fn buffer(&self, bytes: &[u8]) -> Result<JsValue<'s>, Failed> {
    let mut data = null_mut();
    // SAFETY: see `null`; `data` receives a pointer into the new buffer, not used here.
    self.value(|env, out| unsafe {
      sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, out)
    })
  }

  /// An array of `items`.
  pub fn array(&self, items: &[JsValue<'s>]) -> Result<JsValue<'s>, Failed> {
    // SAFETY: see `null`.
    let a = self.value(|env, out| unsafe { sys::napi_create_array_with_length(env, items.len(), out) })?;
    for (i, v) in items.iter().enumerate() {
      let i = u32::try_from(i).map_err(|_| Failed)?;
      // SAFETY: `a` and `v` are live handles of this env.
      ok(unsafe { sys::napi_set_element(self.env, a.raw, i, v.raw) })?;
    }
    Ok(a)
  }

  /// An `Error` with `message` and a `code` property.
  pub fn error(&self, code: &str, message: &str) -> Result<JsValue<'s>, Failed> {
    let code_v = self.string(code.as_bytes())?;
    let msg = self.string(message.as_bytes())?;
    // SAFETY: see `null`; code and message are live string handles.
    self.value(|env, out| unsafe { sys::napi_create_error(env, code_v.raw, msg.raw, out) })
  }

  /// A new promise: the deferred that settles it, and the promise.
  pub fn promise(&self) -> Result<(Deferred, JsValue<'s>), Failed> {
    let mut d = null_mut();
    // SAFETY: see `null`; `d` receives the deferred, owned by the returned `Deferred`.
    let p = self.value(|env, out| unsafe { sys::napi_create_promise(env, &mut d, out) })?;
    Ok((Deferred { env: self.env, raw: d }, p))
  }

  /// Calls `f` with `args` (and `this` undefined). A throw is reported like an uncaught
  /// exception (the process's `uncaughtException` handlers, or the crash Node gives one), not
  /// returned: the caller is native code with nowhere to send it.
  pub fn call(&self, f: &FnRef, args: &[JsValue<'s>]) -> Result<(), Failed> {
    if f.env != self.env {
      return Err(Failed);
    }
    let mut func = null_mut();
    // SAFETY: `f.raw` is a live reference of this env (FnRef keeps it until dropped).
    ok(unsafe { sys::napi_get_reference_value(self.env, f.raw, &mut func) })?;
    let this = self.undefined()?;
    let raw: Vec<sys::napi_value> = args.iter().map(|a| a.raw).collect();
    let mut result = null_mut();
    // SAFETY: func, this and the arguments are live handles of this env; argv has argc items.
    let status = unsafe { sys::napi_call_function(self.env, this.raw, func, raw.len(), raw.as_ptr(), &mut result) };
    if status == sys::Status::napi_pending_exception {
      let mut exception = null_mut();
      // SAFETY: an exception is pending in this env; taking it and rethrowing it as a fatal
      // (uncaught) exception is what Node does for a throwing callback.
      unsafe {
        if sys::napi_get_and_clear_last_exception(self.env, &mut exception) == sys::Status::napi_ok {
          sys::napi_fatal_exception(self.env, exception);
        }
      }
      return Err(Failed);
    }
    ok(status)
  }
}

/// A promise's resolver, to settle exactly once (invariant 4) on the JS thread that made it.
/// Dropping it unsettled leaves the promise pending forever: callers settle every one.
pub struct Deferred {
  env: sys::napi_env,
  raw: sys::napi_deferred,
}

impl Deferred {
  /// Fulfils the promise with `value`.
  pub fn resolve(self, js: &Js<'_>, value: JsValue<'_>) -> Result<(), Failed> {
    if js.env != self.env {
      return Err(Failed);
    }
    // SAFETY: the deferred is unsettled (consumed here) and belongs to this env; the value is
    // a live handle of it.
    ok(unsafe { sys::napi_resolve_deferred(js.env, self.raw, value.raw) })
  }

  /// Rejects the promise with `reason`.
  pub fn reject(self, js: &Js<'_>, reason: JsValue<'_>) -> Result<(), Failed> {
    if js.env != self.env {
      return Err(Failed);
    }
    // SAFETY: as in `resolve`.
    ok(unsafe { sys::napi_reject_deferred(js.env, self.raw, reason.raw) })
  }
}

/// A JS function kept across calls (a strong reference, deleted on drop).
pub struct FnRef {
  env: sys::napi_env,
  raw: sys::napi_ref,
}

impl FnRef {
  /// Keeps `value`, which must be a function.
  pub fn new(js: &Js<'_>, value: &Unknown<'_>) -> Result<FnRef, Failed> {
    let v = value.value();
    if v.env != js.env {
      return Err(Failed);
    }
    let mut kind = sys::ValueType::napi_undefined;
    // SAFETY: `v.value` is a live handle of this env (an argument of the current call).
    ok(unsafe { sys::napi_typeof(js.env, v.value, &mut kind) })?;
    if kind != sys::ValueType::napi_function {
      return Err(Failed);
    }
    let mut raw = null_mut();
    // SAFETY: as above; the reference is deleted by Drop.
    ok(unsafe { sys::napi_create_reference(js.env, v.value, 1, &mut raw) })?;
    Ok(FnRef { env: js.env, raw })
  }
}

impl Drop for FnRef {
  fn drop(&mut self) {
    // SAFETY: FnRefs are owned by values that live inside an anchored connection or a JS
    // wrapper of this env, both gone before the env is freed (invariant 2, and Node runs the
    // wrappers' finalizers before freeing it); deleting a reference makes no JS value.
    unsafe { sys::napi_delete_reference(self.env, self.raw) };
  }
}

/// What runs when an anchor's environment is torn down (no JS can run then; values can still be
/// made and promises settled).
pub type Teardown = Box<dyn FnOnce(&Js<'_>)>;

/// One connection's hold on its environment: its loop, an async context for callback scopes,
/// and the cleanup hook that pins the environment (invariant 2). Dropping the anchor releases
/// it: the hook is removed once every handle made through it has closed.
pub struct Anchor {
  state: Rc<AnchorState>,
}

/// An anchor's shared state: held by the anchor's owner, by each open handle, and by the
/// cleanup hook while it is registered.
pub struct AnchorState {
  env: sys::napi_env,
  uv_loop: Loop,
  /// The async resource object (kept by a reference) and context of callback scopes.
  resource: sys::napi_ref,
  context: sys::napi_async_context,
  hook: Cell<sys::napi_async_cleanup_hook_handle>,
  /// The strong reference handed to the hook as its argument (null once taken back).
  hook_arg: Cell<*const AnchorState>,
  teardown: RefCell<Option<Teardown>>,
  /// Handles and requests made through the anchor whose close callback has not run.
  open: Cell<usize>,
  released: Cell<bool>,
  finished: Cell<bool>,
  thread: ThreadId,
  /// libuv callbacks that ran on another thread than the anchor's (never expected: counted to
  /// prove it).
  foreign_callbacks: Cell<u64>,
}

impl Anchor {
  /// Anchors a connection in the environment of `js`. `name` names its async resource (seen by
  /// async_hooks); `teardown` runs if the environment is torn down while the anchor is held.
  /// Fails when libuv is not available (see [`uv::available`]) or N-API refuses.
  pub fn new(js: &Js<'_>, name: &str, teardown: Teardown) -> Result<Anchor, String> {
    uv::available()?;
    let env = js.env;
    let mut lp = null_mut();
    // SAFETY: on the env's thread (invariant 1); the out-pointer is a live local.
    let status = unsafe { sys::napi_get_uv_event_loop(env, &mut lp) };
    if status != sys::Status::napi_ok || lp.is_null() {
      return Err("this runtime has no libuv loop for the environment".into());
    }
    let fail = |what: &str| format!("N-API refused to {what}");
    let mut object = null_mut();
    let mut resource = null_mut();
    let mut context = null_mut();
    // SAFETY: on the env's thread in an open handle scope (invariant 1); every out-pointer is a
    // live local; the reference and context are released by `finish`.
    unsafe {
      ok(sys::napi_create_object(env, &mut object)).map_err(|_| fail("create an object"))?;
      let name = js.string(name.as_bytes()).map_err(|_| fail("create a string"))?;
      ok(sys::napi_create_reference(env, object, 1, &mut resource)).map_err(|_| fail("create a reference"))?;
      if ok(sys::napi_async_init(env, object, name.raw, &mut context)).is_err() {
        sys::napi_delete_reference(env, resource);
        return Err(fail("create an async context"));
      }
    }
    let state = Rc::new(AnchorState {
      env,
      uv_loop: Loop(lp.cast()),
      resource,
      context,
      hook: Cell::new(null_mut()),
      hook_arg: Cell::new(std::ptr::null()),
      teardown: RefCell::new(Some(teardown)),
      open: Cell::new(0),
      released: Cell::new(false),
      finished: Cell::new(false),
      thread: thread::current().id(),
      foreign_callbacks: Cell::new(0),
    });
    let arg = Rc::into_raw(state.clone());
    let mut hook = null_mut();
    // SAFETY: `arg` is a strong reference released only by `finish` after the hook is removed,
    // so it is valid whenever the hook runs.
    let status = unsafe { sys::napi_add_async_cleanup_hook(env, Some(on_env_teardown), arg as *mut c_void, &mut hook) };
    if status != sys::Status::napi_ok {
      // SAFETY: the hook was not added: the reference is still ours; the context and the
      // object reference were made above and are released once.
      unsafe {
        drop(Rc::from_raw(arg));
        sys::napi_async_destroy(env, context);
        sys::napi_delete_reference(env, resource);
      }
      state.finished.set(true);
      return Err(fail("add a cleanup hook"));
    }
    state.hook.set(hook);
    state.hook_arg.set(arg);
    Ok(Anchor { state })
  }

  /// Whether `js` is this anchor's environment (a connection serves only the one it was made in).
  pub fn same_env(&self, js: &Js<'_>) -> bool {
    self.state.env == js.env
  }

  /// libuv callbacks of this anchor's handles that ran on another thread (expected: 0).
  pub fn foreign_callbacks(&self) -> u64 {
    self.state.foreign_callbacks.get()
  }

  pub(super) fn uv_loop(&self) -> Loop {
    self.state.uv_loop
  }

  pub(super) fn state(&self) -> Rc<AnchorState> {
    self.state.clone()
  }
}

impl Drop for Anchor {
  fn drop(&mut self) {
    self.state.released.set(true);
    self.state.try_finish();
  }
}

impl AnchorState {
  /// False once the environment's teardown began: no new handle may be made then.
  pub(super) fn accepting(&self) -> bool {
    !self.released.get() && !self.finished.get()
  }

  pub(super) fn handle_opened(&self) {
    self.open.set(self.open.get() + 1);
  }

  pub(super) fn handle_closed(&self) {
    self.open.set(self.open.get() - 1);
    self.try_finish();
  }

  /// Once released with nothing open: destroys the async context and removes the hook, which
  /// lets the environment go (invariant 2). Nothing made through this anchor runs after.
  fn try_finish(&self) {
    if !self.released.get() || self.open.get() > 0 || self.finished.get() {
      return;
    }
    self.finished.set(true);
    // The teardown callback (it may hold the connection) is not needed any more.
    let teardown = self.teardown.borrow_mut().take();
    drop(teardown);
    // SAFETY: the env is alive (the hook still pins it); the context and reference were made
    // by `Anchor::new` and are released once, here; the hook is removed once, after which its
    // argument (a strong reference) is taken back. No N-API call follows.
    unsafe {
      sys::napi_async_destroy(self.env, self.context);
      sys::napi_delete_reference(self.env, self.resource);
      let hook = self.hook.replace(null_mut());
      if !hook.is_null() {
        sys::napi_remove_async_cleanup_hook(hook);
      }
      let arg = self.hook_arg.replace(std::ptr::null());
      if !arg.is_null() {
        drop(Rc::from_raw(arg));
      }
    }
  }

  /// Runs `f` in a handle scope and a callback scope of the anchor's environment (invariant 3).
  /// For libuv callbacks of this anchor's handles only.
  pub(super) fn enter(&self, f: impl FnOnce(&mut Scope<'_>)) {
    if thread::current().id() != self.thread {
      self.foreign_callbacks.set(self.foreign_callbacks.get() + 1);
    }
    if self.finished.get() {
      return;
    }
    let mut handles = null_mut();
    // SAFETY: on the env's loop thread, in a libuv callback (no JS on the stack); the env is
    // alive (invariant 2). The scope is closed by Scope's Drop.
    if ok(unsafe { sys::napi_open_handle_scope(self.env, &mut handles) }).is_err() {
      return;
    }
    let mut scope = Scope {
      anchor: self,
      handles,
      callback: null_mut(),
    };
    scope.open_callback_scope();
    f(&mut scope);
  }
}

/// The environment is being torn down: run the anchor's teardown (it closes the connection's
/// handles), in a handle scope. The hook itself is removed by `try_finish` once they closed.
///
/// # Safety
/// Called by Node only, as the async cleanup hook registered by `Anchor::new` with its argument.
unsafe extern "C" fn on_env_teardown(_hook: sys::napi_async_cleanup_hook_handle, arg: *mut c_void) {
  let run = || {
    // SAFETY: `arg` is the strong reference `Anchor::new` leaked for the hook, valid until
    // `try_finish` removes the hook (which cannot have happened: Node runs a removed hook never).
    let state = unsafe {
      Rc::increment_strong_count(arg as *const AnchorState);
      Rc::from_raw(arg as *const AnchorState)
    };
    let teardown = state.teardown.borrow_mut().take();
    if let Some(teardown) = teardown {
      let mut handles = null_mut();
      // SAFETY: on the env's thread during its teardown, with no JS on the stack.
      if ok(unsafe { sys::napi_open_handle_scope(state.env, &mut handles) }).is_ok() {
        teardown(&Js {
          env: state.env,
          _scope: PhantomData,
        });
        // SAFETY: opened just above on this thread.
        unsafe { sys::napi_close_handle_scope(state.env, handles) };
      }
    }
    // Nothing open any more (or never released): finish now rather than never.
    state.released.set(true);
    state.try_finish();
  };
  if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
    eprintln!("sequelize-native-cache: panic in an environment teardown hook; aborting");
    std::process::abort();
  }
}

/// A handle scope plus a callback scope, open while a libuv callback runs (invariant 3).
pub struct Scope<'a> {
  anchor: &'a AnchorState,
  handles: sys::napi_handle_scope,
  /// Null when N-API refused one (the environment is stopping): values can still be made.
  callback: sys::napi_callback_scope,
}

impl Scope<'_> {
  /// The JS thread, inside this scope.
  pub fn js(&self) -> Js<'_> {
    Js {
      env: self.anchor.env,
      _scope: PhantomData,
    }
  }

  /// Runs the microtask and nextTick queues now (promise continuations of what was settled so
  /// far), then continues in a fresh callback scope. JS runs during this call.
  pub fn drain(&mut self) {
    self.close_callback_scope();
    self.open_callback_scope();
  }

  fn open_callback_scope(&mut self) {
    let a = self.anchor;
    let mut resource = null_mut();
    let mut callback = null_mut();
    // SAFETY: on the env's thread in the open handle scope; the reference and the async context
    // are alive until the anchor finishes, which it cannot while a callback of its handles runs.
    unsafe {
      if ok(sys::napi_get_reference_value(a.env, a.resource, &mut resource)).is_ok()
        && ok(sys::napi_open_callback_scope(a.env, resource, a.context, &mut callback)).is_ok()
      {
        self.callback = callback;
      }
    }
  }

  fn close_callback_scope(&mut self) {
    let callback = std::mem::replace(&mut self.callback, null_mut());
    if !callback.is_null() {
      // SAFETY: opened by `open_callback_scope` on this thread and closed once.
      unsafe { sys::napi_close_callback_scope(self.anchor.env, callback) };
    }
  }
}

impl Drop for Scope<'_> {
  fn drop(&mut self) {
    self.close_callback_scope();
    // SAFETY: opened by `AnchorState::enter` on this thread, closed once, after the callback
    // scope opened inside it.
    unsafe { sys::napi_close_handle_scope(self.anchor.env, self.handles) };
  }
}
