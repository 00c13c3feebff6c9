//! How the in-process tier keeps a payload: split once, when it is stored, at the end of its
//! header line, so that a hit hands JS only the data and the id of a header it has already parsed.
//!
//! A payload (written by `js/payload.js`) is `<version> <shape> <definition> <types>\n<data>`.
//! The header (all before the newline) repeats across the entries of one query shape, so it is kept once
//! in a [`Headers`] table and an entry holds its id. JS parses each header text once per id, and a
//! hit then parses only the data: no searching for separators, no slicing, no comparing its header
//! line with the last one, and no scan for a `__proto__` key (made here, once, when the payload is
//! stored).
//!
//! The split is at the first newline after the first two spaces, where `js/payload.js`'s `decode`
//! cuts too (its header has no newline), so the header and data JS receives are exactly the text
//! it would have sliced. A payload the split cannot place is kept whole, and JS decodes it as a
//! whole, with every check it makes of any payload.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The most headers one store interns; past it, payloads are kept whole. Ids are never reused
/// (JS memoizes what each id parses to), so the table only grows, up to these bounds.
pub const MAX_HEADERS: usize = 4096;
/// The longest header interned (a header lists the typed values of every row, so a large result
/// has a long one that no other entry shares).
pub const MAX_HEADER_BYTES: usize = 4096;
/// Bytes of header text one store interns at most.
pub const MAX_HEADER_TABLE_BYTES: usize = 2 * 1024 * 1024;

/// Data JS must never be handed apart from its checks: a payload whose data may hold a
/// `__proto__` key is kept whole, so that JS's full decode checks it (and refuses it if it does;
/// see `js/payload.js`). The key written plainly, or a `\u` escape, which can spell any of its
/// letters (JSON has no other way to write them).
const PROTO_KEY: &[u8] = b"\"__proto__\"";
const UNICODE_ESCAPE: &[u8] = b"\\u";

/// The payload text of an entry, as the in-process tier keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
  /// A payload split at its header line: the id of its header in the store's [`Headers`], and
  /// its data.
  Split {
    /// Id in [`Headers`] (never 0).
    header: u32,
    /// The data, the text after the header line.
    data: Box<str>,
  },
  /// A payload kept as a whole (see [`Headers::body`]).
  Whole(Box<str>),
}

impl Body {
  /// Bytes of text the entry holds itself.
  pub fn len(&self) -> usize {
    match self {
      Body::Split { data, .. } => data.len() + 4,
      Body::Whole(text) => text.len(),
    }
  }

  /// Whether it holds no text at all.
  pub fn is_empty(&self) -> bool {
    self.len() == 0
  }
}

/// Where a payload's header line ends: the index of the newline after its version and shape, or
/// None when it has none.
fn header_end(payload: &str) -> Option<usize> {
  let bytes = payload.as_bytes();
  let a = memchr(b' ', bytes, 0)?;
  let b = memchr(b' ', bytes, a + 1)?;
  memchr(b'\n', bytes, b + 1)
}

fn memchr(needle: u8, haystack: &[u8], from: usize) -> Option<usize> {
  haystack
    .get(from..)?
    .iter()
    .position(|&c| c == needle)
    .map(|i| i + from)
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
  haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Default)]
struct Table {
  ids: HashMap<Arc<str>, u32>,
  texts: Vec<Arc<str>>,
  bytes: usize,
}

/// One store's interned header lines. Id 0 is never given out.
#[derive(Default)]
pub struct Headers {
  table: RwLock<Table>,
}

impl Headers {
  /// The body a payload is kept as: split when its header can be placed and interned, and its
  /// data cannot hold a `__proto__` key; whole otherwise.
  pub fn body(&self, payload: &str) -> Body {
    let Some(end) = header_end(payload) else {
      return Body::Whole(payload.into());
    };
    let (header, data) = (&payload[..end], &payload[end + 1..]);
    let data_bytes = data.as_bytes();
    if header.len() > MAX_HEADER_BYTES || holds(data_bytes, PROTO_KEY) || holds(data_bytes, UNICODE_ESCAPE) {
      return Body::Whole(payload.into());
    }
    match self.intern(header) {
      Some(id) => Body::Split {
        header: id,
        data: data.into(),
      },
      None => Body::Whole(payload.into()),
    }
  }

