//! Values kept from one callback to the next, per JS environment, released at its teardown.
//!
//! Each environment (the main thread's, each worker's) gets one [`EnvRefs`] in a thread-local
//! list the first time it keeps something, and an environment cleanup hook that deletes its
//! references and drops the entry when the environment is torn down. So a worker that comes and
//! goes leaves nothing behind, and a later environment that happens to get the same address can
//! never meet a dead one's references.
//!
//! Invariant: while the thread-local list is borrowed, only N-API calls that cannot run JS are
//! made (reference get/create/delete, strict equality, adding the hook), so no callback can
//! re-enter and find it borrowed. Were it borrowed anyway, the caller is told nothing is kept
//! ([`Env::kept`] makes the value afresh), never a panic.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use napi::sys;

use super::{check, Env, Result, Value};

/// How many values [`Env::kept`] can keep per environment.
pub const SLOT_COUNT: usize = 5;

/// Values [`Env::remember`] holds per environment at most; the oldest goes first.
const MAX_REMEMBERED: usize = 32;

/// Registered symbols [`Env::symbol_for`] keeps per environment at most (Sequelize has about 50
/// operators); past it, the registry is asked each time.
const MAX_SYMBOLS: usize = 256;

/// One of the [`SLOT_COUNT`] places a value is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
  /// Slot number `index`; a compile error in a `const` when out of range.
  pub const fn new(index: usize) -> Slot {
    assert!(index < SLOT_COUNT, "slot out of range");
    Slot(index)
  }
}

/// What one environment keeps.
struct EnvRefs {
  env: sys::napi_env,
  /// Strong references, or null.
  slots: [sys::napi_ref; SLOT_COUNT],
  /// Weak references and their tags: remembering a value never keeps it (or its realm) alive.
  remembered: Vec<(sys::napi_ref, u32)>,
  /// `Symbol.for(key)` by key, as strong references (the registry keeps them alive anyway).
  symbols: HashMap<Box<str>, sys::napi_ref>,
}

thread_local! {
  static ENVS: RefCell<Vec<EnvRefs>> = const { RefCell::new(Vec::new()) };
}

/// Environments that currently keep something (all threads).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many environments currently keep values here; each one's count ends at its teardown.
pub fn live_environments() -> usize {
  LIVE.load(Ordering::Relaxed)
}

/// Runs `f` on this environment's entry, creating it (and its cleanup hook) if needed. None if
/// the list is unavailable or the hook could not be added (then nothing may be kept).
fn with_refs<T>(env: sys::napi_env, f: impl FnOnce(&mut EnvRefs) -> T) -> Option<T> {
  ENVS
    .try_with(|envs| {
      let mut envs = envs.try_borrow_mut().ok()?;
      let i = match envs.iter().position(|e| e.env == env) {
        Some(i) => i,
        None => {
          // SAFETY: env is valid (module invariants) and `release` is a plain function; the
          // argument is the env pointer itself, never dereferenced by `release`, and unique
          // per environment since an environment has one entry.
          check(unsafe { sys::napi_add_env_cleanup_hook(env, Some(release), env as *mut c_void) }).ok()?;
          envs.push(EnvRefs {
            env,
            slots: [ptr::null_mut(); SLOT_COUNT],
            remembered: Vec::new(),
            symbols: HashMap::new(),
          });
          LIVE.fetch_add(1, Ordering::Relaxed);
          envs.len() - 1
        }
      };
      Some(f(&mut envs[i]))
    })
    .ok()
    .flatten()
}

/// The environment cleanup hook: deletes the environment's references and forgets it.
///
/// # Safety
/// Called by Node only, with the env pointer it was registered with, on that environment's
/// thread while the environment can still make N-API calls (hooks run in reverse order of
/// registration, and N-API's own teardown of the environment was registered when the addon was
/// loaded, before any of ours).
unsafe extern "C" fn release(arg: *mut c_void) {
  let env = arg as sys::napi_env;
  let _ = ENVS.try_with(|envs| {
    let Ok(mut envs) = envs.try_borrow_mut() else {
      return;
    };
    let Some(i) = envs.iter().position(|e| e.env == env) else {
      return;
    };
    let refs = envs.swap_remove(i);
    let remembered = refs.remembered.into_iter().map(|(r, _)| r);
    for r in refs
      .slots
      .into_iter()
      .chain(remembered)
      .chain(refs.symbols.into_values())
    {
      if !r.is_null() {
        // SAFETY: `r` was created in this environment and is deleted once: the entry that held
        // it was just removed. The environment is still alive (see the function's contract).
        unsafe { sys::napi_delete_reference(env, r) };
      }
    }
    LIVE.fetch_sub(1, Ordering::Relaxed);
  });
}

