//! A small safe surface over the raw N-API calls the key walker needs, and over libuv for code
//! that runs on the JS thread's event loop.
//!
//! - this file: N-API values as the key walk reads them ([`Env`], [`Value`]);
//! - `per_env`: values kept per JS environment, released at its teardown;
//! - [`uv`]: libuv (bound at run time) — poll handles, timers, name lookups;
//! - [`loop_napi`]: the N-API side of code running on the event loop — anchors that keep an
//!   environment alive while its handles close, callback scopes, promises and values.
//!
//! This module holds every `unsafe` block of the crate's own code. Everything it exports is safe
//! to call: the types carry the conditions the C API asks for, and each `unsafe` block says why
//! they hold.
//!
//! # The two invariants everything here rests on
//!
//! 1. **An [`Env`] is only used on its own JS thread, inside the callback that received it.** It
//!    is made from a borrowed [`napi::Env`] (which napi-rs hands to a `#[napi]` function for the
//!    duration of the call, on the JS thread) and keeps that borrow's lifetime `'e`; it holds a
//!    raw pointer, so it is neither `Send` nor `Sync`.
//! 2. **A [`Value<'e>`] is a handle that lives in the callback's handle scope.** It comes from an
//!    argument of the callback or from an N-API call made during it, and nothing here opens or
//!    closes a handle scope, so every handle stays valid until the callback returns, which `'e`
//!    cannot outlive.
//!
//! Under these, an N-API call is sound when its out-pointers point at live, writable locals of
//! the right type, which every wrapper below passes. A call that fails (a getter threw, a value
//! had another type) returns [`Failed`]; the JS exception, if any, stays pending until
//! [`Env::clear_exception`].
//!
//! Values that must survive between callbacks (the environment's `Object.prototype`, a private
//! symbol, prototypes already recognised, registered symbols) are kept by `per_env`, which
//! releases them when the environment is torn down.

#![warn(missing_docs)]

pub mod loop_napi;
mod per_env;
pub mod uv;

use std::ffi::{c_char, c_void, CStr};
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{JsValue, Unknown};
use napi::sys;

pub use per_env::{live_environments, Slot, SLOT_COUNT};

/// An N-API call did not succeed: a getter or trap threw (the exception is pending), or the
/// value was not of the type the call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

/// The result of an N-API call.
pub type Result<T> = std::result::Result<T, Failed>;

/// One JS environment (one per addon instance and thread), valid for the callback `'e`.
#[derive(Clone, Copy)]
pub struct Env<'e> {
  raw: sys::napi_env,
  _callback: PhantomData<&'e ()>,
}

/// A JS value handle, valid in the callback `'e` (see the module's invariants).
#[derive(Clone, Copy)]
pub struct Value<'e> {
  raw: sys::napi_value,
  _callback: PhantomData<&'e ()>,
}

/// What `typeof` would say, with `null` apart from objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
  /// `undefined`
  Undefined,
  /// `null`
  Null,
  /// a boolean
  Boolean,
  /// a number
  Number,
  /// a string
  String,
  /// a symbol
  Symbol,
  /// an object that is not a function
  Object,
  /// a function (class constructors included)
  Function,
  /// an N-API external
  External,
  /// a bigint
  BigInt,
}

/// Which own property names [`Env::own_keys`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnKeys {
  /// Enumerable string keys (integer keys as strings), what `Object.keys` gives.
  EnumerableStrings,
  /// All symbol keys, enumerable or not.
  Symbols,
}

/// The element type of a typed array, as N-API numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedArrayKind {
  /// `Int8Array`
  Int8,
  /// `Uint8Array` (and `Buffer`, a subclass)
  Uint8,
  /// `Uint8ClampedArray`
  Uint8Clamped,
  /// `Int16Array`
  Int16,
  /// `Uint16Array`
  Uint16,
  /// `Int32Array`
  Int32,
  /// `Uint32Array`
  Uint32,
  /// `Float32Array`
  Float32,
  /// `Float64Array`
  Float64,
  /// `BigInt64Array`
  BigInt64,
  /// `BigUint64Array`
  BigUint64,
}

