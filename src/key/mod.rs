//! Canonical query keys: the format and its rules.
//!
//! A key is `<head>[$scope<scope>]:<options>` where `head` is `prefix:method:segment` (built by
//! the shim) and the rest is the canonical text of the model's active scope and of the query
//! options, written by [`walk::Walker`]. The text is JSON for JSON-like values — so
//! `{where:{id:1}}` reads `{"where":{"id":1}}` — and uses tokens that no JSON text can contain
//! for everything else:
//!
//! | value | token |
//! |---|---|
//! | registered symbol key or value (`Op.gt`, `Symbol.for('x')`) | `@"gt"` (string keys are always quoted, so never `@`) |
//! | `undefined` | `$u` |
//! | an array hole (`[1, , 2]`) | `$hole` |
//! | `NaN`, `Infinity`, `-Infinity` | `$NaN`, `$Inf`, `$-Inf` |
//! | `-0` | `-0` (other numbers as JSON writes them) |
//! | `Date` | `$D(<ms since epoch>)` |
//! | `bigint` | `$n(<decimal or signed hex words>)` |
//! | `Buffer` | `$Buf(<hex bytes>)` |
//! | other typed arrays | `$B<N-API type number>(<hex bytes>)` |
//! | `fn`/`col`/`literal`/`where`/`cast`/`json` | `$Fn{...}`, `$Col{...}`, ... (own properties) |
//! | a model class | `$M(<name>,<table>,<schema>,<scope>)` |
//! | an association | `$A(<type>,<source model>,<alias>)` |
//!
//! Strings are JSON-escaped, so no value can forge structure; a lone surrogate (which UTF-8
//! cannot hold) is written as a `\udXXX` escape, as `JSON.stringify` does, so `'\ud800'` and
//! `'\ufffd'` differ. Object keys are sorted (string keys first, then symbol keys, each by their
//! escaped text); arrays keep their order. `transaction`, `logging`, `benchmark` and
//! `rejectOnEmpty` at the top level of the options never change a key. Anything else that
//! cannot be encoded — functions that are not models, unregistered symbols, instances of
//! unknown classes, cycles, absurd sizes — makes the query [`Unkeyable`], and the caller
//! bypasses the cache.
//!
//! Keys longer than [`MAX_READABLE_KEY`] bytes become `<head>:#<sha256 of the full text>`.
//!
//! Invariant: the text is injective — two values Sequelize reads differently never write the
//! same text. Every writer here keeps it by being self-delimiting (quoted strings, bracketed
//! tokens) and by escaping whatever could close a string early.

#![warn(missing_docs)]

pub mod tape;
pub mod walk;

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// Keys up to this many bytes are kept readable; longer ones end in a SHA-256 instead.
pub const MAX_READABLE_KEY: usize = 250;
/// Nesting deeper than this is treated as a cycle.
pub const MAX_DEPTH: u32 = 48;
/// Values with more nodes than this are not keyed.
pub const MAX_NODES: u32 = 20_000;
/// Typed arrays (Buffers included) longer than this many bytes are not keyed.
pub const MAX_TYPED_ARRAY_BYTES: usize = 64 * 1024;

/// Top-level options that never change a query's result set.
const IGNORED_TOP_LEVEL: [&str; 4] = ["transaction", "logging", "benchmark", "rejectOnEmpty"];

/// True for a top-level option name (as escaped by [`push_escaped`]) that never changes a key.
pub fn is_ignored_top_level(name: &str) -> bool {
  IGNORED_TOP_LEVEL.contains(&name)
}

/// Why a query could not be keyed; the shim bypasses the cache and counts the reason.
///
/// The discriminants are the codes the binding returns instead of a key; they never change.
/// Exported to JS, where the gathering pass (`js/engine/gather.js`) reports the ones it finds.
#[napi_derive::napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unkeyable {
  /// A function that is not a model class.
  Function = 1,
  /// Nested deeper than [`MAX_DEPTH`] (a cycle, in practice).
  TooDeep = 2,
  /// More than [`MAX_NODES`] values (array holes included), or a typed array over
  /// [`MAX_TYPED_ARRAY_BYTES`].
  TooLarge = 3,
  /// An object of a class the encoder does not know.
  UnknownClass = 4,
  /// A value N-API could not read (a throwing getter, an external).
  Unreadable = 5,
  /// A symbol that is not in the global registry (`Symbol('gt')`, not `Symbol.for('gt')`):
  /// every Sequelize operator is registered, and two unregistered symbols with one description
  /// cannot be told apart by their text.
  Symbol = 6,
}

