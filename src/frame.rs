//! The formats of stored values: every byte a network tier keeps is a *frame* that lets a reader
//! reject, as a miss, anything it did not write — another program's bytes, a value cut short, a
//! flipped byte, a newer format, a value copied from another key.
//!
//! **In-process frames** (version 1) carry a payload (rows as JSON plus a type manifest, see
//! `js/payload.js`) into the in-process tier as bytes: they are read once, when stored
//! (`Store::fill_frame`, which tests use to store bytes this library did not write), and a frame
//! that does not read is kept as a corrupt entry, a miss. The tier itself keeps payloads as text,
//! split at their header line (`src/payload.rs`), so a hit checks nothing again.
//!
//! ```text
//! offset  size  field
//! 0       3     magic "SNC"
//! 3       1     format version 1
//! 4       1     flags (none defined; must be 0)
//! 5       4     payload length in bytes, little endian
//! 9       4     CRC-32 of the payload, little endian
//! 13      n     payload (UTF-8)
//! ```
//!
//! **Stored frames** (version 2) are what the network tiers (Redis, Momento) keep, for every
//! value, generation tokens included. A [`Sealer`] writes and opens them. The check covers the
//! key the value is stored under, the header and the stored bytes, so a value copied to another
//! key (or from another namespace) never answers there. Without an integrity key the check is a
//! CRC-32: it catches corruption and copies, not forgery. With one it is an HMAC-SHA-256 that
//! nobody without the key can compute, compared in constant time, and its signed expiry bounds
//! how long a captured frame can be replayed.
//!
//! ```text
//! offset  size  field
//! 0       3     magic "SNC"
//! 3       1     format version 2
//! 4       1     flags: bit 0 the stored bytes are LZ4-compressed (prefixed with their inflated
//!               size); bit 1 the check is an HMAC-SHA-256 (32 bytes), else a CRC-32 (4 bytes)
//! 5       8     expiry, Unix time in milliseconds, little endian
//! 13      4     length of the stored bytes, little endian
//! 17      c     check over ("snc2", key length u32 LE, key, bytes 0..17, stored bytes)
//! 17+c    n     stored bytes
//! ```
//!
//! **Text frames** carry the same check for JS adapters, whose values must stay strings:
//! `snc2 <c|m><check in hex> <expiry ms>\n<body>`, the check over ("snc2t", key length, key, the
//! kind letter, expiry u64 LE, body).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::limits::MIN_INTEGRITY_KEY_BYTES;

/// First bytes of every binary frame.
pub const MAGIC: [u8; 3] = *b"SNC";
/// The in-process format version.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes before an in-process frame's payload.
pub const HEADER_LEN: usize = 13;
/// The stored (network) format version.
pub const STORED_VERSION: u8 = 2;
/// Bytes of a stored frame's header before its check.
pub const STORED_HEADER_LEN: usize = 17;
/// Stored-frame flag: the stored bytes are LZ4-compressed.
pub const FLAG_LZ4: u8 = 1;
/// Stored-frame flag: the check is an HMAC-SHA-256.
pub const FLAG_MAC: u8 = 2;
/// Bytes a stored value may exceed the value bound by: its frame, and the list of generation
/// tokens the shim puts before the payload.
pub const STORED_SLACK_BYTES: usize = 64 * 1024;
/// Prefix of every text frame.
pub const TEXT_PREFIX: &str = "snc2 ";

const CRC_LEN: usize = 4;
const MAC_LEN: usize = 32;

/// Why a stored value could not be read back. Callers treat every variant as a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
  /// Shorter than the header.
  TooShort,
  /// Does not start with [`MAGIC`] (or [`TEXT_PREFIX`]): not written by this library.
  BadMagic,
  /// Written by a different format version.
  UnknownVersion(u8),
  /// Carries flags this build does not understand.
  UnknownFlags(u8),
  /// The payload length in the header does not match the bytes present.
  Truncated { expected: usize, actual: usize },
  /// The payload does not match its checksum (or the key it was stored under).
  Checksum,
  /// The payload is not UTF-8.
  NotUtf8,
  /// Larger than the value bound: not decoded at all.
  TooLarge,
  /// Compressed bytes that do not inflate to what their header says.
  Inflate,
  /// Past the expiry written into it.
  Expired,
  /// An integrity key is set and the frame is not signed.
  Unsigned,
  /// The frame is signed and this client has no integrity key to check it with.
  SignedElsewhere,
  /// The signature does not match: forged, altered, or copied from another key.
  Signature,
}

