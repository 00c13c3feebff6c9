//! Where a connection goes and how it introduces itself: the `redis://` / `rediss://` URL
//! (host, port, credentials, database), TLS settings and timeouts.
//!
//! Credentials are kept out of every message and of `Debug`.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The server's host: an address literal (connected to directly) or a name (looked up first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
  /// An IPv4 or IPv6 literal.
  Ip(IpAddr),
  /// A DNS name.
  Name(String),
}

impl fmt::Display for Host {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
      Host::Ip(ip) => write!(f, "{ip}"),
      Host::Name(n) => f.write_str(n),
    }
  }
}

/// TLS settings: the rustls configuration (trusted roots) and the name the server's
/// certificate must match.
#[derive(Clone)]
pub struct Tls {
  /// Shared by every connection made with this config.
  pub config: Arc<rustls::ClientConfig>,
  /// The URL's host, as the certificate must name it.
  pub server_name: ServerName<'static>,
}

/// Everything a connection needs to reach one Redis server.
#[derive(Clone)]
pub struct Config {
  /// The server's host.
  pub host: Host,
  /// The server's port.
  pub port: u16,
  /// `rediss://`: TLS settings.
  pub tls: Option<Tls>,
  /// The ACL user to authenticate as (`AUTH user password`); None with a password: `AUTH password`.
  pub username: Option<Vec<u8>>,
  /// The password; no AUTH is sent without one.
  pub password: Option<Vec<u8>>,
  /// The database selected on connect (`SELECT`, only when not 0).
  pub db: u32,
  /// Bound on reaching a usable connection (name lookup, TCP, TLS, AUTH, SELECT).
  pub connect_timeout: Duration,
  /// Bound on each command, from the call to its reply.
  pub command_timeout: Duration,
}

impl fmt::Debug for Config {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_struct("Config")
      .field("host", &self.host)
      .field("port", &self.port)
      .field("tls", &self.tls.is_some())
      .field("username", &self.username.as_ref().map(|_| "<set>"))
      .field("password", &self.password.as_ref().map(|_| "<set>"))
      .field("db", &self.db)
      .field("connect_timeout", &self.connect_timeout)
      .field("command_timeout", &self.command_timeout)
      .finish()
  }
}

/// Why a URL or TLS setting cannot be used. The text never contains credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(&self.0)
  }
}

fn bad(what: impl Into<String>) -> ConfigError {
  ConfigError(what.into())
}

impl Config {
  /// Parses `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS, trusting the
  /// PEM certificates in `tls_ca`, else the bundled web PKI roots). Query strings and fragments
  /// are refused: no option is read from them.
  pub fn from_url(
    url: &str,
    tls_ca: Option<&[u8]>,
    connect_timeout: Duration,
    command_timeout: Duration,
  ) -> Result<Config, ConfigError> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("redis://") {
      (false, r)
    } else if let Some(r) = url.strip_prefix("rediss://") {
      (true, r)
    } else {
      return Err(bad("the URL must start with redis:// or rediss://"));
    };
    if rest.contains(['?', '#']) {
      return Err(bad(
        "the URL has a query or fragment, which this transport does not read",
      ));
    }
    let (authority, path) = match rest.find('/') {
      Some(i) => (&rest[..i], &rest[i + 1..]),
      None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
      Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
      None => (None, authority),
    };
    let (username, password) = match userinfo {
      None => (None, None),
      Some(u) => {
        let (user, pass) = match u.find(':') {
          Some(i) => (&u[..i], Some(&u[i + 1..])),
          None => (u, None),
        };
        let user = percent_decode(user).ok_or_else(|| bad("the URL's user name is not valid percent-encoding"))?;
        let pass = match pass {
          Some(p) => Some(percent_decode(p).ok_or_else(|| bad("the URL's password is not valid percent-encoding"))?),
          None => None,
        };
        match pass {
          // `redis://user@host`: the user alone means nothing to AUTH; like the URL's other
          // clients, it is ignored.
          None => (None, None),
          Some(p) => ((!user.is_empty()).then_some(user), Some(p)),
        }
      }
    };
    let (host, port) = host_port(hostport)?;
    let db = match path.trim_end_matches('/') {
      "" => 0,
      d if d.bytes().all(|b| b.is_ascii_digit()) && d.len() <= 9 => {
        d.parse().map_err(|_| bad("bad database number"))?
      }
      _ => return Err(bad("the URL's path must be a database number")),
    };
    let tls = if tls {
      Some(tls_settings(&host, tls_ca)?)
    } else if tls_ca.is_some() {
      return Err(bad("a CA certificate needs a rediss:// URL"));
    } else {
      None
    };
    Ok(Config {
      host,
      port,
      tls,
      username,
      password,
      db,
      connect_timeout,
      command_timeout,
    })
  }

  /// `host:port`, for messages.
  pub fn server(&self) -> String {
    format!("{}:{}", self.host, self.port)
  }
}