impl TypedArrayKind {
  /// Every kind, in N-API's order (the index is N-API's number).
  pub const ALL: [TypedArrayKind; 11] = [
    TypedArrayKind::Int8,
    TypedArrayKind::Uint8,
    TypedArrayKind::Uint8Clamped,
    TypedArrayKind::Int16,
    TypedArrayKind::Uint16,
    TypedArrayKind::Int32,
    TypedArrayKind::Uint32,
    TypedArrayKind::Float32,
    TypedArrayKind::Float64,
    TypedArrayKind::BigInt64,
    TypedArrayKind::BigUint64,
  ];

  /// N-API's number for this kind (stable: part of the C ABI).
  pub fn code(self) -> u32 {
    self as u32
  }

  /// Bytes per element.
  pub fn width(self) -> usize {
    use TypedArrayKind::*;
    match self {
      Int8 | Uint8 | Uint8Clamped => 1,
      Int16 | Uint16 => 2,
      Int32 | Uint32 | Float32 => 4,
      Float64 | BigInt64 | BigUint64 => 8,
    }
  }

  /// The constructor's name (`"Uint8Array"`).
  pub fn name(self) -> &'static str {
    use TypedArrayKind::*;
    match self {
      Int8 => "Int8Array",
      Uint8 => "Uint8Array",
      Uint8Clamped => "Uint8ClampedArray",
      Int16 => "Int16Array",
      Uint16 => "Uint16Array",
      Int32 => "Int32Array",
      Uint32 => "Uint32Array",
      Float32 => "Float32Array",
      Float64 => "Float64Array",
      BigInt64 => "BigInt64Array",
      BigUint64 => "BigUint64Array",
    }
  }

  fn from_napi(t: sys::napi_typedarray_type) -> Option<Self> {
    usize::try_from(t).ok().and_then(|i| Self::ALL.get(i).copied())
  }
}

/// The contents of a typed array, copied out of its buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedArray {
  /// Its kind and bytes (native byte order, as the buffer holds them).
  Bytes(TypedArrayKind, Vec<u8>),
  /// Longer than the limit asked for; nothing was copied.
  TooLong,
  /// A kind this build does not know (a newer engine's); nothing was copied.
  UnknownKind,
}

/// A bigint's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BigInt {
  /// It fits an `i64`.
  Small(i64),
  /// Its sign and magnitude, least significant 64-bit word first.
  Words {
    /// True below zero.
    negative: bool,
    /// The magnitude.
    words: Vec<u64>,
  },
}