impl fmt::Display for DecodeError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      DecodeError::TooShort => write!(f, "entry shorter than its header"),
      DecodeError::BadMagic => write!(f, "entry not written by sequelize-native-cache"),
      DecodeError::UnknownVersion(v) => write!(f, "entry has unknown format version {v}"),
      DecodeError::UnknownFlags(v) => write!(f, "entry has unknown flags {v:#x}"),
      DecodeError::Truncated { expected, actual } => {
        write!(f, "entry truncated: header says {expected} bytes, found {actual}")
      }
      DecodeError::Checksum => write!(f, "entry checksum mismatch (corrupted, or stored under another key)"),
      DecodeError::NotUtf8 => write!(f, "entry payload is not UTF-8"),
      DecodeError::TooLarge => write!(f, "entry larger than maxValueBytes; not decoded"),
      DecodeError::Inflate => write!(f, "compressed entry does not inflate"),
      DecodeError::Expired => write!(f, "entry past its signed expiry"),
      DecodeError::Unsigned => write!(f, "entry not signed, and an integrity key is set"),
      DecodeError::SignedElsewhere => write!(f, "entry signed, and this client has no integrity key"),
      DecodeError::Signature => write!(
        f,
        "entry signature mismatch (forged, altered, or stored under another key)"
      ),
    }
  }
}

impl std::error::Error for DecodeError {}

/// Frames `payload` for the in-process tier.
pub fn encode(payload: &str) -> Vec<u8> {
  let bytes = payload.as_bytes();
  let mut out = Vec::with_capacity(HEADER_LEN + bytes.len());
  out.extend_from_slice(&MAGIC);
  out.push(FORMAT_VERSION);
  out.push(0);
  out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
  out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
  out.extend_from_slice(bytes);
  out
}

/// Checks what every binary frame starts with (its length at least `header_len`, the magic, the
/// version) and returns its flags byte.
fn head(frame: &[u8], header_len: usize, version: u8) -> Result<u8, DecodeError> {
  if frame.len() < header_len {
    return Err(DecodeError::TooShort);
  }
  if frame[..3] != MAGIC {
    return Err(DecodeError::BadMagic);
  }
  if frame[3] != version {
    return Err(DecodeError::UnknownVersion(frame[3]));
  }
  Ok(frame[4])
}

/// Reads an in-process frame back, borrowing its payload.
pub fn decode(frame: &[u8]) -> Result<&str, DecodeError> {
  let flags = head(frame, HEADER_LEN, FORMAT_VERSION)?;
  if flags != 0 {
    return Err(DecodeError::UnknownFlags(flags));
  }
  let expected = u32::from_le_bytes(frame[5..9].try_into().expect("4 bytes")) as usize;
  let payload = &frame[HEADER_LEN..];
  if payload.len() != expected {
    return Err(DecodeError::Truncated {
      expected,
      actual: payload.len(),
    });
  }
  let crc = u32::from_le_bytes(frame[9..13].try_into().expect("4 bytes"));
  if crc32fast::hash(payload) != crc {
    return Err(DecodeError::Checksum);
  }
  std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map_or(0, |d| d.as_millis() as u64)
}

/// The check of a stored or text frame: a CRC-32, or an HMAC-SHA-256 under the integrity key.
enum Check {
  Crc(crc32fast::Hasher),
  Mac(Box<Hmac<Sha256>>),
}

impl Check {
  fn update(&mut self, bytes: &[u8]) {
    match self {
      Check::Crc(h) => h.update(bytes),
      Check::Mac(m) => m.update(bytes),
    }
  }

