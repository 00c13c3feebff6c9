//! The byte stream of one connection, plain TCP or TLS, driven by readiness: it reads and writes
//! only what the non-blocking socket takes now and says when it would block. TLS is a rustls
//! client session fed from the same socket (sans I/O: records in and out as the socket allows).

use std::io::{self, ErrorKind, Read, Write};

use socket2::Socket;

use super::config::Tls;

/// Received bytes not yet consumed, in one contiguous, always-initialised buffer (reads land in
/// its spare room without zeroing it first; it only grows with bytes that arrive).
#[derive(Debug, Default)]
pub struct ReadBuf {
  data: Vec<u8>,
  start: usize,
  end: usize,
}

/// Spare room asked for by each read.
pub const READ_CHUNK: usize = 64 * 1024;
/// A buffer that grew past this (a large reply) shrinks back once empty.
const KEEP_CAPACITY: usize = 4 * 1024 * 1024;

impl ReadBuf {
  /// The bytes received and not consumed.
  pub fn filled(&self) -> &[u8] {
    &self.data[self.start..self.end]
  }

  /// Drops the first `n` filled bytes.
  pub fn consume(&mut self, n: usize) {
    debug_assert!(n <= self.end - self.start);
    self.start += n;
    if self.start == self.end {
      self.start = 0;
      self.end = 0;
      if self.data.len() > KEEP_CAPACITY {
        self.data = vec![0; READ_CHUNK];
      }
    }
  }

  /// Drops everything.
  pub fn clear(&mut self) {
    self.consume(self.end - self.start);
  }

  /// Room after the filled bytes, at least `min` bytes (compacting first, growing if needed).
  fn spare(&mut self, min: usize) -> &mut [u8] {
    if self.data.len() - self.end < min {
      if self.start > 0 {
        self.data.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
      }
      if self.data.len() - self.end < min {
        self.data.resize(self.end + min, 0);
      }
    }
    &mut self.data[self.end..]
  }

  fn commit(&mut self, n: usize) {
    self.end += n;
  }

  /// The room to read into for a reply that needs `wanted` bytes in total: what is missing, at
  /// least one chunk, and at most the filled size again (so the buffer grows geometrically with
  /// what arrived, never to a length a peer merely announced).
  fn room_for(&self, wanted: usize) -> usize {
    let filled = self.end - self.start;
    wanted.saturating_sub(filled).clamp(READ_CHUNK, READ_CHUNK.max(filled))
  }
}

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
  /// Bytes added to the buffer.
  pub bytes: usize,
  /// The peer closed the stream (after those bytes).
  pub eof: bool,
}

/// The socket through `io::Read`/`io::Write` for rustls: writes never raise SIGPIPE.
struct SocketIo<'a>(&'a Socket);

impl Read for SocketIo<'_> {
  fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
    let mut s = self.0;
    s.read(buf)
  }
}

impl Write for SocketIo<'_> {
  fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
    self.0.send_with_flags(buf, libc::MSG_NOSIGNAL)
  }
  fn flush(&mut self) -> io::Result<()> {
    Ok(())
  }
}

/// A failure of the stream, with the text to report (no credentials can be in it).
#[derive(Debug)]
pub struct StreamError {
  /// The TLS session failed (certificate, alert, bad record), not the socket.
  pub tls: bool,
  /// What happened.
  pub message: String,
}

impl StreamError {
  fn io(e: io::Error) -> StreamError {
    StreamError {
      tls: false,
      message: e.to_string(),
    }
  }
  fn tls(e: impl std::fmt::Display) -> StreamError {
    StreamError {
      tls: true,
      message: e.to_string(),
    }
  }
}

/// Plain TCP, or a TLS session over it.
pub struct Stream {
  tls: Option<Box<rustls::ClientConnection>>,
  /// Plaintext read per readable event is bounded by this many socket reads, so one busy
  /// connection cannot hold the loop.
  reads_per_event: usize,
}

impl Stream {
  /// A stream for a new connection; with `tls`, a client session that starts its handshake on
  /// the first write.
  pub fn new(tls: Option<&Tls>) -> Result<Stream, StreamError> {
    let tls = match tls {
      None => None,
      Some(t) => Some(Box::new(
        rustls::ClientConnection::new(t.config.clone(), t.server_name.clone()).map_err(StreamError::tls)?,
      )),
    };
    Ok(Stream {
      tls,
      reads_per_event: 16,
    })
  }