fn host_port(s: &str) -> Result<(Host, u16), ConfigError> {
  let (host, port) = if let Some(r) = s.strip_prefix('[') {
    let end = r.find(']').ok_or_else(|| bad("unclosed [ in the URL's host"))?;
    let ip: std::net::Ipv6Addr = r[..end]
      .parse()
      .map_err(|_| bad("the URL's [host] is not an IPv6 address"))?;
    let after = &r[end + 1..];
    let port = match after.strip_prefix(':') {
      Some(p) => Some(p),
      None if after.is_empty() => None,
      None => return Err(bad("unexpected text after the URL's [host]")),
    };
    (Host::Ip(IpAddr::V6(ip)), port)
  } else {
    let (h, p) = match s.rfind(':') {
      Some(i) => (&s[..i], Some(&s[i + 1..])),
      None => (s, None),
    };
    if h.is_empty() {
      return Err(bad("the URL has no host"));
    }
    let host = match h.parse::<IpAddr>() {
      Ok(ip) => Host::Ip(ip),
      Err(_) => {
        let valid = h.len() <= 253
          && h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !valid {
          return Err(bad("the URL's host is not a valid host name"));
        }
        Host::Name(h.to_ascii_lowercase())
      }
    };
    (host, p)
  };
  let port = match port {
    None => 6379,
    Some(p) => match p.parse::<u16>() {
      Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
      _ => return Err(bad("the URL's port is not a number from 1 to 65535")),
    },
  };
  Ok((host, port))
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
  let b = s.as_bytes();
  let mut out = Vec::with_capacity(b.len());
  let mut i = 0;
  while i < b.len() {
    if b[i] == b'%' {
      let hex = b.get(i + 1..i + 3)?;
      let hex = std::str::from_utf8(hex).ok()?;
      out.push(u8::from_str_radix(hex, 16).ok()?);
      i += 3;
    } else {
      out.push(b[i]);
      i += 1;
    }
  }
  Some(out)
}

/// The rustls client configuration: TLS 1.2 and 1.3 with ring, trusting `ca_pem`'s certificates
/// (a private CA) or, without it, the web PKI roots bundled in the binary.
fn tls_settings(host: &Host, ca_pem: Option<&[u8]>) -> Result<Tls, ConfigError> {
  let mut roots = rustls::RootCertStore::empty();
  match ca_pem {
    Some(pem) => {
      for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|_| bad("the CA is not PEM certificates"))?;
        roots
          .add(cert)
          .map_err(|_| bad("the CA certificate cannot be used as a trust anchor"))?;
      }
      if roots.is_empty() {
        return Err(bad("the CA holds no certificate"));
      }
    }
    None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
  }
  let provider = Arc::new(rustls::crypto::ring::default_provider());
  let config = rustls::ClientConfig::builder_with_provider(provider)
    .with_safe_default_protocol_versions()
    .map_err(|_| bad("no TLS protocol version available"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
  let server_name = match host {
    Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
    Host::Name(n) => {
      ServerName::try_from(n.clone()).map_err(|_| bad("the URL's host is not a valid TLS server name"))?
    }
  };
  Ok(Tls {
    config: Arc::new(config),
    server_name,
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn parse(url: &str) -> Result<Config, ConfigError> {
    Config::from_url(url, None, Duration::from_secs(1), Duration::from_secs(1))
  }

  #[test]
  fn reads_host_port_credentials_and_db() {
    let c = parse("redis://127.0.0.1").unwrap();
    assert_eq!(
      (c.host, c.port, c.db, c.username, c.password),
      (Host::Ip("127.0.0.1".parse().unwrap()), 6379, 0, None, None)
    );
    let c = parse("redis://:s%40cret@localhost:6380/3").unwrap();
    assert_eq!(c.host, Host::Name("localhost".into()));
    assert_eq!(
      (c.port, c.db, c.username, c.password.as_deref()),
      (6380, 3, None, Some(b"s@cret".as_slice()))
    );
    let c = parse("redis://app:pw@[::1]:7000/").unwrap();
    assert_eq!((c.host.to_string(), c.port), ("[::1]".to_string(), 7000));
    assert_eq!(
      (c.username.as_deref(), c.password.as_deref()),
      (Some(b"app".as_slice()), Some(b"pw".as_slice()))
    );
    assert!(parse("redis://user@h").unwrap().password.is_none());
    let c = parse("rediss://Cache.Example.com:6390").unwrap();
    assert!(c.tls.is_some());
    assert_eq!(c.server(), "cache.example.com:6390");
  }

  #[test]
  fn refuses_what_it_cannot_honour() {
    for (url, why) in [
      ("http://h", "redis://"),
      ("redis://", "no host"),
      ("redis://h:0", "port"),
      ("redis://h:99999", "port"),
      ("redis://h:x", "port"),
      ("redis://h/x", "database"),
      ("redis://h/1/2", "database"),
      ("redis://h?db=1", "query"),
      ("redis://h#f", "query"),
      ("redis://[::1", "unclosed"),
      ("redis://a b", "host name"),
      ("redis://:%zz@h", "password"),
    ] {
      let e = parse(url).err().unwrap_or_else(|| panic!("{url} accepted"));
      assert!(e.0.contains(why), "{url}: {e}");
    }
    let ca = Some(b"-----BEGIN CERTIFICATE-----\n".as_slice());
    let e = Config::from_url("redis://h", ca, Duration::ZERO, Duration::ZERO)
      .err()
      .unwrap();
    assert!(e.0.contains("rediss://"), "{e}");
    let e = Config::from_url("rediss://h", Some(b"not pem"), Duration::ZERO, Duration::ZERO)
      .err()
      .unwrap();
    assert!(e.0.contains("CA"), "{e}");
  }

  #[test]
  fn credentials_stay_out_of_debug_and_errors() {
    let c = parse("redis://admin:hunter2@h:1/2").unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("admin"), "{shown}");
    let e = parse("redis://admin:hunter2@h:1/x").err().unwrap();
    assert!(!e.0.contains("hunter2"), "{e}");
  }
}
