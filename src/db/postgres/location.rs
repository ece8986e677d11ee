//! A PostgreSQL server's location, read from libpq's URI form:
//! `postgres[ql]://[USER[:PASSWORD]@][HOST][:PORT][/DBNAME][?PARAM=VALUE&…]`
//! (PostgreSQL's documentation, "Connection URIs"). Parsed here rather than
//! by the driver so that each mistake gets its own message, the password is
//! kept apart (and wiped), and `sslmode` has libpq's full set of meanings.

use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// libpq's `sslmode` values, with their meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, unverified; else plain (libpq's default).
    Prefer,
    /// TLS, the certificate not verified.
    Require,
    /// TLS, the certificate chain verified, not the host name.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where a PostgreSQL server is and how to reach it.
pub struct Location {
    pub user: Option<String>,
    password: Option<Zeroizing<String>>,
    inline_password: bool,
    /// A host name or address, or a socket directory (starts with `/`).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub application_name: Option<String>,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::usage(format!("malformed postgres:// URL: {msg}"))
}

/// Percent-decodes one part of the URL.
fn decode(part: &str, what: &str) -> Result<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = part
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "a % in the {what} is not followed by two hex digits"
                    ))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("the {what} is not UTF-8 once decoded")))
}

impl Location {
    pub fn parse(url: &str) -> Result<Location> {
        let (_, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it has no scheme"))?;
        if rest.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad(
                "it holds spaces or control characters (percent-encode them)",
            ));
        }
        let (main, query) = match rest.split_once('?') {
            Some((m, q)) => (m, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match main.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (main, None),
        };
        // The last @ ends the credentials: a password may hold an encoded @ only.
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let mut loc = Location {
            user: None,
            password: None,
            inline_password: false,
            host: None,
            port: None,
            dbname: None,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            connect_timeout: Duration::from_secs(10),
            application_name: None,
        };
        if let Some(c) = credentials {
            let (user, password) = match c.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (c, None),
            };
            if !user.is_empty() {
                loc.user = Some(decode(user, "user name")?);
            }
            if let Some(p) = password {
                loc.password = Some(Zeroizing::new(decode(p, "password")?));
                loc.inline_password = true;
            }
        }
        if hostport.contains(',') {
            return Err(bad("several hosts are not supported; name one"));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address's [ is not closed"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if !host.is_empty() {
            loc.host = Some(decode(host, "host")?);
        }
        if let Some(p) = port {
            loc.port = Some(parse_port(p)?);
        }
        if let Some(p) = path.filter(|p| !p.is_empty()) {
            loc.dbname = Some(decode(p, "database name")?);
        }
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                bad(format!(
                    "the parameter '{}' has no value",
                    crate::ui::escape(pair)
                ))
            })?;
            let v = decode(v, "parameter value")?;
            match k {
                "sslmode" => {
                    loc.sslmode = SslMode::parse(&v).ok_or_else(|| {
                        bad(format!(
                            "sslmode '{}' is not one of disable, prefer, require, verify-ca, verify-full",
                            crate::ui::escape(&v)
                        ))
                    })?;
                }
                "sslrootcert" => loc.sslrootcert = Some(PathBuf::from(v)),
                "host" => loc.host = Some(v),
                "port" => loc.port = Some(parse_port(&v)?),
                "user" => loc.user = Some(v),
                "dbname" => loc.dbname = Some(v),
                "password" => {
                    loc.password = Some(Zeroizing::new(v));
                    loc.inline_password = true;
                }
                "connect_timeout" => {
                    let secs: u64 =
                        v.parse()
                            .ok()
                            .filter(|&s| s > 0 && s <= 3600)
                            .ok_or_else(|| {
                                bad("connect_timeout is not a number of seconds (1 to 3600)")
                            })?;
                    loc.connect_timeout = Duration::from_secs(secs);
                }
                "application_name" => loc.application_name = Some(v),
                other => {
                    return Err(bad(format!(
                        "the parameter '{}' is not one mex2fa takes (sslmode, sslrootcert, host, port, user, dbname, connect_timeout, application_name)",
                        crate::ui::escape(other)
                    )));
                }
            }
        }
        if loc.user.is_none() {
            return Err(bad("it names no user (postgres://USER@HOST/DBNAME)"));
        }
        if loc.dbname.is_none() {
            return Err(bad("it names no database (postgres://USER@HOST/DBNAME)"));
        }
        Ok(loc)
    }

    pub fn has_inline_password(&self) -> bool {
        self.inline_password
    }

    pub fn set_password(&mut self, password: Zeroizing<String>) {
        if !self.inline_password {
            self.password = Some(password);
        }
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref().map(String::as_str)
    }

    /// A socket directory rather than a TCP host.
    pub fn is_socket(&self) -> bool {
        self.host.as_deref().is_some_and(|h| h.starts_with('/'))
    }

    /// The host as messages show it.
    pub fn host_shown(&self) -> String {
        let host = self.host.as_deref().unwrap_or("localhost");
        let port = self.port.unwrap_or(5432);
        if self.is_socket() {
            format!("the socket in {host} (port {port})")
        } else {
            format!("{host}:{port}")
        }
    }

    /// The location as messages show it: never with the password.
    pub fn shown(&self) -> String {
        format!(
            "PostgreSQL database '{}' as '{}' on {}",
            self.dbname.as_deref().unwrap_or(""),
            self.user.as_deref().unwrap_or(""),
            self.host_shown()
        )
    }
}

