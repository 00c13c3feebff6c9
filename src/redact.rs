//! Keeping secrets out of log lines and error messages.
//!
//! Everything a service answers is treated as public-bound text: before any of it reaches an error
//! message, [`scrub`] removes the secrets this client knows (passwords, API keys), anything after
//! an `Authorization` header name (a proxy may echo the request's headers), and every token-like
//! run of characters, keeps printable text only and caps the length.

/// The longest snippet of a service's answer kept in an error message, in characters.
pub const MAX_SNIPPET_CHARS: usize = 120;

/// Runs of these characters at least [`TOKEN_RUN_CHARS`] long are taken for credentials (JWTs,
/// base64, hex keys) and removed.
fn is_token_char(c: char) -> bool {
  c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '.' | '%')
}

/// See [`is_token_char`].
pub const TOKEN_RUN_CHARS: usize = 24;

const HIDDEN: &str = "***";

/// `text` with every `secret` (and token-like run) replaced by `***`, anything from an
/// `authorization` header name on dropped, control characters turned into spaces, whitespace
/// collapsed, and at most `max_chars` characters kept.
pub fn scrub(text: &str, secrets: &[&str], max_chars: usize) -> String {
  let mut t = text.to_owned();
  for s in secrets.iter().filter(|s| !s.is_empty()) {
    t = t.replace(s, HIDDEN);
  }
  // ASCII lowercasing keeps byte offsets, so the index is valid in `t`.
  if let Some(i) = t.to_ascii_lowercase().find("authorization") {
    t.truncate(i);
    t.push_str("[authorization header removed]");
  }
  let mut out = String::with_capacity(t.len().min(max_chars * 4));
  let mut run = String::new();
  let flush = |run: &mut String, out: &mut String| {
    if run.chars().count() >= TOKEN_RUN_CHARS {
      out.push_str(HIDDEN);
    } else {
      out.push_str(run);
    }
    run.clear();
  };
  for c in t.chars() {
    if is_token_char(c) {
      run.push(c);
      continue;
    }
    flush(&mut run, &mut out);
    let c = if c.is_control() || c.is_whitespace() { ' ' } else { c };
    if !(c == ' ' && (out.is_empty() || out.ends_with(' '))) {
      out.push(c);
    }
  }
  flush(&mut run, &mut out);
  let out = out.trim_end();
  match out.char_indices().nth(max_chars) {
    Some((i, _)) => format!("{}…", &out[..i]),
    None => out.to_owned(),
  }
}

/// The password of a `redis://user:password@host` URL, as written and percent-decoded, for
/// [`scrub`]. Empty when there is none.
pub fn url_secrets(url: &str) -> Vec<String> {
  let Ok(u) = reqwest::Url::parse(url) else {
    return Vec::new();
  };
  match u.password() {
    None | Some("") => Vec::new(),
    Some(p) => {
      let decoded = percent_decode(p);
      if decoded == p {
        vec![p.to_owned()]
      } else {
        vec![p.to_owned(), decoded]
      }
    }
  }
}

fn percent_decode(text: &str) -> String {
  let bytes = text.as_bytes();
  let mut out = Vec::with_capacity(bytes.len());
  let mut i = 0;
  while i < bytes.len() {
    let hex = |b: u8| (b as char).to_digit(16);
    if bytes[i] == b'%' && i + 2 < bytes.len() {
      if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
        out.push((h * 16 + l) as u8);
        i += 3;
        continue;
      }
    }
    out.push(bytes[i]);
    i += 1;
  }
  String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn removes_known_secrets_echoed_headers_and_token_like_runs() {
    let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";
    let body = format!("Bad Request: invalid key\r\nAuthorization: {token}\r\n");
    let s = scrub(&body, &[token], MAX_SNIPPET_CHARS);
    assert!(!s.contains("eyJ") && !s.contains("c2ln"), "{s}");
    assert!(s.starts_with("Bad Request: invalid key"), "{s}");
    let s = scrub(&format!("echo {token} back"), &[], MAX_SNIPPET_CHARS);
    assert_eq!(s, "echo *** back");
    assert_eq!(scrub("wrong pass hunter2!", &["hunter2"], 100), "wrong pass ***!");
  }

  #[test]
  fn keeps_printable_text_and_caps_it() {
    assert_eq!(scrub("a\u{0}b\n\n  c", &[], 100), "a b c");
    let long = "word ".repeat(100);
    let s = scrub(&long, &[], 20);
    assert_eq!(s.chars().count(), 21);
    assert!(s.ends_with('…'));
    assert_eq!(
      scrub("ttl_seconds exceeds the maximum", &[], 100),
      "ttl_seconds exceeds the maximum"
    );
  }

  #[test]
  fn finds_the_password_of_a_url_as_written_and_decoded() {
    assert_eq!(url_secrets("redis://u:p%40ss@host:6379/0"), vec!["p%40ss", "p@ss"]);
    assert_eq!(url_secrets("redis://:secret@host"), vec!["secret"]);
    assert!(url_secrets("redis://host:6379").is_empty());
    assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
  }
}