  fn finish(self) -> Vec<u8> {
    match self {
      Check::Crc(h) => h.finalize().to_le_bytes().to_vec(),
      Check::Mac(m) => m.finalize().into_bytes().to_vec(),
    }
  }

  /// Whether the check equals `expected`; a MAC is compared in constant time.
  fn matches(self, expected: &[u8]) -> bool {
    match self {
      Check::Crc(h) => h.finalize().to_le_bytes() == expected,
      Check::Mac(m) => m.verify_slice(expected).is_ok(),
    }
  }
}

/// Writes and opens stored frames and text frames for one client: its integrity key (if any),
/// its value bound and its compression threshold.
pub struct Sealer {
  mac: Option<Hmac<Sha256>>,
  max_stored: usize,
  compress_above: usize,
}

impl Sealer {
  /// `integrity_key`: at least [`MIN_INTEGRITY_KEY_BYTES`] bytes, or None for CRC-checked frames.
  /// Values read back longer than `max_value_bytes` plus [`STORED_SLACK_BYTES`] are misses,
  /// never decoded. Values of at least `compress_above` bytes are stored compressed.
  pub fn new(integrity_key: Option<&[u8]>, max_value_bytes: usize, compress_above: usize) -> Result<Self, String> {
    let mac = match integrity_key {
      None => None,
      Some(k) if k.len() < MIN_INTEGRITY_KEY_BYTES as usize => {
        return Err(format!(
          "integrity key must be at least {MIN_INTEGRITY_KEY_BYTES} bytes, got {} bytes",
          k.len()
        ))
      }
      Some(k) => Some(Hmac::<Sha256>::new_from_slice(k).map_err(|_| "integrity key refused".to_string())?),
    };
    Ok(Sealer {
      mac,
      max_stored: max_value_bytes.saturating_add(STORED_SLACK_BYTES),
      compress_above: compress_above.max(1),
    })
  }

  /// Whether frames are signed with an integrity key.
  pub fn signed(&self) -> bool {
    self.mac.is_some()
  }

  /// The longest stored value (before any frame header) this sealer reads back.
  pub fn max_stored(&self) -> usize {
    self.max_stored
  }

  fn check(&self, domain: &[u8], key: &str) -> Check {
    let mut c = match &self.mac {
      Some(m) => Check::Mac(Box::new(m.clone())),
      None => Check::Crc(crc32fast::Hasher::new()),
    };
    c.update(domain);
    c.update(&(key.len() as u32).to_le_bytes());
    c.update(key.as_bytes());
    c
  }

  /// Frames `value`, to be stored under `key` for `ttl_ms`.
  pub fn seal(&self, key: &str, value: &str, ttl_ms: u64) -> Vec<u8> {
    self.seal_at(key, value, now_ms().saturating_add(ttl_ms))
  }

  fn seal_at(&self, key: &str, value: &str, expires_ms: u64) -> Vec<u8> {
    let compressed;
    let (flags, stored) = if value.len() >= self.compress_above {
      compressed = lz4_flex::compress_prepend_size(value.as_bytes());
      (FLAG_LZ4, compressed.as_slice())
    } else {
      (0, value.as_bytes())
    };
    let flags = flags | if self.signed() { FLAG_MAC } else { 0 };
    let check_len = if self.signed() { MAC_LEN } else { CRC_LEN };
    let mut out = Vec::with_capacity(STORED_HEADER_LEN + check_len + stored.len());
    out.extend_from_slice(&MAGIC);
    out.push(STORED_VERSION);
    out.push(flags);
    out.extend_from_slice(&expires_ms.to_le_bytes());
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    let mut check = self.check(b"snc2", key);
    check.update(&out);
    check.update(stored);
    out.extend_from_slice(&check.finish());
    out.extend_from_slice(stored);
    out
  }

  /// The value stored under `key`, if `frame` is a stored frame this client would have written
  /// for that key and it has not expired.
  pub fn open(&self, key: &str, frame: &[u8]) -> Result<String, DecodeError> {
    self.open_at(key, frame, now_ms())
  }

