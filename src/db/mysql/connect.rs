//! Connecting to MariaDB or MySQL: TLS through rustls with libpq's
//! `sslmode` meanings, the session set up as mex2fa needs it, and every way
//! a connection fails turned into one line that says which (never with the
//! password).

use std::time::Duration;

use mysql::consts::CapabilityFlags;
use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, OptsBuilder, SslOpts};

use super::location::{Location, SslMode};
use crate::db::Setting;
use crate::db::causes;
use crate::error::{Error, Result};

/// Opens a session as `location` says, in strict mode and utf8mb4, with
/// `busy` as the wait for every kind of lock.
pub fn connect(location: &Location, busy: Duration) -> Result<Conn> {
    let mode = if location.socket.is_some() {
        // As the MariaDB and MySQL clients: no TLS over a Unix socket.
        SslMode::Disable
    } else {
        location.sslmode
    };
    if let Some(path) = &location.sslrootcert
        && mode != SslMode::Disable
    {
        check_root(path)?;
    }
    let ssl = match mode {
        SslMode::Disable => None,
        // Encrypted, the certificate not checked (libpq's meaning).
        SslMode::Prefer | SslMode::Require => {
            Some(SslOpts::default().with_danger_accept_invalid_certs(true))
        }
        SslMode::VerifyCa => Some(
            SslOpts::default()
                .with_root_cert_path(location.sslrootcert.clone())
                .with_danger_skip_domain_validation(true),
        ),
        SslMode::VerifyFull => {
            Some(SslOpts::default().with_root_cert_path(location.sslrootcert.clone()))
        }
    };
    let attrs = std::collections::HashMap::from([("program_name", "mex2fa")]);
    let base = OptsBuilder::new()
        .user(location.user.clone())
        .pass(location.password.get().map(str::to_string))
        .db_name(location.dbname.clone())
        // The driver would otherwise switch a loopback connection to the
        // server's socket on its own; the URL says where to connect.
        .prefer_socket(false)
        .tcp_connect_timeout(Some(location.connect_timeout))
        // Rows matched, not rows changed, in affected-row counts: the verbs
        // compare them with what they meant to write, and a rewrite that
        // leaves a value as it was still counts.
        .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS)
        .connect_attrs(Some(attrs))
        .init(session_setup(busy));
    let base = match &location.socket {
        Some(path) => base.socket(Some(path.to_string_lossy().into_owned())),
        None => base
            .ip_or_hostname(Some(
                location.host.clone().unwrap_or_else(|| "localhost".into()),
            ))
            .tcp_port(location.port.unwrap_or(super::location::DEFAULT_PORT)),
    };
    let conn = match Conn::new(base.clone().ssl_opts(ssl)) {
        // `prefer`: plain when the server offers no TLS at all.
        Err(mysql::Error::DriverError(DriverError::TlsNotSupported)) if mode == SslMode::Prefer => {
            Conn::new(base.ssl_opts(None::<SslOpts>))
        }
        other => other,
    };
    let mut conn = conn.map_err(|e| connect_error(location, mode, &e))?;
    // The init statements ran; a server that ignored them is refused here
    // rather than trusted with a write.
    let mode_now: Option<String> = conn
        .query_first("SELECT @@SESSION.sql_mode")
        .map_err(|e| connect_error(location, mode, &e))?;
    if !mode_now.is_some_and(|m| m.split(',').any(|f| f == "STRICT_ALL_TABLES")) {
        return Err(Error::db(format!(
            "the server at {} did not accept strict SQL mode for this session; nothing was changed",
            location.host_shown()
        )));
    }
    Ok(conn)
}

/// The statements that set a session up: utf8mb4 so that any username
/// matches; strict mode so that a value that does not fit is an error, not
/// a silent truncation; no ANSI_QUOTES (names are quoted with backticks);
/// and `busy` as the wait for row locks (InnoDB) and for table locks
/// (metadata), in whole seconds as the server takes them.
fn session_setup(busy: Duration) -> Vec<String> {
    let secs = busy.as_millis().div_ceil(1000).clamp(1, 31_536_000);
    vec![
        "SET NAMES utf8mb4".to_string(),
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'"
            .to_string(),
        format!("SET SESSION innodb_lock_wait_timeout = {secs}, lock_wait_timeout = {secs}"),
    ]
}

/// A CA file named by `ssl-ca` must be readable and hold a certificate;
/// said here, before the driver reads it, so the message names it.
fn check_root(path: &std::path::Path) -> Result<()> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::setting(
            Setting::Location,
            format!("cannot read the ssl-ca (sslrootcert) file {shown}: {e}"),
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    if bytes.is_empty() || (text.contains("-----BEGIN") && !text.contains("CERTIFICATE-----")) {
        return Err(Error::setting(
            Setting::Location,
            format!("the ssl-ca (sslrootcert) file {shown} holds no certificate"),
        ));
    }
    Ok(())
}

