//! The tape: a query's options gathered by the shim (`js/engine/gather.js`) into one flat array,
//! so that a key is read in one N-API call instead of about five per value.
//!
//! The shim decides nothing about the text: it only records, in traversal order, what each value
//! is and where its parts are. Everything the format says (escaping, number and date forms,
//! sorting, the ignored top-level options, the limits, hashing) is written here with the same
//! writers [`super::walk`] uses, and every value the shim does not recognise as plain data
//! (models, Sequelize methods, Buffers, bigints, objects of other realms or classes) is handed
//! back by reference and written by the walker itself. So a tape and the walker give the same
//! text for the same value; `__test__/key-properties.test.mjs` checks that on generated trees.
//!
//! A tape is a sequence of `f64` slots (a `Float64Array` on the JS side). Each value starts with
//! a [`TapeOp`] and has a fixed number of slots after it:
//!
//! | op | slots after it |
//! |---|---|
//! | `Undefined`, `Null`, `True`, `False`, `Hole` | none |
//! | `Number` | the number |
//! | `Date` | its time value (ms) |
//! | `String`, `Symbol` | offset and length of its text (UTF-16 units) in the tape's text |
//! | `Ref` | index of the value in the tape's reference array |
//! | `Array` | element count, then the position just past its last element; then the elements |
//! | `Object` | entry count, then the position just past its last entry; then per entry a key (`String`, or `Symbol` for a registered symbol key) and its value |
//! | `Model` | the position just past it; then its name, table, schema and scope as values (see [`TapeOp::Model`]) |
//!
//! A tape holds two values: the model's active scope (`Undefined` when there is none) and the
//! options. The tape comes from our own shim, but it is still read as input: every position,
//! count and text range is checked, and anything that does not fit is [`Unkeyable::Unreadable`],
//! never a panic or an out-of-range read.

use napi_derive::napi;

use crate::ffi::{Env, Value};

use super::walk::Walker;
use super::{
  entry_order, finish, is_ignored_top_level, push_date, push_escaped_utf16, push_json_utf16, push_key, push_number,
  push_scope, Unkeyable,
};

/// What a value on a tape is (its first slot). The shim reads these names from the binding, so
/// the two sides share one list.
#[napi]
#[derive(Debug, PartialEq, Eq)]
pub enum TapeOp {
  /// `undefined`.
  Undefined = 0,
  /// `null`.
  Null = 1,
  /// `true`.
  True = 2,
  /// `false`.
  False = 3,
  /// A number; the next slot holds it.
  Number = 4,
  /// A string: offset and length of its text.
  String = 5,
  /// A registered symbol (`Symbol.for(d)`): offset and length of `d`.
  Symbol = 6,
  /// A valid or invalid Date of this realm: its time value.
  Date = 7,
  /// A plain array of this realm: length, end position, elements.
  Array = 8,
  /// A hole in an array.
  Hole = 9,
  /// A plain object: entry count, end position, entries.
  Object = 10,
  /// Any other value, written by the walker: its index in the reference array.
  Ref = 11,
  /// A model class whose active scope is empty: its name, table and schema as `String`,
  /// `Undefined` (a name or schema that is not a string) values, then its scope as `Undefined`
  /// (nullish) or `Object` with no entries.
  Model = 12,
}

impl TapeOp {
  fn from_slot(slot: f64) -> Option<TapeOp> {
    Some(match slot_index(slot)? {
      0 => TapeOp::Undefined,
      1 => TapeOp::Null,
      2 => TapeOp::True,
      3 => TapeOp::False,
      4 => TapeOp::Number,
      5 => TapeOp::String,
      6 => TapeOp::Symbol,
      7 => TapeOp::Date,
      8 => TapeOp::Array,
      9 => TapeOp::Hole,
      10 => TapeOp::Object,
      11 => TapeOp::Ref,
      12 => TapeOp::Model,
      _ => return None,
    })
  }
}

