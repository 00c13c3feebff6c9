//! Canonical query keys.
//!
//! A key is `<head>[$scope<scope>]:<options>` where `head` is `prefix:method:segment` (built by
//! the shim) and the rest is the canonical text of the model's active scope and of the query
//! options. The text is JSON for JSON-like values — so `{where:{id:1}}` reads
//! `{"where":{"id":1}}` — and uses tokens that no JSON text can contain for everything else:
//!
//! | value | token |
//! |---|---|
//! | symbol key or value (`Op.gt`) | `@"gt"` (string keys are always quoted, so never `@`) |
//! | `undefined` | `$u` |
//! | `NaN`, `Infinity`, `-Infinity` | `$NaN`, `$Inf`, `$-Inf` |
//! | `Date` | `$D(<ms since epoch>)` |
//! | `bigint` | `$n(<decimal or signed hex words>)` |
//! | Buffer / typed array | `$B<type>(<hex bytes>)` |
//! | `fn`/`col`/`literal`/`where`/`cast`/`json` | `$Fn{...}`, `$Col{...}`, ... (own properties) |
//! | a model class | `$M(<name>,<table>,<schema>,<scope>)` |
//! | an association | `$A(<type>,<source model>,<alias>)` |
//!
//! Strings are JSON-escaped, so no value can forge structure. Object keys are sorted (string
//! keys first, then symbol keys); arrays keep their order. `transaction`, `logging`, `benchmark`
//! and `rejectOnEmpty` at the top level of the options never change a key. Anything else that
//! cannot be encoded — functions that are not models, instances of unknown classes, cycles,
//! absurd sizes — makes the query [`Unkeyable`], and the caller bypasses the cache.
//!
//! Keys longer than [`MAX_READABLE_KEY`] bytes become `<head>:#<sha256 of the full text>`.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::ptr;

use napi::sys;
use sha2::{Digest, Sha256};

/// Keys up to this many bytes are kept readable; longer ones end in a SHA-256 instead.
pub const MAX_READABLE_KEY: usize = 250;
/// Nesting deeper than this is treated as a cycle.
pub const MAX_DEPTH: u32 = 48;
/// Values with more nodes than this are not keyed.
pub const MAX_NODES: u32 = 20_000;

/// Top-level options that never change a query's result set.
const IGNORED_TOP_LEVEL: [&str; 4] = ["transaction", "logging", "benchmark", "rejectOnEmpty"];

/// Why a query could not be keyed; the shim bypasses the cache and counts the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unkeyable {
  /// A function that is not a model class.
  Function = 1,
  /// Nested deeper than [`MAX_DEPTH`] (a cycle, in practice).
  TooDeep = 2,
  /// More than [`MAX_NODES`] values.
  TooLarge = 3,
  /// An object of a class the encoder does not know.
  UnknownClass = 4,
  /// A value N-API could not read (a throwing getter, an external).
  Unreadable = 5,
}

impl Unkeyable {
  /// The bypass reason reported in stats.
  pub fn reason(self) -> &'static str {
    match self {
      Unkeyable::Function => "unkeyable:function",
      Unkeyable::TooDeep => "unkeyable:cycle-or-depth",
      Unkeyable::TooLarge => "unkeyable:too-large",
      Unkeyable::UnknownClass => "unkeyable:unknown-class",
      Unkeyable::Unreadable => "unkeyable:unreadable",
    }
  }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_string(out: &mut String, s: &str) {
  out.reserve(s.len() + 2);
  out.push('"');
  let mut start = 0;
  for (i, b) in s.bytes().enumerate() {
    let esc: &str = match b {
      b'"' => "\\\"",
      b'\\' => "\\\\",
      b'\n' => "\\n",
      b'\r' => "\\r",
      b'\t' => "\\t",
      0x00..=0x1f => "",
      _ => continue,
    };
    out.push_str(&s[start..i]);
    if esc.is_empty() {
      let _ = write!(out, "\\u{:04x}", b);
    } else {
      out.push_str(esc);
    }
    start = i + 1;
  }
  out.push_str(&s[start..]);
  out.push('"');
}

