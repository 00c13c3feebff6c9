//! The Redis tier: redis-rs on tokio. A single node goes through a multiplexed
//! `ConnectionManager` (it reconnects by itself); `nodes` go through the async cluster client.
//! The connection is made on first use, every command has a timeout, and a [`Breaker`] stops
//! sending commands to a Redis that keeps failing, so callers fall back to the database quickly.
//!
//! This tier stores and fetches strings; what they mean (generation tokens, payloads) is decided
//! above it. Every value is sealed in a stored frame bound to its key (see [`crate::frame`]), long
//! ones compressed; a read hands back only what this client would have written under that key.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use tokio::sync::OnceCell;

use crate::breaker::Breaker;
use crate::frame::Sealer;
use crate::redact;
use crate::tier::{guarded, Read, TierError};

/// Where and how to connect. Validated by the shim.
pub struct RedisConfig {
  /// One `redis://` URL, or the cluster's nodes.
  pub urls: Vec<String>,
  pub cluster: bool,
  pub connect_timeout: Duration,
  pub command_timeout: Duration,
  /// Seals and opens every value (integrity key, value bound, compression).
  pub sealer: Sealer,
  /// For `rediss://`: a CA certificate (PEM) trusted instead of the system's roots.
  pub tls_ca: Option<Vec<u8>>,
}

#[derive(Clone)]
enum Conn {
  Single(ConnectionManager),
  Cluster(ClusterConnection),
}

pub struct RedisTier {
  config: RedisConfig,
  /// The passwords in the URLs, kept out of every error message.
  secrets: Vec<String>,
  conn: OnceCell<Conn>,
  pub breaker: Breaker,
  closed: AtomicBool,
}

impl RedisTier {
  pub fn new(config: RedisConfig) -> Arc<Self> {
    let secrets = config.urls.iter().flat_map(|u| redact::url_secrets(u)).collect();
    Arc::new(RedisTier {
      secrets,
      config,
      conn: OnceCell::new(),
      breaker: Breaker::for_tier(),
      closed: AtomicBool::new(false),
    })
  }

  /// A failure as a tier error whose text holds no secret.
  fn failed(&self, e: impl std::fmt::Display) -> TierError {
    let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
    TierError::Failed(redact::scrub(&e.to_string(), &secrets, 400))
  }

  async fn connect(&self) -> Result<Conn, TierError> {
    let c = &self.config;
    let fut = async {
      if c.cluster {
        let client = ClusterClientBuilder::new(c.urls.clone())
          .connection_timeout(c.connect_timeout)
          .response_timeout(c.command_timeout)
          .retries(1);
        let client = match &c.tls_ca {
          Some(ca) => client.certs(Self::certificates(ca)),
          None => client,
        };
        let client = client.build().map_err(|e| self.failed(e))?;
        Ok(Conn::Cluster(
          client.get_async_connection().await.map_err(|e| self.failed(e))?,
        ))
      } else {
        let client = self.client().map_err(|e| self.failed(e))?;
        let cfg = ConnectionManagerConfig::new()
          .set_connection_timeout(Some(c.connect_timeout))
          .set_response_timeout(Some(c.command_timeout))
          .set_number_of_retries(1);
        Ok(Conn::Single(
          ConnectionManager::new_with_config(client, cfg)
            .await
            .map_err(|e| self.failed(e))?,
        ))
      }
    };
    match tokio::time::timeout(c.connect_timeout, fut).await {
      Ok(r) => r,
      Err(_) => Err(TierError::Timeout),
    }
  }