  fn open_at(&self, key: &str, frame: &[u8], now: u64) -> Result<String, DecodeError> {
    // The size bound comes first: nothing larger is looked at further.
    if frame.len() > self.max_stored + STORED_HEADER_LEN + MAC_LEN {
      return Err(DecodeError::TooLarge);
    }
    let flags = head(frame, STORED_HEADER_LEN, STORED_VERSION)?;
    if flags & !(FLAG_LZ4 | FLAG_MAC) != 0 {
      return Err(DecodeError::UnknownFlags(flags));
    }
    match (flags & FLAG_MAC != 0, self.signed()) {
      (false, true) => return Err(DecodeError::Unsigned),
      (true, false) => return Err(DecodeError::SignedElsewhere),
      _ => {}
    }
    let check_len = if self.signed() { MAC_LEN } else { CRC_LEN };
    let expected = u32::from_le_bytes(frame[13..17].try_into().expect("4 bytes")) as usize;
    let actual = frame.len().saturating_sub(STORED_HEADER_LEN + check_len);
    if frame.len() < STORED_HEADER_LEN + check_len || actual != expected {
      return Err(DecodeError::Truncated { expected, actual });
    }
    let (header, rest) = frame.split_at(STORED_HEADER_LEN);
    let (stored_check, stored) = rest.split_at(check_len);
    let mut check = self.check(b"snc2", key);
    check.update(header);
    check.update(stored);
    if !check.matches(stored_check) {
      return Err(if self.signed() {
        DecodeError::Signature
      } else {
        DecodeError::Checksum
      });
    }
    let expires = u64::from_le_bytes(header[5..13].try_into().expect("8 bytes"));
    if now >= expires {
      return Err(DecodeError::Expired);
    }
    if flags & FLAG_LZ4 == 0 {
      return String::from_utf8(stored.to_vec()).map_err(|_| DecodeError::NotUtf8);
    }
    // The inflated size is read before inflating: a frame claiming gigabytes is refused here,
    // not allocated.
    if stored.len() < 4 {
      return Err(DecodeError::Inflate);
    }
    let inflated = u32::from_le_bytes(stored[..4].try_into().expect("4 bytes")) as usize;
    if inflated > self.max_stored {
      return Err(DecodeError::TooLarge);
    }
    let raw = lz4_flex::decompress_size_prepended(stored).map_err(|_| DecodeError::Inflate)?;
    String::from_utf8(raw).map_err(|_| DecodeError::NotUtf8)
  }

  /// `body` as a text frame, for a JS adapter to store under `key` for `ttl_ms`.
  pub fn seal_text(&self, key: &str, body: &str, ttl_ms: u64) -> String {
    self.seal_text_at(key, body, now_ms().saturating_add(ttl_ms))
  }

  fn text_check(&self, key: &str, expires_ms: u64, body: &str) -> (char, Check) {
    let kind = if self.signed() { 'm' } else { 'c' };
    let mut check = self.check(b"snc2t", key);
    check.update(&[kind as u8]);
    check.update(&expires_ms.to_le_bytes());
    check.update(body.as_bytes());
    (kind, check)
  }

  fn seal_text_at(&self, key: &str, body: &str, expires_ms: u64) -> String {
    let (kind, check) = self.text_check(key, expires_ms, body);
    let mut out = String::with_capacity(TEXT_PREFIX.len() + 90 + body.len());
    out.push_str(TEXT_PREFIX);
    out.push(kind);
    for b in check.finish() {
      out.push_str(&format!("{b:02x}"));
    }
    out.push(' ');
    out.push_str(&expires_ms.to_string());
    out.push('\n');
    out.push_str(body);
    out
  }

