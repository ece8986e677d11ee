//! The MariaDB/MySQL backend end to end: the real binary against a real
//! server (`MEX2FA_TEST_MYSQL_URL`, a user who may create databases and
//! users; scripts/test starts one), each test in a database of its own.
//! What MariaDB adds to the SQLite guarantees: collations that make two
//! names one, engines that cannot roll back, row locks held by the app,
//! affected-row counts, TLS.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::util::*;
use assert_cmd::Command;
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, Value};
use tempfile::TempDir;

/// The server the tests use; a missing one fails the test with what to do.
fn admin_url() -> String {
    std::env::var("MEX2FA_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!(
            "MEX2FA_TEST_MYSQL_URL is not set: run scripts/test (it starts a throwaway MariaDB), \
             or install mariadb-server and set it to mysql://USER:PASSWORD@HOST:PORT/mysql \
             for a user who may create databases and users"
        )
    })
}

/// The admin URL with another database in its path.
fn url_for(database: &str) -> String {
    let url = admin_url();
    let base = url.split('?').next().unwrap_or(&url);
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{database}")
}

fn connect(url: &str) -> Conn {
    let opts = mysql::Opts::from_url(url).expect("a mysql:// URL");
    Conn::new(OptsBuilder::from_opts(opts).prefer_socket(false))
        .expect("connect to the test server")
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A database of the test's own, dropped at the end, and a temp dir for
/// key files and backups.
struct Db {
    name: String,
    admin: Conn,
    dir: TempDir,
}

impl Db {
    fn new(schema: &[&str]) -> Db {
        let name = format!(
            "mex2fa_t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = connect(&admin_url());
        admin
            .query_drop(format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .query_drop(format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
            ))
            .unwrap();
        admin.query_drop(format!("USE {name}")).unwrap();
        for sql in schema {
            admin.query_drop(sql).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        write_mode(&dir.path().join("key2"), &format!("{KEY2}\n"), 0o600);
        Db { name, admin, dir }
    }

    /// The app's table as MariaDB deployments declare it, with alice, bob
    /// and carol.
    fn app() -> Db {
        Db::new(&[
            "CREATE TABLE account (accountid INT AUTO_INCREMENT PRIMARY KEY,
                 username VARCHAR(255) NOT NULL UNIQUE, email VARCHAR(255), password VARCHAR(255),
                 twofa_enabled BOOLEAN NOT NULL DEFAULT 0, twofa_secret BLOB) ENGINE=InnoDB",
            "INSERT INTO account (username) VALUES ('alice'), ('bob'), ('carol')",
        ])
    }

    fn url(&self) -> String {
        url_for(&self.name)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with a cleared environment, pointed at this database.
    fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("USER", "tester")
            .env("MEX2FA_DB", self.url())
            .env("TWOFA_MASTER_KEY", KEY)
            .current_dir(self.dir.path())
            .write_stdin("");
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd().args(args).output().expect("run mex2fa")
    }

    fn rows(&mut self, sql: &str) -> Vec<Vec<Value>> {
        let rows: Vec<mysql::Row> = self.admin.exec(sql, ()).unwrap();
        rows.into_iter().map(mysql::Row::unwrap).collect()
    }

    fn count(&mut self, sql: &str) -> i64 {
        mysql::from_value(self.rows(sql)[0][0].clone())
    }

    /// Whether one of mex2fa's own tables exists.
    fn has_table(&mut self, table: &str) -> bool {
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{table}'",
            self.name
        );
        self.count(&sql) == 1
    }

    /// Everything in the accounts table, to prove a refused command changed nothing.
    fn accounts(&mut self) -> Vec<Vec<Value>> {
        self.rows("SELECT * FROM account ORDER BY 1")
    }

    /// Enrolls and confirms `user`; returns the secret.
    fn enable(&self, user: &str) -> String {
        let out = self.run(&["enroll", user, "--json", "--show-secret", "--no-qr"]);
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let secret = doc["secret"].as_str().unwrap().to_string();
        avoid_step_end();
        assert_ok(&self.run(&["confirm", user, "--code", &totp_now(&secret)]));
        secret
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self
            .admin
            .query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.clone(),
        other => panic!("expected bytes, found {other:?}"),
    }
}

#[test]
fn enroll_confirm_verify_and_rotate_as_the_app_reads_them() {
    let mut db = Db::app();
    let secret = db.enable("alice");
    let row = db.rows("SELECT twofa_enabled, twofa_secret FROM account WHERE username = 'alice'");
    assert_eq!(row[0][0], Value::Int(1));
    let token = String::from_utf8(bytes(&row[0][1])).unwrap();
    assert!(token.starts_with("gAAAAA"), "{token}");
    assert_eq!(
        fernet_plaintext(KEY, &token).as_deref(),
        Some(secret.as_str())
    );
    assert_eq!(
        py_decrypt(&python(), KEY, &[&token]),
        vec![Some(secret.clone())]
    );
    avoid_step_end();
    assert_ok(&db.run(&["verify", "alice", "--code", &totp_now(&secret)]));
    assert_code(
        &db.run(&["verify", "alice", "--code", &wrong_code(&secret)]),
        1,
    );
    // A pending enrollment rotates with the rest.
    assert_ok(&db.run(&["enroll", "bob", "--no-qr"]));
    let backup = db.path("backup");
    let out = db.run(&[
        "rotate-key",
        "--new-key-file",
        "key2",
        "--backup",
        backup.to_str().unwrap(),
        "--yes",
        "--json",
    ]);
    assert_ok(&out);
    let row = db.rows("SELECT twofa_secret FROM account WHERE username = 'alice'");
    let rotated = String::from_utf8(bytes(&row[0][0])).unwrap();
    assert_eq!(
        fernet_plaintext(KEY2, &rotated).as_deref(),
        Some(secret.as_str())
    );
    let pending = db.rows("SELECT secret_token FROM mex2fa_pending");
    assert!(fernet_plaintext(KEY2, &String::from_utf8(bytes(&pending[0][0])).unwrap()).is_some());
    // Restored twice (under the old key): the first puts every token back;
    // the second finds no row still holding what the rotation wrote.
    for (restored, skipped) in [(2, 0), (0, 2)] {
        let out = db.run(&[
            "restore",
            "--backup",
            backup.to_str().unwrap(),
            "--yes",
            "--json",
        ]);
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["restored"], restored, "{doc}");
        assert_eq!(doc["skipped"], skipped, "{doc}");
    }
    let row = db.rows("SELECT twofa_secret FROM account WHERE username = 'alice'");
    assert_eq!(bytes(&row[0][0]), token.as_bytes());
    assert_ok(&db.run(&["doctor"]));
}