impl<'e> Env<'e> {
  /// The value of a reference made in this environment, or None once a weak one's value is gone.
  fn deref(self, r: sys::napi_ref) -> Result<Option<Value<'e>>> {
    let mut v = ptr::null_mut();
    // SAFETY: env is valid and `r` is a live reference of this environment (entries are only
    // deleted at teardown, when no callback runs any more); `v` is a live local.
    check(unsafe { sys::napi_get_reference_value(self.raw, r, &mut v) })?;
    Ok((!v.is_null()).then(|| self.wrap(v)))
  }

  fn reference(self, v: Value<'e>, count: u32) -> Result<sys::napi_ref> {
    let mut r = ptr::null_mut();
    // SAFETY: env and v are valid; `r` is a live local.
    check(unsafe { sys::napi_create_reference(self.raw, v.raw, count, &mut r) })?;
    Ok(r)
  }

  fn delete(self, r: sys::napi_ref) {
    // SAFETY: env is valid and `r` a reference of it that no entry holds any more.
    unsafe { sys::napi_delete_reference(self.raw, r) };
  }

  /// The value kept in `slot` for this environment, made by `make` the first time (and again
  /// if it could not be kept).
  pub fn kept(self, slot: Slot, make: impl FnOnce() -> Result<Value<'e>>) -> Result<Value<'e>> {
    let r = with_refs(self.raw, |e| e.slots[slot.0]).unwrap_or(ptr::null_mut());
    if !r.is_null() {
      if let Some(v) = self.deref(r)? {
        return Ok(v);
      }
    }
    // No borrow is held while `make` runs JS.
    let v = make()?;
    let r = self.reference(v, 1)?;
    let old = with_refs(self.raw, |e| std::mem::replace(&mut e.slots[slot.0], r));
    match old {
      Some(old) if !old.is_null() => self.delete(old),
      Some(_) => {}
      None => self.delete(r),
    }
    Ok(v)
  }

  /// `Symbol.for(key)`: the symbol registered under `key`, kept per environment so that the
  /// registry is asked once per key.
  pub fn symbol_for(self, key: &str) -> Result<Value<'e>> {
    if let Some(r) = with_refs(self.raw, |e| e.symbols.get(key).copied()).flatten() {
      if let Some(v) = self.deref(r)? {
        return Ok(v);
      }
    }
    let len = isize::try_from(key.len()).map_err(|_| super::Failed)?;
    let mut raw = ptr::null_mut();
    // SAFETY: env is valid; `key` is `len` readable bytes of UTF-8 (N-API reads exactly `len`,
    // no NUL needed); `raw` is a live local.
    check(unsafe { sys::node_api_symbol_for(self.raw, key.as_ptr() as *const c_char, len, &mut raw) })?;
    let v = self.wrap(raw);
    let r = self.reference(v, 1)?;
    let kept = with_refs(self.raw, |e| {
      if e.symbols.len() < MAX_SYMBOLS && !e.symbols.contains_key(key) {
        e.symbols.insert(key.into(), r);
        true
      } else {
        false
      }
    });
    if kept != Some(true) {
      self.delete(r);
    }
    Ok(v)
  }

  /// The tag [`Env::remember`] stored for `v` (compared by identity), if any.
  pub fn recall(self, v: Value<'e>) -> Result<Option<u32>> {
    with_refs(self.raw, |e| {
      for &(r, tag) in &e.remembered {
        if let Some(known) = self.deref(r)? {
          if self.strict_equals(known, v)? {
            return Ok(Some(tag));
          }
        }
      }
      Ok(None)
    })
    .unwrap_or(Ok(None))
  }

  /// Remembers `tag` for `v` without keeping `v` alive. Forgets values that are gone, then the
  /// oldest, to stay within a small bound.
  pub fn remember(self, v: Value<'e>, tag: u32) -> Result<()> {
    let r = self.reference(v, 0)?;
    let stored = with_refs(self.raw, |e| {
      if e.remembered.len() >= MAX_REMEMBERED {
        e.remembered.retain(|&(old, _)| match self.deref(old) {
          Ok(Some(_)) => true,
          _ => {
            self.delete(old);
            false
          }
        });
      }
      if e.remembered.len() >= MAX_REMEMBERED {
        let (old, _) = e.remembered.remove(0);
        self.delete(old);
      }
      e.remembered.push((r, tag));
    });
    if stored.is_none() {
      self.delete(r);
    }
    Ok(())
  }
}
