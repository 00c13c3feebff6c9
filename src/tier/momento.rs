//! The Momento tier: Momento's HTTP API (`GET`/`PUT`/`DELETE <base>/cache/<cache>?key=...`,
//! header `Authorization: <token>`) with reqwest over rustls, on napi's tokio runtime.
//!
//! Like the Redis tier it stores and fetches strings, each sealed in a stored frame bound to the
//! cache and key (see [`crate::frame`]), and puts every request behind a timeout, a bound on
//! requests in flight and a [`Breaker`], so a failing Momento costs callers one fast miss, never a
//! hung query or a retry storm.
//!
//! Momento's limits are kept here, before any request: an item (key and value) over
//! [`MAX_ITEM_BYTES`] is not sent, and a TTL is clamped to [`MAX_TTL_SECONDS`].

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use tokio::sync::Semaphore;

use crate::breaker::Breaker;
use crate::frame::{DecodeError, Sealer};
use crate::limits;
use crate::redact;
use crate::tier::{guarded, Read, TierError};

/// Momento's largest item, key and value together (see [`crate::limits`]).
const MAX_ITEM_BYTES: usize = limits::MOMENTO_MAX_ITEM_BYTES as usize;
/// Momento's longest TTL, in seconds.
const MAX_TTL_SECONDS: u64 = limits::MOMENTO_MAX_TTL_SECONDS as u64;
/// The most of an error answer read: its snippet in a log line needs a few hundred bytes.
const MAX_ERROR_BODY: usize = 4096;

/// Where and how to call Momento. Validated by the shim.
pub struct MomentoConfig {
  /// `https://api.cache.<cell-host>`, or a loopback `http://` URL for a local test server.
  pub base_url: String,
  pub cache_name: String,
  /// The API key sent as `Authorization` (never logged or put in an error).
  pub token: String,
  pub request_timeout: Duration,
  /// Requests in flight at most; more wait for a slot (within their timeout).
  pub max_concurrency: usize,
  /// Seals and opens every value (integrity key, value bound, compression).
  pub sealer: Sealer,
}

pub struct MomentoTier {
  config: MomentoConfig,
  /// `<base>/cache/<cache>`; each request adds its query.
  cache_url: Url,
  http: reqwest::Client,
  permits: Semaphore,
  pub breaker: Breaker,
  closed: AtomicBool,
}

impl MomentoTier {
  pub fn new(config: MomentoConfig) -> Result<Arc<Self>, String> {
    let mut cache_url = Url::parse(&config.base_url).map_err(|e| format!("endpoint: {e}"))?;
    cache_url
      .path_segments_mut()
      .map_err(|_| "endpoint: not a base URL".to_string())?
      .pop_if_empty()
      .extend(["cache", config.cache_name.as_str()]);
    let http = reqwest::Client::builder()
      .timeout(config.request_timeout)
      .connect_timeout(config.request_timeout)
      .pool_idle_timeout(Duration::from_secs(60))
      .pool_max_idle_per_host(config.max_concurrency)
      .build()
      .map_err(|e| format!("HTTP client: {e}"))?;
    Ok(Arc::new(MomentoTier {
      permits: Semaphore::new(config.max_concurrency.max(1)),
      breaker: Breaker::for_tier(),
      closed: AtomicBool::new(false),
      cache_url,
      http,
      config,
    }))
  }

  fn url(&self, key: &str, ttl_seconds: Option<u64>) -> Url {
    let mut url = self.cache_url.clone();
    {
      let mut q = url.query_pairs_mut();
      q.append_pair("key", key);
      if let Some(ttl) = ttl_seconds {
        q.append_pair("ttl_seconds", &ttl.to_string());
      }
    }
    url
  }