/// Appends a JS number: integers as integers (`1`, not `1.0`), the rest in shortest
/// round-trip form, `-0` as `0`, and non-finite values as tokens.
pub fn push_number(out: &mut String, n: f64) {
  if n.is_nan() {
    out.push_str("$NaN");
  } else if n.is_infinite() {
    out.push_str(if n > 0.0 { "$Inf" } else { "$-Inf" });
  } else if n == n.trunc() && n.abs() < 9_007_199_254_740_992.0 {
    let _ = write!(out, "{}", n as i64);
  } else if (1e-7..1e21).contains(&n.abs()) {
    let _ = write!(out, "{}", n);
  } else {
    let _ = write!(out, "{:e}", n);
  }
}

/// Replaces an over-long key by its head and a SHA-256 of the whole text.
pub fn finish(head: &str, full: String) -> String {
  if full.len() <= MAX_READABLE_KEY {
    return full;
  }
  let digest = Sha256::digest(full.as_bytes());
  let mut out = String::with_capacity(head.len() + 66);
  out.push_str(head);
  out.push_str(":#");
  for b in digest {
    let _ = write!(out, "{:02x}", b);
  }
  out
}

thread_local! {
  /// `Object.prototype` of this thread's JS environment, to tell plain objects from instances.
  static OBJECT_PROTO: Cell<(sys::napi_env, sys::napi_ref)> = const { Cell::new((ptr::null_mut(), ptr::null_mut())) };
  /// The private symbol under which a model class keeps its encoded text (see `Walker::model`).
  static MODEL_TEXT: Cell<(sys::napi_env, sys::napi_ref)> = const { Cell::new((ptr::null_mut(), ptr::null_mut())) };
}

type R<T> = Result<T, Unkeyable>;

macro_rules! napi_ok {
  ($call:expr) => {
    if unsafe { $call } != sys::Status::napi_ok {
      return Err(Unkeyable::Unreadable);
    }
  };
}

/// Walks JS values through N-API and writes their canonical text.
pub struct Walker {
  env: sys::napi_env,
  /// Fetched on the first object that needs it: a findByPk key never does.
  object_proto: sys::napi_value,
  /// Fetched on the first model met.
  model_text: sys::napi_value,
  nodes: u32,
}

impl Walker {
  /// A walker for `env`.
  pub fn new(env: sys::napi_env) -> Self {
    Walker {
      env,
      object_proto: ptr::null_mut(),
      model_text: ptr::null_mut(),
      nodes: 0,
    }
  }

  /// Builds the key of a query: `head`, the model's active `scope` (omitted when empty) and the
  /// query `options`. Any pending JS exception raised while reading is cleared: keying never
  /// throws into the caller.
  pub fn query_key(&mut self, head: &str, scope: sys::napi_value, options: sys::napi_value) -> R<String> {
    let result = self.query_key_inner(head, scope, options);
    if result.is_err() {
      self.clear_exception();
    }
    result
  }

  fn query_key_inner(&mut self, head: &str, scope: sys::napi_value, options: sys::napi_value) -> R<String> {
    let mut out = String::with_capacity(head.len() + 64);
    out.push_str(head);
    if !self.is_nullish(scope)? {
      let mark = out.len();
      out.push_str("$scope");
      self.value(scope, 1, &mut out)?;
      if &out[mark..] == "$scope{}" {
        out.truncate(mark);
      }
    }
    out.push(':');
    if self.is_nullish(options)? {
      out.push_str("{}");
    } else {
      self.value(options, 0, &mut out)?;
    }
    Ok(finish(head, out))
  }

