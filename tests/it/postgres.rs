//! What only a server has: where it is, who may log in, TLS. Each mistake is
//! one line on stderr with its exit code (2 for a malformed location, 5 for
//! a server that cannot be used), never the password, and nothing changed.
//! The server is the throwaway PostgreSQL `scripts/test` starts; the TLS
//! refusals no real server gives come from small servers made here.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use crate::util::backend::{Backend, Db, Shape};
use crate::util::*;

fn pg() -> Db {
    Db::new(Backend::Postgres, Shape::APP)
}

/// `mex2fa status` at `url`, with `password` in MEX2FA_DB_PASSWORD.
fn status_at(db: &Db, url: &str, password: Option<&str>) -> std::process::Output {
    let mut c = db.bare();
    c.env("MEX2FA_DB", url)
        .env("TWOFA_MASTER_KEY", KEY)
        .args(["status"]);
    if let Some(p) = password {
        c.env("MEX2FA_DB_PASSWORD", p);
    }
    c.output().unwrap()
}

/// The parts of the test server's URL.
fn parts() -> (String, String, u16) {
    let url = std::env::var("MEX2FA_TEST_PG_URL")
        .expect("MEX2FA_TEST_PG_URL is not set: run scripts/test");
    let config: postgres::Config = url.parse().unwrap();
    (
        config.get_user().unwrap().to_string(),
        String::from_utf8(config.get_password().unwrap().to_vec()).unwrap(),
        config.get_ports()[0],
    )
}

fn assert_refused(out: &std::process::Output, code: i32, says: &str, secret: &str) {
    let line = one_line(out, code);
    assert!(line.contains(says), "expected {says:?} in: {line}");
    assert!(!line.contains(secret), "the password was shown: {line}");
}