  /// The body of a text frame stored under `key`, if this client would have written it for that
  /// key and it has not expired.
  pub fn open_text<'t>(&self, key: &str, text: &'t str) -> Result<&'t str, DecodeError> {
    self.open_text_at(key, text, now_ms())
  }

  fn open_text_at<'t>(&self, key: &str, text: &'t str, now: u64) -> Result<&'t str, DecodeError> {
    if text.len() > self.max_stored + TEXT_PREFIX.len() + 1 + 2 * MAC_LEN + 22 {
      return Err(DecodeError::TooLarge);
    }
    let Some(rest) = text.strip_prefix(TEXT_PREFIX) else {
      return Err(DecodeError::BadMagic);
    };
    let Some((head, body)) = rest.split_once('\n') else {
      return Err(DecodeError::TooShort);
    };
    let Some((tag, expires)) = head.split_once(' ') else {
      return Err(DecodeError::TooShort);
    };
    let (kind, hex) = tag.split_at(tag.chars().next().map_or(0, char::len_utf8));
    match (kind, self.signed()) {
      ("m", true) | ("c", false) => {}
      ("c", true) => return Err(DecodeError::Unsigned),
      ("m", false) => return Err(DecodeError::SignedElsewhere),
      _ => return Err(DecodeError::BadMagic),
    }
    let check_len = if self.signed() { MAC_LEN } else { CRC_LEN };
    let stored_check = from_hex(hex)
      .filter(|c| c.len() == check_len)
      .ok_or(DecodeError::BadMagic)?;
    if expires.is_empty() || expires.len() > 20 || !expires.bytes().all(|b| b.is_ascii_digit()) {
      return Err(DecodeError::BadMagic);
    }
    let expires_ms: u64 = expires.parse().map_err(|_| DecodeError::BadMagic)?;
    let (_, check) = self.text_check(key, expires_ms, body);
    if !check.matches(&stored_check) {
      return Err(if self.signed() {
        DecodeError::Signature
      } else {
        DecodeError::Checksum
      });
    }
    if now >= expires_ms {
      return Err(DecodeError::Expired);
    }
    Ok(body)
  }
}

