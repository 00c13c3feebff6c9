//! The walk: reads JS values through [`crate::ffi`] and writes the canonical text whose format
//! [`super`] defines.
//!
//! Values are recognised by what they are, not by which realm made them: jest runs each test
//! file in its own `vm` context, so a plain object there has another realm's `Object.prototype`.
//! The fast path compares a prototype with this environment's `Object.prototype`; any other
//! prototype is recognised by structure — the `Object`, `Date` or typed-array prototype of some
//! realm (its `constructor` is that realm's native function, whose `prototype` is it), Sequelize's
//! method and association classes by name, model classes by their static shape — and the
//! intrinsic prototypes found are remembered per environment (weakly, see [`crate::ffi`]).

use crate::ffi::{self, BigInt, Env, OwnKeys, Slot, Text, TextBuf, Type, TypedArray, TypedArrayKind, Value};

use super::{
  finish, is_ignored_top_level, push_big_bigint, push_buffer, push_date, push_entry_key, push_escaped,
  push_escaped_utf16, push_json_string, push_json_utf16, push_number, push_scope, push_small_bigint, push_typed_array,
  sort_entries, Entry, Unkeyable, MAX_DEPTH, MAX_NODES, MAX_TYPED_ARRAY_BYTES,
};

/// This environment's `Object.prototype`.
const OBJECT_PROTOTYPE: Slot = Slot::new(0);
/// The private symbol under which a model class keeps its encoded text (see `Walker::model`).
const MODEL_TEXT: Slot = Slot::new(1);
/// This environment's `Buffer.prototype` (what `Buffer.isBuffer` looks for).
const BUFFER_PROTOTYPE: Slot = Slot::new(2);
/// This environment's `Function.prototype.toString`, to tell native constructors apart.
const FUNCTION_TO_STRING: Slot = Slot::new(3);
/// This environment's `Array.prototype`.
const ARRAY_PROTOTYPE: Slot = Slot::new(4);

type R<T> = Result<T, Unkeyable>;

impl From<ffi::Failed> for Unkeyable {
  fn from(_: ffi::Failed) -> Self {
    Unkeyable::Unreadable
  }
}

/// An intrinsic prototype of some realm, as remembered by [`Env::remember`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intrinsic {
  Object,
  Array,
  Date,
  TypedArray(TypedArrayKind),
}

impl Intrinsic {
  fn tag(self) -> u32 {
    match self {
      Intrinsic::Object => 0,
      Intrinsic::Array => 1,
      Intrinsic::Date => 2,
      Intrinsic::TypedArray(k) => 3 + k.code(),
    }
  }

  fn from_tag(tag: u32) -> Option<Intrinsic> {
    match tag {
      0 => Some(Intrinsic::Object),
      1 => Some(Intrinsic::Array),
      2 => Some(Intrinsic::Date),
      t => TypedArrayKind::ALL
        .get(t.checked_sub(3)? as usize)
        .map(|k| Intrinsic::TypedArray(*k)),
    }
  }

  /// The intrinsic whose constructor is named `name`.
  fn named(name: &str) -> Option<Intrinsic> {
    match name {
      "Object" => Some(Intrinsic::Object),
      "Array" => Some(Intrinsic::Array),
      "Date" => Some(Intrinsic::Date),
      _ => TypedArrayKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .map(Intrinsic::TypedArray),
    }
  }
}

/// Walks JS values and writes their canonical text; one per key.
pub struct Walker<'e> {
  env: Env<'e>,
  /// Fetched on the first object that needs it: a findByPk key never does.
  object_proto: Option<Value<'e>>,
  /// Fetched on the first model met.
  model_text: Option<Value<'e>>,
  /// Fetched on the first array.
  array_proto: Option<Value<'e>>,
  /// Fetched on the first object whose prototype is not `Object.prototype`.
  buffer_proto: Option<Value<'e>>,
  text: TextBuf,
  nodes: u32,
}

impl<'e> Walker<'e> {
  /// A walker for `env`.
  pub fn new(env: Env<'e>) -> Self {
    Walker {
      env,
      object_proto: None,
      model_text: None,
      array_proto: None,
      buffer_proto: None,
      text: TextBuf::default(),
      nodes: 0,
    }
  }

  /// Builds the key of a query: `head`, the model's active `scope` (omitted when empty) and the
  /// query `options`. Any pending JS exception raised while reading is cleared: keying never
  /// throws into the caller.
  pub fn query_key(&mut self, head: &str, scope: Value<'e>, options: Value<'e>) -> R<String> {
    let result = self.query_key_inner(head, scope, options);
    if result.is_err() {
      self.env.clear_exception();
    }
    result
  }