  /// The key of `findByPk(value)` with no other options and no active scope: the same text the
  /// general walk gives for `{ where: { [attr]: value } }`, without walking two objects.
  pub fn pk_key(&mut self, head: &str, attr: &str, value: sys::napi_value) -> R<String> {
    let mut out = String::with_capacity(head.len() + attr.len() + 32);
    out.push_str(head);
    out.push_str(":{\"where\":{");
    push_json_string(&mut out, attr);
    out.push(':');
    let result = self.value(value, 2, &mut out);
    if result.is_err() {
      self.clear_exception();
    }
    result?;
    out.push_str("}}");
    Ok(finish(head, out))
  }

  fn clear_exception(&self) {
    let mut pending = false;
    unsafe {
      if sys::napi_is_exception_pending(self.env, &mut pending) == sys::Status::napi_ok && pending {
        let mut e = ptr::null_mut();
        sys::napi_get_and_clear_last_exception(self.env, &mut e);
      }
    }
  }

  fn type_of(&self, v: sys::napi_value) -> R<i32> {
    let mut t = 0;
    napi_ok!(sys::napi_typeof(self.env, v, &mut t));
    Ok(t)
  }

  fn is_nullish(&self, v: sys::napi_value) -> R<bool> {
    let t = self.type_of(v)?;
    Ok(t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null)
  }

  fn named(&self, obj: sys::napi_value, name: &std::ffi::CStr) -> R<sys::napi_value> {
    let mut v = ptr::null_mut();
    napi_ok!(sys::napi_get_named_property(self.env, obj, name.as_ptr(), &mut v));
    Ok(v)
  }

