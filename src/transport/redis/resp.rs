//! RESP2, sans I/O: commands encoded into a buffer, replies parsed incrementally from one.
//!
//! The parser keeps its place between calls, so a reply that arrives in many reads is scanned
//! once in total, whatever its size or shape. A complete reply is handed out as a [`Reply`] view
//! over the read buffer: bulk payloads are never copied by the parser.
//!
//! Everything read is untrusted. Lengths are checked against limits before they are used, and
//! nothing is allocated from a length header: the parser's memory grows only with bytes that
//! actually arrived. Lines, array nesting and element counts are bounded. Any violation is a
//! [`ProtocolError`], after which the connection must be dropped (the parser's state is then
//! meaningless).

use std::fmt;
use std::io::Write;

/// Largest bulk string accepted (Redis's own `proto-max-bulk-len` default).
pub const MAX_BULK: usize = 512 * 1024 * 1024;
/// Longest simple line (status, error, integer, or a length header) before its CRLF.
pub const MAX_LINE: usize = 64 * 1024;
/// Largest element count accepted in an array header.
pub const MAX_ARRAY: usize = 1 << 24;
/// Deepest array nesting accepted (commands this crate sends nest at most two levels).
pub const MAX_DEPTH: usize = 8;

/// Appends one command, a RESP array of bulk strings, to `out`.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
  // Writing to a Vec cannot fail.
  let _ = write!(out, "*{}\r\n", args.len());
  for a in args {
    let a = a.as_ref();
    let _ = write!(out, "${}\r\n", a.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
  }
}

/// The server sent something that is not RESP2 within this parser's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

impl fmt::Display for ProtocolError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(self.0)
  }
}

/// One parsed element, stored flat in pre-order; ranges are relative to the reply's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
  Status(usize, usize),
  Error(usize, usize),
  Int(i64),
  Bulk(usize, usize),
  /// A nil bulk string (`$-1`) or nil array (`*-1`).
  Nil,
  /// `len` elements follow; `span` is the number of nodes of the whole subtree, itself included
  /// (set when its last element is complete).
  Array {
    len: usize,
    span: usize,
  },
}

/// An incremental RESP2 reply parser.
///
/// Usage: call [`Parser::parse`] with the buffered bytes, starting at the first byte of the reply
/// not yet consumed. `Ok(None)`: more bytes are needed (call again with the same start and more
/// bytes after it). `Ok(Some(n))`: the reply is the first `n` bytes; read it with
/// [`Parser::reply`], then call [`Parser::reset`] and drop those `n` bytes before the next call.
#[derive(Debug, Default)]
pub struct Parser {
  nodes: Vec<Node>,
  /// Open arrays: (index of the array's node, elements still missing).
  open: Vec<(usize, usize)>,
  /// Bytes of the current reply already parsed.
  pos: usize,
  /// The search for the current line's LF resumes here (bytes before it hold none).
  scanned: usize,
  /// A bulk payload being waited for: (its start, its length).
  bulk: Option<(usize, usize)>,
}

impl Parser {
  /// A parser at the start of a reply.
  pub fn new() -> Parser {
    Parser::default()
  }

  /// Forgets the current reply (after it was consumed, or when the connection is dropped).
  pub fn reset(&mut self) {
    self.nodes.clear();
    self.open.clear();
    self.pos = 0;
    self.scanned = 0;
    self.bulk = None;
  }

  /// How many bytes of the current reply the parser must see before it can progress: at least
  /// one more than it has when it waits for a line, the end of the payload when it waits for a
  /// bulk string. A hint for sizing reads, taken from a checked length header.
  pub fn wanted(&self) -> usize {
    match self.bulk {
      Some((start, len)) => start + len + 2,
      None => self.scanned.max(self.pos) + 1,
    }
  }