  fn query_key_inner(&mut self, head: &str, scope: Value<'e>, options: Value<'e>) -> R<String> {
    let mut out = String::with_capacity(head.len() + 64);
    out.push_str(head);
    if !self.is_nullish(scope)? {
      push_scope(&mut out, |out| self.value(scope, 1, out))?;
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
  pub fn pk_key(&mut self, head: &str, attr: &str, value: Value<'e>) -> R<String> {
    let mut out = String::with_capacity(head.len() + attr.len() + 32);
    out.push_str(head);
    out.push_str(":{\"where\":{");
    push_json_string(&mut out, attr);
    out.push(':');
    let result = self.value(value, 2, &mut out);
    if result.is_err() {
      self.env.clear_exception();
    }
    result?;
    out.push_str("}}");
    Ok(finish(head, out))
  }

  fn is_nullish(&self, v: Value<'e>) -> R<bool> {
    Ok(matches!(self.env.type_of(v)?, Type::Undefined | Type::Null))
  }

  /// A string's text as an owned, well-formed `String`; None if it holds a lone surrogate.
  fn owned_string(&mut self, v: Value<'e>) -> R<Option<String>> {
    Ok(match self.env.string(v, &mut self.text)? {
      Text::Utf8(s) => Some(s.to_owned()),
      Text::Utf16(units) => String::from_utf16(units).ok(),
    })
  }

  /// `v`'s string value if it is a well-formed string.
  fn optional_string(&mut self, v: Value<'e>) -> R<Option<String>> {
    if self.env.type_of(v)? == Type::String {
      self.owned_string(v)
    } else {
      Ok(None)
    }
  }

  fn push_string(&mut self, v: Value<'e>, out: &mut String) -> R<()> {
    match self.env.string(v, &mut self.text)? {
      Text::Utf8(s) => push_json_string(out, s),
      Text::Utf16(units) => push_json_utf16(out, units),
    }
    Ok(())
  }

  /// Counts one value about to be written at `depth`, and refuses it past the limits.
  pub(super) fn count_node(&mut self, depth: u32) -> R<()> {
    self.nodes += 1;
    if self.nodes > MAX_NODES {
      return Err(Unkeyable::TooLarge);
    }
    if depth > MAX_DEPTH {
      return Err(Unkeyable::TooDeep);
    }
    Ok(())
  }

  /// Counts an array hole, which takes a node like a value (so a sparse array of a billion holes
  /// is refused after `MAX_NODES`, not walked to its end).
  pub(super) fn count_hole(&mut self) -> R<()> {
    self.nodes += 1;
    if self.nodes > MAX_NODES {
      return Err(Unkeyable::TooLarge);
    }
    Ok(())
  }

  /// Writes `v` at `depth`.
  pub(super) fn value(&mut self, v: Value<'e>, depth: u32, out: &mut String) -> R<()> {
    self.count_node(depth)?;
    match self.env.type_of(v)? {
      Type::Undefined => out.push_str("$u"),
      Type::Null => out.push_str("null"),
      Type::Boolean => out.push_str(if self.env.bool(v)? { "true" } else { "false" }),
      Type::Number => push_number(out, self.env.f64(v)?),
      Type::String => self.push_string(v, out)?,
      Type::Symbol => {
        let description = self.registered_symbol(v)?;
        out.push('@');
        push_json_string(out, &description);
      }
      Type::BigInt => match self.env.bigint(v)? {
        BigInt::Small(n) => push_small_bigint(out, n),
        BigInt::Words { negative, words } => push_big_bigint(out, negative, &words),
      },
      Type::Object => self.object(v, depth, out)?,
      Type::Function => {
        if !self.model(v, depth, out)? {
          return Err(Unkeyable::Function);
        }
      }
      Type::External => return Err(Unkeyable::Unreadable),
    }
    Ok(())
  }

  /// The description of a symbol in the global registry (`Symbol.for(d)`, as every Sequelize
  /// `Op` is); [`Unkeyable::Symbol`] for any other symbol, since its description does not
  /// identify it.
  fn registered_symbol(&mut self, sym: Value<'e>) -> R<String> {
    let env = self.env;
    let d = env.named(sym, c"description")?;
    if env.type_of(d)? != Type::String {
      return Err(Unkeyable::Symbol);
    }
    // The registry is asked in UTF-8, which cannot name a lone surrogate: such a symbol is
    // treated as unregistered.
    let description = self.owned_string(d)?.ok_or(Unkeyable::Symbol)?;
    let registered = env.symbol_for(&description)?;
    if !env.strict_equals(registered, sym)? {
      return Err(Unkeyable::Symbol);
    }
    Ok(description)
  }

  fn object_prototype(&mut self) -> R<Value<'e>> {
    if let Some(p) = self.object_proto {
      return Ok(p);
    }
    let env = self.env;
    let p = env.kept(OBJECT_PROTOTYPE, || {
      let object = env.named(env.global()?, c"Object")?;
      env.named(object, c"prototype")
    })?;
    self.object_proto = Some(p);
    Ok(p)
  }

  fn array_prototype(&mut self) -> R<Value<'e>> {
    if let Some(p) = self.array_proto {
      return Ok(p);
    }
    let env = self.env;
    let p = env.kept(ARRAY_PROTOTYPE, || {
      let array = env.named(env.global()?, c"Array")?;
      env.named(array, c"prototype")
    })?;
    self.array_proto = Some(p);
    Ok(p)
  }

