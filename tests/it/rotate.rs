//! `rotate-key` and `restore` end to end: the real binary on real
//! SQLite files (BLOB and TEXT secret columns), checked afterwards with
//! rusqlite, with the independent `fernet` crate and — where the app's word
//! is what counts — with the app's own Python `cryptography` and pyotp.
//!
//! Covered: round trips (every token under the new key, the app's login with
//! the new key, storage types, untouched columns, kept timestamps, pending
//! rows), re-runs, `--dry-run`, refusals with their exit codes, stragglers
//! under two old keys, an undecryptable token aborting with nothing written,
//! backups and `restore`, and SIGKILL at random moments of a rotation.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Instant;

use crate::util::*;
use predicates::prelude::*;
use predicates::str::contains;
use rusqlite::Connection;

/// A token timestamp far in the past (2001-09-09), so that a rotation that
/// stamped tokens with the current time instead of keeping theirs shows.
const OLD_TIME: u64 = 1_000_000_000;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn texts(tokens: &[StoredToken]) -> Vec<&str> {
    tokens.iter().map(|t| t.token.as_str()).collect()
}

fn integrity_ok(db: &Path) {
    let ic: String = Connection::open(db)
        .expect("open")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(ic, "ok");
}

/// Adds accounts (not enrolled) after the harness's alice, bob, carol.
fn add_users(env: &TestEnv, users: &[&str]) {
    let conn = env.conn();
    for u in users {
        conn.execute(
            "INSERT INTO account (username, email, password) VALUES (?1, ?1 || '@example.com', 'pw')",
            [u],
        )
        .expect("insert");
    }
}

/// Stores `token` as `user`'s enabled secret, as a BLOB (the app's form) or TEXT.
fn put_token(env: &TestEnv, user: &str, token: &str, blob: bool) {
    let value = if blob {
        rusqlite::types::Value::Blob(token.as_bytes().to_vec())
    } else {
        rusqlite::types::Value::Text(token.to_string())
    };
    let n = env
        .conn()
        .execute(
            "UPDATE account SET twofa_enabled = 1, twofa_secret = ?1 WHERE username = ?2",
            rusqlite::params![value, user],
        )
        .expect("update");
    assert_eq!(n, 1);
}

/// Without Python: alice enabled through mex2fa, bob enabled with an app-style
/// BLOB token (old timestamp) from the independent `fernet` crate, carol
/// pending. Three tokens: two accounts, one pending. Returns the new key file.
fn basic(schema: &str) -> (TestEnv, PathBuf) {
    let env = TestEnv::with_schema(schema);
    enable_robust(&env, "alice");
    put_token(
        &env,
        "bob",
        &fernet_encrypt_at(KEY, &secret_for(2), OLD_TIME),
        true,
    );
    env.enroll("carol");
    let new_key = env.write_key("new.key", KEY2);
    (env, new_key)
}

fn rotate_args<'a>(new_key: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["rotate-key", "--new-key-file", s(new_key)];
    v.extend_from_slice(extra);
    v
}

// ---------------------------------------------------------------------------
// Round trips, checked by the app's Python.

struct Fixture {
    env: TestEnv,
    new_key: PathBuf,
    /// (user, TOTP secret) of every enabled account.
    enabled: Vec<(&'static str, String)>,
    /// carol's pending secret.
    carol: String,
}

/// alice enabled through mex2fa (column form), bob enabled by the app (Python
/// `bytes`: a BLOB even in a TEXT column), dave a TEXT token from another
/// deployment with an old timestamp, carol pending, erin never enrolled.
fn fixture(schema: &str, python: &Path) -> Fixture {
    let env = TestEnv::with_schema(schema);
    add_users(&env, &["dave", "erin"]);
    let alice = enable_robust(&env, "alice");
    let bob = secret_for(2);
    py(python, &["store", s(&env.db), KEY, "bob", &bob]);
    let dave = secret_for(4);
    put_token(
        &env,
        "dave",
        &fernet_encrypt_at(KEY, &dave, OLD_TIME),
        false,
    );
    let carol = env.enroll("carol");
    let new_key = env.write_key("new.key", KEY2);
    Fixture {
        env,
        new_key,
        enabled: vec![("alice", alice), ("bob", bob), ("dave", dave)],
        carol,
    }
}

fn round_trip(schema: &str, form: &str) {
    let python = python();
    let f = fixture(schema, &python);
    let env = &f.env;
    let before = env.tokens();
    assert_eq!(
        before.iter().map(|t| t.place).collect::<Vec<_>>(),
        ["account", "account", "account", "pending"]
    );
    let others = env.other_columns();
    let plain = py_decrypt(&python, KEY, &texts(&before));
    assert!(plain.iter().all(Option::is_some), "fixture: {plain:?}");

    env.cmd()
        .args(rotate_args(&f.new_key, &["--yes"]))
        .assert()
        .success()
        .stdout(contains(
            "rotated 4 secrets (3 accounts, 1 pending) to the new key; 0 already under it",
        ))
        .stderr(contains("TWOFA_MASTER_KEY"));

    let after = env.tokens();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((a.place, a.id), (b.place, b.id));
        assert_ne!(a.token, b.token, "{} {} not rewritten", a.place, a.id);
        let want = if a.place == "pending" { "text" } else { form };
        assert_eq!(a.sql_type, want, "storage type of {} {}", a.place, a.id);
        assert_eq!(
            token_header(&a.token),
            token_header(&b.token),
            "version and timestamp of {} {} kept",
            a.place,
            a.id
        );
    }
    let dave = &after[2];
    assert_eq!(
        u64::from_be_bytes(token_header(&dave.token)[1..].try_into().unwrap()),
        OLD_TIME
    );
    assert_eq!(env.other_columns(), others, "other columns changed");
    assert_eq!(py_decrypt(&python, KEY2, &texts(&after)), plain);
    assert!(
        py_decrypt(&python, KEY, &texts(&after))
            .iter()
            .all(Option::is_none),
        "a token still opens under the old key"
    );
    integrity_ok(&env.db);