/// Lowercase hex only: one spelling per check.
fn from_hex(text: &str) -> Option<Vec<u8>> {
  fn nibble(c: u8) -> Option<u8> {
    match c {
      b'0'..=b'9' => Some(c - b'0'),
      b'a'..=b'f' => Some(c - b'a' + 10),
      _ => None,
    }
  }
  if !text.len().is_multiple_of(2) {
    return None;
  }
  text
    .as_bytes()
    .chunks(2)
    .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
  const LATER: u64 = 4_000_000_000_000;

  fn crc() -> Sealer {
    Sealer::new(None, 1 << 20, 1024).unwrap()
  }

  fn mac() -> Sealer {
    Sealer::new(Some(KEY), 1 << 20, 1024).unwrap()
  }

  #[test]
  fn in_process_frames_round_trip() {
    for p in ["", "[]", "{\"a\":\"é😀\"}", &"x".repeat(100_000)] {
      assert_eq!(decode(&encode(p)).unwrap(), p);
    }
  }

  #[test]
  fn in_process_frames_reject_what_they_did_not_write() {
    let good = encode("[1,2,3]");
    assert_eq!(decode(&good[..5]), Err(DecodeError::TooShort));
    assert_eq!(decode(b"{\"not\":\"a frame at all\"}"), Err(DecodeError::BadMagic));
    let mut v2 = good.clone();
    v2[3] = 2;
    assert_eq!(decode(&v2), Err(DecodeError::UnknownVersion(2)));
    let mut flagged = good.clone();
    flagged[4] = 0x80;
    assert_eq!(decode(&flagged), Err(DecodeError::UnknownFlags(0x80)));
    assert_eq!(
      decode(&good[..good.len() - 1]),
      Err(DecodeError::Truncated { expected: 7, actual: 6 })
    );
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(decode(&flipped), Err(DecodeError::Checksum));
  }

  #[test]
  fn in_process_frames_reject_invalid_utf8_even_with_a_matching_checksum() {
    let bad = [0xffu8, 0xfe];
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAGIC);
    frame.push(FORMAT_VERSION);
    frame.push(0);
    frame.extend_from_slice(&2u32.to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&bad).to_le_bytes());
    frame.extend_from_slice(&bad);
    assert_eq!(decode(&frame), Err(DecodeError::NotUtf8));
  }

  #[test]
  fn stored_frames_round_trip_plain_and_compressed_checked_and_signed() {
    let long = "{\"bio\":\"".to_owned() + &"lorem ipsum ".repeat(2000) + "\"}";
    for s in [crc(), mac()] {
      for value in ["", "snc1 []\n1 row", long.as_str()] {
        let f = s.seal_at("ns:User:1", value, LATER);
        assert_eq!(s.open_at("ns:User:1", &f, 0).unwrap(), value);
      }
      let z = s.seal_at("k", &long, LATER);
      assert_ne!(z[4] & FLAG_LZ4, 0);
      assert!(z.len() < long.len() / 5, "{} bytes for {}", z.len(), long.len());
    }
    assert_eq!(mac().seal_at("k", "v", LATER)[4] & FLAG_MAC, FLAG_MAC);
    assert_eq!(crc().seal_at("k", "v", LATER)[4] & FLAG_MAC, 0);
  }

  #[test]
  fn every_flipped_byte_of_a_stored_frame_is_rejected() {
    for s in [crc(), mac()] {
      let f = s.seal_at("ns:User:1", "[{\"id\":1,\"name\":\"alice\"}]", LATER);
      for i in 0..f.len() {
        for bit in 0..8 {
          let mut g = f.clone();
          g[i] ^= 1 << bit;
          assert!(
            s.open_at("ns:User:1", &g, 0).is_err(),
            "byte {i} bit {bit} flipped was accepted"
          );
        }
      }
    }
  }

  #[test]
  fn every_truncation_of_a_stored_frame_is_rejected() {
    for s in [crc(), mac()] {
      let f = s.seal_at("k", "[1,2,3]", LATER);
      for n in 0..f.len() {
        assert!(s.open_at("k", &f[..n], 0).is_err(), "cut to {n} bytes was accepted");
      }
    }
  }

  #[test]
  fn a_value_copied_to_another_key_never_answers_there() {
    assert_eq!(
      crc().open_at("ns:User:2", &crc().seal_at("ns:User:1", "[1]", LATER), 0),
      Err(DecodeError::Checksum)
    );
    assert_eq!(
      mac().open_at("other:User:1", &mac().seal_at("ns:User:1", "[1]", LATER), 0),
      Err(DecodeError::Signature)
    );
  }

  #[test]
  fn signed_frames_need_the_same_key_and_unsigned_ones_are_refused_with_a_key() {
    let other = Sealer::new(Some(b"another key of thirty-two bytes!"), 1 << 20, 1024).unwrap();
    let f = other.seal_at("k", "[1]", LATER);
    assert_eq!(mac().open_at("k", &f, 0), Err(DecodeError::Signature));
    assert_eq!(
      mac().open_at("k", &crc().seal_at("k", "[1]", LATER), 0),
      Err(DecodeError::Unsigned)
    );
    assert_eq!(crc().open_at("k", &f, 0), Err(DecodeError::SignedElsewhere));
  }

  #[test]
  fn a_forged_frame_with_a_right_crc_passes_only_without_a_key() {
    // Anyone can compute a CRC: a forgery of the whole frame is what the integrity key is for.
    let forged = crc().seal_at("k", "[\"forged\"]", LATER);
    assert!(crc().open_at("k", &forged, 0).is_ok());
    assert_eq!(mac().open_at("k", &forged, 0), Err(DecodeError::Unsigned));
    let mut relabelled = forged.clone();
    relabelled[4] |= FLAG_MAC;
    relabelled.splice(17..21, [0u8; 32]);
    assert_eq!(mac().open_at("k", &relabelled, 0), Err(DecodeError::Signature));
  }

  #[test]
  fn a_frame_past_its_expiry_is_a_miss() {
    for s in [crc(), mac()] {
      let f = s.seal_at("k", "[1]", 1_000);
      assert!(s.open_at("k", &f, 999).is_ok());
      assert_eq!(s.open_at("k", &f, 1_000), Err(DecodeError::Expired));
    }
    let f = mac().seal("k", "[1]", 60_000);
    assert!(mac().open("k", &f).is_ok(), "seal and open use the clock");
  }

  #[test]
  fn values_over_the_bound_are_refused_before_decoding() {
    let small = Sealer::new(None, 1000, 1 << 30).unwrap();
    let big = Sealer::new(None, 1 << 20, 1 << 30).unwrap();
    let f = big.seal_at("k", &"x".repeat(1000 + STORED_SLACK_BYTES + 64), LATER);
    assert!(matches!(small.open_at("k", &f, 0), Err(DecodeError::TooLarge)));
    // A compressed frame whose header claims a huge inflated size is not inflated.
    let mut bomb = Vec::new();
    bomb.extend_from_slice(&MAGIC);
    bomb.extend_from_slice(&[STORED_VERSION, FLAG_LZ4]);
    bomb.extend_from_slice(&LATER.to_le_bytes());
    let stored = [0xff, 0xff, 0xff, 0x7f, 0x10, 0x41];
    bomb.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    let mut c = small.check(b"snc2", "k");
    c.update(&bomb);
    c.update(&stored);
    bomb.extend_from_slice(&c.finish());
    bomb.extend_from_slice(&stored);
    assert_eq!(small.open_at("k", &bomb, 0), Err(DecodeError::TooLarge));
  }

  #[test]
  fn integrity_keys_are_at_least_32_bytes() {
    assert!(Sealer::new(Some(&[7u8; 31]), 1, 1).is_err());
    assert!(Sealer::new(Some(&[7u8; 32]), 1, 1).is_ok());
  }

  #[test]
  fn text_frames_round_trip_and_reject_every_flipped_byte() {
    for s in [crc(), mac()] {
      let t = s.seal_text_at("[\"ns\",\"User\",\"1\"]", "snc1 []\n1 row é", LATER);
      assert!(t.starts_with(TEXT_PREFIX));
      assert_eq!(
        s.open_text_at("[\"ns\",\"User\",\"1\"]", &t, 0).unwrap(),
        "snc1 []\n1 row é"
      );
      let bytes = t.as_bytes();
      for i in 0..bytes.len() {
        for bit in 0..8 {
          let mut b = bytes.to_vec();
          b[i] ^= 1 << bit;
          if let Ok(text) = String::from_utf8(b) {
            assert!(
              s.open_text_at("[\"ns\",\"User\",\"1\"]", &text, 0).is_err(),
              "byte {i} bit {bit} flipped was accepted"
            );
          }
        }
      }
      for n in 0..t.len() {
        if let Some(cut) = t.get(..n) {
          assert!(s.open_text_at("[\"ns\",\"User\",\"1\"]", cut, 0).is_err(), "cut to {n}");
        }
      }
    }
  }

  #[test]
  fn text_frames_are_bound_to_their_key_their_signer_and_their_expiry() {
    let t = mac().seal_text_at("a", "body", 1_000);
    assert_eq!(mac().open_text_at("b", &t, 0), Err(DecodeError::Signature));
    assert_eq!(mac().open_text_at("a", &t, 1_000), Err(DecodeError::Expired));
    assert_eq!(crc().open_text_at("a", &t, 0), Err(DecodeError::SignedElsewhere));
    assert_eq!(
      mac().open_text_at("a", &crc().seal_text_at("a", "body", LATER), 0),
      Err(DecodeError::Unsigned)
    );
    assert_eq!(
      crc().open_text_at("b", &crc().seal_text_at("a", "body", LATER), 0),
      Err(DecodeError::Checksum)
    );
    let t = mac().seal_text_at("a", "body", LATER);
    let (head, rest) = t.split_at(TEXT_PREFIX.len() + 1);
    let (hex, tail) = rest.split_at(2 * MAC_LEN);
    assert!(hex.bytes().any(|b| b.is_ascii_alphabetic()));
    let upper = format!("{head}{}{tail}", hex.to_uppercase());
    assert_eq!(
      mac().open_text_at("a", &upper, 0),
      Err(DecodeError::BadMagic),
      "one spelling per check"
    );
    let small = Sealer::new(None, 10, 1).unwrap();
    let long = crc().seal_text_at("a", &"x".repeat(10 + STORED_SLACK_BYTES + 100), LATER);
    assert!(matches!(small.open_text_at("a", &long, 0), Err(DecodeError::TooLarge)));
  }
}
