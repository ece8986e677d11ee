//! Interoperability with the MeXanimatoR app, played by Python with the app's
//! own libraries (pyotp + cryptography, `tests/py/app.py`): what mex2fa writes
//! the app reads and accepts, what the app writes mex2fa verifies, and the
//! otpauth URI is byte-identical to pyotp's.
//!
//! The Python is the venv `scripts/test` installs (`util::python`); without
//! it the tests fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::util::*;
use rusqlite::types::Value;

fn token_text(v: &Value) -> String {
    match v {
        Value::Blob(b) => String::from_utf8(b.clone()).expect("ASCII token"),
        Value::Text(t) => t.clone(),
        other => panic!("no token stored: {other:?}"),
    }
}

fn db_arg(env: &TestEnv) -> String {
    env.db.to_str().unwrap().to_string()
}

/// The app's login with pyotp's code for the current step; retried once
/// across a step boundary. Returns app.py's exit code.
fn app_login(python: &Path, env: &TestEnv, user: &str, secret: &str) -> i32 {
    let db = db_arg(env);
    for _ in 0..3 {
        let t = now();
        let code = py(python, &["at", secret, &t.to_string()]);
        let (status, _) = py_status(python, &["login", &db, KEY, user, &code]);
        if status == 0 || now() / 30 == t / 30 {
            return status;
        }
    }
    panic!("three step boundaries in a row");
}

/// mex2fa verify with pyotp's code for the current step.
fn mex_verify(python: &Path, env: &TestEnv, user: &str, secret: &str) -> std::process::Output {
    at_step(0, |t| {
        let code = py(python, &["at", secret, &t.to_string()]);
        let mut c = env.cmd();
        c.args(["verify", user, "--code", &code]);
        output(&mut c)
    })
}

// -------------------------------------------------- mex2fa → the app

#[test]
fn a_secret_confirmed_by_mex2fa_decrypts_in_python_and_the_app_login_accepts_it() {
    let python = python();
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    let (enabled, stored) = env.row("alice");
    assert_eq!(enabled, 1);
    assert!(matches!(stored, Value::Blob(_)), "bytes, as the app writes");
    let token = token_text(&stored);
    assert_eq!(py(&python, &["decrypt", KEY, &token]), secret);
    assert_eq!(app_login(&python, &env, "alice", &secret), 0);
    let (status, _) = py_status(
        &python,
        &["login", &db_arg(&env), KEY, "alice", &wrong_code(&secret)],
    );
    assert_eq!(status, 1, "the app refuses a wrong code");

    // The pending secret is a real Fernet token under the same master key.
    let bob = env.enroll("bob");
    let pending = env.sql_text("SELECT secret_token FROM mex2fa_pending");
    assert_eq!(py(&python, &["decrypt", KEY, &pending]), bob);
    let (status, _) = py_status(&python, &["login", &db_arg(&env), KEY, "bob", "123456"]);
    assert_eq!(status, 2, "pending is not enabled for the app");

    // After mex2fa disables her, the app no longer asks alice for a code.
    env.cmd()
        .args(["disable", "alice", "--yes"])
        .assert()
        .success();
    let (status, _) = py_status(
        &python,
        &["login", &db_arg(&env), KEY, "alice", &totp_now(&secret)],
    );
    assert_eq!(status, 2);
}

#[test]
fn a_text_column_token_written_by_mex2fa_works_in_the_app() {
    let python = python();
    let env = TestEnv::with_schema(SCHEMA_TEXT);
    let secret = env.enable_steady("bob");
    let (_, stored) = env.row("bob");
    assert!(matches!(stored, Value::Text(_)), "{stored:?}");
    assert_eq!(py(&python, &["decrypt", KEY, &token_text(&stored)]), secret);
    assert_eq!(app_login(&python, &env, "bob", &secret), 0);
}

#[test]
fn a_reenrollment_by_mex2fa_switches_the_app_to_the_new_secret_at_confirm() {
    let python = python();
    let env = TestEnv::new();
    let old = env.enable_steady("alice");
    let out = env
        .cmd()
        .args(["enroll", "alice", "--force", "--json", "--show-secret"])
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = doc["secret"].as_str().unwrap().to_string();
    assert_eq!(
        app_login(&python, &env, "alice", &old),
        0,
        "the app keeps the old secret while the new one is pending"
    );
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--code", &totp_at(&new, t)]);
        output(&mut c)
    });
    assert_ok(&out);
    assert_eq!(app_login(&python, &env, "alice", &new), 0);
}

// -------------------------------------------------- the app → mex2fa