impl Unkeyable {
  /// Every reason, in code order.
  pub const ALL: [Unkeyable; 6] = [
    Unkeyable::Function,
    Unkeyable::TooDeep,
    Unkeyable::TooLarge,
    Unkeyable::UnknownClass,
    Unkeyable::Unreadable,
    Unkeyable::Symbol,
  ];

  /// The reason whose code is `code`.
  pub fn from_code(code: u32) -> Option<Unkeyable> {
    Self::ALL.into_iter().find(|u| *u as u32 == code)
  }

  /// The bypass reason reported in stats.
  pub fn reason(self) -> &'static str {
    match self {
      Unkeyable::Function => "unkeyable:function",
      Unkeyable::TooDeep => "unkeyable:cycle-or-depth",
      Unkeyable::TooLarge => "unkeyable:too-large",
      Unkeyable::UnknownClass => "unkeyable:unknown-class",
      Unkeyable::Unreadable => "unkeyable:unreadable",
      Unkeyable::Symbol => "unkeyable:symbol",
    }
  }
}

/// The escape of one character, if it needs one (`"`, `\` and control characters).
fn escape_of(c: char) -> Option<&'static str> {
  Some(match c {
    '"' => "\\\"",
    '\\' => "\\\\",
    '\n' => "\\n",
    '\r' => "\\r",
    '\t' => "\\t",
    '\0'..='\x1f' => "",
    _ => return None,
  })
}

fn push_escaped_char(out: &mut String, c: char) {
  match escape_of(c) {
    None => out.push(c),
    Some("") => {
      let _ = write!(out, "\\u{:04x}", c as u32);
    }
    Some(esc) => out.push_str(esc),
  }
}

/// Appends `s` JSON-escaped, without the quotes.
pub fn push_escaped(out: &mut String, s: &str) {
  out.reserve(s.len());
  let mut start = 0;
  for (i, b) in s.bytes().enumerate() {
    // Only ASCII bytes need escaping, and they never occur inside a multi-byte character.
    if b >= 0x20 && b != b'"' && b != b'\\' {
      continue;
    }
    out.push_str(&s[start..i]);
    push_escaped_char(out, b as char);
    start = i + 1;
  }
  out.push_str(&s[start..]);
}