  /// Sends one request through the breaker, the concurrency bound and the timeout. Returns the
  /// status and body of an answer that is not an error; 404 "Key Not Found" counts as an answer.
  /// A body longer than the sealer reads back is not downloaded: its body is None.
  async fn send(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, Option<Vec<u8>>), TierError> {
    let attempt = async {
      let _permit = self
        .permits
        .acquire()
        .await
        .map_err(|_| TierError::Failed("the client is closed".into()))?;
      let response = request
        .header("Authorization", &self.config.token)
        .send()
        .await
        .map_err(http_error)?;
      let status = response.status();
      // Never read more than a stored value can be (or, for an error, than its snippet needs):
      // a server that streams without a length must not grow this process until the deadline.
      let limit = if status.is_success() {
        self.config.sealer.max_stored() + 4096
      } else {
        MAX_ERROR_BODY
      };
      if status.is_success() && response.content_length().is_some_and(|n| n > limit as u64) {
        return Ok((status, None));
      }
      let mut response = response;
      let mut body = Vec::new();
      while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len() + chunk.len() > limit {
          if status.is_success() {
            return Ok((status, None));
          }
          body.extend_from_slice(&chunk[..limit - body.len()]);
          break;
        }
        body.extend_from_slice(&chunk);
      }
      classify(status, &body, &self.config.cache_name, &self.config.token).map(|()| (status, Some(body)))
    };
    // One deadline for the wait for a slot and the request together.
    guarded(&self.closed, &self.breaker, async {
      match tokio::time::timeout(self.config.request_timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(TierError::Timeout),
      }
    })
    .await
  }

  /// The key a value's frame is bound to: the cache and the key, so an item copied from another
  /// cache does not answer either.
  fn bound_key(&self, key: &str) -> String {
    format!("{}\n{key}", self.config.cache_name)
  }

  /// What is stored under `key`.
  pub async fn get(&self, key: String) -> Result<Read, TierError> {
    let (status, body) = self.send(self.http.get(self.url(&key, None))).await?;
    if status == StatusCode::NOT_FOUND {
      return Ok(Read::Absent);
    }
    Ok(match body {
      None => Read::Rejected(DecodeError::TooLarge),
      Some(b) => Read::of(&self.config.sealer, &self.bound_key(&key), Some(&b)),
    })
  }

  /// Several GETs, concurrently (the HTTP API has no multi-get); one failure fails them all, as
  /// the caller treats any failure as a miss. Every GET runs to the end, even after another has
  /// failed: a breaker probe among them must report its outcome, or the breaker would wait for
  /// it forever.
  pub async fn mget(&self, keys: Vec<String>) -> Result<Vec<Read>, TierError> {
    futures_util::future::join_all(keys.into_iter().map(|k| self.get(k)))
      .await
      .into_iter()
      .collect()
  }

  /// Stores a value for `ttl_ms` (rounded up to whole seconds, at most [`MAX_TTL_SECONDS`]).
  pub async fn set(&self, key: String, value: String, ttl_ms: u64) -> Result<(), TierError> {
    let ttl = ttl_ms.div_ceil(1000).clamp(1, MAX_TTL_SECONDS);
    // The frame expires with the item, as Momento will keep it.
    let body = self.config.sealer.seal(&self.bound_key(&key), &value, ttl * 1000);
    if key.len() + body.len() > MAX_ITEM_BYTES {
      return Err(TierError::TooLarge);
    }
    self.send(self.http.put(self.url(&key, Some(ttl))).body(body)).await?;
    Ok(())
  }

  /// Deletes `key` (Momento answers 204 whether it existed or not).
  pub async fn del(&self, key: String) -> Result<(), TierError> {
    self.send(self.http.delete(self.url(&key, None))).await?;
    Ok(())
  }

  /// Refuses further requests.
  pub fn close(&self) {
    self.closed.store(true, SeqCst);
    self.permits.close();
  }
}

/// A reqwest failure as a tier error: its cause chain, without the URL (which names the cache and
/// key and adds nothing to the cause).
fn http_error(e: reqwest::Error) -> TierError {
  if e.is_timeout() {
    return TierError::Timeout;
  }
  let e = e.without_url();
  let mut text = e.to_string();
  let mut source = std::error::Error::source(&e);
  while let Some(cause) = source {
    text.push_str(": ");
    text.push_str(&cause.to_string());
    source = cause.source();
  }
  TierError::Failed(text)
}