    // The app, restarted with the new key, logs everyone in; with the old key it cannot.
    for (user, secret) in &f.enabled {
        py_login(&python, &env.db, KEY2, user, secret).unwrap();
        assert!(py_login(&python, &env.db, KEY, user, secret).is_err());
    }

    // Re-running is a no-op that says so.
    env.cmd()
        .args(rotate_args(&f.new_key, &["--yes"]))
        .assert()
        .success()
        .stdout(contains(
            "nothing to rotate: 4 tokens already under the new key",
        ));
    assert_eq!(env.tokens(), after);
    assert_eq!(env.other_columns(), others);

    // The rotated pending enrollment confirms under the new key, and the app accepts it.
    confirm_robust(env, KEY2, "carol", &f.carol);
    py_login(&python, &env.db, KEY2, "carol", &f.carol).unwrap();
}

#[test]
fn round_trip_blob_schema() {
    round_trip(SCHEMA_BLOB, "blob");
}

#[test]
fn round_trip_text_schema() {
    round_trip(SCHEMA_TEXT, "text");
}

// ---------------------------------------------------------------------------
// Dry run and refusals: exit codes, and nothing changed.

#[test]
fn dry_run_reports_counts_and_changes_nothing() {
    let (env, new_key) = basic(SCHEMA_BLOB);
    let snap = env.snapshot();
    env.cmd()
        .args(rotate_args(&new_key, &["--dry-run"]))
        .assert()
        .success()
        .stdout(contains(
            "dry run: 3 secrets would be re-encrypted (2 accounts, 1 pending), 0 already under the new key",
        ));
    assert_eq!(env.snapshot(), snap);

    let out = env
        .cmd()
        .args(rotate_args(&new_key, &["--dry-run", "--json"]))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["to_rotate"], 3);
    assert_eq!(v["rotated"], 0);
    assert_eq!(v["accounts"], 2);
    assert_eq!(v["pending"], 1);
    assert_eq!(v["already_new"], 0);
    assert_eq!(env.snapshot(), snap);
    assert!(!env.path("app.db-journal").exists());

    // After the rotation, the dry run sees everything under the new key.
    env.cmd()
        .args(rotate_args(&new_key, &["--yes"]))
        .assert()
        .success();
    let snap = env.snapshot();
    env.cmd()
        .args(rotate_args(&new_key, &["--dry-run"]))
        .assert()
        .success()
        .stdout(contains(
            "0 secrets would be re-encrypted (0 accounts, 0 pending), 3 already under the new key",
        ));
    assert_eq!(env.snapshot(), snap);
}

/// Runs rotate-key with `args` and asserts the exit code, a piece of stderr,
/// and that the database file did not change by a byte.
fn refused(env: &TestEnv, cmd: &mut assert_cmd::Command, code: i32, says: &str) {
    let snap = env.snapshot();
    cmd.assert().code(code).stderr(contains(says));
    assert_eq!(env.snapshot(), snap, "the database changed");
}

#[test]
fn new_key_equal_to_the_current_one_is_refused() {
    let (env, _) = basic(SCHEMA_BLOB);
    // The same key in the standard alphabet with whitespace is still the same key.
    let std_form = KEY.replace('-', "+").replace('_', "/");
    for (name, text) in [
        ("same.key", KEY.to_string()),
        ("std.key", format!("  {std_form}\t")),
    ] {
        let path = env.write_key(name, &text);
        refused(
            &env,
            env.cmd().args(rotate_args(&path, &["--yes"])),
            2,
            "current master key",
        );
    }
}

#[test]
fn malformed_or_missing_key_files_exit_4() {
    let (env, new_key) = basic(SCHEMA_BLOB);
    for (name, text) in [
        ("words.key", "not a key".to_string()),
        ("unpadded.key", KEY[..43].to_string()),
        ("short.key", KEY[..40].to_string()),
        ("empty.key", String::new()),
    ] {
        let path = env.write_key(name, &text);
        refused(
            &env,
            env.cmd().args(rotate_args(&path, &["--yes"])),
            4,
            "malformed",
        );
        // The same as an old key.
        refused(
            &env,
            env.cmd().args(rotate_args(
                &new_key,
                &["--yes", "--old-key-file", s(&path)],
            )),
            4,
            "malformed",
        );
    }
    let missing = env.path("missing.key");
    refused(
        &env,
        env.cmd().args(rotate_args(&missing, &["--yes"])),
        4,
        "key file not found",
    );
    refused(
        &env,
        env.cmd().args(rotate_args(
            &new_key,
            &["--yes", "--old-key-file", s(&missing)],
        )),
        4,
        "key file not found",
    );
    // No current master key at all.
    refused(
        &env,
        env.bare()
            .env("MEX2FA_DB", &env.db)
            .args(rotate_args(&new_key, &["--yes"])),
        4,
        "no master key",
    );
}