  fn certificates(ca: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
      client_tls: None,
      root_cert: Some(ca.to_vec()),
    }
  }

  /// A client for the first URL (the single node, or the cluster node that carries pub/sub),
  /// trusting `tls_ca` when one is given.
  fn client(&self) -> redis::RedisResult<redis::Client> {
    let url = self.config.urls[0].as_str();
    match &self.config.tls_ca {
      Some(ca) => redis::Client::build_with_tls(url, Self::certificates(ca)),
      None => redis::Client::open(url),
    }
  }

  /// Runs one command through the breaker and the timeout. The timeout bounds the whole call,
  /// connecting included: a caller never waits past `command_timeout`. Connecting runs in a task
  /// of its own, under `connect_timeout`, so a caller that stops waiting does not cancel it: a
  /// connection slower to make than a command (a far server, TLS) is still made.
  async fn run<T: redis::FromRedisValue>(self: &Arc<Self>, cmd: redis::Cmd) -> Result<T, TierError> {
    guarded(&self.closed, &self.breaker, async {
      let call = async {
        let conn = match self.conn.get() {
          Some(c) => c.clone(),
          None => {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.conn.get_or_try_init(|| me.connect()).await.cloned() })
              .await
              .map_err(|e| TierError::Failed(format!("connecting failed: {e}")))??
          }
        };
        let value = match conn {
          Conn::Single(mut c) => cmd.query_async::<T>(&mut c).await,
          Conn::Cluster(mut c) => cmd.query_async::<T>(&mut c).await,
        };
        value.map_err(|e| self.failed(e))
      };
      match tokio::time::timeout(self.config.command_timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(TierError::Timeout),
      }
    })
    .await
  }

  /// Values of several keys in one round trip (in a cluster, split per shard by the client).
  /// A key holding another Redis type (a hash, a list) reads as absent: MGET answers nil for it.
  pub async fn mget(self: &Arc<Self>, keys: Vec<String>) -> Result<Vec<Read>, TierError> {
    if keys.is_empty() {
      return Ok(Vec::new());
    }
    let mut cmd = redis::cmd("MGET");
    cmd.arg(&keys);
    let values: Vec<Option<Vec<u8>>> = self.run(cmd).await?;
    if values.len() != keys.len() {
      return Err(TierError::Failed(format!(
        "MGET of {} keys answered {} values",
        keys.len(),
        values.len()
      )));
    }
    Ok(
      keys
        .iter()
        .zip(values)
        .map(|(k, v)| Read::of(&self.config.sealer, k, v.as_deref()))
        .collect(),
    )
  }

  /// Stores a value with a TTL in milliseconds (SET replaces whatever type held the key).
  pub async fn set(self: &Arc<Self>, key: String, value: String, ttl_ms: u64) -> Result<(), TierError> {
    let ttl_ms = ttl_ms.max(1);
    let frame = self.config.sealer.seal(&key, &value, ttl_ms);
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(frame).arg("PX").arg(ttl_ms);
    self.run(cmd).await
  }

  /// Deletes `key`.
  pub async fn del(self: &Arc<Self>, key: String) -> Result<(), TierError> {
    let mut cmd = redis::cmd("DEL");
    cmd.arg(key);
    self.run(cmd).await
  }

  /// PUBLISHes `message` on `channel` (the invalidation channel).
  pub async fn publish(self: &Arc<Self>, channel: String, message: String) -> Result<(), TierError> {
    let mut cmd = redis::cmd("PUBLISH");
    cmd.arg(channel).arg(message);
    self.run(cmd).await
  }

  /// PING through the command path (timeout and breaker included).
  pub async fn ping(self: &Arc<Self>) -> Result<(), TierError> {
    self.run(redis::cmd("PING")).await
  }

  /// Stops the subscription task and refuses further commands.
  pub fn close(&self) {
    self.closed.store(true, SeqCst);
  }

  /// Subscribes to `channel` in a background task on napi's tokio runtime, for as long as the
  /// tier is open: `on_message` gets each payload, `on_state(true)` follows every successful
  /// (re)subscription and `on_state(false)` every loss of it. A lost subscription is retried with
  /// a growing back-off. (In a cluster, PUBLISH reaches every node; the first node is enough.)
  pub fn subscribe(
    tier: Arc<Self>,
    channel: String,
    on_message: impl Fn(&[u8]) + Send + 'static,
    on_state: impl Fn(bool) + Send + 'static,
  ) {
    napi::bindgen_prelude::spawn(async move {
      let mut backoff = Duration::from_millis(100);
      while !tier.closed.load(SeqCst) {
        let attempt = async {
          let client = tier.client()?;
          let mut pubsub = client.get_async_pubsub().await?;
          pubsub.subscribe(&channel).await?;
          redis::RedisResult::Ok(pubsub)
        };
        match tokio::time::timeout(tier.config.connect_timeout, attempt).await {
          Ok(Ok(pubsub)) => {
            backoff = Duration::from_millis(100);
            on_state(true);
            let mut stream = pubsub.into_on_message();
            loop {
              // After 500 ms of silence, check that Redis still answers: a hung Redis keeps the
              // socket open, and invalidations sent through it would never arrive.
              match tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
                Ok(Some(msg)) => on_message(msg.get_payload_bytes()),
                Ok(None) => break,
                Err(_) if tier.closed.load(SeqCst) => break,
                Err(_) => {
                  if tier.ping().await.is_err() {
                    break;
                  }
                }
              }
            }
            on_state(false);
          }
          _ => {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
          }
        }
      }
    });
  }
}