/// Appends UTF-16 code units JSON-escaped, without the quotes: as [`push_escaped`] for the
/// well-formed parts, and a lone surrogate as `\udXXX` (what `JSON.stringify` writes).
pub fn push_escaped_utf16(out: &mut String, units: &[u16]) {
  out.reserve(units.len());
  let mut rest = units;
  while !rest.is_empty() {
    // Printable ASCII other than `"` and `\` is written as it is, a run at a time.
    let run = rest
      .iter()
      .position(|&u| !(0x20..0x80).contains(&u) || u == u16::from(b'"') || u == u16::from(b'\\'))
      .unwrap_or(rest.len());
    for chunk in rest[..run].chunks(64) {
      let mut bytes = [0u8; 64];
      for (b, &u) in bytes.iter_mut().zip(chunk) {
        *b = u as u8;
      }
      // Every byte is printable ASCII, so this is always valid UTF-8.
      if let Ok(text) = std::str::from_utf8(&bytes[..chunk.len()]) {
        out.push_str(text);
      }
    }
    rest = &rest[run..];
    let Some(&first) = rest.first() else { break };
    if first < 0x80 {
      push_escaped_char(out, first as u8 as char);
      rest = &rest[1..];
      continue;
    }
    // Up to the next ASCII unit: decoded as UTF-16, lone surrogates kept as escapes.
    let end = rest.iter().position(|&u| u < 0x80).unwrap_or(rest.len());
    for c in char::decode_utf16(rest[..end].iter().copied()) {
      match c {
        Ok(c) => out.push(c),
        Err(lone) => {
          let _ = write!(out, "\\u{:04x}", lone.unpaired_surrogate());
        }
      }
    }
    rest = &rest[end..];
  }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_string(out: &mut String, s: &str) {
  out.push('"');
  push_escaped(out, s);
  out.push('"');
}

/// Appends UTF-16 code units as a JSON string literal (see [`push_escaped_utf16`]).
pub fn push_json_utf16(out: &mut String, units: &[u16]) {
  out.push('"');
  push_escaped_utf16(out, units);
  out.push('"');
}

/// Appends a JS number: integers as integers (`1`, not `1.0`), the rest in shortest
/// round-trip form, and non-finite values as tokens. `-0` stays `-0`: Sequelize passes bind
/// parameters to the driver as they are, so `bind: [-0]` and `bind: [0]` can answer differently.
pub fn push_number(out: &mut String, n: f64) {
  if n == 0.0 && n.is_sign_negative() {
    out.push_str("-0");
  } else if n.is_nan() {
    out.push_str("$NaN");
  } else if n.is_infinite() {
    out.push_str(if n > 0.0 { "$Inf" } else { "$-Inf" });
  } else if (n as i64) as f64 == n && n.abs() < 9_007_199_254_740_992.0 {
    // An integer (the cast saturates, and NaN casts to 0, so equality means exactly that).
    push_integer(out, n as i64);
  } else if (1e-7..1e21).contains(&n.abs()) {
    let _ = write!(out, "{}", n);
  } else {
    let _ = write!(out, "{:e}", n);
  }
}

/// Appends an integer in decimal, without the formatting machinery (it is the commonest value).
fn push_integer(out: &mut String, n: i64) {
  let mut digits = [0u8; 20];
  let mut i = digits.len();
  let mut m = n.unsigned_abs();
  loop {
    i -= 1;
    digits[i] = b'0' + (m % 10) as u8;
    m /= 10;
    if m == 0 {
      break;
    }
  }
  if n < 0 {
    out.push('-');
  }
  out.extend(digits[i..].iter().map(|&d| d as char));
}

/// Appends a bigint that fits an `i64`: `$n(<decimal>)`.
pub fn push_small_bigint(out: &mut String, n: i64) {
  let _ = write!(out, "$n({n})");
}

/// Appends a bigint from its sign and magnitude words (least significant first), which do not
/// fit an `i64`: `$n(0x<hex>)` or `$n(-0x<hex>)`, every word as 16 digits.
pub fn push_big_bigint(out: &mut String, negative: bool, words: &[u64]) {
  out.push_str(if negative { "$n(-0x" } else { "$n(0x" });
  for w in words.iter().rev() {
    let _ = write!(out, "{w:016x}");
  }
  out.push(')');
}

/// Appends a Date: `$D(<ms since epoch>)`, `$D($NaN)` for an invalid date.
pub fn push_date(out: &mut String, ms: f64) {
  out.push_str("$D(");
  push_number(out, ms);
  out.push(')');
}

fn push_hex(out: &mut String, bytes: &[u8]) {
  const HEX: &[u8; 16] = b"0123456789abcdef";
  out.reserve(bytes.len() * 2 + 1);
  for &b in bytes {
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 15)] as char);
  }
  out.push(')');
}

/// Appends a Buffer's bytes: `$Buf(<hex>)`. Sequelize writes a Buffer as a blob literal and any
/// other typed array through its `toString()`, so the two never share a token.
pub fn push_buffer(out: &mut String, bytes: &[u8]) {
  out.push_str("$Buf(");
  push_hex(out, bytes);
}

/// Appends a typed array that is not a Buffer: `$B<kind>(<hex>)` where `kind` is N-API's type
/// number (`1` for `Uint8Array`), so arrays of equal bytes but other kinds differ.
pub fn push_typed_array(out: &mut String, kind: u32, bytes: &[u8]) {
  let _ = write!(out, "$B{kind}(");
  push_hex(out, bytes);
}