#[test]
fn credentials_and_locations_that_cannot_work() {
    let db = pg();
    let before = db.dump();
    let (user, password, port) = parts();
    let ca = std::env::var("MEX2FA_TEST_PG_CA").unwrap();
    let at = |host: &str, dbname: &str, query: &str| {
        format!("postgres://{user}@{host}:{port}/{dbname}{query}")
    };
    let name = db.name().to_string();
    let wrong = "not-the-password-4711";

    // The password refused, missing, or right.
    let out = status_at(&db, &at("127.0.0.1", &name, ""), Some(wrong));
    assert_refused(&out, 5, "refused the password of user", wrong);
    assert!(stderr(&out).contains("MEX2FA_DB_PASSWORD"));
    let out = status_at(&db, &at("127.0.0.1", &name, ""), None);
    assert_refused(&out, 5, "none was given", &password);
    let out = status_at(&db, &at("127.0.0.1", &name, ""), Some(&password));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains(&password) && !stderr(&out).contains(&password));

    // From a file, first line only.
    let file = db.path("pw");
    write_mode(&file, &format!("{password}\nignored\n"), 0o600);
    let out = db
        .bare()
        .env("MEX2FA_DB", at("127.0.0.1", &name, ""))
        .args(["--db-password-file", file.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Nobody there, no such host, no such database, over a socket.
    let out = status_at(
        &db,
        &format!("postgres://{user}@127.0.0.1:1/{name}"),
        Some(&password),
    );
    assert_refused(&out, 5, "connection refused", &password);
    let out = status_at(
        &db,
        &format!("postgres://{user}@no-such-host.invalid/{name}"),
        Some(&password),
    );
    assert_refused(&out, 5, "cannot be resolved", &password);
    let out = status_at(
        &db,
        &at("127.0.0.1", "no_such_database", ""),
        Some(&password),
    );
    assert_refused(
        &out,
        5,
        "there is no database 'no_such_database'",
        &password,
    );
    let socket = std::env::var("MEX2FA_TEST_PG_SOCKET").unwrap();
    let out = status_at(
        &db,
        &format!("postgres://{user}@/{name}?host={socket}&port={port}"),
        Some(&password),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "over the socket: {}",
        stderr(&out)
    );

    // TLS: verified against the run's CA by address and by name, or refused
    // when the CA is not the one that signed the server's certificate.
    for host in ["127.0.0.1", "localhost"] {
        let url = at(
            host,
            &name,
            &format!("?sslmode=verify-full&sslrootcert={ca}"),
        );
        let out = status_at(&db, &url, Some(&password));
        assert_eq!(out.status.code(), Some(0), "{host}: {}", stderr(&out));
    }
    let other_ca = db.path("other-ca.pem");
    std::fs::write(&other_ca, Authority::new().ca_pem()).unwrap();
    let url = at(
        "127.0.0.1",
        &name,
        &format!("?sslmode=verify-full&sslrootcert={}", other_ca.display()),
    );
    let out = status_at(&db, &url, Some(&password));
    assert_refused(&out, 5, "not signed by a trusted authority", &password);
    let out = status_at(
        &db,
        &at(
            "127.0.0.1",
            &name,
            "?sslmode=verify-full&sslrootcert=/nonexistent.pem",
        ),
        Some(&password),
    );
    assert_refused(&out, 5, "sslrootcert", &password);

    assert_eq!(
        db.dump(),
        before,
        "a refused connection changed the database"
    );
}

#[test]
fn a_password_on_the_command_line_and_malformed_urls_are_usage_errors() {
    let db = pg();
    let (user, password, port) = parts();
    let before = db.dump();
    let with_password = format!("postgres://{user}:{password}@127.0.0.1:{port}/postgres");
    let out = db
        .bare()
        .env("TWOFA_MASTER_KEY", KEY)
        .args(["--db", &with_password, "status"])
        .output()
        .unwrap();
    assert_refused(&out, 2, "would show in ps", &password);
    // The same form of URL from the environment is accepted.
    let name = db.name().to_string();
    let out = db
        .bare()
        .env(
            "MEX2FA_DB",
            format!("postgres://{user}:{password}@127.0.0.1:{port}/{name}"),
        )
        .args(["status"])
        .output()
        .unwrap();
    assert!(!stdout(&out).contains(&password) && !stderr(&out).contains(&password));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    for (url, says) in [
        ("postgres://u@h:99999/d", "port"),
        ("postgres://u@h/d?sslmode=sometimes", "sslmode"),
        (
            "postgres://u@h/d?options=-csearch_path%3Dx",
            "'options' is not one mex2fa takes",
        ),
        ("postgres://h/d", "names no user"),
        ("postgres://u@h", "names no database"),
        ("postgres://u@h/d%zz", "hex digits"),
        ("mongodb://h/d", "not a database mex2fa knows"),
    ] {
        let out = db
            .bare()
            .env("TWOFA_MASTER_KEY", KEY)
            .args(["--db", url, "status"])
            .output()
            .unwrap();
        let line = one_line(&out, 2);
        assert!(line.contains(says), "{url}: {line}");
    }
    assert_eq!(db.dump(), before);
}

/// A role that may read but not update the table: refused before anything
/// is written, naming the grant that is missing.
#[test]
fn a_role_without_update_is_refused_before_writing() {
    let db = pg();
    let (_, _, port) = parts();
    let role = format!("ro_{}", std::process::id());
    db.sql(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'ro-pass';
         GRANT SELECT ON account TO {role};"
    ));
    let name = db.name().to_string();
    let url = format!("postgres://{role}@127.0.0.1:{port}/{name}");
    let before = db.dump();
    let read = db
        .bare()
        .env("MEX2FA_DB", &url)
        .env("MEX2FA_DB_PASSWORD", "ro-pass")
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(
        read.status.code(),
        Some(0),
        "reading needs only SELECT: {}",
        stderr(&read)
    );
    for args in [
        &["enroll", "alice", "--no-qr"][..],
        &["disable", "--all", "--yes"][..],
    ] {
        let out = db
            .bare()
            .env("MEX2FA_DB", &url)
            .env("MEX2FA_DB_PASSWORD", "ro-pass")
            .env("TWOFA_MASTER_KEY", KEY)
            .args(args)
            .output()
            .unwrap();
        let line = one_line(&out, 5);
        assert!(line.contains("may not update table 'account'"), "{line}");
        assert!(line.contains("GRANT SELECT, UPDATE"), "{line}");
    }
    assert_eq!(db.dump(), before);
    db.sql(&format!("DROP OWNED BY {role}; DROP ROLE {role};"));
}