/// Appends a registered symbol's description, escaped; as the walker, a description holding a
/// lone surrogate (which the registry cannot be asked about in UTF-8) makes the symbol unkeyable.
fn push_symbol(out: &mut String, units: &[u16]) -> R<()> {
  if char::decode_utf16(units.iter().copied()).any(|c| c.is_err()) {
    return Err(Unkeyable::Symbol);
  }
  push_escaped_utf16(out, units);
  Ok(())
}

/// A slot that holds a count, position or index: a non-negative integer that fits a `u32`.
fn slot_index(slot: f64) -> Option<usize> {
  // The cast saturates and takes NaN to 0, so only an exact u32 compares equal.
  let i = slot as u32;
  (f64::from(i) == slot).then_some(i as usize)
}

type R<T> = Result<T, Unkeyable>;

/// One gathered query: its slots, its text and the values handed back by reference.
pub struct Tape<'t, 'e> {
  /// The slots, copied out of the shim's `Float64Array`.
  pub slots: &'t [f64],
  /// Every string on the tape, one after another, as UTF-16 units.
  pub text: &'t [u16],
  /// The reference array (read only if a `Ref` occurs).
  pub refs: Value<'e>,
}

/// One object entry being written: its key's escaped name (a range of [`Scratch::names`]) and
/// the position of its value.
#[derive(Clone, Copy)]
struct Named {
  symbol: bool,
  name: (usize, usize),
  value: usize,
}

/// Reads a tape and writes the canonical text, handing `Ref` values to a [`Walker`] (which also
/// counts the nodes, so the tape and the values it refers to share one [`super::MAX_NODES`]).
pub struct TapeReader<'t, 'e> {
  tape: Tape<'t, 'e>,
  walker: Walker<'e>,
  env: Env<'e>,
  scratch: Scratch,
}

/// A reader's bookkeeping, kept between keys by [`TapeReader::into_scratch`].
#[derive(Default)]
pub struct Scratch {
  /// The escaped key names of the objects being written, one after another.
  names: String,
  /// The entries of the objects being written, innermost last.
  entries: Vec<Named>,
}

impl Scratch {
  /// The bytes its buffers hold on to.
  pub fn capacity_bytes(&self) -> usize {
    self.names.capacity() + self.entries.capacity() * std::mem::size_of::<Named>()
  }
}

impl<'t, 'e> TapeReader<'t, 'e> {
  /// A reader of `tape` in `env`, writing its bookkeeping into `scratch` (emptied first).
  pub fn new(env: Env<'e>, tape: Tape<'t, 'e>, mut scratch: Scratch) -> Self {
    scratch.names.clear();
    scratch.entries.clear();
    TapeReader {
      tape,
      walker: Walker::new(env),
      env,
      scratch,
    }
  }

  /// The reader's bookkeeping, for the next key.
  pub fn into_scratch(self) -> Scratch {
    self.scratch
  }

  /// The key of the gathered query under `head`, as [`Walker::query_key`] writes it. A pending JS
  /// exception raised while walking a `Ref` is cleared: keying never throws into the caller.
  pub fn query_key(&mut self, head: &str) -> R<String> {
    let result = self.query_key_inner(head);
    if result.is_err() {
      self.env.clear_exception();
    }
    result
  }

  fn query_key_inner(&mut self, head: &str) -> R<String> {
    // Room for the text and the punctuation around it, so the common key never reallocates.
    let mut out = String::with_capacity(head.len() + self.tape.text.len() + 4 * self.tape.slots.len() + 8);
    out.push_str(head);
    let options = self.skip(0)?;
    if !self.is_nullish(0)? {
      push_scope(&mut out, |out| self.value(0, 1, out))?;
    }
    out.push(':');
    if self.is_nullish(options)? {
      out.push_str("{}");
    } else {
      self.value(options, 0, &mut out)?;
    }
    if self.skip(options)? != self.tape.slots.len() {
      return Err(Unkeyable::Unreadable);
    }
    Ok(finish(head, out))
  }

  fn op(&self, pos: usize) -> R<TapeOp> {
    self
      .tape
      .slots
      .get(pos)
      .copied()
      .and_then(TapeOp::from_slot)
      .ok_or(Unkeyable::Unreadable)
  }

  fn slot(&self, pos: usize) -> R<f64> {
    self.tape.slots.get(pos).copied().ok_or(Unkeyable::Unreadable)
  }

