//! A MariaDB or MySQL server's location, read from the URL form the app's
//! developers use with PyMySQL and SQLAlchemy:
//! `mysql://` or `mariadb://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAM=VALUE&…]`,
//! with `socket=PATH` for a Unix socket. Parsed here rather than by the
//! driver so that each mistake gets its own message, the password is kept
//! apart (and wiped), and `ssl-mode` has libpq's `sslmode` meanings.

use std::path::PathBuf;
use std::time::Duration;

use crate::db::url;
pub use crate::db::url::SslMode;
use crate::error::{Error, Result};

/// Where a MariaDB or MySQL server is and how to reach it.
pub struct Location {
    pub user: Option<String>,
    pub password: url::Password,
    /// A host name or address (None: localhost).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// A Unix socket's path, used instead of TCP.
    pub socket: Option<PathBuf>,
    pub dbname: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// The port MariaDB and MySQL listen on unless told otherwise.
pub const DEFAULT_PORT: u16 = 3306;

const SCHEME: &str = "mysql://";

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
            socket: None,
            dbname: u.dbname,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            connect_timeout: Duration::from_secs(10),
        };
        for (k, v) in u.params {
            match k.replace('_', "-").as_str() {
                "ssl-mode" | "sslmode" => {
                    loc.sslmode = SslMode::from_mysql(&v).ok_or_else(|| {
                        bad(format!(
                            "ssl-mode '{}' is not one of disable, prefer, require, verify-ca, verify-full",
                            crate::ui::escape(&v)
                        ))
                    })?;
                }
                "ssl-ca" | "sslrootcert" => loc.sslrootcert = Some(PathBuf::from(v)),
                "socket" | "unix-socket" => {
                    if !v.starts_with('/') {
                        return Err(bad(format!(
                            "socket '{}' is not an absolute path",
                            crate::ui::escape(&v)
                        )));
                    }
                    loc.socket = Some(PathBuf::from(v));
                }
                "connect-timeout" => loc.connect_timeout = url::timeout(SCHEME, &v)?,
                _ => {
                    return Err(bad(format!(
                        "the parameter '{}' is not one mex2fa takes (socket, ssl-mode, ssl-ca, connect_timeout)",
                        crate::ui::escape(&k)
                    )));
                }
            }
        }
        if loc.user.is_none() {
            return Err(bad("it names no user (mysql://USER@HOST/DBNAME)"));
        }
        if loc.dbname.is_none() {
            return Err(bad("it names no database (mysql://USER@HOST/DBNAME)"));
        }
        Ok(loc)
    }

    /// The host as messages show it.
    pub fn host_shown(&self) -> String {
        match &self.socket {
            Some(path) => format!("the socket {}", crate::ui::escape(&path.to_string_lossy())),
            None => {
                let host = self.host.as_deref().unwrap_or("localhost");
                let port = self.port.unwrap_or(DEFAULT_PORT);
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            }
        }
    }

    /// The location as messages show it: never with the password.
    pub fn shown(&self) -> String {
        format!(
            "MariaDB/MySQL database '{}' as '{}' on {}",
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
            "mariadb://app%40corp:s%3Acret@db.example:3307/mex?ssl-mode=verify-full&ssl-ca=/ca.pem",
        )
        .unwrap();
        assert_eq!(l.user.as_deref(), Some("app@corp"));
        assert_eq!(l.password.get(), Some("s:cret"));
        assert!(l.password.is_inline());
        assert_eq!(l.host.as_deref(), Some("db.example"));
        assert_eq!(l.port, Some(3307));
        assert_eq!(l.dbname.as_deref(), Some("mex"));
        assert_eq!(l.sslmode, SslMode::VerifyFull);
        assert_eq!(
            l.sslrootcert.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert!(!l.shown().contains("s:cret"));
        assert_eq!(l.host_shown(), "db.example:3307");
    }

    #[test]
    fn defaults() {
        let l = Location::parse("mysql://app@h/mex").unwrap();
        assert_eq!(l.sslmode, SslMode::Prefer);
        assert_eq!(l.port, None);
        assert_eq!(l.host_shown(), "h:3306");
        assert!(!l.password.is_inline());
        assert_eq!(l.password.get(), None);
    }

    #[test]
    fn spellings_of_the_tls_mode() {
        for (query, mode) in [
            ("sslmode=disable", SslMode::Disable),
            ("ssl-mode=DISABLED", SslMode::Disable),
            ("ssl_mode=require", SslMode::Require),
            ("ssl-mode=REQUIRED", SslMode::Require),
            ("ssl-mode=verify-ca", SslMode::VerifyCa),
            ("ssl-mode=VERIFY_CA", SslMode::VerifyCa),
            ("ssl-mode=VERIFY_IDENTITY", SslMode::VerifyFull),
            ("sslmode=verify-full", SslMode::VerifyFull),
            ("sslmode=prefer", SslMode::Prefer),
        ] {
            let l = Location::parse(&format!("mysql://u@h/d?{query}")).unwrap();
            assert_eq!(l.sslmode, mode, "{query}");
        }
        let l = Location::parse("mysql://u@h/d?sslrootcert=/r.pem").unwrap();
        assert_eq!(
            l.sslrootcert.as_deref(),
            Some(std::path::Path::new("/r.pem"))
        );
    }

    #[test]
    fn socket_and_ipv6() {
        let l = Location::parse("mysql://u@/mex?socket=%2Frun%2Fmysqld%2Fmysqld.sock").unwrap();
        assert_eq!(
            l.socket.as_deref(),
            Some(std::path::Path::new("/run/mysqld/mysqld.sock"))
        );
        assert_eq!(l.host_shown(), "the socket /run/mysqld/mysqld.sock");
        let l = Location::parse("mysql://u@localhost/mex?socket=/tmp/m.sock").unwrap();
        assert!(l.socket.is_some());
        let l = Location::parse("mysql://u@[::1]:3307/mex").unwrap();
        assert_eq!(l.host.as_deref(), Some("::1"));
        assert_eq!(l.port, Some(3307));
        assert_eq!(l.host_shown(), "[::1]:3307");
    }

    #[test]
    fn mistakes_are_named() {
        for (url, says) in [
            ("mysql://u@h:99999/d", "port"),
            ("mysql://u@h:0/d", "port"),
            ("mysql://u@h:x/d", "port"),
            ("mysql://u@h/d?ssl-mode=maybe", "ssl-mode"),
            ("mysql://u@h/d?colour=red", "colour"),
            ("mysql://u@h/d?socket", "no value"),
            ("mysql://u@h/d?socket=run/m.sock", "absolute"),
            ("mysql://u@h/d?connect_timeout=0", "connect_timeout"),
            ("mysql://h/d", "no user"),
            ("mysql://u@h", "no database"),
            ("mysql://u@h/", "no database"),
            ("mysql://u@h/a/b", "'/'"),
            ("mysql://u@h1,h2/d", "several hosts"),
            ("mysql://u@h/d%zz", "hex"),
            ("mysql://u@h/d%ff", "UTF-8"),
            ("mysql://u@[::1/d", "IPv6"),
            ("mysql://u@h/d b", "spaces"),
        ] {
            let e = Location::parse(url).err().unwrap();
            assert!(matches!(e, Error::Usage(_)), "{url}: exit 2 expected");
            let e = e.to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(e.starts_with("malformed mysql:// URL"), "{url}: {e}");
        }
    }

    #[test]
    fn a_password_is_never_shown() {
        let l = Location::parse("mysql://u:hunter2@h/d").unwrap();
        assert!(!l.shown().contains("hunter2"));
        assert!(!l.host_shown().contains("hunter2"));
        let e = Location::parse("mysql://u:hunter2@h/d?bad=1")
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn an_outside_password_does_not_replace_the_urls() {
        let mut l = Location::parse("mysql://u:inline@h/d").unwrap();
        l.password.set(Zeroizing::new("other".into()));
        assert_eq!(l.password.get(), Some("inline"));
        let mut l = Location::parse("mysql://u@h/d").unwrap();
        l.password.set(Zeroizing::new("other".into()));
        assert_eq!(l.password.get(), Some("other"));
        assert!(!l.password.is_inline());
        let l = Location::parse("mysql://u@h/d?password=p").unwrap();
        assert!(l.password.is_inline());
    }
}