/// Why a connection failed, in one line that says what to check.
fn connect_error(location: &Location, mode: SslMode, e: &mysql::Error) -> Error {
    let host = location.host_shown();
    let user = location.user.as_deref().unwrap_or("");
    let dbname = location.dbname.as_deref().unwrap_or("");
    if let mysql::Error::MySqlError(db) = e {
        let message = crate::ui::escape(&db.message).into_owned();
        return match db.code {
            // ER_ACCESS_DENIED_ERROR; ER_ACCESS_DENIED_NO_PASSWORD_ERROR
            // (an account authenticated by the Unix user, e.g. root).
            1045 | 1698 if location.password.get().is_none() => Error::setting(
                Setting::Password,
                format!(
                    "the server at {host} does not let user '{user}' in without a password, and none was given"
                ),
            ),
            1045 | 1698 if mode == SslMode::Disable => Error::setting(
                Setting::Password,
                format!(
                    "the server at {host} refused the login of user '{user}': a wrong password, or an account that requires TLS, which ssl-mode=disable turns off"
                ),
            ),
            1045 | 1698 => Error::setting(
                Setting::Password,
                format!("the server at {host} refused the password of user '{user}'"),
            ),
            // ER_DBACCESS_DENIED_ERROR
            // The server does not say whether such a database exists to a
            // user who may not see it.
            1044 => Error::setting(
                Setting::Location,
                format!(
                    "the server at {host} has no database '{dbname}' that user '{user}' may use; check the name, or GRANT the user privileges on it (as an administrator)"
                ),
            ),
            // ER_BAD_DB_ERROR
            1049 => Error::setting(
                Setting::Location,
                format!("there is no database '{dbname}' on the server at {host}"),
            ),
            // ER_HOST_NOT_PRIVILEGED, ER_HOST_IS_BLOCKED
            1129 | 1130 => Error::db(format!(
                "the server at {host} does not let this machine in: {message}"
            )),
            // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS
            1040 | 1203 => Error::db(format!(
                "the server at {host} has too many connections open; try again later"
            )),
            code => Error::db(format!(
                "the server at {host} refused the connection: {message} ({code})"
            )),
        };
    }
    let all = causes(e).join(": ");
    let lower = all.to_ascii_lowercase();
    let why = match e {
        mysql::Error::DriverError(DriverError::TlsNotSupported) => format!(
            "the server at {host} does not offer TLS, which ssl-mode={} requires",
            mode.name()
        ),
        mysql::Error::DriverError(DriverError::ConnectTimeout) => {
            format!("connecting to {host} timed out")
        }
        _ if lower.contains("failed to lookup address")
            || lower.contains("name or service not known")
            || lower.contains("no address associated")
            || lower.contains("temporary failure in name resolution") =>
        {
            format!("the host of {host} cannot be resolved; check its spelling")
        }
        mysql::Error::DriverError(DriverError::CouldNotConnect(Some((_, _, kind)))) => match kind {
            std::io::ErrorKind::ConnectionRefused if location.socket.is_some() => format!(
                "nothing accepts connections on {host} (connection refused); is the server running?"
            ),
            std::io::ErrorKind::ConnectionRefused => format!(
                "nothing accepts connections at {host} (connection refused); is the server running there?"
            ),
            std::io::ErrorKind::NotFound => format!(
                "there is no socket at {}; check the socket= path (SHOW VARIABLES LIKE 'socket' on the server tells)",
                location
                    .socket
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("this user may not open {host} (permission denied)")
            }
            std::io::ErrorKind::TimedOut => format!("connecting to {host} timed out"),
            _ => format!(
                "cannot connect to the server at {host}: {}",
                crate::ui::escape(&all)
            ),
        },
        _ if lower.contains("notvalidforname") || lower.contains("not valid for name") => format!(
            "the TLS certificate of the server at {host} is not valid for that host name (ssl-mode=verify-full); connect by a name the certificate holds, or use ssl-mode=verify-ca"
        ),
        _ if lower.contains("unknownissuer")
            || lower.contains("unknown issuer")
            || lower.contains("invalid peer certificate")
            || lower.contains("invalidcertificate") =>
        {
            format!(
                "the TLS certificate of the server at {host} is not signed by a trusted authority (ssl-mode={}); pass the CA as ssl-ca=PATH in the URL",
                mode.name()
            )
        }
        _ if lower.contains("timed out") => format!("connecting to {host} timed out"),
        _ if lower.contains("unexpected eof")
            || lower.contains("connection reset")
            || lower.contains("broken pipe") =>
        {
            format!(
                "the server at {host} closed the connection during the handshake (is it a MariaDB or MySQL server, and does it accept ssl-mode={}?)",
                mode.name()
            )
        }
        _ => format!(
            "cannot connect to the server at {host}: {}",
            crate::ui::escape(&all)
        ),
    };
    Error::setting(Setting::Location, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_waits_are_whole_seconds_at_least_one() {
        let has = |ms: u64, secs: u64| {
            session_setup(Duration::from_millis(ms)).iter().any(|s| {
                s.ends_with(&format!(
                    "innodb_lock_wait_timeout = {secs}, lock_wait_timeout = {secs}"
                ))
            })
        };
        assert!(has(0, 1));
        assert!(has(1, 1));
        assert!(has(1000, 1));
        assert!(has(1001, 2));
        assert!(has(5000, 5));
        assert!(has(u64::MAX, 31_536_000));
    }

    #[test]
    fn the_session_is_strict_and_never_ansi_quoted() {
        let setup = session_setup(Duration::from_secs(5));
        let mode = setup.iter().find(|s| s.contains("sql_mode")).unwrap();
        assert!(mode.contains("STRICT_ALL_TABLES"));
        assert!(!mode.contains("ANSI"));
        assert!(setup.iter().any(|s| s == "SET NAMES utf8mb4"));
    }
}