/// A certificate authority of the test's own, and a server certificate it
/// signed for a name that is not the one connected to.
struct Authority {
    ca: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Authority {
    fn new() -> Authority {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        Authority {
            ca,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for `name`: (certificate DER, key DER).
    fn server(&self, name: &str) -> (Vec<u8>, Vec<u8>) {
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

/// A server that answers PostgreSQL's TLS request with `answer` ('N': no
/// TLS here; 'S': TLS with `cert`), then hangs up.
fn fake_server(answer: u8, cert: Option<(Vec<u8>, Vec<u8>)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut request = [0u8; 8];
        if stream.read_exact(&mut request).is_err() {
            return;
        }
        let _ = stream.write_all(&[answer]);
        if let Some((cert, key)) = cert {
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
            )
            .unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut buf = [0u8; 64];
            let _ = tls.read(&mut buf);
        }
    });
    port
}

#[test]
fn tls_that_is_refused_or_names_another_host() {
    let db = pg();
    // sslmode=require and a server without TLS.
    let port = fake_server(b'N', None);
    let out = status_at(
        &db,
        &format!("postgres://u@127.0.0.1:{port}/d?sslmode=require"),
        Some("pw"),
    );
    assert_refused(
        &out,
        5,
        "does not offer TLS, which sslmode=require requires",
        "pw@",
    );

    // verify-full and a certificate for another name, from a trusted CA.
    let authority = Authority::new();
    let ca = db.path("ca.pem");
    std::fs::write(&ca, authority.ca_pem()).unwrap();
    let port = fake_server(b'S', Some(authority.server("db.example")));
    let out = status_at(
        &db,
        &format!(
            "postgres://u@127.0.0.1:{port}/d?sslmode=verify-full&sslrootcert={}",
            ca.display()
        ),
        Some("pw"),
    );
    assert_refused(&out, 5, "not valid for that host name", "pw@");

    // verify-ca takes the same certificate (the handshake passes; this
    // server then hangs up, which is a different message).
    let port = fake_server(b'S', Some(authority.server("db.example")));
    let out = status_at(
        &db,
        &format!(
            "postgres://u@127.0.0.1:{port}/d?sslmode=verify-ca&sslrootcert={}",
            ca.display()
        ),
        Some("pw"),
    );
    let line = one_line(&out, 5);
    assert!(
        !line.contains("host name") && !line.contains("trusted authority"),
        "verify-ca accepted the chain: {line}"
    );
}

/// The accounts table found through the database's search_path, not named
/// with its schema.
#[test]
fn a_table_on_the_search_path_is_found() {
    let db = Db::new(
        Backend::Postgres,
        Shape {
            schema: Some("app"),
            ..Shape::APP
        },
    );
    let name = db.name().to_string();
    db.sql(&format!(
        "ALTER DATABASE {name} SET search_path = app, public"
    ));
    let out = db
        .cmd()
        .env_remove("MEX2FA_TABLE")
        .args(["--json", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc.as_array().unwrap().len(), 3);
    // Names are matched regardless of case, as SQLite matches them.
    let out = db
        .cmd()
        .args([
            "--table",
            "APP.Account",
            "--user-column",
            "UserName",
            "status",
            "alice",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A token stored as hex text (what psycopg leaves when an app binds Python
/// bytes to a text column): doctor names it, --fix turns it back, and the
/// app logs in with it again.
#[test]
fn doctor_turns_hex_text_back_into_the_token() {
    let db = Db::new(
        Backend::Postgres,
        Shape {
            text_secret: true,
            ..Shape::APP
        },
    );
    let secret = secret_for(5);
    db.app_store(KEY, "alice", &secret);
    db.sql("UPDATE account SET twofa_secret = convert_to(twofa_secret, 'UTF8')::text WHERE username = 'alice'");
    assert!(
        db.value("SELECT twofa_secret FROM account WHERE username = 'alice'")
            .starts_with("\\x67")
    );
    assert!(
        db.app_login(KEY, "alice", &secret).is_err(),
        "the app cannot read hex text"
    );
    let out = db.cmd().args(["--json", "doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"][0]["code"], "hex-token", "{doc}");
    let out = db
        .cmd()
        .args(["--json", "doctor", "--fix", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["fixed"], 1);
    db.app_login(KEY, "alice", &secret)
        .expect("the app reads the token again");
}