#[test]
fn no_terminal_and_no_yes_is_refused() {
    let (env, new_key) = basic(SCHEMA_BLOB);
    refused(&env, env.cmd().args(rotate_args(&new_key, &[])), 2, "--yes");
    let (text_env, new_key) = basic(SCHEMA_TEXT);
    refused(
        &text_env,
        text_env.cmd().args(rotate_args(&new_key, &[])),
        2,
        "--yes",
    );
}

// ---------------------------------------------------------------------------
// Stragglers: two old keys, some tokens already new; then the README's
// procedure for tokens the app wrote under the old key after the rotation.

#[test]
fn stragglers_under_two_old_keys_and_already_new() {
    let python = python();
    let env = TestEnv::new();
    add_users(&env, &["dave", "erin", "fred"]);
    let db = s(&env.db).to_string();
    let mut secrets = Vec::new();
    for (i, (user, key)) in [
        ("alice", KEY),
        ("bob", KEY3),
        ("carol", KEY2),
        ("dave", KEY3),
        ("erin", KEY),
    ]
    .into_iter()
    .enumerate()
    {
        let secret = secret_for(10 + i as u64);
        py(&python, &["store", &db, key, user, &secret]);
        secrets.push((user, secret));
    }
    let fred = env.enroll("fred");
    let old3 = env.write_key("third.key", KEY3);
    let old1 = env.write_key("old.key", KEY);
    let new_key = env.write_key("new.key", KEY2);
    let before = env.tokens();
    let plain: Vec<String> = before
        .iter()
        .map(|t| {
            [KEY, KEY3, KEY2]
                .iter()
                .find_map(|k| fernet_plaintext(k, &t.token))
                .expect("fixture token opens under one of the keys")
        })
        .collect();

    // Without the third key: bob and dave are named, nothing is written.
    let snap = env.snapshot();
    env.cmd()
        .args(rotate_args(&new_key, &["--yes"]))
        .assert()
        .code(4)
        .stderr(contains("2 stored tokens"))
        .stderr(contains("'bob' (id 2)"))
        .stderr(contains("'dave' (id 4)"))
        .stderr(contains("--old-key-file"))
        .stderr(contains("'alice'").not());
    assert_eq!(env.snapshot(), snap);

    env.cmd()
        .args(rotate_args(
            &new_key,
            &["--dry-run", "--old-key-file", s(&old3)],
        ))
        .assert()
        .success()
        .stdout(contains(
            "5 secrets would be re-encrypted (4 accounts, 1 pending), 1 already under the new key",
        ));
    assert_eq!(env.snapshot(), snap);

    env.cmd()
        .args(rotate_args(
            &new_key,
            &["--yes", "--old-key-file", s(&old3)],
        ))
        .assert()
        .success()
        .stdout(contains(
            "rotated 5 secrets (4 accounts, 1 pending) to the new key; 1 already under it",
        ));
    let after = env.tokens();
    let carol = env.id_of("carol");
    for (b, a) in before.iter().zip(&after) {
        if a.place == "account" && a.id == carol {
            assert_eq!(a, b, "a token already under the new key is left alone");
        } else {
            assert_ne!(a.token, b.token);
        }
    }
    let now_plain = py_decrypt(&python, KEY2, &texts(&after));
    for ((p, n), t) in plain.iter().zip(&now_plain).zip(&after) {
        assert_eq!(
            Some(p),
            n.as_ref(),
            "{} {} under the new key",
            t.place,
            t.id
        );
    }
    for (user, secret) in &secrets {
        py_login(&python, &env.db, KEY2, user, secret).unwrap();
    }

    // The app, not yet restarted, enables erin again under the old key: a straggler.
    let erin = secret_for(99);
    py(&python, &["store", &db, KEY, "erin", &erin]);
    let on_new = || {
        let mut c = env.cmd();
        c.env("TWOFA_MASTER_KEY", KEY2);
        c
    };
    let out = on_new().args(["doctor", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v}");
    assert_eq!(findings[0]["user"], "erin");
    assert_eq!(findings[0]["code"], "does-not-decrypt");

    // Rotating "to the current key" needs the old key named, and then fixes only erin.
    refused(
        &env,
        on_new().args(rotate_args(&new_key, &["--yes"])),
        2,
        "current master key",
    );
    on_new()
        .args(rotate_args(
            &new_key,
            &["--yes", "--old-key-file", s(&old1)],
        ))
        .assert()
        .success()
        .stdout(contains(
            "rotated 1 secret (1 accounts, 0 pending) to the new key; 5 already under it",
        ));
    on_new().arg("doctor").assert().success();
    py_login(&python, &env.db, KEY2, "erin", &erin).unwrap();
    confirm_robust(&env, KEY2, "fred", &fred);
    integrity_ok(&env.db);
}

// ---------------------------------------------------------------------------
// One bad token among many: nothing is written, the accounts are named.

/// A shape of the accounts table, for [`every_table_shape_rotates_every_token_and_nothing_else`].
struct Shape {
    name: &'static str,
    /// How `accountid` is declared.
    id: &'static str,
    /// The secret column's declared type.
    secret: &'static str,
    /// Extra columns, table constraints and the statements after the table.
    columns: &'static str,
    after_table: &'static str,
    more: &'static str,
    backwards: bool,
    utf16: bool,
}

const SHAPE: Shape = Shape {
    name: "",
    id: "INTEGER PRIMARY KEY",
    secret: "BLOB",
    columns: "",
    after_table: "",
    more: "",
    backwards: false,
    utf16: false,
};

/// Every column but the secret, rendered with `quote()`, per username.
fn other_columns(conn: &Connection) -> Vec<Vec<String>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_xinfo('account') WHERE name != 'twofa_secret'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let cols: Vec<String> = names.iter().map(|n| format!("quote(\"{n}\")")).collect();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM account ORDER BY username",
            cols.join(", ")
        ))
        .unwrap();
    stmt.query_map([], |r| (0..cols.len()).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The secret of `user` as stored: its type and its text.
fn stored(conn: &Connection, user: &str) -> (String, Option<String>) {
    conn.query_row(
        "SELECT typeof(twofa_secret), twofa_secret FROM account WHERE username = ?1",
        [user],
        |r| {
            let text = match r.get::<_, rusqlite::types::Value>(1)? {
                rusqlite::types::Value::Text(t) => Some(t),
                rusqlite::types::Value::Blob(b) => Some(String::from_utf8(b).unwrap()),
                _ => None,
            };
            Ok((r.get(0)?, text))
        },
    )
    .unwrap()
}

/// Tokens are overwritten byte for byte where SQLite allows it and the result
/// is what an `UPDATE` leaves; elsewhere they are updated. Whatever the table
/// looks like — rowid or not, ids the rowid or not and stored backwards,
/// text ids, a TEXT column, a trigger (which must fire), an index on the
/// secret, a CHECK constraint, a generated column (which must follow),
/// columns named like the rowid, a UTF-16 database — and whatever the token
/// looks like — the column's form, the other form, a trailing line break —
/// each old token ends up under the new key in the column's form with its
/// plaintext and timestamp, rows with no token, an empty one or one already
/// under the new key are left alone, and nothing else of any row changes.
#[test]
fn every_table_shape_rotates_every_token_and_nothing_else() {
    let shapes = [
        Shape {
            name: "the app's",
            ..SHAPE
        },
        Shape {
            name: "integer ids not the rowid, stored backwards",
            id: "INT PRIMARY KEY",
            backwards: true,
            ..SHAPE
        },
        Shape {
            name: "text ids, stored backwards",
            id: "TEXT PRIMARY KEY",
            backwards: true,
            ..SHAPE
        },
        Shape {
            name: "a TEXT secret column",
            secret: "TEXT",
            ..SHAPE
        },
        Shape {
            name: "no rowid",
            after_table: " WITHOUT ROWID",
            ..SHAPE
        },
        Shape {
            name: "a trigger on the secret",
            more: "CREATE TABLE secret_log (accountid INTEGER);
                   CREATE TRIGGER log_secret AFTER UPDATE OF twofa_secret ON account
                   BEGIN INSERT INTO secret_log VALUES (new.accountid); END;",
            ..SHAPE
        },
        Shape {
            name: "an index on the secret",
            more: "CREATE INDEX account_secret ON account (twofa_secret);",
            ..SHAPE
        },
        Shape {
            name: "a CHECK constraint",
            columns: ", CHECK (twofa_secret IS NULL OR length(twofa_secret) >= 0)",
            ..SHAPE
        },
        Shape {
            name: "a generated column of the secret",
            columns: ", head BLOB GENERATED ALWAYS AS (substr(twofa_secret, 30, 20)) STORED",
            ..SHAPE
        },
        Shape {
            name: "columns named rowid and _rowid_",
            columns: ", rowid TEXT DEFAULT '1', _rowid_ INTEGER DEFAULT 2",
            ..SHAPE
        },
        Shape {
            name: "a UTF-16 database and a TEXT column",
            secret: "TEXT",
            utf16: true,
            ..SHAPE
        },
    ];
    let env = TestEnv::new();
    let new_key = env.write_key("new.key", KEY2);
    for (n, shape) in shapes.iter().enumerate() {
        let name = shape.name;
        let db = env.path(&format!("shape{n}.db"));
        let mut conn = Connection::open(&db).unwrap();
        if shape.utf16 {
            conn.execute_batch("PRAGMA encoding = 'UTF-16le'").unwrap();
        }
        conn.execute_batch(&format!(
            "CREATE TABLE account (accountid {}, username TEXT UNIQUE NOT NULL, email TEXT,
                 password TEXT, twofa_enabled INTEGER DEFAULT 0, twofa_secret {}{}){};
             {}",
            shape.id, shape.secret, shape.columns, shape.after_table, shape.more
        ))
        .unwrap();
        let text_column = shape.secret == "TEXT";
        let in_form = |token: String, column_form: bool| {
            if text_column == column_form {
                rusqlite::types::Value::Text(token)
            } else {
                rusqlite::types::Value::Blob(token.into_bytes())
            }
        };
        let tx = conn.transaction().unwrap();
        let count = 300u64;
        let order: Vec<u64> = if shape.backwards {
            (0..count).rev().collect()
        } else {
            (0..count).collect()
        };
        for i in order {
            let id = if shape.id.starts_with("TEXT") {
                rusqlite::types::Value::Text(format!("m-{i:04}"))
            } else {
                rusqlite::types::Value::Integer(i as i64 + 1)
            };
            let old = fernet_encrypt_at(KEY, &secret_for(i), OLD_TIME + i);
            let secret = match i % 10 {
                3 => rusqlite::types::Value::Null,
                5 => in_form(String::new(), true),
                7 => in_form(fernet_encrypt(KEY2, &secret_for(i)), true),
                8 => in_form(old, false),
                9 => in_form(format!("{old}\n"), true),
                _ => in_form(old, true),
            };
            tx.execute(
                "INSERT INTO account (accountid, username, email, password, twofa_enabled, twofa_secret)
                 VALUES (?1, ?2, ?2 || '@example.com', 'pw', ?3, ?4)",
                rusqlite::params![id, format!("user{i}"), i64::from(i % 10 != 3), secret],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let before = other_columns(&conn);
        let originals: Vec<_> = (0..count)
            .map(|i| stored(&conn, &format!("user{i}")))
            .collect();
        drop(conn);
        env.cmd()
            .env("MEX2FA_DB", &db)
            .args(rotate_args(&new_key, &["--yes"]))
            .assert()
            .success()
            .stdout(contains(
                "rotated 210 secrets (210 accounts, 0 pending) to the new key; 30 already under it",
            ));
        let conn = Connection::open(&db).unwrap();
        let after = other_columns(&conn);
        // The generated column follows the secret: compared below, not here.
        let generated = shape.columns.contains("GENERATED");
        for (b, a) in before.iter().zip(&after) {
            let (b, a) = if generated {
                (&b[..b.len() - 1], &a[..a.len() - 1])
            } else {
                (&b[..], &a[..])
            };
            assert_eq!(b, a, "{name}: other columns changed");
        }
        assert_eq!(before.len(), after.len(), "{name}");
        for i in 0..count {
            let user = format!("user{i}");
            let (kind, token) = stored(&conn, &user);
            if matches!(i % 10, 3 | 5 | 7) {
                assert_eq!(
                    (kind, token),
                    originals[i as usize],
                    "{name}: {user} was not to be touched"
                );
                continue;
            }
            let expected = if text_column { "text" } else { "blob" };
            assert_eq!(kind, expected, "{name}: {user}'s storage type");
            let token = token.unwrap();
            assert_eq!(
                fernet_plaintext(KEY2, &token).as_deref(),
                Some(secret_for(i).as_str()),
                "{name}: {user}"
            );
            assert_eq!(
                token_header(&token)[1..],
                (OLD_TIME + i).to_be_bytes(),
                "{name}: {user}'s timestamp"
            );
        }
        if shape.more.contains("TRIGGER") {
            let fired: i64 = conn
                .query_row("SELECT count(*) FROM secret_log", [], |r| r.get(0))
                .unwrap();
            assert_eq!(
                fired, 210,
                "{name}: the trigger fires once per rotated token"
            );
        }
        if generated {
            let stale: i64 = conn
                .query_row(
                    "SELECT count(*) FROM account WHERE head IS NOT substr(twofa_secret, 30, 20)",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(stale, 0, "{name}: the generated column follows the secret");
        }
        drop(conn);
        integrity_ok(&db);
    }
}

/// `n` accounts user0.. with app-style BLOB tokens under `KEY`, except those
/// in `bad`, under KEY3 (which the rotation is not given).
fn many(n: usize, bad: &[usize]) -> (TestEnv, PathBuf) {
    let env = TestEnv::new();
    let mut conn = env.conn();
    let tx = conn.transaction().unwrap();
    insert_enrolled(&tx, n, |i| if bad.contains(&i) { KEY3 } else { KEY });
    tx.commit().unwrap();
    drop(conn);
    let new_key = env.write_key("new.key", KEY2);
    (env, new_key)
}

#[test]
fn one_undecryptable_token_aborts_with_nothing_written() {
    let (env, new_key) = many(60, &[37]);
    let id = env.id_of("user37");
    let backup = env.path("rotation.backup");
    let snap = env.snapshot();
    for extra in [&["--dry-run"][..], &["--yes", "--backup", s(&backup)]] {
        env.cmd()
            .args(rotate_args(&new_key, extra))
            .assert()
            .code(4)
            .stdout("")
            .stderr(contains("1 stored token decrypts under none"))
            .stderr(contains(format!("'user37' (id {id})")))
            .stderr(contains("nothing was changed"))
            .stderr(contains("user36").not());
        assert_eq!(env.snapshot(), snap, "the database changed");
        assert!(
            !backup.exists(),
            "a backup of a rotation that did not happen"
        );
        assert!(!env.path("app.db-journal").exists());
    }
    integrity_ok(&env.db);
}

#[test]
fn undecryptable_tokens_named_up_to_twenty_then_counted() {
    let bad: Vec<usize> = (5..30).collect();
    let (env, new_key) = many(40, &bad);
    let out = env
        .cmd()
        .args(rotate_args(&new_key, &["--yes"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("25 stored tokens"), "{err}");
    assert!(err.contains("and 5 more"), "{err}");
    for i in 5..25 {
        assert!(
            err.contains(&format!("'user{i}'")),
            "user{i} not named: {err}"
        );
    }
    for i in (0..5).chain(25..40) {
        assert!(!err.contains(&format!("'user{i}'")), "user{i} named: {err}");
    }
}

#[test]
fn undecryptable_pending_token_aborts_too() {
    let (env, new_key) = basic(SCHEMA_BLOB);
    let carol = env.id_of("carol");
    env.conn()
        .execute(
            "UPDATE mex2fa_pending SET secret_token = ?1",
            [fernet_encrypt(KEY3, &secret_for(7))],
        )
        .unwrap();
    refused(
        &env,
        env.cmd().args(rotate_args(&new_key, &["--yes"])),
        4,
        &format!("'carol' (id {carol}, pending)"),
    );
}

// ---------------------------------------------------------------------------
// Backup and restore.

fn backup_lines(path: &Path) -> (serde_json::Value, BTreeSet<(String, i64, String)>) {
    let text = std::fs::read_to_string(path).expect("backup");
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().expect("header")).unwrap();
    let entries = lines
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            (
                v["place"].as_str().unwrap().to_string(),
                v["id"].as_i64().unwrap(),
                v["token"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (header, entries)
}

#[test]
fn backup_is_private_never_overwrites_and_restores_byte_identical() {
    use std::os::unix::fs::PermissionsExt;
    let (env, new_key) = basic(SCHEMA_BLOB);
    let before = env.tokens();
    let backup = env.path("rotation.backup");

    // An existing file is never overwritten, and nothing changes.
    std::fs::write(&backup, "precious").unwrap();
    refused(
        &env,
        env.cmd()
            .args(rotate_args(&new_key, &["--yes", "--backup", s(&backup)])),
        2,
        "already exists",
    );
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "precious");
    std::fs::remove_file(&backup).unwrap();

    env.cmd()
        .args(rotate_args(&new_key, &["--yes", "--backup", s(&backup)]))
        .assert()
        .success()
        .stdout(contains("backup of the old tokens"));
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (header, entries) = backup_lines(&backup);
    assert_eq!(header["format"], "mex2fa-backup");
    assert_eq!(header["table"], "account");
    let want: BTreeSet<_> = before
        .iter()
        .map(|t| (t.place.to_string(), t.id, t.token.clone()))
        .collect();
    assert_eq!(entries, want);
    let rotated = env.tokens();
    assert!(
        rotated
            .iter()
            .all(|t| fernet_plaintext(KEY2, &t.token).is_some())
    );

    // The wrong key: refused, nothing changes.
    refused(
        &env,
        env.cmd()
            .env("TWOFA_MASTER_KEY", KEY2)
            .args(["restore", "--backup", s(&backup), "--yes"]),
        4,
        "do not decrypt",
    );
    // No terminal, no --yes: refused.
    refused(
        &env,
        env.cmd().args(["restore", "--backup", s(&backup)]),
        2,
        "--yes",
    );

    env.cmd()
        .args(["restore", "--backup", s(&backup), "--yes"])
        .assert()
        .success()
        .stdout(contains("restored 3 tokens"));
    assert_eq!(env.tokens(), before, "tokens or storage types differ");
    integrity_ok(&env.db);
    // mex2fa with the old key reads them again.
    env.cmd().args(["doctor"]).assert().success();
    let log = env.cmd().args(["log", "--json"]).output().unwrap();
    let log: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[..2], ["restore", "rotate-key"]);
}

#[test]
fn restore_rejects_malformed_backups() {
    let (env, _) = basic(SCHEMA_BLOB);
    let header = r#"{"format":"mex2fa-backup","version":1,"created_at":"2026-01-01T00:00:00Z","table":"account","id_column":"accountid","secret_column":"twofa_secret"}"#;
    let bob = env.id_of("bob");
    let good = format!(
        r#"{{"place":"account","id":{bob},"token":"{}"}}"#,
        fernet_encrypt(KEY, &secret_for(3))
    );
    let cases = [
        ("empty", String::new()),
        ("not json", "hello\n".to_string()),
        (
            "another format",
            r#"{"format":"something-else","version":1}"#.to_string() + "\n",
        ),
        (
            "a later version",
            header.replace(r#""version":2"#, r#""version":3"#) + "\n",
        ),
        (
            "another table",
            header.replace(r#""table":"account""#, r#""table":"users""#) + "\n",
        ),
        (
            "a cut-off line",
            format!("{header}\n{good}\n{}", &good[..30]),
        ),
        (
            "no token",
            format!("{header}\n{{\"place\":\"account\",\"id\":{bob}}}\n"),
        ),
        (
            "an unknown place",
            format!("{header}\n{}\n", good.replace("account", "elsewhere")),
        ),
    ];
    for (what, text) in cases {
        let path = env.path("bad.backup");
        std::fs::write(&path, text).unwrap();
        let snap = env.snapshot();
        let out = env
            .cmd()
            .args(["restore", "--backup", s(&path), "--yes"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{what}: {out:?}");
        assert_eq!(env.snapshot(), snap, "{what}: the database changed");
        std::fs::remove_file(&path).unwrap();
    }
    refused(
        &env,
        env.cmd()
            .args(["restore", "--backup", s(&env.path("missing")), "--yes"]),
        2,
        "not found",
    );
}

#[test]
fn backup_with_tokens_already_new_restores_with_the_old_key() {
    // alice under KEY, bob already under the new key (e.g. a second run).
    let env = TestEnv::new();
    put_token(&env, "alice", &fernet_encrypt(KEY, &secret_for(1)), true);
    put_token(&env, "bob", &fernet_encrypt(KEY2, &secret_for(2)), true);
    let before = env.tokens();
    let new_key = env.write_key("new.key", KEY2);
    let backup = env.path("rotation.backup");
    env.cmd()
        .args(rotate_args(&new_key, &["--yes", "--backup", s(&backup)]))
        .assert()
        .success()
        .stdout(contains("rotated 1 secret"));
    // Undo with the old key: alice's token would come back under it, bob's
    // stays under the new one. The app reads one key: refused unless asked.
    let snap = env.snapshot();
    env.cmd()
        .args(["restore", "--backup", s(&backup), "--yes"])
        .assert()
        .code(4)
        .stderr(contains(
            "more than one key (1 under the master key, 1 under none",
        ));
    assert_eq!(
        env.snapshot(),
        snap,
        "a refused restore changed the database"
    );
    env.cmd()
        .args(["restore", "--backup", s(&backup), "--yes", "--allow-mixed"])
        .assert()
        .success()
        .stderr(contains("more than one key"));
    assert_eq!(env.tokens(), before);
}

// ---------------------------------------------------------------------------
// SIGKILL at random moments.

/// Accounts and pending rows for the kill test: app-style BLOB tokens under KEY.
fn seed_bulk(db: &Path, accounts: usize, pending: usize) {
    let mut conn = Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(PENDING_DDL).unwrap();
    insert_enrolled(&tx, accounts, |_| KEY);
    for i in 0..pending {
        tx.execute(
            "INSERT INTO mex2fa_pending (account_id, secret_token, created_at, expires_at)
             VALUES (?1, ?2, 0, 4102444800)",
            rusqlite::params![
                (i + 1) as i64,
                fernet_encrypt(KEY, &secret_for(1_000_000 + i as u64))
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    AllOld,
    AllNew,
}

/// Reopens `db` (rolling back a hot journal) and says whether every token is
/// still the old one or every token is new and opens under the new key to the
/// same secret; a mix, a lost row or a failed integrity check is an error.
fn outcome(db: &Path, originals: &[StoredToken], plain: &[String]) -> Result<Outcome, String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    let ic: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if ic != "ok" {
        return Err(format!("integrity_check: {ic}"));
    }
    let audited: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'mex2fa_audit'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    let audited = audited > 0
        && conn
            .query_row(
                "SELECT count(*) FROM mex2fa_audit WHERE action = 'rotate-key'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| e.to_string())?
            > 0;
    drop(conn);
    let now = TestEnv::tokens_of(db);
    let keys = |v: &[StoredToken]| v.iter().map(|t| (t.place, t.id)).collect::<Vec<_>>();
    if keys(&now) != keys(originals) {
        return Err("rows appeared or vanished".into());
    }
    let unchanged = now
        .iter()
        .zip(originals)
        .filter(|(a, b)| a.token == b.token)
        .count();
    let result = if unchanged == now.len() {
        Outcome::AllOld
    } else if unchanged == 0 {
        for (t, p) in now.iter().zip(plain) {
            if fernet_plaintext(KEY2, &t.token).as_ref() != Some(p) {
                return Err(format!(
                    "{} {} does not open under the new key",
                    t.place, t.id
                ));
            }
        }
        Outcome::AllNew
    } else {
        return Err(format!(
            "a mix: {unchanged} of {} tokens still old",
            now.len()
        ));
    };
    if audited != (result == Outcome::AllNew) {
        return Err(format!("{result:?} but rotate-key audited: {audited}"));
    }
    Ok(result)
}

fn spawn_rotation(env: &TestEnv, db: &Path, new_key: &Path, backup: &Path, tmp: &Path) -> Child {
    std::process::Command::new(bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", tmp)
        .env("MEX2FA_DB", db)
        .env("TWOFA_MASTER_KEY", KEY)
        .current_dir(env.dir.path())
        .args(rotate_args(new_key, &["--yes", "--backup", s(backup)]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mex2fa")
}

/// xorshift64*, seeded from the clock unless MEX2FA_KILL_SEED is set.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The kill test's judge can fail: one token rewritten under the new key
/// among old ones is a mix, and a new token under a wrong key is refused.
#[test]
fn the_kill_test_judge_detects_a_mix() {
    let env = TestEnv::new();
    seed_bulk(&env.db, 20, 2);
    let originals = env.tokens();
    let plain: Vec<String> = originals
        .iter()
        .map(|t| fernet_plaintext(KEY, &t.token).unwrap())
        .collect();
    assert_eq!(outcome(&env.db, &originals, &plain), Ok(Outcome::AllOld));
    let first = originals[0].id;
    let rewrite = |key: &str, which: Option<i64>| {
        for (t, p) in originals.iter().zip(&plain) {
            if t.place == "account" && which.is_none_or(|id| id == t.id) {
                put_token(
                    &env,
                    &format!("user{}", t.id - 4),
                    &fernet_encrypt(key, p),
                    true,
                );
            }
        }
    };
    rewrite(KEY2, Some(first));
    assert!(outcome(&env.db, &originals, &plain).is_err(), "a mix");
    rewrite(KEY3, None);
    env.conn()
        .execute(
            "UPDATE mex2fa_pending SET secret_token = ?1",
            [fernet_encrypt(KEY3, "X")],
        )
        .unwrap();
    assert!(outcome(&env.db, &originals, &plain).is_err(), "wrong key");
}

/// When a trial's SIGKILL is sent.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after the spawn.
    After(std::time::Duration),
    /// As soon as the rollback journal has grown to this many bytes: the
    /// process is then inside pass 2, replacing tokens.
    Journal(u64),
}

/// Waits for the moment (or the child's exit) while watching the journal;
/// returns whether the child was still running, and the largest journal seen.
fn wait_for(child: &mut Child, journal: &Path, moment: Moment) -> (bool, u64) {
    let started = Instant::now();
    let mut largest = 0;
    loop {
        largest = largest.max(std::fs::metadata(journal).map_or(0, |m| m.len()));
        if child.try_wait().unwrap().is_some() {
            return (false, largest);
        }
        let due = match moment {
            Moment::After(d) => started.elapsed() >= d,
            Moment::Journal(n) => largest >= n,
        };
        if due {
            return (true, largest);
        }
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
}

#[test]
fn sigkill_at_any_moment_leaves_all_old_or_all_new() {
    kill_trials(2500, 200, 12, 10, 0.05);
}

/// A database larger than the rotation's page cache (8 MiB): SQLite writes
/// pages into the database file before the commit (after syncing the
/// journal), so a kill then leaves a half-written file that only the journal
/// can undo. 60k accounts make a 12 MB journal, the first spill comes at
/// about 8 MB: the kills land in its last quarter.
#[test]
fn sigkill_after_pages_spilled_into_the_database_leaves_all_old_or_all_new() {
    let spilled = kill_trials(60_000, 0, 0, 8, 0.75);
    assert!(
        spilled >= 2,
        "only {spilled} kills found pages already written into the database"
    );
}

/// SIGKILLs a rotation of `accounts` and `pending` rows at `timed` random
/// moments of its run and at `writing` moments while its journal grows from
/// the fraction `from` of its full size to 95%; each time the database must
/// be wholly old or wholly new. Returns how many kills found the database
/// file already changed (pages spilled before the commit).
fn kill_trials(accounts: usize, pending: usize, timed: usize, writing: usize, from: f64) -> usize {
    let env = TestEnv::new();
    seed_bulk(&env.db, accounts, pending);
    let base = env.snapshot();
    let originals = env.tokens();
    assert_eq!(originals.len(), accounts + pending);
    let plain: Vec<String> = originals
        .iter()
        .map(|t| fernet_plaintext(KEY, &t.token).expect("seeded under KEY"))
        .collect();
    let new_key = env.write_key("new.key", KEY2);
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();

    // One undisturbed run: how long a rotation takes here, how large its journal grows.
    let db = env.path("full.db");
    std::fs::write(&db, &base).unwrap();
    let started = Instant::now();
    let mut child = spawn_rotation(&env, &db, &new_key, &env.path("full.backup"), &tmp);
    let (_, journal_max) = wait_for(
        &mut child,
        &env.path("full.db-journal"),
        Moment::Journal(u64::MAX),
    );
    let status = child.wait().unwrap();
    let full = started.elapsed();
    assert!(
        status.success(),
        "the undisturbed rotation failed: {status}"
    );
    assert_eq!(outcome(&db, &originals, &plain), Ok(Outcome::AllNew));
    assert!(
        journal_max > 64 * 1024,
        "the rollback journal stayed at {journal_max} bytes; is the database in WAL mode?"
    );

    let seed = std::env::var("MEX2FA_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let mut report = format!(
        "full run {full:?}, journal up to {journal_max} bytes, seed {seed} (MEX2FA_KILL_SEED)\n"
    );
    let (mut killed_writing, mut spilled, mut seen) = (0, 0, Vec::new());
    for trial in 0..timed + writing {
        // Stratified: each trial a random point in its own slice of the run
        // (time: the whole run and a little after; journal: 5%..95% of its growth).
        let slice = |n: usize, k: usize, rng: &mut Rng| (k as f64 + rng.unit()) / n as f64;
        let moment = if trial < timed {
            Moment::After(full.mul_f64(1.1 * slice(timed, trial, &mut rng)))
        } else {
            let f = from + (0.95 - from) * slice(writing, trial - timed, &mut rng);
            Moment::Journal((journal_max as f64 * f) as u64)
        };
        let db = env.path(&format!("trial{trial}.db"));
        let journal = env.path(&format!("trial{trial}.db-journal"));
        let backup = env.path(&format!("trial{trial}.backup"));
        std::fs::write(&db, &base).unwrap();
        let mut child = spawn_rotation(&env, &db, &new_key, &backup, &tmp);
        let (running, _) = wait_for(&mut child, &journal, moment);
        child.kill().ok(); // SIGKILL on Unix
        child.wait().unwrap();
        let left = std::fs::metadata(&journal).map_or(0, |m| m.len());
        // Pass 2 had begun: the journal holds far more than the schema pages.
        let in_pass_2 = running && left > 16 * 1024;
        killed_writing += usize::from(in_pass_2);
        let changed = std::fs::read(&db).unwrap() != base;
        spilled += usize::from(changed && running);
        let result = outcome(&db, &originals, &plain);
        let moment = match moment {
            Moment::After(d) => format!("at {:.1} ms", d.as_secs_f64() * 1e3),
            Moment::Journal(n) => format!("at journal {n} B"),
        };
        report.push_str(&format!(
            "trial {trial:2}: {moment:<20} running={running:<5} journal={left:>8} B file changed={changed:<5} -> {result:?}\n"
        ));
        if result == Ok(Outcome::AllNew) {
            // The backup was complete and on disk before the first write.
            let lines = std::fs::read_to_string(&backup).unwrap().lines().count();
            assert_eq!(lines, 1 + originals.len(), "{report}");
        }
        seen.push(result);
        for p in [&db, &journal, &backup] {
            let _ = std::fs::remove_file(p);
        }
    }
    eprintln!("{report}");
    assert!(seen.iter().all(Result::is_ok), "{report}");
    assert!(
        killed_writing >= writing / 2,
        "too few kills landed while tokens were being replaced:\n{report}"
    );
    // The spool is unlinked at once: a killed rotation leaves no temporary file.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    spilled
}