/// The exact text of a JS string, borrowed from a [`TextBuf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text<'b> {
  /// The string is well-formed UTF-16, so UTF-8 holds it exactly.
  Utf8(&'b str),
  /// The string's UTF-16 code units, when it may hold a lone surrogate (UTF-8 cannot; N-API's
  /// UTF-8 conversion would have turned it into U+FFFD).
  Utf16(&'b [u16]),
}

/// Reusable buffers for reading strings; one per walk saves an allocation per string.
#[derive(Debug, Default)]
pub struct TextBuf {
  utf8: Vec<u8>,
  utf16: Vec<u16>,
}

/// A short string is read in one call into a buffer of this many bytes.
const FIRST_READ: usize = 256;
/// The longest UTF-8 encoding of one character (N-API writes whole characters only).
const MAX_CHAR_BYTES: usize = 4;

impl<'e> Env<'e> {
  /// The environment of a `#[napi]` callback (see the module's first invariant).
  pub fn new(env: &'e napi::Env) -> Self {
    Env {
      raw: env.raw(),
      _callback: PhantomData,
    }
  }

  /// The handle of a callback argument.
  pub fn arg(self, v: &Unknown<'_>) -> Value<'e> {
    self.wrap(v.value().value)
  }

  fn wrap(self, raw: sys::napi_value) -> Value<'e> {
    Value {
      raw,
      _callback: PhantomData,
    }
  }

  /// `typeof v`, with `null` told apart.
  pub fn type_of(self, v: Value<'e>) -> Result<Type> {
    let mut t = 0;
    // SAFETY: env and v are valid (module invariants); `t` is a live local.
    check(unsafe { sys::napi_typeof(self.raw, v.raw, &mut t) })?;
    use sys::ValueType as T;
    Ok(match t {
      T::napi_undefined => Type::Undefined,
      T::napi_null => Type::Null,
      T::napi_boolean => Type::Boolean,
      T::napi_number => Type::Number,
      T::napi_string => Type::String,
      T::napi_symbol => Type::Symbol,
      T::napi_object => Type::Object,
      T::napi_function => Type::Function,
      T::napi_external => Type::External,
      T::napi_bigint => Type::BigInt,
      _ => return Err(Failed),
    })
  }

  /// The value of a boolean.
  pub fn bool(self, v: Value<'e>) -> Result<bool> {
    let mut b = false;
    // SAFETY: env and v are valid; `b` is a live local.
    check(unsafe { sys::napi_get_value_bool(self.raw, v.raw, &mut b) })?;
    Ok(b)
  }

  /// The value of a number.
  pub fn f64(self, v: Value<'e>) -> Result<f64> {
    let mut n = 0f64;
    // SAFETY: env and v are valid; `n` is a live local.
    check(unsafe { sys::napi_get_value_double(self.raw, v.raw, &mut n) })?;
    Ok(n)
  }

  /// The exact text of a string, read into `buf`.
  ///
  /// One N-API call reads a string of up to `FIRST_READ - 5` (251) UTF-8 bytes. N-API writes whole
  /// characters only, so a read that leaves fewer than `MAX_CHAR_BYTES` (4) bytes of the buffer
  /// unused may have been cut short, and the string is read again at its full length. N-API's
  /// UTF-8 writes a lone surrogate as U+FFFD, so a text that holds U+FFFD is read again as UTF-16
  /// and returned as such; an ASCII text skips that check.
  pub fn string<'b>(self, v: Value<'e>, buf: &'b mut TextBuf) -> Result<Text<'b>> {
    let TextBuf { utf8, utf16 } = buf;
    if utf8.capacity() < FIRST_READ {
      utf8.reserve(FIRST_READ);
    }
    let size = utf8.capacity();
    let copied = self.utf8_into(v, utf8, size)?;
    if copied + MAX_CHAR_BYTES >= size {
      let mut len = 0usize;
      // SAFETY: env and v are valid; a null buffer asks for the length alone, into a live local.
      check(unsafe { sys::napi_get_value_string_utf8(self.raw, v.raw, ptr::null_mut(), 0, &mut len) })?;
      utf8.clear();
      utf8.reserve(len + 1);
      if self.utf8_into(v, utf8, len + 1)? != len {
        return Err(Failed);
      }
    }
    if utf8.is_ascii() || !contains_replacement_char(utf8) {
      if let Ok(s) = std::str::from_utf8(utf8) {
        return Ok(Text::Utf8(s));
      }
    }
    Ok(Text::Utf16(self.utf16(v, utf16)?))
  }

  /// Writes up to `size - 1` bytes of `v`'s UTF-8 into `bytes` (whose capacity is at least
  /// `size`) and sets its length to what was written.
  fn utf8_into(self, v: Value<'e>, bytes: &mut Vec<u8>, size: usize) -> Result<usize> {
    bytes.clear();
    if size == 0 || bytes.capacity() < size {
      return Err(Failed);
    }
    let mut copied = 0usize;
    // SAFETY: env and v are valid; the buffer is `bytes`' spare capacity, at least `size` bytes
    // (checked just above), and N-API writes at most `size` bytes there (the text and a NUL);
    // `copied` is a live local.
    check(unsafe {
      sys::napi_get_value_string_utf8(self.raw, v.raw, bytes.as_mut_ptr() as *mut c_char, size, &mut copied)
    })?;
    if copied >= size {
      return Err(Failed);
    }
    // SAFETY: N-API initialized the first `copied` bytes (fewer than `size`, within capacity).
    unsafe { bytes.set_len(copied) };
    Ok(copied)
  }

  fn utf16<'b>(self, v: Value<'e>, units: &'b mut Vec<u16>) -> Result<&'b [u16]> {
    let mut len = 0usize;
    // SAFETY: env and v are valid; a null buffer asks for the length alone, into a live local.
    check(unsafe { sys::napi_get_value_string_utf16(self.raw, v.raw, ptr::null_mut(), 0, &mut len) })?;
    units.clear();
    units.reserve(len + 1);
    let mut copied = 0usize;
    // SAFETY: env and v are valid; the buffer is `units`' spare capacity of at least `len + 1`
    // code units, the size passed, so N-API's writes (the text and a NUL) stay inside it.
    check(unsafe { sys::napi_get_value_string_utf16(self.raw, v.raw, units.as_mut_ptr(), len + 1, &mut copied) })?;
    if copied != len {
      return Err(Failed);
    }
    // SAFETY: N-API initialized the first `copied` code units, within capacity.
    unsafe { units.set_len(copied) };
    Ok(units)
  }

  /// The value of a bigint.
  pub fn bigint(self, v: Value<'e>) -> Result<BigInt> {
    let mut small = 0i64;
    let mut lossless = false;
    // SAFETY: env and v are valid; both out-pointers are live locals.
    check(unsafe { sys::napi_get_value_bigint_int64(self.raw, v.raw, &mut small, &mut lossless) })?;
    if lossless {
      return Ok(BigInt::Small(small));
    }
    let mut count = 0usize;
    // SAFETY: env and v are valid; with null sign and word pointers N-API only writes the word
    // count, into a live local.
    check(unsafe { sys::napi_get_value_bigint_words(self.raw, v.raw, ptr::null_mut(), &mut count, ptr::null_mut()) })?;
    let mut words = vec![0u64; count];
    let mut sign = 0;
    // SAFETY: env and v are valid; `words` holds `count` initialized words and N-API writes at
    // most `count` (the value passed in); `sign` and `count` are live locals.
    check(unsafe { sys::napi_get_value_bigint_words(self.raw, v.raw, &mut sign, &mut count, words.as_mut_ptr()) })?;
    words.truncate(count);
    Ok(BigInt::Words {
      negative: sign != 0,
      words,
    })
  }

  /// `Object.getPrototypeOf(v)` (a Proxy's trap runs).
  pub fn prototype(self, v: Value<'e>) -> Result<Value<'e>> {
    let mut p = ptr::null_mut();
    // SAFETY: env and v are valid; `p` is a live local.
    check(unsafe { sys::napi_get_prototype(self.raw, v.raw, &mut p) })?;
    Ok(self.wrap(p))
  }

  /// `a === b`.
  pub fn strict_equals(self, a: Value<'e>, b: Value<'e>) -> Result<bool> {
    let mut same = false;
    // SAFETY: env, a and b are valid; `same` is a live local.
    check(unsafe { sys::napi_strict_equals(self.raw, a.raw, b.raw, &mut same) })?;
    Ok(same)
  }

  /// `Array.isArray(v)` (true for arrays of any realm).
  pub fn is_array(self, v: Value<'e>) -> Result<bool> {
    let mut b = false;
    // SAFETY: env and v are valid; `b` is a live local.
    check(unsafe { sys::napi_is_array(self.raw, v.raw, &mut b) })?;
    Ok(b)
  }

  /// True if `v` is a Date object (of any realm).
  pub fn is_date(self, v: Value<'e>) -> Result<bool> {
    let mut b = false;
    // SAFETY: env and v are valid; `b` is a live local.
    check(unsafe { sys::napi_is_date(self.raw, v.raw, &mut b) })?;
    Ok(b)
  }

  /// A Date's time value in ms since the epoch (NaN for an invalid date).
  pub fn date_value(self, v: Value<'e>) -> Result<f64> {
    let mut ms = 0f64;
    // SAFETY: env and v are valid; `ms` is a live local.
    check(unsafe { sys::napi_get_date_value(self.raw, v.raw, &mut ms) })?;
    Ok(ms)
  }

  /// True if `v` is a typed array (of any realm; a Buffer is one).
  pub fn is_typed_array(self, v: Value<'e>) -> Result<bool> {
    let mut b = false;
    // SAFETY: env and v are valid; `b` is a live local.
    check(unsafe { sys::napi_is_typedarray(self.raw, v.raw, &mut b) })?;
    Ok(b)
  }

  /// A typed array's N-API kind, element count and pointer to its first element.
  fn typed_array_info(self, v: Value<'e>) -> Result<(sys::napi_typedarray_type, usize, *mut c_void)> {
    let mut kind = 0;
    let mut len = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    // SAFETY: env and v are valid; every out-pointer is a live local of the type N-API writes.
    check(unsafe {
      sys::napi_get_typedarray_info(
        self.raw,
        v.raw,
        &mut kind,
        &mut len,
        &mut data,
        &mut buffer,
        &mut offset,
      )
    })?;
    Ok((kind, len, data))
  }

  /// The kind and bytes of a typed array, copied if it holds at most `max_bytes` bytes.
  pub fn typed_array(self, v: Value<'e>, max_bytes: usize) -> Result<TypedArray> {
    let (kind, len, data) = self.typed_array_info(v)?;
    let Some(kind) = TypedArrayKind::from_napi(kind) else {
      return Ok(TypedArray::UnknownKind);
    };
    let Some(n) = len.checked_mul(kind.width()) else {
      return Ok(TypedArray::TooLong);
    };
    if n > max_bytes {
      return Ok(TypedArray::TooLong);
    }
    let mut bytes = Vec::with_capacity(n);
    if n > 0 && !data.is_null() {
      let base = data as *mut u8;
      for i in 0..n {
        // SAFETY: N-API says `data` points at the array's first element and the array spans
        // `len * width` bytes of its buffer's backing store. No JS has run since that answer
        // (nothing between the two calls), so the buffer cannot have been detached or shrunk on
        // this thread, and a SharedArrayBuffer can neither be detached nor shrink. Backing
        // stores do not move. Another thread may still write a shared buffer, so the bytes are
        // read with atomic loads: a race gives some byte value, never undefined behaviour on
        // this side. `AtomicU8` has the alignment and size of `u8`.
        let b = unsafe { AtomicU8::from_ptr(base.add(i)) }.load(Ordering::Relaxed);
        bytes.push(b);
      }
    }
    Ok(TypedArray::Bytes(kind, bytes))
  }

  /// The first `count` elements of a `Float64Array`, copied; [`Failed`] if `v` is another kind
  /// of value or holds fewer elements.
  pub fn f64_prefix(self, v: Value<'e>, count: usize, into: &mut Vec<f64>) -> Result<()> {
    let (kind, len, data) = self.typed_array_info(v)?;
    if TypedArrayKind::from_napi(kind) != Some(TypedArrayKind::Float64) || len < count {
      return Err(Failed);
    }
    into.clear();
    if count == 0 {
      return Ok(());
    }
    let base = data as *mut u64;
    if base.is_null() || !base.is_aligned() {
      return Err(Failed);
    }
    into.reserve(count);
    for i in 0..count {
      // SAFETY: as in `typed_array`: N-API says `data` points at the array's first element and
      // the array spans `len` (>= count) elements of its buffer's backing store, which no JS has
      // had a chance to detach or shrink since, and which does not move. The elements are read
      // with atomic loads, so another thread writing a shared buffer gives some value, never
      // undefined behaviour here; `AtomicU64` has the size of `u64` and `base` was checked to
      // have its alignment (a Float64Array's elements are 8-byte aligned in their buffer).
      let bits = unsafe { AtomicU64::from_ptr(base.add(i)) }.load(Ordering::Relaxed);
      into.push(f64::from_bits(bits));
    }
    Ok(())
  }

  /// A string's UTF-16 code units, lone surrogates kept as they are: read in one call when its
  /// length is `len` as the caller expects, in two more otherwise.
  pub fn utf16_units<'b>(self, v: Value<'e>, len: usize, units: &'b mut Vec<u16>) -> Result<&'b [u16]> {
    units.clear();
    units.reserve(len + 2);
    let mut copied = 0usize;
    // SAFETY: env and v are valid; the buffer is `units`' spare capacity of at least `len + 2`
    // code units, the size passed, so N-API's writes (at most that many, the NUL included) stay
    // inside it.
    check(unsafe { sys::napi_get_value_string_utf16(self.raw, v.raw, units.as_mut_ptr(), len + 2, &mut copied) })?;
    // Room for one unit more than expected: a longer text copies more than `len`, a shorter one
    // fewer; either way it is read again at its own length.
    if copied == len {
      // SAFETY: N-API initialized the first `copied` code units, within capacity.
      unsafe { units.set_len(copied) };
      return Ok(units);
    }
    self.utf16(v, units)
  }

  /// Writes `values` as the first elements of a `Uint32Array`; [`Failed`] if `v` is another
  /// kind of value or is shorter.
  pub fn set_u32s(self, v: Value<'e>, values: &[u32]) -> Result<()> {
    let (kind, len, data) = self.typed_array_info(v)?;
    let base = data as *mut u32;
    if TypedArrayKind::from_napi(kind) != Some(TypedArrayKind::Uint32)
      || len < values.len()
      || base.is_null()
      || !base.is_aligned()
    {
      return Err(Failed);
    }
    for (i, value) in values.iter().enumerate() {
      // SAFETY: as in `typed_array`: N-API says `data` points at the array's first element, and
      // elements 0..len exist (i < values.len() <= len), within a backing store no JS has had a
      // chance to detach or shrink since and which does not move. The store is atomic, so
      // another thread using a shared buffer meets some value, never undefined behaviour here;
      // `AtomicU32` has the size of `u32` and `base` was checked to have its alignment.
      unsafe { AtomicU32::from_ptr(base.add(i)) }.store(*value, Ordering::Relaxed);
    }
    Ok(())
  }

  /// A JS `ArrayBuffer` over the words of `cell`, read live: JS sees each later store to them
  /// (made by any thread). The buffer keeps `cell` alive until it is collected. [`Failed`] where
  /// the runtime allows no external buffers (V8's sandbox, as in Electron).
  pub fn create_words_view<const N: usize>(self, cell: Arc<[AtomicU32; N]>) -> Result<Value<'e>> {
    unsafe extern "C" fn release<const N: usize>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
      // SAFETY: `data` is the pointer `Arc::into_raw` gave below for this `N`, handed back once,
      // when the buffer is collected; this drops the reference that buffer held.
      drop(unsafe { Arc::from_raw(data as *const [AtomicU32; N]) });
    }
    let data = Arc::into_raw(cell) as *mut c_void;
    let mut v = ptr::null_mut();
    // SAFETY: env is valid; `data` points at N `AtomicU32`s (interior-mutable, so JS reading them
    // while Rust stores to them atomically is no aliasing violation) that stay alive until
    // `release` runs, which N-API calls once the buffer is collected; `v` is a live local.
    let status = unsafe {
      sys::napi_create_external_arraybuffer(
        self.raw,
        data,
        std::mem::size_of::<[AtomicU32; N]>(),
        Some(release::<N>),
        ptr::null_mut(),
        &mut v,
      )
    };
    if status != sys::Status::napi_ok {
      // Whether a failed call has already run `release` is not specified, so the reference
      // `into_raw` gave away is left as it is: a few bytes leaked once per store, never freed twice.
      return Err(Failed);
    }
    Ok(self.wrap(v))
  }

  /// A new JS string holding `s`: copied byte for byte when it is ASCII (no UTF-8 decoding).
  pub fn create_text(self, s: &str) -> Result<Value<'e>> {
    if !s.is_ascii() {
      return self.create_string(s);
    }
    let len = isize::try_from(s.len()).map_err(|_| Failed)?;
    let mut v = ptr::null_mut();
    // SAFETY: env is valid; `s` is `len` readable bytes, all ASCII and so the same characters
    // read as Latin-1; `v` is a live local.
    check(unsafe { sys::napi_create_string_latin1(self.raw, s.as_ptr() as *const c_char, len, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// A new JS number holding `n`.
  pub fn create_u32(self, n: u32) -> Result<Value<'e>> {
    let mut v = ptr::null_mut();
    // SAFETY: env is valid; `v` is a live local.
    check(unsafe { sys::napi_create_uint32(self.raw, n, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// `null`.
  pub fn null(self) -> Result<Value<'e>> {
    let mut v = ptr::null_mut();
    // SAFETY: env is valid; `v` is a live local.
    check(unsafe { sys::napi_get_null(self.raw, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// `v` as napi-rs's `Unknown`, to return it from the `#[napi]` function whose environment this is.
  pub fn into_unknown(self, env: &'e napi::Env, v: Value<'e>) -> Unknown<'e> {
    // SAFETY: `v` is a live handle of this callback's environment (invariant 2), which `env` is.
    unsafe { Unknown::from_raw_unchecked(env.raw(), v.raw) }
  }

  /// `obj[name]` for a static name (getters run).
  pub fn named(self, obj: Value<'e>, name: &CStr) -> Result<Value<'e>> {
    let mut v = ptr::null_mut();
    // SAFETY: env and obj are valid; `name` is NUL-terminated and outlives the call; `v` is a
    // live local.
    check(unsafe { sys::napi_get_named_property(self.raw, obj.raw, name.as_ptr(), &mut v) })?;
    Ok(self.wrap(v))
  }

  /// `obj[key]` (getters run).
  pub fn property(self, obj: Value<'e>, key: Value<'e>) -> Result<Value<'e>> {
    let mut v = ptr::null_mut();
    // SAFETY: env, obj and key are valid; `v` is a live local.
    check(unsafe { sys::napi_get_property(self.raw, obj.raw, key.raw, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// `Object.prototype.hasOwnProperty.call(obj, key)` for a string or symbol key.
  pub fn has_own(self, obj: Value<'e>, key: Value<'e>) -> Result<bool> {
    let mut b = false;
    // SAFETY: env, obj and key are valid; `b` is a live local.
    check(unsafe { sys::napi_has_own_property(self.raw, obj.raw, key.raw, &mut b) })?;
    Ok(b)
  }

  /// `arr.length` of an array.
  pub fn array_len(self, arr: Value<'e>) -> Result<u32> {
    let mut n = 0u32;
    // SAFETY: env and arr are valid; `n` is a live local.
    check(unsafe { sys::napi_get_array_length(self.raw, arr.raw, &mut n) })?;
    Ok(n)
  }

  /// `arr[i]` (getters run; a hole reads as `undefined`).
  pub fn element(self, arr: Value<'e>, i: u32) -> Result<Value<'e>> {
    let mut v = ptr::null_mut();
    // SAFETY: env and arr are valid; `v` is a live local.
    check(unsafe { sys::napi_get_element(self.raw, arr.raw, i, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// `i in arr`: false for a hole.
  pub fn has_element(self, arr: Value<'e>, i: u32) -> Result<bool> {
    let mut b = false;
    // SAFETY: env and arr are valid; `b` is a live local.
    check(unsafe { sys::napi_has_element(self.raw, arr.raw, i, &mut b) })?;
    Ok(b)
  }

  /// The object's own keys of one kind, as an array (integer keys as strings).
  pub fn own_keys(self, obj: Value<'e>, which: OwnKeys) -> Result<Value<'e>> {
    let filter = match which {
      OwnKeys::EnumerableStrings => sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
      OwnKeys::Symbols => sys::KeyFilter::skip_strings,
    };
    let mut names = ptr::null_mut();
    // SAFETY: env and obj are valid; `names` is a live local.
    check(unsafe {
      sys::napi_get_all_property_names(
        self.raw,
        obj.raw,
        sys::KeyCollectionMode::own_only,
        filter,
        sys::KeyConversion::numbers_to_strings,
        &mut names,
      )
    })?;
    Ok(self.wrap(names))
  }

  /// A new unregistered symbol, `Symbol(description)`.
  pub fn create_symbol(self, description: &str) -> Result<Value<'e>> {
    let desc = self.create_string(description)?;
    let mut v = ptr::null_mut();
    // SAFETY: env and desc are valid; `v` is a live local.
    check(unsafe { sys::napi_create_symbol(self.raw, desc.raw, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// A new JS string holding `s`.
  pub fn create_string(self, s: &str) -> Result<Value<'e>> {
    let len = isize::try_from(s.len()).map_err(|_| Failed)?;
    let mut v = ptr::null_mut();
    // SAFETY: env is valid; `s` is `len` readable bytes of UTF-8; `v` is a live local.
    check(unsafe { sys::napi_create_string_utf8(self.raw, s.as_ptr() as *const c_char, len, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// A new empty object, `{}`.
  pub fn create_object(self) -> Result<Value<'e>> {
    let mut v = ptr::null_mut();
    // SAFETY: env is valid; `v` is a live local.
    check(unsafe { sys::napi_create_object(self.raw, &mut v) })?;
    Ok(self.wrap(v))
  }

  /// A new array `[a, b]`.
  pub fn pair(self, a: Value<'e>, b: Value<'e>) -> Result<Value<'e>> {
    let mut arr = ptr::null_mut();
    // SAFETY: env is valid; `arr` is a live local.
    check(unsafe { sys::napi_create_array_with_length(self.raw, 2, &mut arr) })?;
    for (i, v) in [a, b].into_iter().enumerate() {
      // SAFETY: env, the new array and v are valid.
      check(unsafe { sys::napi_set_element(self.raw, arr, i as u32, v.raw) })?;
    }
    Ok(self.wrap(arr))
  }

  /// Defines `obj[key] = value` as an own non-enumerable, writable, configurable property.
  pub fn define_hidden(self, obj: Value<'e>, key: Value<'e>, value: Value<'e>) -> Result<()> {
    let prop = sys::napi_property_descriptor {
      utf8name: ptr::null(),
      name: key.raw,
      method: None,
      getter: None,
      setter: None,
      value: value.raw,
      attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable,
      data: ptr::null_mut(),
    };
    // SAFETY: env, obj, key and value are valid; `prop` is one initialized descriptor that
    // outlives the call, matching the count 1.
    check(unsafe { sys::napi_define_properties(self.raw, obj.raw, 1, &prop) })
  }

  /// `globalThis` of this environment.
  pub fn global(self) -> Result<Value<'e>> {
    let mut g = ptr::null_mut();
    // SAFETY: env is valid; `g` is a live local.
    check(unsafe { sys::napi_get_global(self.raw, &mut g) })?;
    Ok(self.wrap(g))
  }

  /// `f.call(this, ...args)`.
  pub fn call(self, f: Value<'e>, this: Value<'e>, args: &[Value<'e>]) -> Result<Value<'e>> {
    let argv: Vec<sys::napi_value> = args.iter().map(|a| a.raw).collect();
    let mut r = ptr::null_mut();
    // SAFETY: env, f, this and every argument are valid; `argv` holds `argv.len()` handles and
    // outlives the call; `r` is a live local.
    check(unsafe { sys::napi_call_function(self.raw, this.raw, f.raw, argv.len(), argv.as_ptr(), &mut r) })?;
    Ok(self.wrap(r))
  }

  /// Clears a pending JS exception, if any, so that nothing is thrown at the caller.
  pub fn clear_exception(self) {
    let mut pending = false;
    // SAFETY: env is valid; `pending` and `e` are live locals.
    unsafe {
      if sys::napi_is_exception_pending(self.raw, &mut pending) == sys::Status::napi_ok && pending {
        let mut e = ptr::null_mut();
        sys::napi_get_and_clear_last_exception(self.raw, &mut e);
      }
    }
  }
}

fn check(status: sys::napi_status) -> Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(Failed)
  }
}

/// True if UTF-8 `bytes` hold U+FFFD (`EF BF BD`).
fn contains_replacement_char(bytes: &[u8]) -> bool {
  bytes.windows(3).any(|w| w == [0xef, 0xbf, 0xbd])
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn replacement_char_is_found_anywhere() {
    assert!(contains_replacement_char("\u{fffd}".as_bytes()));
    assert!(contains_replacement_char("ab\u{fffd}".as_bytes()));
    assert!(!contains_replacement_char("abc é 测 😀".as_bytes()));
  }

  #[test]
  fn typed_array_kinds_follow_napi_numbering() {
    use sys::TypedarrayType::*;
    for (code, kind) in [
      (int8_array, TypedArrayKind::Int8),
      (uint8_array, TypedArrayKind::Uint8),
      (uint8_clamped_array, TypedArrayKind::Uint8Clamped),
      (int16_array, TypedArrayKind::Int16),
      (uint16_array, TypedArrayKind::Uint16),
      (int32_array, TypedArrayKind::Int32),
      (uint32_array, TypedArrayKind::Uint32),
      (float32_array, TypedArrayKind::Float32),
      (float64_array, TypedArrayKind::Float64),
      (bigint64_array, TypedArrayKind::BigInt64),
      (biguint64_array, TypedArrayKind::BigUint64),
    ] {
      assert_eq!(TypedArrayKind::from_napi(code), Some(kind));
      assert_eq!(kind.code(), code as u32);
    }
    assert_eq!(TypedArrayKind::from_napi(11), None);
    assert_eq!(TypedArrayKind::from_napi(-1), None);
  }
}