  /// Continues parsing the reply that starts at `buf[0]` (see the type's documentation).
  pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    loop {
      if let Some((start, len)) = self.bulk {
        let end = start + len;
        if buf.len() < end + 2 {
          return Ok(None);
        }
        // The payload is binary: only its terminator is checked, never scanned for CRLF.
        if &buf[end..end + 2] != b"\r\n" {
          return Err(ProtocolError("bulk string not terminated by CRLF"));
        }
        self.bulk = None;
        self.pos = end + 2;
        self.scanned = self.pos;
        self.nodes.push(Node::Bulk(start, end));
        if self.element_done() {
          return Ok(Some(self.pos));
        }
        continue;
      }

      let Some(eol) = self.line_end(buf)? else {
        return Ok(None);
      };
      let kind = buf[self.pos];
      let (text_start, text_end) = (self.pos + 1, eol);
      let text = &buf[text_start..text_end];
      self.pos = eol + 2;
      self.scanned = self.pos;
      match kind {
        b'+' => self.nodes.push(Node::Status(text_start, text_end)),
        b'-' => self.nodes.push(Node::Error(text_start, text_end)),
        b':' => self.nodes.push(Node::Int(integer(text)?)),
        b'$' => match length(text, MAX_BULK)? {
          None => self.nodes.push(Node::Nil),
          Some(n) => {
            self.bulk = Some((self.pos, n));
            continue;
          }
        },
        b'*' => match length(text, MAX_ARRAY)? {
          None => self.nodes.push(Node::Nil),
          Some(0) => self.nodes.push(Node::Array { len: 0, span: 1 }),
          Some(n) => {
            if self.open.len() >= MAX_DEPTH {
              return Err(ProtocolError("arrays nested too deep"));
            }
            self.open.push((self.nodes.len(), n));
            self.nodes.push(Node::Array { len: n, span: 0 });
            continue;
          }
        },
        _ => return Err(ProtocolError("unknown reply type")),
      }
      if self.element_done() {
        return Ok(Some(self.pos));
      }
    }
  }

  /// The complete reply after [`Parser::parse`] returned `Some(n)`; `buf` is the same buffer.
  pub fn reply<'a>(&'a self, buf: &'a [u8]) -> Reply<'a> {
    Reply::at(buf, &self.nodes)
  }

  /// An element (scalar or array) was completed: closes every array it completes. True when
  /// the whole reply is complete.
  fn element_done(&mut self) -> bool {
    loop {
      let Some((index, missing)) = self.open.last_mut() else {
        return true;
      };
      *missing -= 1;
      if *missing > 0 {
        return false;
      }
      let index = *index;
      self.open.pop();
      let span = self.nodes.len() - index;
      if let Node::Array { span: s, .. } = &mut self.nodes[index] {
        *s = span;
      }
    }
  }

  /// The index of the CR ending the line at `self.pos`, if the whole line is there.
  fn line_end(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let from = self.scanned.max(self.pos + 1);
    if from >= buf.len() {
      return Ok(None);
    }
    match buf[from..].iter().position(|&b| b == b'\n') {
      Some(i) => {
        let lf = from + i;
        if lf < self.pos + 2 || buf[lf - 1] != b'\r' {
          return Err(ProtocolError("line not terminated by CRLF"));
        }
        if lf - 1 - self.pos > MAX_LINE {
          return Err(ProtocolError("reply line too long"));
        }
        Ok(Some(lf - 1))
      }
      None => {
        self.scanned = buf.len();
        if buf.len() - self.pos > MAX_LINE + 2 {
          return Err(ProtocolError("reply line too long"));
        }
        Ok(None)
      }
    }
  }
}

/// A decimal i64 as RESP writes it: an optional minus and digits, nothing else.
fn integer(text: &[u8]) -> Result<i64, ProtocolError> {
  let bad = ProtocolError("malformed integer");
  let (negative, digits) = match text.split_first() {
    Some((b'-', rest)) => (true, rest),
    _ => (false, text),
  };
  if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
    return Err(bad);
  }
  let mut n: i64 = 0;
  for &d in digits {
    let d = i64::from(d - b'0');
    n = n.checked_mul(10).ok_or(bad.clone())?;
    n = if negative { n.checked_sub(d) } else { n.checked_add(d) }.ok_or(bad.clone())?;
  }
  Ok(n)
}

/// A length header: `-1` is nil; other negatives and values above `max` are refused.
fn length(text: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
  match integer(text)? {
    -1 => Ok(None),
    n if n < 0 => Err(ProtocolError("negative length")),
    n if n as u64 > max as u64 => Err(ProtocolError("length over the limit")),
    n => Ok(Some(n as usize)),
  }
}