/// Maps Momento's status codes to outcomes. A 404 is a miss unless its body says the cache is
/// missing, which is a configuration problem worth naming. A body put in an error is a short,
/// scrubbed snippet: a proxy may echo the request, `Authorization` header (the API key) included.
fn classify(status: StatusCode, body: &[u8], cache: &str, token: &str) -> Result<(), TierError> {
  if status.is_success() {
    return Ok(());
  }
  let raw = String::from_utf8_lossy(&body[..body.len().min(1024)]);
  let snippet = || redact::scrub(&raw, &[token], redact::MAX_SNIPPET_CHARS);
  match status {
    StatusCode::NOT_FOUND if raw.to_ascii_lowercase().contains("cache not found") => {
      Err(TierError::CacheNotFound(cache.to_owned()))
    }
    StatusCode::NOT_FOUND => Ok(()),
    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(TierError::Unauthorized(status.as_u16())),
    StatusCode::TOO_MANY_REQUESTS => Err(TierError::Throttled),
    // Any other 4xx is about this request (a key or item the service refuses), not the service.
    s if s.is_client_error() => Err(TierError::Rejected(s.as_u16(), snippet())),
    _ => Err(TierError::Failed(format!("HTTP {}: {}", status.as_u16(), snippet()))),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_missing_key_is_a_miss_but_a_missing_cache_is_named() {
    assert_eq!(classify(StatusCode::NOT_FOUND, b"Key Not Found", "c", "t"), Ok(()));
    assert_eq!(
      classify(StatusCode::NOT_FOUND, b"Cache Not Found", "model-cache", "t"),
      Err(TierError::CacheNotFound("model-cache".into()))
    );
  }

  #[test]
  fn rejected_keys_and_throttling_are_their_own_errors() {
    assert_eq!(
      classify(StatusCode::UNAUTHORIZED, b"", "c", "t"),
      Err(TierError::Unauthorized(401))
    );
    assert_eq!(
      classify(StatusCode::FORBIDDEN, b"", "c", "t"),
      Err(TierError::Unauthorized(403))
    );
    assert_eq!(
      classify(StatusCode::TOO_MANY_REQUESTS, b"", "c", "t"),
      Err(TierError::Throttled)
    );
    assert!(
      matches!(classify(StatusCode::INTERNAL_SERVER_ERROR, b"boom", "c", "t"), Err(TierError::Failed(m)) if m.contains("500"))
    );
  }

  #[test]
  fn an_echoed_api_key_never_reaches_an_error() {
    let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";
    for status in [StatusCode::BAD_REQUEST, StatusCode::INTERNAL_SERVER_ERROR] {
      let body = format!("bad things: got {token} in\nAuthorization: {token}");
      let e = classify(status, body.as_bytes(), "c", token).unwrap_err().to_string();
      assert!(!e.contains("eyJ") && !e.contains("c2ln"), "{e}");
      assert!(e.contains("bad things"), "{e}");
    }
  }

  #[test]
  fn keys_are_percent_encoded_in_the_query() {
    let tier = MomentoTier::new(MomentoConfig {
      base_url: "https://api.cache.cell-1.example.com".into(),
      cache_name: "model cache".into(),
      token: "t".into(),
      request_timeout: Duration::from_secs(1),
      max_concurrency: 4,
      sealer: Sealer::new(None, 1 << 20, usize::MAX).unwrap(),
    })
    .unwrap();
    let url = tier.url("model-cache:findByPk:Users:{\"where\":{\"id\":1}}&x", Some(60));
    assert_eq!(url.path(), "/cache/model%20cache");
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
    assert_eq!(pairs[0].1, "model-cache:findByPk:Users:{\"where\":{\"id\":1}}&x");
    assert_eq!(pairs[1], ("ttl_seconds".into(), "60".into()));
  }
}