/// One property of an object being written: its key's escaped text and its value.
#[derive(Debug, Clone)]
pub struct Entry<T> {
  /// A symbol key (written `@"description"`) rather than a string key.
  pub symbol: bool,
  /// The key's text escaped by [`push_escaped`], without quotes.
  pub name: String,
  /// The value, written after the key.
  pub value: T,
}

/// The key order of two entries, each given as (symbol key?, escaped name): string keys, then
/// symbol keys, each by escaped text. Escaping is injective and an object's keys are distinct,
/// so the order is total and the same whatever order the keys were inserted in.
pub fn entry_order(a: (bool, &str), b: (bool, &str)) -> std::cmp::Ordering {
  a.cmp(&b)
}

/// Puts entries in key order (see [`entry_order`]).
pub fn sort_entries<T>(entries: &mut [Entry<T>]) {
  entries.sort_unstable_by(|a, b| entry_order((a.symbol, &a.name), (b.symbol, &b.name)));
}

/// Appends an entry's key and the `:` before its value.
pub fn push_entry_key<T>(out: &mut String, entry: &Entry<T>) {
  push_key(out, entry.symbol, &entry.name);
}

/// Appends a key (symbol key?, escaped name) and the `:` before its value.
pub fn push_key(out: &mut String, symbol: bool, name: &str) {
  if symbol {
    out.push('@');
  }
  out.push('"');
  out.push_str(name);
  out.push_str("\":");
}