/// One reply (or one element of an array reply), borrowing the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
  /// A simple string (`+OK`).
  Status(&'a [u8]),
  /// An error reply (`-ERR ...`). Connections report a top-level one as an error; this variant
  /// is seen only inside arrays.
  Error(&'a [u8]),
  /// An integer.
  Int(i64),
  /// A bulk string (binary).
  Bulk(&'a [u8]),
  /// A nil bulk string or a nil array.
  Nil,
  /// An array.
  Array(Items<'a>),
}

impl<'a> Reply<'a> {
  /// The reply whose node is `nodes[0]`.
  fn at(buf: &'a [u8], nodes: &'a [Node]) -> Reply<'a> {
    match nodes[0] {
      Node::Status(s, e) => Reply::Status(&buf[s..e]),
      Node::Error(s, e) => Reply::Error(&buf[s..e]),
      Node::Int(n) => Reply::Int(n),
      Node::Bulk(s, e) => Reply::Bulk(&buf[s..e]),
      Node::Nil => Reply::Nil,
      Node::Array { len, span } => Reply::Array(Items {
        buf,
        nodes: &nodes[1..span],
        len,
      }),
    }
  }

  /// The payload of a bulk string, or None for anything else.
  pub fn bulk(&self) -> Option<&'a [u8]> {
    match self {
      Reply::Bulk(b) => Some(b),
      _ => None,
    }
  }
}

/// The elements of an array reply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Items<'a> {
  buf: &'a [u8],
  /// The elements' subtrees, one after the other.
  nodes: &'a [Node],
  len: usize,
}

impl<'a> Items<'a> {
  /// Number of elements.
  pub fn len(&self) -> usize {
    self.len
  }

  /// True for an empty array.
  pub fn is_empty(&self) -> bool {
    self.len == 0
  }

  /// The elements in order.
  pub fn iter(&self) -> ItemsIter<'a> {
    ItemsIter {
      buf: self.buf,
      nodes: self.nodes,
      left: self.len,
    }
  }
}

impl fmt::Debug for Items<'_> {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_list().entries(self.iter()).finish()
  }
}

impl<'a> IntoIterator for Items<'a> {
  type Item = Reply<'a>;
  type IntoIter = ItemsIter<'a>;
  fn into_iter(self) -> ItemsIter<'a> {
    self.iter()
  }
}

/// Iterator over [`Items`].
pub struct ItemsIter<'a> {
  buf: &'a [u8],
  nodes: &'a [Node],
  left: usize,
}

impl<'a> Iterator for ItemsIter<'a> {
  type Item = Reply<'a>;

  fn next(&mut self) -> Option<Reply<'a>> {
    if self.left == 0 {
      return None;
    }
    self.left -= 1;
    let span = match self.nodes[0] {
      Node::Array { span, .. } => span,
      _ => 1,
    };
    let item = Reply::at(self.buf, &self.nodes[..span]);
    self.nodes = &self.nodes[span..];
    Some(item)
  }

  fn size_hint(&self) -> (usize, Option<usize>) {
    (self.left, Some(self.left))
  }
}

impl ExactSizeIterator for ItemsIter<'_> {}

#[cfg(test)]
mod tests {
  use super::*;

