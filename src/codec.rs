//! The stored value format.
//!
//! Every value a tier stores is a *frame*: a fixed header followed by the payload the JS shim
//! produced (rows as JSON plus a type manifest, see `js/codec.js`). The header lets a reader
//! reject anything it did not write — another program's bytes, a value cut short, a newer
//! format — as a miss instead of an exception.
//!
//! ```text
//! offset  size  field
//! 0       3     magic "SNC"
//! 3       1     format version (FORMAT_VERSION)
//! 4       1     flags (bit 0: payload is LZ4 block-compressed, prefixed with its size; no other
//!               bit is defined)
//! 5       4     payload length in bytes, little endian
//! 9       4     CRC-32 of the payload, little endian
//! 13      n     payload (UTF-8)
//! ```

use std::fmt;

/// First bytes of every frame.
pub const MAGIC: [u8; 3] = *b"SNC";
/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 13;
/// Flag bit: the payload is LZ4-compressed.
pub const FLAG_LZ4: u8 = 1;

/// Why a stored value could not be read back. Callers treat every variant as a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
  /// Shorter than the header.
  TooShort,
  /// Does not start with [`MAGIC`]: not written by this codec.
  BadMagic,
  /// Written by a different format version.
  UnknownVersion(u8),
  /// Carries flags this build does not understand.
  UnknownFlags(u8),
  /// The payload length in the header does not match the bytes present.
  Truncated { expected: usize, actual: usize },
  /// The payload does not match its checksum.
  Checksum,
  /// The payload is not UTF-8.
  NotUtf8,
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
      DecodeError::Checksum => write!(f, "entry checksum mismatch"),
      DecodeError::NotUtf8 => write!(f, "entry payload is not UTF-8"),
    }
  }
}

impl std::error::Error for DecodeError {}

/// Frames `payload` for storage.
pub fn encode(payload: &str) -> Vec<u8> {
  frame(payload.as_bytes(), 0)
}

/// Frames `payload` LZ4-compressed (the checksum covers the stored, compressed bytes).
pub fn encode_compressed(payload: &str) -> Vec<u8> {
  frame(&lz4_flex::compress_prepend_size(payload.as_bytes()), FLAG_LZ4)
}

fn frame(bytes: &[u8], flags: u8) -> Vec<u8> {
  let mut out = Vec::with_capacity(HEADER_LEN + bytes.len());
  out.extend_from_slice(&MAGIC);
  out.push(FORMAT_VERSION);
  out.push(flags);
  out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
  out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
  out.extend_from_slice(bytes);
  out
}

/// Checks the header of a frame and returns its flags and stored bytes (length and CRC checked).
fn open(frame: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
  if frame.len() < HEADER_LEN {
    return Err(DecodeError::TooShort);
  }
  if frame[..3] != MAGIC {
    return Err(DecodeError::BadMagic);
  }
  if frame[3] != FORMAT_VERSION {
    return Err(DecodeError::UnknownVersion(frame[3]));
  }
  if frame[4] & !FLAG_LZ4 != 0 {
    return Err(DecodeError::UnknownFlags(frame[4]));
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
  Ok((frame[4], payload))
}

/// Reads an uncompressed frame back, borrowing its payload. (The in-process tier never
/// compresses; a compressed frame here is a format this reader does not take.)
pub fn decode(frame: &[u8]) -> Result<&str, DecodeError> {
  match open(frame)? {
    (0, payload) => std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8),
    (flags, _) => Err(DecodeError::UnknownFlags(flags)),
  }
}

/// Reads any frame back, inflating a compressed one.
pub fn decode_any(frame: &[u8]) -> Result<String, DecodeError> {
  match open(frame)? {
    (0, payload) => std::str::from_utf8(payload)
      .map(str::to_owned)
      .map_err(|_| DecodeError::NotUtf8),
    (_, stored) => {
      let raw = lz4_flex::decompress_size_prepended(stored).map_err(|_| DecodeError::Checksum)?;
      String::from_utf8(raw).map_err(|_| DecodeError::NotUtf8)
    }
  }
}

/// How a network tier stores a string: as is, or LZ4-compressed in a frame once it is at least
/// `compress_above` bytes long.
pub fn to_stored(value: String, compress_above: usize) -> Vec<u8> {
  if value.len() >= compress_above {
    encode_compressed(&value)
  } else {
    value.into_bytes()
  }
}

/// The string a network tier stored, or None for bytes it cannot have written (a miss).
pub fn from_stored(stored: &[u8]) -> Option<String> {
  if stored.starts_with(&MAGIC) {
    decode_any(stored).ok()
  } else {
    String::from_utf8(stored.to_vec()).ok()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn round_trips_payloads() {
    for p in ["", "[]", "{\"a\":\"é😀\"}", &"x".repeat(100_000)] {
      assert_eq!(decode(&encode(p)).unwrap(), p);
    }
  }

  #[test]
  fn rejects_what_it_did_not_write() {
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
  fn compressed_frames_round_trip_and_are_smaller() {
    let text = "{\"name\":\"alice\",\"bio\":\"".to_owned() + &"lorem ipsum ".repeat(2000) + "\"}";
    let z = encode_compressed(&text);
    assert_eq!(z[4], FLAG_LZ4);
    assert!(z.len() < text.len() / 5, "{} bytes for {}", z.len(), text.len());
    assert_eq!(decode_any(&z).unwrap(), text);
    assert_eq!(decode_any(&encode("plain")).unwrap(), "plain");
    assert_eq!(
      decode(&z),
      Err(DecodeError::UnknownFlags(FLAG_LZ4)),
      "the borrowing decoder never inflates"
    );
    let mut bad = z.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(decode_any(&bad).is_err());
  }

  #[test]
  fn rejects_invalid_utf8_even_with_a_matching_checksum() {
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
}