  /// Reads a JS string. Short strings take one N-API call.
  fn string(&self, v: sys::napi_value) -> R<String> {
    let mut buf = [0u8; 128];
    let mut len = 0usize;
    napi_ok!(sys::napi_get_value_string_utf8(
      self.env,
      v,
      buf.as_mut_ptr() as *mut c_char,
      buf.len(),
      &mut len
    ));
    if len < buf.len() - 1 {
      return Ok(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    napi_ok!(sys::napi_get_value_string_utf8(
      self.env,
      v,
      ptr::null_mut(),
      0,
      &mut len
    ));
    let mut big = vec![0u8; len + 1];
    let mut written = 0usize;
    napi_ok!(sys::napi_get_value_string_utf8(
      self.env,
      v,
      big.as_mut_ptr() as *mut c_char,
      big.len(),
      &mut written
    ));
    big.truncate(written);
    Ok(String::from_utf8(big).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
  }

  fn optional_string(&self, v: sys::napi_value) -> R<Option<String>> {
    if self.type_of(v)? == sys::ValueType::napi_string {
      Ok(Some(self.string(v)?))
    } else {
      Ok(None)
    }
  }

  fn symbol_description(&self, sym: sys::napi_value) -> R<Option<String>> {
    let d = self.named(sym, c"description")?;
    self.optional_string(d)
  }

  fn value(&mut self, v: sys::napi_value, depth: u32, out: &mut String) -> R<()> {
    self.nodes += 1;
    if self.nodes > MAX_NODES {
      return Err(Unkeyable::TooLarge);
    }
    if depth > MAX_DEPTH {
      return Err(Unkeyable::TooDeep);
    }
    use sys::ValueType::*;
    match self.type_of(v)? {
      t if t == napi_undefined => out.push_str("$u"),
      t if t == napi_null => out.push_str("null"),
      t if t == napi_boolean => {
        let mut b = false;
        napi_ok!(sys::napi_get_value_bool(self.env, v, &mut b));
        out.push_str(if b { "true" } else { "false" });
      }
      t if t == napi_number => {
        let mut n = 0f64;
        napi_ok!(sys::napi_get_value_double(self.env, v, &mut n));
        push_number(out, n);
      }
      t if t == napi_string => push_json_string(out, &self.string(v)?),
      t if t == napi_symbol => self.symbol(v, out)?,
      t if t == napi_bigint => self.bigint(v, out)?,
      t if t == napi_object => self.object(v, depth, out)?,
      t if t == napi_function => {
        if !self.model(v, depth, out)? {
          return Err(Unkeyable::Function);
        }
      }
      _ => return Err(Unkeyable::Unreadable),
    }
    Ok(())
  }

  fn symbol(&self, v: sys::napi_value, out: &mut String) -> R<()> {
    out.push('@');
    match self.symbol_description(v)? {
      Some(d) => push_json_string(out, &d),
      None => out.push_str("$u"),
    }
    Ok(())
  }

  fn bigint(&self, v: sys::napi_value, out: &mut String) -> R<()> {
    let mut small = 0i64;
    let mut lossless = false;
    napi_ok!(sys::napi_get_value_bigint_int64(self.env, v, &mut small, &mut lossless));
    if lossless {
      let _ = write!(out, "$n({small})");
      return Ok(());
    }
    let mut sign = 0;
    let mut count = 0usize;
    // Asking for the word count alone requires both output pointers to be null.
    napi_ok!(sys::napi_get_value_bigint_words(
      self.env,
      v,
      ptr::null_mut(),
      &mut count,
      ptr::null_mut()
    ));
    let mut words = vec![0u64; count];
    napi_ok!(sys::napi_get_value_bigint_words(
      self.env,
      v,
      &mut sign,
      &mut count,
      words.as_mut_ptr()
    ));
    out.push_str(if sign != 0 { "$n(-0x" } else { "$n(0x" });
    for w in words.iter().rev() {
      let _ = write!(out, "{w:016x}");
    }
    out.push(')');
    Ok(())
  }

  fn object(&mut self, v: sys::napi_value, depth: u32, out: &mut String) -> R<()> {
    // Plain objects are the common case: two calls tell them apart.
    let mut proto = ptr::null_mut();
    napi_ok!(sys::napi_get_prototype(self.env, v, &mut proto));
    if self.object_proto.is_null() {
      self.object_proto = object_prototype(self.env)?;
    }
    let mut plain = false;
    napi_ok!(sys::napi_strict_equals(self.env, proto, self.object_proto, &mut plain));
    if plain {
      return self.plain(v, depth, out);
    }
    let mut flag = false;
    napi_ok!(sys::napi_is_array(self.env, v, &mut flag));
    if flag {
      return self.array(v, depth, out);
    }
    napi_ok!(sys::napi_is_date(self.env, v, &mut flag));
    if flag {
      let mut ms = 0f64;
      napi_ok!(sys::napi_get_date_value(self.env, v, &mut ms));
      out.push_str("$D(");
      push_number(out, ms);
      out.push(')');
      return Ok(());
    }
    napi_ok!(sys::napi_is_typedarray(self.env, v, &mut flag));
    if flag {
      return self.typed_array(v, out);
    }
    if self.type_of(proto)? == sys::ValueType::napi_null {
      return self.plain(v, depth, out);
    }
    let class = self.class_name(proto)?;
    let parent = {
      let mut pp = ptr::null_mut();
      napi_ok!(sys::napi_get_prototype(self.env, proto, &mut pp));
      if self.type_of(pp)? == sys::ValueType::napi_object {
        self.class_name(pp)?
      } else {
        None
      }
    };
    match (class.as_deref(), parent.as_deref()) {
      (Some(name @ ("Fn" | "Col" | "Literal" | "Where" | "Cast" | "Json")), Some("SequelizeMethod")) => {
        out.push('$');
        out.push_str(name);
        self.plain(v, depth, out)
      }
      (Some(kind @ ("HasOne" | "HasMany" | "BelongsTo" | "BelongsToMany")), Some("Association")) => {
        let source = self.named(v, c"source")?;
        let alias = self.named(v, c"as")?;
        out.push_str("$A(");
        out.push_str(kind);
        out.push(',');
        if !self.model(source, depth + 1, out)? {
          return Err(Unkeyable::UnknownClass);
        }
        out.push(',');
        self.value(alias, depth + 1, out)?;
        out.push(')');
        Ok(())
      }
      _ => Err(Unkeyable::UnknownClass),
    }
  }

  fn class_name(&self, proto: sys::napi_value) -> R<Option<String>> {
    let ctor = self.named(proto, c"constructor")?;
    if self.type_of(ctor)? != sys::ValueType::napi_function {
      return Ok(None);
    }
    let name = self.named(ctor, c"name")?;
    self.optional_string(name)
  }

  fn array(&mut self, v: sys::napi_value, depth: u32, out: &mut String) -> R<()> {
    let mut len = 0u32;
    napi_ok!(sys::napi_get_array_length(self.env, v, &mut len));
    out.push('[');
    for i in 0..len {
      if i > 0 {
        out.push(',');
      }
      let mut e = ptr::null_mut();
      napi_ok!(sys::napi_get_element(self.env, v, i, &mut e));
      self.value(e, depth + 1, out)?;
    }
    out.push(']');
    Ok(())
  }

  fn typed_array(&self, v: sys::napi_value, out: &mut String) -> R<()> {
    let mut kind = 0;
    let mut len = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    napi_ok!(sys::napi_get_typedarray_info(
      self.env,
      v,
      &mut kind,
      &mut len,
      &mut data,
      &mut buffer,
      &mut offset
    ));
    use sys::TypedarrayType::*;
    let width = match kind {
      k if k == int8_array || k == uint8_array || k == uint8_clamped_array => 1,
      k if k == int16_array || k == uint16_array => 2,
      k if k == int32_array || k == uint32_array || k == float32_array => 4,
      _ => 8,
    };
    let bytes: &[u8] = if len == 0 || data.is_null() {
      &[]
    } else {
      unsafe { std::slice::from_raw_parts(data as *const u8, len * width) }
    };
    if bytes.len() > 64 * 1024 {
      return Err(Unkeyable::TooLarge);
    }
    let _ = write!(out, "$B{kind}(");
    for b in bytes {
      let _ = write!(out, "{b:02x}");
    }
    out.push(')');
    Ok(())
  }

  /// Writes a plain object (or a Sequelize method's own properties): its enumerable string keys
  /// and all its symbol keys — exactly the keys Sequelize itself reads (`Utils.getComplexKeys`) —
  /// sorted, string keys first.
  fn plain(&mut self, v: sys::napi_value, depth: u32, out: &mut String) -> R<()> {
    let mut entries: Vec<(bool, String, sys::napi_value)> = Vec::new();
    // With this filter V8 answers from the object's enum cache, the cheap path.
    let strings = self.own_keys(v, sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols)?;
    self.collect(v, strings, false, depth, &mut entries)?;
    let symbols = self.own_keys(v, sys::KeyFilter::skip_strings)?;
    self.collect(v, symbols, true, depth, &mut entries)?;
    if entries.is_empty() {
      out.push_str("{}");
      return Ok(());
    }
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out.push('{');
    for (i, (is_symbol, name, val)) in entries.iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      if *is_symbol {
        out.push('@');
      }
      push_json_string(out, name);
      out.push(':');
      self.value(*val, depth + 1, out)?;
    }
    out.push('}');
    Ok(())
  }

  fn own_keys(&self, v: sys::napi_value, filter: sys::napi_key_filter) -> R<sys::napi_value> {
    let mut names = ptr::null_mut();
    napi_ok!(sys::napi_get_all_property_names(
      self.env,
      v,
      sys::KeyCollectionMode::own_only,
      filter,
      sys::KeyConversion::numbers_to_strings,
      &mut names
    ));
    Ok(names)
  }

  fn collect(
    &self,
    v: sys::napi_value,
    names: sys::napi_value,
    symbols: bool,
    depth: u32,
    entries: &mut Vec<(bool, String, sys::napi_value)>,
  ) -> R<()> {
    let mut len = 0u32;
    napi_ok!(sys::napi_get_array_length(self.env, names, &mut len));
    for i in 0..len {
      let mut k = ptr::null_mut();
      napi_ok!(sys::napi_get_element(self.env, names, i, &mut k));
      let name = if symbols {
        self.symbol_description(k)?.unwrap_or_default()
      } else {
        self.string(k)?
      };
      if depth == 0 && !symbols && IGNORED_TOP_LEVEL.contains(&name.as_str()) {
        continue;
      }
      let mut val = ptr::null_mut();
      napi_ok!(sys::napi_get_property(self.env, v, k, &mut val));
      entries.push((symbols, name, val));
    }
    Ok(())
  }

  /// Writes a model class and returns true, or returns false if `f` is not one.
  ///
  /// A model's text is cached on the class itself, as an own non-enumerable property under a
  /// private symbol holding `[scope, text]`. It is reused only while the class's `_scope` is the
  /// same object (Sequelize replaces `_scope` when a scope changes, it never edits it in place);
  /// a scoped or schema'd subclass has no own entry and computes its own.
  fn model(&mut self, f: sys::napi_value, depth: u32, out: &mut String) -> R<bool> {
    if self.model_text.is_null() {
      self.model_text = cached_symbol(self.env, &MODEL_TEXT, c"sequelize-native-cache.model")?;
    }
    let scope = self.named(f, c"_scope")?;
    let mut cached = false;
    napi_ok!(sys::napi_has_own_property(self.env, f, self.model_text, &mut cached));
    if cached {
      let mut entry = ptr::null_mut();
      napi_ok!(sys::napi_get_property(self.env, f, self.model_text, &mut entry));
      let mut cached_scope = ptr::null_mut();
      napi_ok!(sys::napi_get_element(self.env, entry, 0, &mut cached_scope));
      let mut same = false;
      napi_ok!(sys::napi_strict_equals(self.env, scope, cached_scope, &mut same));
      if same {
        let mut text = ptr::null_mut();
        napi_ok!(sys::napi_get_element(self.env, entry, 1, &mut text));
        out.push_str(&self.string(text)?);
        return Ok(true);
      }
    }
    let table = self.named(f, c"tableName")?;
    let attrs = self.named(f, c"rawAttributes")?;
    if self.type_of(table)? != sys::ValueType::napi_string || self.type_of(attrs)? != sys::ValueType::napi_object {
      return Ok(false);
    }
    let name = self.named(f, c"name")?;
    let schema = self.named(f, c"_schema")?;
    let start = out.len();
    out.push_str("$M(");
    push_json_string(out, &self.optional_string(name)?.unwrap_or_default());
    out.push(',');
    push_json_string(out, &self.string(table)?);
    out.push(',');
    match self.optional_string(schema)? {
      Some(s) => push_json_string(out, &s),
      None => out.push_str("null"),
    }
    out.push(',');
    if self.is_nullish(scope)? {
      out.push_str("{}");
    } else {
      self.value(scope, depth + 1, out)?;
    }
    out.push(')');
    // Best effort: a frozen class simply keeps no cache.
    if self.remember_model(f, scope, &out[start..]).is_err() {
      self.clear_exception();
    }
    Ok(true)
  }

  fn remember_model(&self, f: sys::napi_value, scope: sys::napi_value, text: &str) -> R<()> {
    let mut entry = ptr::null_mut();
    napi_ok!(sys::napi_create_array_with_length(self.env, 2, &mut entry));
    let mut js_text = ptr::null_mut();
    napi_ok!(sys::napi_create_string_utf8(
      self.env,
      text.as_ptr() as *const c_char,
      text.len() as isize,
      &mut js_text
    ));
    napi_ok!(sys::napi_set_element(self.env, entry, 0, scope));
    napi_ok!(sys::napi_set_element(self.env, entry, 1, js_text));
    let prop = sys::napi_property_descriptor {
      utf8name: ptr::null(),
      name: self.model_text,
      method: None,
      getter: None,
      setter: None,
      value: entry,
      attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable,
      data: ptr::null_mut(),
    };
    napi_ok!(sys::napi_define_properties(self.env, f, 1, &prop));
    Ok(())
  }
}

/// A value made once per JS environment (per thread) and kept alive by a reference.
fn per_env(
  env: sys::napi_env,
  slot: &'static std::thread::LocalKey<Cell<(sys::napi_env, sys::napi_ref)>>,
  make: impl FnOnce() -> R<sys::napi_value>,
) -> R<sys::napi_value> {
  let (cached_env, cached_ref) = slot.with(|c| c.get());
  if cached_env == env && !cached_ref.is_null() {
    let mut v = ptr::null_mut();
    napi_ok!(sys::napi_get_reference_value(env, cached_ref, &mut v));
    if !v.is_null() {
      return Ok(v);
    }
  }
  let v = make()?;
  let mut r = ptr::null_mut();
  napi_ok!(sys::napi_create_reference(env, v, 1, &mut r));
  slot.with(|c| c.set((env, r)));
  Ok(v)
}

/// A private symbol, one per JS environment.
fn cached_symbol(
  env: sys::napi_env,
  slot: &'static std::thread::LocalKey<Cell<(sys::napi_env, sys::napi_ref)>>,
  description: &std::ffi::CStr,
) -> R<sys::napi_value> {
  per_env(env, slot, || {
    let mut desc = ptr::null_mut();
    napi_ok!(sys::napi_create_string_utf8(env, description.as_ptr(), -1, &mut desc));
    let mut v = ptr::null_mut();
    napi_ok!(sys::napi_create_symbol(env, desc, &mut v));
    Ok(v)
  })
}

/// `Object.prototype` of this environment.
fn object_prototype(env: sys::napi_env) -> R<sys::napi_value> {
  per_env(env, &OBJECT_PROTO, || {
    let mut global = ptr::null_mut();
    napi_ok!(sys::napi_get_global(env, &mut global));
    let mut object = ptr::null_mut();
    napi_ok!(sys::napi_get_named_property(
      env,
      global,
      c"Object".as_ptr(),
      &mut object
    ));
    let mut v = ptr::null_mut();
    napi_ok!(sys::napi_get_named_property(env, object, c"prototype".as_ptr(), &mut v));
    Ok(v)
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn json(s: &str) -> String {
    let mut o = String::new();
    push_json_string(&mut o, s);
    o
  }

  #[test]
  fn strings_are_escaped_so_values_cannot_forge_structure() {
    assert_eq!(json(r#"x","role":"admin"#), r#""x\",\"role\":\"admin""#);
    assert_eq!(json("a\\b\n\u{1}é"), "\"a\\\\b\\n\\u0001é\"");
    assert_ne!(json("x\",\"y"), format!("{},{}", json("x"), json("y")));
  }

  #[test]
  fn numbers_are_canonical() {
    let fmt = |n: f64| {
      let mut o = String::new();
      push_number(&mut o, n);
      o
    };
    assert_eq!(fmt(1.0), "1");
    assert_eq!(fmt(-0.0), "0");
    assert_eq!(fmt(0.5), "0.5");
    assert_eq!(fmt(1e-9), "1e-9");
    assert_ne!(fmt(0.1 + 0.2), fmt(0.3));
    assert_eq!(fmt(f64::NAN), "$NaN");
    assert_eq!(fmt(f64::INFINITY), "$Inf");
    assert_eq!(fmt(f64::NEG_INFINITY), "$-Inf");
    assert_eq!(fmt(9_007_199_254_740_993.0), "9007199254740992");
    assert_eq!(fmt(1e300), "1e300");
  }

  #[test]
  fn long_keys_end_in_a_sha256() {
    let head = "model-cache:findAll:Users";
    let short = format!("{head}:{{}}");
    assert_eq!(finish(head, short.clone()), short);
    let long = format!("{head}:{{\"where\":{}}}", json(&"x".repeat(400)));
    let k = finish(head, long.clone());
    assert!(k.starts_with("model-cache:findAll:Users:#"));
    assert_eq!(k.len(), head.len() + 2 + 64);
    assert_ne!(k, finish(head, long.replace('x', "y")));
  }
}