/// Appends `$scope` and the model's active scope as `write` writes it, unless that is `{}` (an
/// empty scope keys like no scope).
pub fn push_scope<E>(out: &mut String, write: impl FnOnce(&mut String) -> Result<(), E>) -> Result<(), E> {
  let mark = out.len();
  out.push_str("$scope");
  write(out)?;
  if &out[mark..] == "$scope{}" {
    out.truncate(mark);
  }
  Ok(())
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

#[cfg(test)]
mod tests {
  use super::*;

  fn json(s: &str) -> String {
    let mut o = String::new();
    push_json_string(&mut o, s);
    o
  }

  fn json16(units: &[u16]) -> String {
    let mut o = String::new();
    push_json_utf16(&mut o, units);
    o
  }

  #[test]
  fn strings_are_escaped_so_values_cannot_forge_structure() {
    assert_eq!(json(r#"x","role":"admin"#), r#""x\",\"role\":\"admin""#);
    assert_eq!(json("a\\b\n\u{1}é"), "\"a\\\\b\\n\\u0001é\"");
    assert_ne!(json("x\",\"y"), format!("{},{}", json("x"), json("y")));
  }

  #[test]
  fn utf16_text_of_a_well_formed_string_equals_its_utf8_text() {
    for s in [
      "",
      "abc",
      "a\"b\\c\n\r\t\u{0}\u{1f}\u{7f}",
      "Grüße 测试 😀 \u{fffd}",
      "\u{2028}\u{2029}",
    ] {
      let units: Vec<u16> = s.encode_utf16().collect();
      assert_eq!(json16(&units), json(s), "{s:?}");
    }
  }

  /// The plain definition the run-at-a-time writer must match: decode, then escape each char.
  fn reference_escape_utf16(units: &[u16]) -> String {
    let mut out = String::new();
    for c in char::decode_utf16(units.iter().copied()) {
      match c {
        Ok(c) => push_escaped_char(&mut out, c),
        Err(lone) => out.push_str(&format!("\\u{:04x}", lone.unpaired_surrogate())),
      }
    }
    out
  }

  #[test]
  fn the_utf16_writer_matches_its_plain_definition() {
    let check = |units: &[u16]| {
      let mut fast = String::new();
      push_escaped_utf16(&mut fast, units);
      assert_eq!(fast, reference_escape_utf16(units), "{units:x?}");
    };
    // Every single unit, alone and between ASCII letters.
    for u in 0..=u16::MAX {
      check(&[u]);
      check(&[0x61, u, 0x62]);
    }
    // Pairs from a spread of interesting units, in both orders.
    let picks = [
      0x00, 0x1f, 0x20, 0x22, 0x5c, 0x7e, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x2028, 0xd7ff, 0xd800, 0xdbff, 0xdc00,
      0xdfff, 0xe000, 0xfffd, 0xffff,
    ];
    for &a in &picks {
      for &b in &picks {
        check(&[a, b]);
        check(&[0x41, a, b, 0x42, a]);
      }
    }
  }

  #[test]
  fn lone_surrogates_are_escaped_like_json_stringify() {
    assert_eq!(json16(&[0xd800]), r#""\ud800""#);
    assert_eq!(json16(&[0x61, 0xdc00, 0x62]), r#""a\udc00b""#);
    // A pair in the wrong order is two lone surrogates.
    assert_eq!(json16(&[0xdc00, 0xd800]), r#""\udc00\ud800""#);
    // Distinct from U+FFFD and from the six characters `\ud800` (whose backslash is escaped).
    assert_ne!(json16(&[0xd800]), json("\u{fffd}"));
    assert_ne!(json16(&[0xd800]), json("\\ud800"));
    assert_eq!(json16(&[0xd83d, 0xde00]), json("😀"));
  }

  #[test]
  fn numbers_are_canonical() {
    let fmt = |n: f64| {
      let mut o = String::new();
      push_number(&mut o, n);
      o
    };
    assert_eq!(fmt(1.0), "1");
    assert_eq!(fmt(0.0), "0");
    assert_eq!(fmt(-0.0), "-0");
    assert_eq!(fmt(0.5), "0.5");
    assert_eq!(fmt(1e-9), "1e-9");
    assert_ne!(fmt(0.1 + 0.2), fmt(0.3));
    assert_eq!(fmt(f64::NAN), "$NaN");
    assert_eq!(fmt(f64::INFINITY), "$Inf");
    assert_eq!(fmt(f64::NEG_INFINITY), "$-Inf");
    assert_eq!(fmt(9_007_199_254_740_993.0), "9007199254740992");
    assert_eq!(fmt(-42.0), "-42");
    assert_eq!(fmt(9_007_199_254_740_991.0), "9007199254740991");
    assert_eq!(fmt(-9_007_199_254_740_991.0), "-9007199254740991");
    assert_eq!(fmt(1e20), "100000000000000000000");
    assert_eq!(fmt(1e21), "1e21");
    assert_eq!(fmt(1e300), "1e300");
  }

  #[test]
  fn bigints_buffers_and_typed_arrays_have_distinct_tokens() {
    let mut o = String::new();
    push_small_bigint(&mut o, -5);
    assert_eq!(o, "$n(-5)");
    o.clear();
    push_big_bigint(&mut o, true, &[1, 2]);
    assert_eq!(o, "$n(-0x00000000000000020000000000000001)");
    let mut buf = String::new();
    push_buffer(&mut buf, &[0, 0xab]);
    assert_eq!(buf, "$Buf(00ab)");
    let mut u8a = String::new();
    push_typed_array(&mut u8a, 1, &[0, 0xab]);
    assert_eq!(u8a, "$B1(00ab)");
    let mut date = String::new();
    push_date(&mut date, f64::NAN);
    assert_eq!(date, "$D($NaN)");
  }

  #[test]
  fn entries_sort_by_kind_then_escaped_name() {
    let e = |symbol, name: &str| Entry {
      symbol,
      name: name.to_owned(),
      value: (),
    };
    let mut entries = vec![e(true, "and"), e(false, "where"), e(false, "limit"), e(true, "gt")];
    sort_entries(&mut entries);
    let mut out = String::new();
    for x in &entries {
      push_entry_key(&mut out, x);
    }
    assert_eq!(out, r#""limit":"where":@"and":@"gt":"#);
  }

  #[test]
  fn unkeyable_codes_round_trip() {
    for u in Unkeyable::ALL {
      assert_eq!(Unkeyable::from_code(u as u32), Some(u));
      assert!(u.reason().starts_with("unkeyable:"));
    }
    assert_eq!(Unkeyable::from_code(0), None);
    assert_eq!(Unkeyable::from_code(7), None);
    assert_eq!(Unkeyable::Symbol.reason(), "unkeyable:symbol");
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