  /// The id of `header`, interning it if there is room; None when the table is full.
  fn intern(&self, header: &str) -> Option<u32> {
    if let Some(&id) = self.table.read().expect("lock").ids.get(header) {
      return Some(id);
    }
    let mut t = self.table.write().expect("lock");
    if let Some(&id) = t.ids.get(header) {
      return Some(id);
    }
    if t.texts.len() >= MAX_HEADERS || t.bytes + header.len() > MAX_HEADER_TABLE_BYTES {
      return None;
    }
    let text: Arc<str> = header.into();
    t.texts.push(text.clone());
    t.bytes += header.len();
    let id = t.texts.len() as u32;
    t.ids.insert(text, id);
    Some(id)
  }

  /// The header text of `id`; None for an id never given out.
  pub fn text(&self, id: u32) -> Option<Arc<str>> {
    let t = self.table.read().expect("lock");
    t.texts.get((id as usize).checked_sub(1)?).cloned()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn joined(h: &Headers, b: &Body) -> String {
    match b {
      Body::Split { header, data } => format!("{}\n{}", h.text(*header).unwrap(), data),
      Body::Whole(t) => t.to_string(),
    }
  }

  #[test]
  fn splits_where_js_would_and_joins_back_to_the_same_text() {
    let h = Headers::default();
    for p in [
      "1 row [[\"D\",\"createdAt\"]]\n{\"id\":1,\"createdAt\":0}",
      "1 rows []\n[]",
      "1 value []\n\"a\\nb\"",
      "1 row [] \n{}",
      "1 row []\n\n{}",
    ] {
      let b = h.body(p);
      assert!(matches!(b, Body::Split { .. }), "{p:?}");
      assert_eq!(joined(&h, &b), p);
    }
    // One id per distinct header.
    let (a, b) = (h.body("1 row []\n1"), h.body("1 row []\n2"));
    match (a, b) {
      (Body::Split { header: x, .. }, Body::Split { header: y, .. }) => assert_eq!(x, y),
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn keeps_whole_what_it_cannot_place_or_must_not_split() {
    let h = Headers::default();
    for p in [
      "",
      "garbage",
      "1 row",
      "1 row []",
      "1\nrow []",
      "1 row []\n{\"__proto__\":{}}",
      "1 row []\n{\"\\u005f_proto__\":{}}",
      "1 row []\n{\"name\":\"\\u0001\"}",
    ] {
      assert_eq!(h.body(p), Body::Whole(p.into()), "{p:?}");
    }
    let long = format!("1 rows [{}]\n[]", "[\"D\",0,\"x\"],".repeat(MAX_HEADER_BYTES / 8));
    assert_eq!(h.body(&long), Body::Whole(long.as_str().into()));
  }

  #[test]
  fn ids_are_never_reused_and_the_table_is_bounded() {
    let h = Headers::default();
    let mut seen = std::collections::HashSet::new();
    for i in 0..MAX_HEADERS + 10 {
      let p = format!("1 row [{i}]\n{{}}");
      match h.body(&p) {
        Body::Split { header, .. } => {
          assert!(header != 0 && seen.insert(header));
          assert_eq!(&*h.text(header).unwrap(), format!("1 row [{i}]"));
        }
        Body::Whole(t) => {
          assert!(i >= MAX_HEADERS, "kept whole at {i}");
          assert_eq!(&*t, p);
        }
      }
    }
    assert_eq!(h.text(0), None);
    assert_eq!(h.text(MAX_HEADERS as u32 + 1), None);
  }
}