#[test]
fn a_name_that_matches_several_accounts_under_its_collation_is_refused_and_listed() {
    let mut db = Db::new(&[
        "CREATE TABLE account (accountid INT PRIMARY KEY, username VARCHAR(64) COLLATE utf8mb4_general_ci,
             twofa_enabled TINYINT(1) DEFAULT 0, twofa_secret BLOB) ENGINE=InnoDB",
        "INSERT INTO account (accountid, username) VALUES (1, 'alice'), (7, 'ALICE'), (9, 'Zoë')",
    ]);
    let before = db.accounts();
    let out = db.run(&["enroll", "alice", "--no-qr"]);
    let line = one_line(&out, 3);
    assert!(line.contains("'alice' (id 1), 'ALICE' (id 7)"), "{line}");
    assert!(line.contains("utf8mb4_general_ci"), "{line}");
    assert_eq!(db.accounts(), before);
    assert!(!db.has_table("mex2fa_pending"));
    // One match under the collation is the account, as the app finds it.
    assert_ok(&db.run(&["enroll", "zoe", "--no-qr"]));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM mex2fa_pending WHERE account_id = 9"),
        1
    );
}

#[test]
fn a_table_that_cannot_roll_back_is_refused_before_anything_is_written() {
    for engine in ["MyISAM", "Aria", "MEMORY"] {
        let secret = if engine == "MEMORY" {
            "VARBINARY(255)"
        } else {
            "BLOB"
        };
        let mut db = Db::new(&[
            &format!(
                "CREATE TABLE account (accountid INT PRIMARY KEY, username VARCHAR(64),
                     twofa_enabled INT DEFAULT 0, twofa_secret {secret}) ENGINE={engine}"
            ),
            "INSERT INTO account (accountid, username) VALUES (1, 'alice')",
        ]);
        let before = db.accounts();
        let line = one_line(&db.run(&["enroll", "alice", "--no-qr"]), 5);
        assert!(
            line.contains(engine) && line.contains("roll back"),
            "{line}"
        );
        assert_eq!(db.accounts(), before);
        assert!(!db.has_table("mex2fa_pending"), "{engine}: nothing created");
        // Reading is harmless.
        assert_ok(&db.run(&["status"]));
    }
}