  fn index(&self, pos: usize) -> R<usize> {
    slot_index(self.slot(pos)?).ok_or(Unkeyable::Unreadable)
  }

  /// The text of a `String` or `Symbol` at `pos`.
  fn text(&self, pos: usize) -> R<&'t [u16]> {
    let (start, len) = (self.index(pos + 1)?, self.index(pos + 2)?);
    let end = start.checked_add(len).ok_or(Unkeyable::Unreadable)?;
    self.tape.text.get(start..end).ok_or(Unkeyable::Unreadable)
  }

  fn is_nullish(&self, pos: usize) -> R<bool> {
    Ok(matches!(self.op(pos)?, TapeOp::Undefined | TapeOp::Null))
  }

  /// The position just past the value at `pos`.
  fn skip(&self, pos: usize) -> R<usize> {
    let next = match self.op(pos)? {
      TapeOp::Undefined | TapeOp::Null | TapeOp::True | TapeOp::False | TapeOp::Hole => pos + 1,
      TapeOp::Number | TapeOp::Date | TapeOp::Ref => pos + 2,
      TapeOp::String | TapeOp::Symbol => pos + 3,
      TapeOp::Array | TapeOp::Object => {
        let end = self.index(pos + 2)?;
        if end < pos + 3 {
          return Err(Unkeyable::Unreadable);
        }
        end
      }
      TapeOp::Model => {
        let end = self.index(pos + 1)?;
        if end < pos + 2 {
          return Err(Unkeyable::Unreadable);
        }
        end
      }
    };
    if next > self.tape.slots.len() {
      return Err(Unkeyable::Unreadable);
    }
    Ok(next)
  }

  fn value(&mut self, pos: usize, depth: u32, out: &mut String) -> R<()> {
    self.walker.count_node(depth)?;
    match self.op(pos)? {
      TapeOp::Undefined => out.push_str("$u"),
      TapeOp::Null => out.push_str("null"),
      TapeOp::True => out.push_str("true"),
      TapeOp::False => out.push_str("false"),
      TapeOp::Number => push_number(out, self.slot(pos + 1)?),
      TapeOp::Date => push_date(out, self.slot(pos + 1)?),
      TapeOp::String => push_json_utf16(out, self.text(pos)?),
      TapeOp::Symbol => {
        out.push_str("@\"");
        push_symbol(out, self.text(pos)?)?;
        out.push('"');
      }
      TapeOp::Ref => {
        let v = self.env.element(self.tape.refs, self.index(pos + 1)? as u32)?;
        self.walker.value(v, depth, out)?;
      }
      TapeOp::Model => self.model(pos, depth, out)?,
      TapeOp::Array => self.array(pos, depth, out)?,
      TapeOp::Object => self.object(pos, depth, out)?,
      // A hole is only an array element (see `array`).
      TapeOp::Hole => return Err(Unkeyable::Unreadable),
    }
    Ok(())
  }

  /// A model with an empty scope, as [`Walker`] writes one: `$M(<name>,<table>,<schema>,{})`,
  /// a name or schema that is not a string as `""` and `null`, and the scope counted as the
  /// walker counts it (a node one level down, unless it is nullish).
  fn model(&mut self, pos: usize, depth: u32, out: &mut String) -> R<()> {
    let name = pos + 2;
    let table = self.skip(name)?;
    let schema = self.skip(table)?;
    let scope = self.skip(schema)?;
    if self.skip(scope)? != self.skip(pos)? || self.op(table)? != TapeOp::String {
      return Err(Unkeyable::Unreadable);
    }
    out.push_str("$M(");
    match self.op(name)? {
      TapeOp::String => push_json_utf16(out, self.text(name)?),
      TapeOp::Undefined => out.push_str("\"\""),
      _ => return Err(Unkeyable::Unreadable),
    }
    out.push(',');
    push_json_utf16(out, self.text(table)?);
    out.push(',');
    match self.op(schema)? {
      TapeOp::String => push_json_utf16(out, self.text(schema)?),
      TapeOp::Undefined => out.push_str("null"),
      _ => return Err(Unkeyable::Unreadable),
    }
    out.push(',');
    match self.op(scope)? {
      TapeOp::Undefined => {}
      TapeOp::Object if self.index(scope + 1)? == 0 => self.walker.count_node(depth + 1)?,
      _ => return Err(Unkeyable::Unreadable),
    }
    out.push_str("{})");
    Ok(())
  }

  fn array(&mut self, pos: usize, depth: u32, out: &mut String) -> R<()> {
    let (len, end) = (self.index(pos + 1)?, self.skip(pos)?);
    let mut at = pos + 3;
    out.push('[');
    for i in 0..len {
      if i > 0 {
        out.push(',');
      }
      if self.op(at)? == TapeOp::Hole {
        self.walker.count_hole()?;
        out.push_str("$hole");
      } else {
        self.value(at, depth + 1, out)?;
      }
      at = self.skip(at)?;
      if at > end {
        return Err(Unkeyable::Unreadable);
      }
    }
    if at != end {
      return Err(Unkeyable::Unreadable);
    }
    out.push(']');
    Ok(())
  }

  fn object(&mut self, pos: usize, depth: u32, out: &mut String) -> R<()> {
    let (count, end) = (self.index(pos + 1)?, self.skip(pos)?);
    let (first, names_mark) = (self.scratch.entries.len(), self.scratch.names.len());
    let mut at = pos + 3;
    for _ in 0..count {
      let symbol = match self.op(at)? {
        TapeOp::String => false,
        TapeOp::Symbol => true,
        _ => return Err(Unkeyable::Unreadable),
      };
      let start = self.scratch.names.len();
      let text = self.text(at)?;
      if symbol {
        push_symbol(&mut self.scratch.names, text)?;
      } else {
        push_escaped_utf16(&mut self.scratch.names, text);
      }
      let value = at + 3;
      at = self.skip(value)?;
      if at > end {
        return Err(Unkeyable::Unreadable);
      }
      if !symbol && depth == 0 && is_ignored_top_level(&self.scratch.names[start..]) {
        self.scratch.names.truncate(start);
        continue;
      }
      self.scratch.entries.push(Named {
        symbol,
        name: (start, self.scratch.names.len()),
        value,
      });
    }
    if at != end {
      return Err(Unkeyable::Unreadable);
    }
    if self.scratch.entries.len() == first {
      out.push_str("{}");
      return Ok(());
    }
    let Scratch { names, entries } = &mut self.scratch;
    entries[first..].sort_unstable_by(|a, b| {
      entry_order(
        (a.symbol, &names[a.name.0..a.name.1]),
        (b.symbol, &names[b.name.0..b.name.1]),
      )
    });
    out.push('{');
    for i in first..self.scratch.entries.len() {
      if i > first {
        out.push(',');
      }
      let entry = self.scratch.entries[i];
      push_key(out, entry.symbol, &self.scratch.names[entry.name.0..entry.name.1]);
      self.value(entry.value, depth + 1, out)?;
    }
    out.push('}');
    self.scratch.entries.truncate(first);
    self.scratch.names.truncate(names_mark);
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ops_round_trip_through_their_slot() {
    for (code, op) in [
      (0.0, TapeOp::Undefined),
      (4.0, TapeOp::Number),
      (10.0, TapeOp::Object),
      (11.0, TapeOp::Ref),
      (12.0, TapeOp::Model),
    ] {
      assert_eq!(TapeOp::from_slot(code), Some(op));
    }
    for bad in [-1.0, 13.0, 1.5, f64::NAN, f64::INFINITY] {
      assert_eq!(TapeOp::from_slot(bad), None);
    }
  }

  #[test]
  fn index_slots_are_non_negative_integers_within_u32() {
    assert_eq!(slot_index(0.0), Some(0));
    assert_eq!(slot_index(7.0), Some(7));
    assert_eq!(slot_index(-0.0), Some(0));
    assert_eq!(slot_index(-1.0), None);
    assert_eq!(slot_index(0.5), None);
    assert_eq!(slot_index(f64::NAN), None);
    assert_eq!(slot_index(1e12), None);
  }
}