#[test]
fn tokens_the_app_writes_as_bytes_verify_in_mex2fa() {
    let python = python();
    let env = TestEnv::new();
    let secret = py(&python, &["random"]);
    assert_eq!(secret.len(), 32);
    py(&python, &["store", &db_arg(&env), KEY, "alice", &secret]);
    assert_eq!(
        env.sql_text("SELECT typeof(twofa_secret) FROM account WHERE username = 'alice'"),
        "blob"
    );
    assert_ok(&mex_verify(&python, &env, "alice", &secret));
    let line = env.fails(
        env.cmd()
            .args(["verify", "alice", "--code", &wrong_code(&secret)]),
        1,
    );
    assert!(line.contains("not accepted"), "{line}");
    let out = env
        .cmd()
        .args(["status", "alice", "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st[0]["enabled"], true);

    // A lowercase secret: pyotp accepts it, so must mex2fa.
    let lower = py(&python, &["random"]).to_lowercase();
    py(&python, &["store", &db_arg(&env), KEY, "bob", &lower]);
    assert_ok(&mex_verify(&python, &env, "bob", &lower));

    // And mex2fa's disable undoes what the app wrote.
    env.cmd()
        .args(["disable", "alice", "bob", "--yes"])
        .assert()
        .success();
    assert_eq!(env.row("alice"), (0, Value::Null));
    assert_eq!(env.row("bob"), (0, Value::Null));
}

#[test]
fn tokens_the_app_writes_as_text_verify_in_mex2fa() {
    let python = python();
    for schema in [SCHEMA_TEXT, SCHEMA_BLOB] {
        let env = TestEnv::with_schema(schema);
        let secret = py(&python, &["random"]);
        py(
            &python,
            &["store-text", &db_arg(&env), KEY, "carol", &secret],
        );
        assert_eq!(
            env.sql_text("SELECT typeof(twofa_secret) FROM account WHERE username = 'carol'"),
            "text"
        );
        assert_ok(&mex_verify(&python, &env, "carol", &secret));
    }
}

#[test]
fn tokens_with_any_timestamp_decrypt_as_in_python() {
    let python = python();
    let env = TestEnv::new();
    let secret = py(&python, &["random"]);
    // Python's Fernet.decrypt(token) with no TTL checks neither age nor
    // clock skew: a token from 1970 or from the far future is accepted.
    for (user, ts) in [
        ("alice", "0"),
        ("bob", "4102444800"),
        ("carol", "18446744073709551615"),
    ] {
        let token = py(&python, &["encrypt-at", KEY, &secret, ts]);
        assert_eq!(py(&python, &["decrypt", KEY, &token]), secret);
        env.store(user, Value::Blob(token.into_bytes()));
        assert_ok(&mex_verify(&python, &env, user, &secret));
    }
}

// --------------------------------------------------- the otpauth URI

/// Names and issuers that need escaping, or that pyotp treats specially.
const NAMES: &[&str] = &[
    "alice",
    "bob smith",
    "alice@example.com",
    "a/b",
    "x:y",
    "o'brien",
    "a+b",
    "tom&jerry",
    "100%",
    "Zoë",
    "用户",
    "q?x=1#frag",
    "~_.-",
    " ",
    "",
];

const ISSUERS: &[&str] = &[
    "MeXanimatoR",
    "My Org",
    "A/B",
    "Co:Op",
    "O'Reilly",
    "a+b",
    "R&D",
    "50%",
    "Zoë",
    "用户",
    "x?y#z",
    " ",
    "",
];

fn pyotp_uris(python: &Path, triples: &[(String, String, String)]) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/app.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg("uris")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(
        &triples
            .iter()
            .map(|(s, n, i)| vec![s, n, i])
            .collect::<Vec<_>>(),
    )
    .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Enrolls `name` with `issuer` (from the flag or MEX2FA_ISSUER); returns
/// the secret and URI printed.
fn enroll_uri(env: &TestEnv, name: &str, issuer: &str, by_env: bool) -> (String, String) {
    let mut c = env.cmd();
    if by_env {
        c.env("MEX2FA_ISSUER", issuer);
    } else {
        c.arg(format!("--issuer={issuer}"));
    }
    let out = c
        .args(["enroll", "--json", "--show-secret", "--", name])
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        doc["secret"].as_str().unwrap().to_string(),
        doc["otpauth_uri"].as_str().unwrap().to_string(),
    )
}

#[test]
fn the_uri_is_byte_identical_to_pyotp_for_awkward_names_and_issuers() {
    let python = python();
    let env = TestEnv::new();
    {
        let conn = env.conn();
        for name in NAMES.iter().filter(|n| **n != "alice") {
            conn.execute("INSERT INTO account (username) VALUES (?1)", [name])
                .unwrap();
        }
    }
    // Every name with a varying issuer, and every issuer with a varying name.
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        pairs.push((name, ISSUERS[i % ISSUERS.len()]));
    }
    for (i, issuer) in ISSUERS.iter().enumerate() {
        pairs.push((NAMES[(i + 3) % NAMES.len()], issuer));
    }
    let mut triples = Vec::new();
    let mut ours = Vec::new();
    for (k, (name, issuer)) in pairs.iter().enumerate() {
        let (secret, uri) = enroll_uri(&env, name, issuer, k % 2 == 1);
        triples.push((secret, name.to_string(), issuer.to_string()));
        ours.push(uri);
    }
    let theirs = pyotp_uris(&python, &triples);
    let diffs: Vec<String> = pairs
        .iter()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (a, b))| a != b)
        .map(|((n, i), (a, b))| format!("name {n:?} issuer {i:?}:\n  mex2fa {a}\n  pyotp  {b}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "URIs differ from pyotp's:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn the_text_mode_uri_line_is_pyotps_too() {
    let python = python();
    let env = TestEnv::new();
    env.conn()
        .execute(
            "INSERT INTO account (username) VALUES ('Zoë O''Brien+1@例え.jp')",
            [],
        )
        .unwrap();
    let out = env
        .cmd()
        .args([
            "--issuer",
            "R&D / Ünïcode: 100%",
            "enroll",
            "Zoë O'Brien+1@例え.jp",
            "--show-secret",
            "--no-qr",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let uri = text
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .expect("a URI line");
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("a secret line");
    assert_eq!(
        uri,
        py(
            &python,
            &[
                "uri",
                secret,
                "Zoë O'Brien+1@例え.jp",
                "R&D / Ünïcode: 100%"
            ]
        )
    );
}