  /// An owned reply tree, to compare parses with what was encoded.
  #[derive(Debug, Clone, PartialEq)]
  enum Tree {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Tree>),
  }

  fn tree(r: Reply<'_>) -> Tree {
    match r {
      Reply::Status(s) => Tree::Status(s.to_vec()),
      Reply::Error(s) => Tree::Error(s.to_vec()),
      Reply::Int(n) => Tree::Int(n),
      Reply::Bulk(b) => Tree::Bulk(b.to_vec()),
      Reply::Nil => Tree::Nil,
      Reply::Array(items) => {
        assert_eq!(items.iter().len(), items.len());
        Tree::Array(items.iter().map(tree).collect())
      }
    }
  }

  fn wire(t: &Tree, out: &mut Vec<u8>) {
    match t {
      Tree::Status(s) => {
        out.push(b'+');
        out.extend_from_slice(s);
        out.extend_from_slice(b"\r\n");
      }
      Tree::Error(s) => {
        out.push(b'-');
        out.extend_from_slice(s);
        out.extend_from_slice(b"\r\n");
      }
      Tree::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
      Tree::Bulk(b) => {
        out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
      }
      Tree::Nil => out.extend_from_slice(b"$-1\r\n"),
      Tree::Array(items) => {
        out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
        for i in items {
          wire(i, out);
        }
      }
    }
  }

  /// Parses every reply in `data`, feeding it in chunks of the given sizes (cycled), the way
  /// a connection does: bytes appended, complete replies consumed from the front.
  fn parse_chunked(data: &[u8], chunks: &[usize]) -> Result<Vec<Tree>, ProtocolError> {
    let mut parser = Parser::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut out = Vec::new();
    let mut c = 0;
    loop {
      match parser.parse(&buf)? {
        Some(n) => {
          out.push(tree(parser.reply(&buf[..n])));
          parser.reset();
          buf.drain(..n);
        }
        None if fed < data.len() => {
          let take = chunks[c % chunks.len()].max(1).min(data.len() - fed);
          c += 1;
          buf.extend_from_slice(&data[fed..fed + take]);
          fed += take;
        }
        None => {
          assert!(buf.is_empty(), "bytes left over: {:?}", String::from_utf8_lossy(&buf));
          return Ok(out);
        }
      }
    }
  }

  fn parse_one(data: &[u8]) -> Result<Option<Tree>, ProtocolError> {
    let mut p = Parser::new();
    Ok(p.parse(data)?.map(|n| tree(p.reply(&data[..n]))))
  }

  #[test]
  fn encodes_commands_as_arrays_of_bulk_strings() {
    let mut v = Vec::new();
    encode(&mut v, &[b"GET".as_slice(), b"k"]);
    encode(&mut v, &[b"SET".as_slice(), b"a\r\nb", b""]);
    assert_eq!(
      v,
      b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$0\r\n\r\n"
    );
  }

  #[test]
  fn every_reply_type() {
    use Tree::*;
    let cases: Vec<(&[u8], Tree)> = vec![
      (b"+OK\r\n", Status(b"OK".to_vec())),
      (b"+\r\n", Status(vec![])),
      (b"-ERR wrong\r\n", Error(b"ERR wrong".to_vec())),
      (b":0\r\n", Int(0)),
      (b":-42\r\n", Int(-42)),
      (b":9223372036854775807\r\n", Int(i64::MAX)),
      (b":-9223372036854775808\r\n", Int(i64::MIN)),
      (b"$0\r\n\r\n", Bulk(vec![])),
      (b"$5\r\nhello\r\n", Bulk(b"hello".to_vec())),
      (b"$-1\r\n", Nil),
      (b"*-1\r\n", Nil),
      (b"*0\r\n", Array(vec![])),
      (
        b"*3\r\n$1\r\na\r\n$-1\r\n:7\r\n",
        Array(vec![Bulk(b"a".to_vec()), Nil, Int(7)]),
      ),
      (
        b"*2\r\n*2\r\n+x\r\n*0\r\n-E\r\n",
        Array(vec![
          Array(vec![Status(b"x".to_vec()), Array(vec![])]),
          Error(b"E".to_vec()),
        ]),
      ),
    ];
    for (data, want) in cases {
      assert_eq!(
        parse_one(data).unwrap(),
        Some(want),
        "{}",
        String::from_utf8_lossy(data)
      );
    }
  }

  #[test]
  fn binary_payloads_are_not_scanned() {
    let payload: Vec<u8> = (0..=255u8).chain(b"\r\n*1\r\n$-1\r\n".iter().copied()).collect();
    let mut data = format!("${}\r\n", payload.len()).into_bytes();
    data.extend_from_slice(&payload);
    data.extend_from_slice(b"\r\n");
    assert_eq!(parse_one(&data).unwrap(), Some(Tree::Bulk(payload)));
  }

  #[test]
  fn every_split_point_gives_the_same_replies() {
    let data = b"$5\r\nhe\r\nl\r\n*3\r\n$1\r\na\r\n$-1\r\n:7\r\n-ERR x\r\n+OK\r\n*2\r\n*1\r\n$0\r\n\r\n*-1\r\n";
    let whole = parse_chunked(data, &[data.len()]).unwrap();
    assert_eq!(whole.len(), 5);
    for cut in 1..data.len() {
      assert_eq!(parse_chunked(data, &[cut, data.len()]).unwrap(), whole, "cut at {cut}");
    }
    for step in 1..8 {
      assert_eq!(parse_chunked(data, &[step]).unwrap(), whole, "chunks of {step}");
    }
  }

  #[test]
  fn incomplete_reply_is_none_and_consumes_nothing() {
    let data = b"*2\r\n$3\r\nabc\r\n$4\r\nde";
    let mut p = Parser::new();
    assert_eq!(p.parse(data).unwrap(), None);
    // The hint is the end of the bulk string being waited for.
    assert_eq!(p.wanted(), data.len() + 2 + 2);
    let mut more = data.to_vec();
    more.extend_from_slice(b"fg\r\n+next\r\n");
    let n = p.parse(&more).unwrap().unwrap();
    assert_eq!(&more[n..], b"+next\r\n");
    assert_eq!(
      tree(p.reply(&more[..n])),
      Tree::Array(vec![Tree::Bulk(b"abc".to_vec()), Tree::Bulk(b"defg".to_vec())])
    );
  }

  #[test]
  fn huge_bulk_string_in_small_reads() {
    let payload: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i * 7 % 251) as u8).collect();
    let mut data = Vec::new();
    wire(&Tree::Bulk(payload.clone()), &mut data);
    wire(&Tree::Status(b"after".to_vec()), &mut data);
    let got = parse_chunked(&data, &[65536, 1, 4093]).unwrap();
    assert_eq!(got, vec![Tree::Bulk(payload), Tree::Status(b"after".to_vec())]);
  }

  #[test]
  fn huge_array_in_small_reads() {
    let items: Vec<Tree> = (0..50_000)
      .map(|i| match i % 4 {
        0 => Tree::Bulk(format!("value-{i}").into_bytes()),
        1 => Tree::Nil,
        2 => Tree::Int(i),
        _ => Tree::Array(vec![Tree::Status(b"s".to_vec()), Tree::Bulk(vec![])]),
      })
      .collect();
    let mut data = Vec::new();
    wire(&Tree::Array(items.clone()), &mut data);
    assert_eq!(parse_chunked(&data, &[13, 700, 1]).unwrap(), vec![Tree::Array(items)]);
  }

  /// A small deterministic generator (xorshift), so the random cases are the same every run.
  struct Rng(u64);
  impl Rng {
    fn next(&mut self) -> u64 {
      self.0 ^= self.0 << 13;
      self.0 ^= self.0 >> 7;
      self.0 ^= self.0 << 17;
      self.0
    }
    fn below(&mut self, n: u64) -> u64 {
      self.next() % n
    }
  }

  fn random_tree(rng: &mut Rng, depth: usize) -> Tree {
    match rng.below(if depth < MAX_DEPTH { 7 } else { 6 }) {
      0 => Tree::Status((0..rng.below(12)).map(|_| b'a' + rng.below(26) as u8).collect()),
      1 => Tree::Error((0..rng.below(12)).map(|_| b'A' + rng.below(26) as u8).collect()),
      2 => Tree::Int(rng.next() as i64),
      3 => Tree::Nil,
      4 | 5 => Tree::Bulk((0..rng.below(40)).map(|_| rng.below(256) as u8).collect()),
      _ => Tree::Array((0..rng.below(5)).map(|_| random_tree(rng, depth + 1)).collect()),
    }
  }

  #[test]
  fn random_trees_round_trip_under_random_splits() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
      let trees: Vec<Tree> = (0..1 + rng.below(6)).map(|_| random_tree(&mut rng, 0)).collect();
      let mut data = Vec::new();
      for t in &trees {
        wire(t, &mut data);
      }
      let chunks: Vec<usize> = (0..4).map(|_| 1 + rng.below(24) as usize).collect();
      assert_eq!(parse_chunked(&data, &chunks).unwrap(), trees);
    }
  }

  #[test]
  fn refuses_hostile_or_malformed_input() {
    let mut deep = Vec::new();
    for _ in 0..=MAX_DEPTH {
      deep.extend_from_slice(b"*1\r\n");
    }
    deep.extend_from_slice(b":1\r\n");
    let long_line = [b"+".as_slice(), &vec![b'x'; MAX_LINE + 10]].concat();
    let cases: Vec<(&[u8], &str)> = vec![
      (b"$-2\r\n", "negative length"),
      (b"*-5\r\n", "negative length"),
      (b"$536870913\r\n", "length over the limit"),
      (b"*16777217\r\n", "length over the limit"),
      (b"$99999999999999999999\r\n", "malformed integer"),
      (b"$1\r\nab\r\n", "bulk string not terminated by CRLF"),
      (b"$\r\n", "malformed integer"),
      (b":+1\r\n", "malformed integer"),
      (b": 1\r\n", "malformed integer"),
      (b":9223372036854775808\r\n", "malformed integer"),
      (b"!x\r\n", "unknown reply type"),
      (b"_\r\n", "unknown reply type"),
      (b"+OK\n", "line not terminated by CRLF"),
      (b"+a\nb\r\n", "line not terminated by CRLF"),
      (&deep, "arrays nested too deep"),
      (&long_line, "reply line too long"),
    ];
    for (data, why) in cases {
      assert_eq!(
        parse_one(data),
        Err(ProtocolError(why)),
        "{}",
        String::from_utf8_lossy(&data[..data.len().min(40)])
      );
    }
    // An over-long line is refused before its end arrives (nothing waits for it forever).
    let mut p = Parser::new();
    assert_eq!(
      p.parse(&long_line[..MAX_LINE + 3]),
      Err(ProtocolError("reply line too long"))
    );
  }

  #[test]
  fn a_length_header_alone_allocates_nothing() {
    // A header announcing the largest bulk string: the parser waits, holding no payload memory.
    let mut p = Parser::new();
    let header = b"*2\r\n$536870912\r\n";
    assert_eq!(p.parse(header).unwrap(), None);
    assert!(p.nodes.capacity() < 16);
    assert_eq!(p.wanted(), header.len() + MAX_BULK + 2);
  }
}