#[test]
fn a_row_lock_held_by_the_app_times_out_naming_its_session() {
    let mut db = Db::app();
    db.enable("alice");
    let before = db.accounts();
    let mut app = connect(&db.url());
    app.query_drop("BEGIN").unwrap();
    app.query_drop("SELECT * FROM account WHERE username = 'alice' FOR UPDATE")
        .unwrap();
    let started = std::time::Instant::now();
    let out = db.run(&[
        "rotate-key",
        "--new-key-file",
        "key2",
        "--yes",
        "--busy-timeout",
        "1000",
    ]);
    let line = one_line(&out, 5);
    assert!(
        line.contains(&format!("held by connection {}", app.connection_id())),
        "{line}"
    );
    assert!(line.contains("--busy-timeout"), "{line}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    app.query_drop("ROLLBACK").unwrap();
    assert_eq!(db.accounts(), before);
}

#[test]
fn a_user_without_update_is_refused_before_anything_is_written() {
    let mut db = Db::app();
    let user = format!("{}_ro", db.name);
    db.admin
        .query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'ro-pw'"))
        .unwrap();
    db.admin
        .query_drop(format!("GRANT SELECT ON {}.* TO '{user}'@'%'", db.name))
        .unwrap();
    let url = db.url();
    let (scheme_auth, rest) = url.split_once('@').unwrap();
    let (scheme, _) = scheme_auth.split_once("://").unwrap();
    let ro_url = format!("{scheme}://{user}@{rest}");
    let out = db
        .cmd()
        .env("MEX2FA_DB", &ro_url)
        .env("MEX2FA_DB_PASSWORD", "ro-pw")
        .args(["enroll", "alice", "--no-qr"])
        .output()
        .unwrap();
    let line = one_line(&out, 5);
    assert!(line.contains("may not update table 'account'"), "{line}");
    assert!(!db.has_table("mex2fa_pending"));
    // Reading needs no more than SELECT.
    let out = db
        .cmd()
        .env("MEX2FA_DB", &ro_url)
        .env("MEX2FA_DB_PASSWORD", "ro-pw")
        .args(["status"])
        .output()
        .unwrap();
    assert_ok(&out);
    let _ = db.admin.query_drop(format!("DROP USER '{user}'@'%'"));
}

#[test]
fn a_wrong_password_is_one_line_and_never_printed() {
    let db = Db::app();
    let url = db.url();
    let (scheme_auth, rest) = url.split_once('@').unwrap();
    let user = scheme_auth
        .split_once("://")
        .unwrap()
        .1
        .split(':')
        .next()
        .unwrap();
    let out = db
        .cmd()
        .env("MEX2FA_DB", format!("mysql://{user}@{rest}"))
        .env("MEX2FA_DB_PASSWORD", "not-the-password-0xq")
        .args(["status"])
        .output()
        .unwrap();
    let line = one_line(&out, 5);
    assert!(line.contains("refused the password"), "{line}");
    assert!(!line.contains("not-the-password-0xq"), "{line}");
    // A password inside a --db URL on the command line is refused (exit 2).
    let out = db.cmd().args(["status", "--db", &url]).output().unwrap();
    one_line(&out, 2);
}

#[test]
fn text_tokens_unsigned_ids_and_bit_flags() {
    let mut db = Db::new(&[
        "CREATE TABLE Accounts (AccountID BIGINT UNSIGNED PRIMARY KEY,
             UserName VARCHAR(64) COLLATE utf8mb4_bin NOT NULL, TwoFA_Enabled BIT(1),
             TwoFA_Secret VARCHAR(255)) ENGINE=InnoDB",
        "INSERT INTO Accounts VALUES (9223372036854775807, 'max', b'0', NULL), (1, 'one', NULL, NULL), (2, 'ONE', b'0', NULL)",
    ]);
    let table = format!("{}.accounts", db.name);
    let mapped = |mut c: Command| {
        c.env("MEX2FA_TABLE", &table)
            .env("MEX2FA_ID_COLUMN", "accountid")
            .env("MEX2FA_USER_COLUMN", "username")
            .env("MEX2FA_ENABLED_COLUMN", "twofa_enabled")
            .env("MEX2FA_SECRET_COLUMN", "twofa_secret");
        c
    };
    for user in ["max", "one", "ONE"] {
        let out = mapped(db.cmd())
            .args(["enroll", user, "--json", "--show-secret", "--no-qr"])
            .output()
            .unwrap();
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let secret = doc["secret"].as_str().unwrap().to_string();
        avoid_step_end();
        let out = mapped(db.cmd())
            .args(["confirm", user, "--code", &totp_now(&secret)])
            .output()
            .unwrap();
        assert_ok(&out);
    }
    let rows =
        db.rows("SELECT AccountID, TwoFA_Enabled + 0, TwoFA_Secret FROM Accounts ORDER BY 1");
    for r in &rows {
        assert_eq!(r[1], Value::Int(1), "{r:?}");
        assert!(fernet_plaintext(KEY, &String::from_utf8(bytes(&r[2])).unwrap()).is_some());
    }
    let out = mapped(db.cmd())
        .args(["rotate-key", "--new-key-file", "key2", "--yes", "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    // An id past what an i64 holds is named, and nothing is changed.
    db.admin
        .query_drop(format!(
            "INSERT INTO {}.Accounts VALUES (18446744073709551615, 'huge', b'1', 'x')",
            db.name
        ))
        .unwrap();
    let before = db.rows("SELECT * FROM Accounts ORDER BY 1");
    let out = mapped(db.cmd())
        .env("TWOFA_MASTER_KEY", KEY2)
        .args([
            "rotate-key",
            "--new-key-file",
            "key2",
            "--old-key-file",
            "key2",
            "--yes",
        ])
        .output()
        .unwrap();
    let line = one_line(&out, 5);
    assert!(line.contains("18446744073709551615"), "{line}");
    assert_eq!(db.rows("SELECT * FROM Accounts ORDER BY 1"), before);
}

#[test]
fn tls_modes_as_libpq_means_them() {
    let db = Db::app();
    let ca = std::env::var("MEX2FA_TEST_MYSQL_CA").unwrap_or_else(|_| {
        panic!("MEX2FA_TEST_MYSQL_CA is not set: the CA of the test server (scripts/test sets it)")
    });
    let with = |query: &str| {
        db.cmd()
            .env("MEX2FA_DB", format!("{}?{query}", db.url()))
            .args(["status"])
            .output()
            .unwrap()
    };
    assert_ok(&with("ssl-mode=require"));
    assert_ok(&with(&format!("ssl-mode=verify-full&ssl-ca={ca}")));
    assert_ok(&with(&format!("sslmode=verify-ca&sslrootcert={ca}")));
    let line = one_line(&with("ssl-mode=verify-full"), 5);
    assert!(line.contains("not signed by a trusted authority"), "{line}");
    let line = one_line(&with("ssl-mode=sometimes"), 2);
    assert!(line.contains("ssl-mode"), "{line}");
}
