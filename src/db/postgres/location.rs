//! A PostgreSQL server's location, read from libpq's URI form:
//! `postgres[ql]://[USER[:PASSWORD]@][HOST][:PORT][/DBNAME][?PARAM=VALUE&…]`
//! (PostgreSQL's documentation, "Connection URIs"). Parsed here rather than
//! by the driver so that each mistake gets its own message, the password is
//! kept apart (and wiped), and `sslmode` has libpq's full set of meanings.

use std::path::PathBuf;
use std::time::Duration;

use crate::db::url;
pub use crate::db::url::SslMode;
use crate::error::{Error, Result};

/// Where a PostgreSQL server is and how to reach it.
pub struct Location {
    pub user: Option<String>,
    pub password: url::Password,
    /// A host name or address, or a socket directory (starts with `/`).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub application_name: Option<String>,
}

const SCHEME: &str = "postgres://";

fn bad(msg: impl std::fmt::Display) -> Error {
    url::bad(SCHEME, msg)
}

impl Location {
    pub fn parse(text: &str) -> Result<Location> {
        let u = url::parse(text, SCHEME)?;
        let mut loc = Location {
            user: u.user,
            password: u.password,
            host: u.host,
            port: u.port,
            dbname: u.dbname,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            connect_timeout: Duration::from_secs(10),
            application_name: None,
        };
        for (k, v) in u.params {
            match k.as_str() {
                "sslmode" => {
                    loc.sslmode = SslMode::from_libpq(&v).ok_or_else(|| {
                        bad(format!(
                            "sslmode '{}' is not one of disable, prefer, require, verify-ca, verify-full",
                            crate::ui::escape(&v)
                        ))
                    })?;
                }
                "sslrootcert" => loc.sslrootcert = Some(PathBuf::from(v)),
                "host" => loc.host = Some(v),
                "port" => loc.port = Some(url::port(SCHEME, &v)?),
                "user" => loc.user = Some(v),
                "dbname" => loc.dbname = Some(v),
                "connect_timeout" => loc.connect_timeout = url::timeout(SCHEME, &v)?,
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

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    #[test]
    fn full_form() {
        let l = Location::parse(
            "postgresql://app%40corp:s%3Acret@db.example:6543/mex?sslmode=verify-full&sslrootcert=/ca.pem",
        )
        .unwrap();
        assert_eq!(l.user.as_deref(), Some("app@corp"));
        assert_eq!(l.password.get(), Some("s:cret"));
        assert!(l.password.is_inline());
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
        l.password.set(Zeroizing::new("other".into()));
        assert_eq!(l.password.get(), Some("inline"));
        let mut l = Location::parse("postgres://u@h/d").unwrap();
        l.password.set(Zeroizing::new("other".into()));
        assert_eq!(l.password.get(), Some("other"));
        assert!(!l.password.is_inline());
    }
}