  /// Reads what the socket has into `buf` (`wanted`: the parser's size hint for the reply
  /// being received), until it would block or after a bounded number of socket reads (the rest
  /// makes the socket readable again). With TLS, all plaintext rustls decrypted is taken: none
  /// may stay behind in rustls, where no readiness event would announce it.
  pub fn read(&mut self, sock: &Socket, buf: &mut ReadBuf, wanted: usize) -> Result<Received, StreamError> {
    let mut got = Received { bytes: 0, eof: false };
    let mut socket_reads = 0;
    loop {
      let spare = buf.spare(buf.room_for(wanted));
      let room = spare.len();
      match &mut self.tls {
        None => {
          if socket_reads == self.reads_per_event {
            return Ok(got);
          }
          socket_reads += 1;
          match (&mut &*sock).read(spare) {
            Ok(0) => {
              got.eof = true;
              return Ok(got);
            }
            Ok(n) => {
              buf.commit(n);
              got.bytes += n;
              if n < room {
                // Less than the room: the socket is drained (saves a read that would block).
                return Ok(got);
              }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(got),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::io(e)),
          }
        }
        Some(tls) => {
          match tls.reader().read(spare) {
            Ok(0) => {
              // close_notify received.
              got.eof = true;
              return Ok(got);
            }
            Ok(n) => {
              buf.commit(n);
              got.bytes += n;
              continue;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
              got.eof = true;
              return Ok(got);
            }
            Err(e) => return Err(StreamError::tls(e)),
          }
          if socket_reads == self.reads_per_event {
            return Ok(got);
          }
          socket_reads += 1;
          match tls.read_tls(&mut SocketIo(sock)) {
            Ok(0) => {
              got.eof = true;
              return Ok(got);
            }
            Ok(_) => {
              if let Err(e) = tls.process_new_packets() {
                // An alert for the peer may be queued: a best-effort send before giving up.
                let _ = flush_records(tls, sock);
                return Err(StreamError::tls(e));
              }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(got),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::io(e)),
          }
        }
      }
    }
  }

  /// Writes as much of `data` as the socket takes now. Returns how much of it was consumed and
  /// whether the socket would block (then wait for writability and call again).
  pub fn write(&mut self, sock: &Socket, data: &[u8]) -> Result<(usize, bool), StreamError> {
    match &mut self.tls {
      None => {
        let mut done = 0;
        while done < data.len() {
          match sock.send_with_flags(&data[done..], libc::MSG_NOSIGNAL) {
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok((done, true)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::io(e)),
          }
        }
        Ok((done, false))
      }
      Some(tls) => {
        let mut done = 0;
        loop {
          let before = done;
          // Plaintext in: rustls takes what fits its bounded buffer (before the handshake ends
          // it only holds it)...
          if done < data.len() {
            done += tls.writer().write(&data[done..]).map_err(StreamError::tls)?;
          }
          // ...records out.
          if flush_records(tls, sock)? {
            return Ok((done, true));
          }
          if done == data.len() || done == before {
            // All handed over, or rustls holds all it will until the handshake ends (the rest
            // is written after a later readable event).
            return Ok((done, false));
          }
        }
      }
    }
  }

  /// Whether a TLS handshake is still in progress (false for plain TCP).
  pub fn handshaking(&self) -> bool {
    self.tls.as_ref().is_some_and(|t| t.is_handshaking())
  }

  /// Whether TLS records are waiting for the socket (handshake messages or alerts produced
  /// while reading).
  pub fn has_records(&self) -> bool {
    self.tls.as_ref().is_some_and(|t| t.wants_write())
  }

  /// Sends waiting TLS records; true when the socket would block.
  pub fn flush(&mut self, sock: &Socket) -> Result<bool, StreamError> {
    match &mut self.tls {
      None => Ok(false),
      Some(tls) => flush_records(tls, sock),
    }
  }
}

/// Writes queued TLS records until none are left (false) or the socket would block (true).
fn flush_records(tls: &mut rustls::ClientConnection, sock: &Socket) -> Result<bool, StreamError> {
  while tls.wants_write() {
    match tls.write_tls(&mut SocketIo(sock)) {
      Ok(_) => {}
      Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
      Err(e) if e.kind() == ErrorKind::Interrupted => {}
      Err(e) => return Err(StreamError::io(e)),
    }
  }
  Ok(false)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn read_buffer_compacts_and_grows_with_data() {
    let mut b = ReadBuf::default();
    let s = b.spare(10);
    assert!(s.len() >= 10);
    s[..5].copy_from_slice(b"hello");
    b.commit(5);
    b.consume(2);
    assert_eq!(b.filled(), b"llo");
    let cap = b.data.len();
    // Asking for more than is free compacts first.
    let free = cap - b.end;
    b.spare(free + 1);
    assert_eq!(b.filled(), b"llo");
    assert_eq!(b.start, 0);
    // A huge announced reply grows the room by at most what arrived (or one chunk).
    assert_eq!(b.room_for(512 << 20), READ_CHUNK);
    b.clear();
    assert!(b.filled().is_empty());
  }
}
