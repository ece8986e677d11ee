//! The part of a server's URL both server backends read alike:
//! `SCHEME://[USER[:PASSWORD]@][HOST][:PORT][/DBNAME][?PARAM=VALUE&…]`, each
//! part percent-decoded, an IPv6 host in brackets. What the parameters mean
//! is each backend's own (`postgres/location.rs`, `mysql/location.rs`).

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The TLS modes, with libpq's `sslmode` meanings (PostgreSQL's
/// documentation, "SSL Mode Descriptions"); MariaDB and MySQL clients call
/// the setting `--ssl-mode` and spell some modes otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, unverified; else plain (the default of
    /// libpq and of MySQL's client, `PREFERRED`).
    Prefer,
    /// TLS, the certificate not verified.
    Require,
    /// TLS, the certificate chain verified, not the host name.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

impl SslMode {
    /// libpq's words, as libpq reads them.
    pub fn from_libpq(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's words, and MySQL's client's upper-case ones (`DISABLED`,
    /// `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`).
    pub fn from_mysql(text: &str) -> Option<SslMode> {
        Some(match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "disabled" => SslMode::Disable,
            "preferred" => SslMode::Prefer,
            "required" => SslMode::Require,
            "verify-identity" => SslMode::VerifyFull,
            other => return SslMode::from_libpq(other),
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

/// A server's password: one written in the URL (inline), which wins, or
/// one given afterwards from a file or a variable. Wiped when dropped.
#[derive(Default)]
pub struct Password {
    value: Option<Zeroizing<String>>,
    inline: bool,
}

impl Password {
    fn inline(value: Zeroizing<String>) -> Password {
        Password {
            value: Some(value),
            inline: true,
        }
    }

    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// Takes a password from elsewhere, unless the URL holds one.
    pub fn set(&mut self, value: Zeroizing<String>) {
        if !self.inline {
            self.value = Some(value);
        }
    }

    pub fn get(&self) -> Option<&str> {
        self.value.as_deref().map(String::as_str)
    }
}

/// A URL taken apart.
pub(crate) struct Url {
    pub user: Option<String>,
    /// A password written in the URL itself (or as a `password` parameter).
    pub password: Password,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    /// The other parameters, decoded, in order.
    pub params: Vec<(String, String)>,
}

/// A usage error about a URL of `scheme` (`postgres://`, `mysql://`).
pub(crate) fn bad(scheme: &str, msg: impl std::fmt::Display) -> Error {
    Error::usage(format!("malformed {scheme} URL: {msg}"))
}

/// Percent-decodes one part of the URL.
fn decode(scheme: &str, part: &str, what: &str) -> Result<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = part
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    bad(
                        scheme,
                        format!("a % in the {what} is not followed by two hex digits"),
                    )
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(scheme, format!("the {what} is not UTF-8 once decoded")))
}

/// A port: 1 to 65535.
pub(crate) fn port(scheme: &str, p: &str) -> Result<u16> {
    p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| {
        bad(
            scheme,
            format!(
                "the port '{}' is not a number from 1 to 65535",
                crate::ui::escape(p)
            ),
        )
    })
}

/// Takes `url` apart; `scheme` names it in messages.
pub(crate) fn parse(url: &str, scheme: &str) -> Result<Url> {
    let (_, rest) = url
        .split_once("://")
        .ok_or_else(|| bad(scheme, "it has no scheme"))?;
    if rest.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad(
            scheme,
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
    let mut url = Url {
        user: None,
        password: Password::default(),
        host: None,
        port: None,
        dbname: None,
        params: Vec::new(),
    };
    if let Some(c) = credentials {
        let (user, password) = match c.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (c, None),
        };
        if !user.is_empty() {
            url.user = Some(decode(scheme, user, "user name")?);
        }
        if let Some(p) = password {
            url.password = Password::inline(Zeroizing::new(decode(scheme, p, "password")?));
        }
    }
    if hostport.contains(',') {
        return Err(bad(scheme, "several hosts are not supported; name one"));
    }
    let (host, port_text) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad(scheme, "an IPv6 address's [ is not closed"))?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if !host.is_empty() {
        url.host = Some(decode(scheme, host, "host")?);
    }
    if let Some(p) = port_text {
        url.port = Some(port(scheme, p)?);
    }
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        if p.contains('/') {
            return Err(bad(
                scheme,
                "the database name holds a '/'; the path is one database name",
            ));
        }
        url.dbname = Some(decode(scheme, p, "database name")?);
    }
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            bad(
                scheme,
                format!("the parameter '{}' has no value", crate::ui::escape(pair)),
            )
        })?;
        let v = decode(scheme, v, "parameter value")?;
        if k == "password" {
            url.password = Password::inline(Zeroizing::new(v));
        } else {
            url.params.push((k.to_string(), v));
        }
    }
    Ok(url)
}

/// `connect_timeout`: a number of seconds from 1 to 3600.
pub(crate) fn timeout(scheme: &str, v: &str) -> Result<std::time::Duration> {
    v.parse()
        .ok()
        .filter(|&s| s > 0 && s <= 3600)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| {
            bad(
                scheme,
                "connect_timeout is not a number of seconds (1 to 3600)",
            )
        })
}