fn parse_port(p: &str) -> Result<u16> {
    p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| {
        bad(format!(
            "the port '{}' is not a number from 1 to 65535",
            crate::ui::escape(p)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_form() {
        let l = Location::parse(
            "postgresql://app%40corp:s%3Acret@db.example:6543/mex?sslmode=verify-full&sslrootcert=/ca.pem",
        )
        .unwrap();
        assert_eq!(l.user.as_deref(), Some("app@corp"));
        assert_eq!(l.password(), Some("s:cret"));
        assert!(l.has_inline_password());
        assert_eq!(l.host.as_deref(), Some("db.example"));
        assert_eq!(l.port, Some(6543));
        assert_eq!(l.dbname.as_deref(), Some("mex"));
        assert_eq!(l.sslmode, SslMode::VerifyFull);
        assert!(!l.shown().contains("s:cret"));
    }

    #[test]
    fn socket_and_ipv6() {
        let l = Location::parse("postgres://u@/mex?host=/run/postgresql").unwrap();
        assert!(l.is_socket());
        let l = Location::parse("postgres://u@[::1]:5433/mex").unwrap();
        assert_eq!(l.host.as_deref(), Some("::1"));
        assert_eq!(l.port, Some(5433));
    }

    #[test]
    fn mistakes_are_named() {
        for (url, says) in [
            ("postgres://u@h:99999/d", "port"),
            ("postgres://u@h:x/d", "port"),
            ("postgres://u@h/d?sslmode=maybe", "sslmode"),
            ("postgres://u@h/d?colour=red", "colour"),
            ("postgres://h/d", "no user"),
            ("postgres://u@h", "no database"),
            ("postgres://u@h1,h2/d", "several hosts"),
            ("postgres://u@h/d%zz", "hex"),
            ("postgres://u@[::1/d", "IPv6"),
        ] {
            let e = Location::parse(url).err().unwrap().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn an_outside_password_does_not_replace_the_urls() {
        let mut l = Location::parse("postgres://u:inline@h/d").unwrap();
        l.set_password(Zeroizing::new("other".into()));
        assert_eq!(l.password(), Some("inline"));
        let mut l = Location::parse("postgres://u@h/d").unwrap();
        l.set_password(Zeroizing::new("other".into()));
        assert_eq!(l.password(), Some("other"));
        assert!(!l.has_inline_password());
    }
}