  fn buffer_prototype(&mut self) -> R<Value<'e>> {
    if let Some(p) = self.buffer_proto {
      return Ok(p);
    }
    let env = self.env;
    let p = env.kept(BUFFER_PROTOTYPE, || {
      let buffer = env.named(env.global()?, c"Buffer")?;
      if env.type_of(buffer)? == Type::Function {
        env.named(buffer, c"prototype")
      } else {
        // No Buffer here: a fresh object no value can have as its prototype.
        env.create_object()
      }
    })?;
    self.buffer_proto = Some(p);
    Ok(p)
  }

  fn object(&mut self, v: Value<'e>, depth: u32, out: &mut String) -> R<()> {
    // Plain objects and arrays are the common case: three calls tell each apart. An array is
    // what `Array.isArray` says (Sequelize's test), whatever its prototype, so it is asked
    // first; then its prototype must be some realm's `Array.prototype`, not a subclass's.
    let env = self.env;
    let array = env.is_array(v)?;
    let proto = env.prototype(v)?;
    if array {
      let array_proto = self.array_prototype()?;
      if env.strict_equals(proto, array_proto)? || self.intrinsic_of(proto)? == Some(Intrinsic::Array) {
        return self.array(v, depth, out);
      }
      return Err(Unkeyable::UnknownClass);
    }
    let object_proto = self.object_prototype()?;
    if env.strict_equals(proto, object_proto)? {
      return self.plain(v, depth, out);
    }
    self.other_object(v, proto, depth, out)
  }

  /// Which intrinsic prototype `proto` is, if any: remembered, or found by structure (see
  /// [`Walker::intrinsic_prototype`]) and then remembered.
  fn intrinsic_of(&mut self, proto: Value<'e>) -> R<Option<Intrinsic>> {
    if let Some(known) = self.env.recall(proto)?.and_then(Intrinsic::from_tag) {
      return Ok(Some(known));
    }
    let Some(name) = self.class_name(proto)? else {
      return Ok(None);
    };
    let found = self.intrinsic_prototype(proto, &name)?;
    if let Some(found) = found {
      self.env.remember(proto, found.tag())?;
    }
    Ok(found)
  }

  /// An object whose prototype is not this environment's `Object.prototype`.
  fn other_object(&mut self, v: Value<'e>, proto: Value<'e>, depth: u32, out: &mut String) -> R<()> {
    let env = self.env;
    if env.type_of(proto)? == Type::Null {
      return self.plain(v, depth, out);
    }
    let buffer_proto = self.buffer_prototype()?;
    if env.strict_equals(proto, buffer_proto)? {
      if !env.is_typed_array(v)? {
        return Err(Unkeyable::UnknownClass);
      }
      return match env.typed_array(v, MAX_TYPED_ARRAY_BYTES)? {
        TypedArray::Bytes(TypedArrayKind::Uint8, bytes) => {
          push_buffer(out, &bytes);
          Ok(())
        }
        TypedArray::TooLong => Err(Unkeyable::TooLarge),
        _ => Err(Unkeyable::UnknownClass),
      };
    }
    if let Some(known) = env.recall(proto)?.and_then(Intrinsic::from_tag) {
      return self.intrinsic(v, known, depth, out);
    }
    let class = self.class_name(proto)?;
    let parent = {
      let pp = env.prototype(proto)?;
      if env.type_of(pp)? == Type::Object {
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
        let source = env.named(v, c"source")?;
        let alias = env.named(v, c"as")?;
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
      (Some(name), _) => match self.intrinsic_prototype(proto, name)? {
        Some(found) => {
          env.remember(proto, found.tag())?;
          self.intrinsic(v, found, depth, out)
        }
        None => Err(Unkeyable::UnknownClass),
      },
      (None, _) => Err(Unkeyable::UnknownClass),
    }
  }

  /// Writes `v`, whose prototype is the intrinsic `proto` of some realm, if `v` really is what
  /// that prototype stands for (a Date has the Date slot, not just `Date.prototype`).
  fn intrinsic(&mut self, v: Value<'e>, proto: Intrinsic, depth: u32, out: &mut String) -> R<()> {
    let env = self.env;
    match proto {
      Intrinsic::Object => self.plain(v, depth, out),
      Intrinsic::Array if env.is_array(v)? => self.array(v, depth, out),
      Intrinsic::Date if env.is_date(v)? => {
        push_date(out, env.date_value(v)?);
        Ok(())
      }
      Intrinsic::TypedArray(kind) if env.is_typed_array(v)? => match env.typed_array(v, MAX_TYPED_ARRAY_BYTES)? {
        TypedArray::Bytes(k, bytes) if k == kind => {
          push_typed_array(out, k.code(), &bytes);
          Ok(())
        }
        TypedArray::TooLong => Err(Unkeyable::TooLarge),
        _ => Err(Unkeyable::UnknownClass),
      },
      _ => Err(Unkeyable::UnknownClass),
    }
  }

  /// Which intrinsic prototype `proto` (whose constructor is named `name`) is, if any: its
  /// `constructor` must be a realm's own native function of that name (what
  /// `Function.prototype.toString` shows as `function Name() { [native code] }`, which neither a
  /// class nor a JS function can imitate) and that function's `prototype` must be `proto`
  /// itself. A native constructor's `prototype` cannot be reassigned, so `proto` is then that
  /// realm's intrinsic. `Object.prototype` must also have a null prototype.
  fn intrinsic_prototype(&mut self, proto: Value<'e>, name: &str) -> R<Option<Intrinsic>> {
    let Some(found) = Intrinsic::named(name) else {
      return Ok(None);
    };
    let env = self.env;
    let ctor = env.named(proto, c"constructor")?;
    if env.type_of(ctor)? != Type::Function || !env.strict_equals(env.named(ctor, c"prototype")?, proto)? {
      return Ok(None);
    }
    if found == Intrinsic::Object && env.type_of(env.prototype(proto)?)? != Type::Null {
      return Ok(None);
    }
    let to_string = env.kept(FUNCTION_TO_STRING, || {
      let function = env.named(env.global()?, c"Function")?;
      env.named(env.named(function, c"prototype")?, c"toString")
    })?;
    let source = env.call(to_string, ctor, &[])?;
    let native = format!("function {name}() {{ [native code] }}");
    Ok((self.optional_string(source)?.as_deref() == Some(native.as_str())).then_some(found))
  }

  /// The name of `proto.constructor`, if it is a function with a string name.
  fn class_name(&mut self, proto: Value<'e>) -> R<Option<String>> {
    let ctor = self.env.named(proto, c"constructor")?;
    if self.env.type_of(ctor)? != Type::Function {
      return Ok(None);
    }
    let name = self.env.named(ctor, c"name")?;
    self.optional_string(name)
  }

  fn array(&mut self, v: Value<'e>, depth: u32, out: &mut String) -> R<()> {
    let env = self.env;
    let len = env.array_len(v)?;
    out.push('[');
    for i in 0..len {
      if i > 0 {
        out.push(',');
      }
      let e = env.element(v, i)?;
      // Only an element that reads `undefined` can be a hole; ask only then.
      if env.type_of(e)? == Type::Undefined && !env.has_element(v, i)? {
        self.count_hole()?;
        out.push_str("$hole");
        continue;
      }
      self.value(e, depth + 1, out)?;
    }
    out.push(']');
    Ok(())
  }

  /// Writes a plain object (or a Sequelize method's own properties): its enumerable string keys
  /// and all its symbol keys — every key Sequelize itself reads (`Utils.getComplexKeys`) —
  /// sorted by [`sort_entries`].
  fn plain(&mut self, v: Value<'e>, depth: u32, out: &mut String) -> R<()> {
    let mut entries: Vec<Entry<Value<'e>>> = Vec::new();
    // With this filter V8 answers from the object's enum cache, the cheap path.
    let strings = self.env.own_keys(v, OwnKeys::EnumerableStrings)?;
    self.collect(v, strings, false, depth, &mut entries)?;
    let symbols = self.env.own_keys(v, OwnKeys::Symbols)?;
    self.collect(v, symbols, true, depth, &mut entries)?;
    if entries.is_empty() {
      out.push_str("{}");
      return Ok(());
    }
    sort_entries(&mut entries);
    out.push('{');
    for (i, entry) in entries.iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      push_entry_key(out, entry);
      self.value(entry.value, depth + 1, out)?;
    }
    out.push('}');
    Ok(())
  }

  fn collect(
    &mut self,
    v: Value<'e>,
    names: Value<'e>,
    symbols: bool,
    depth: u32,
    entries: &mut Vec<Entry<Value<'e>>>,
  ) -> R<()> {
    let env = self.env;
    let len = env.array_len(names)?;
    for i in 0..len {
      let k = env.element(names, i)?;
      let mut name = String::new();
      if symbols {
        push_escaped(&mut name, &self.registered_symbol(k)?);
      } else {
        match env.string(k, &mut self.text)? {
          Text::Utf8(s) => push_escaped(&mut name, s),
          Text::Utf16(units) => push_escaped_utf16(&mut name, units),
        }
        if depth == 0 && is_ignored_top_level(&name) {
          continue;
        }
      }
      let value = env.property(v, k)?;
      entries.push(Entry {
        symbol: symbols,
        name,
        value,
      });
    }
    Ok(())
  }

  /// Writes a model class and returns true, or returns false if `f` is not one.
  ///
  /// A model's text is cached on the class itself, as an own non-enumerable property under a
  /// private symbol holding `[scope, text]`. It is reused only while the class's `_scope` is the
  /// same object (Sequelize replaces `_scope` when a scope changes, it never edits it in place);
  /// a scoped or schema'd subclass has no own entry and computes its own.
  fn model(&mut self, f: Value<'e>, depth: u32, out: &mut String) -> R<bool> {
    let env = self.env;
    let model_text = match self.model_text {
      Some(s) => s,
      None => {
        let s = env.kept(MODEL_TEXT, || env.create_symbol("sequelize-native-cache.model"))?;
        self.model_text = Some(s);
        s
      }
    };
    let scope = env.named(f, c"_scope")?;
    if env.has_own(f, model_text)? {
      let entry = env.property(f, model_text)?;
      if env.strict_equals(scope, env.element(entry, 0)?)? {
        let text = env.element(entry, 1)?;
        match env.string(text, &mut self.text)? {
          Text::Utf8(s) => out.push_str(s),
          // Written by `remember_model` from well-formed text, so this always converts.
          Text::Utf16(units) => out.push_str(&String::from_utf16(units).map_err(|_| Unkeyable::Unreadable)?),
        }
        return Ok(true);
      }
    }
    let table = env.named(f, c"tableName")?;
    let attrs = env.named(f, c"rawAttributes")?;
    if env.type_of(table)? != Type::String || env.type_of(attrs)? != Type::Object {
      return Ok(false);
    }
    let name = env.named(f, c"name")?;
    let schema = env.named(f, c"_schema")?;
    let start = out.len();
    out.push_str("$M(");
    if env.type_of(name)? == Type::String {
      self.push_string(name, out)?;
    } else {
      out.push_str("\"\"");
    }
    out.push(',');
    self.push_string(table, out)?;
    out.push(',');
    if env.type_of(schema)? == Type::String {
      self.push_string(schema, out)?;
    } else {
      out.push_str("null");
    }
    out.push(',');
    if self.is_nullish(scope)? {
      out.push_str("{}");
    } else {
      self.value(scope, depth + 1, out)?;
    }
    out.push(')');
    // Best effort: a frozen class simply keeps no cache.
    if self.remember_model(f, scope, model_text, &out[start..]).is_err() {
      env.clear_exception();
    }
    Ok(true)
  }

  fn remember_model(&self, f: Value<'e>, scope: Value<'e>, key: Value<'e>, text: &str) -> ffi::Result<()> {
    let env = self.env;
    let entry = env.pair(scope, env.create_string(text)?)?;
    env.define_hidden(f, key, entry)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn intrinsic_tags_round_trip() {
    let all = [Intrinsic::Object, Intrinsic::Array, Intrinsic::Date]
      .into_iter()
      .chain(TypedArrayKind::ALL.into_iter().map(Intrinsic::TypedArray));
    for i in all {
      assert_eq!(Intrinsic::from_tag(i.tag()), Some(i));
    }
    assert_eq!(Intrinsic::from_tag(3 + 11), None);
    assert_eq!(
      Intrinsic::named("Uint8Array"),
      Some(Intrinsic::TypedArray(TypedArrayKind::Uint8))
    );
    assert_eq!(Intrinsic::named("Buffer"), None);
    assert_eq!(Intrinsic::named("Map"), None);
  }
}
