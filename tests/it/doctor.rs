//! `doctor` on every kind of defect, through the real binary on
//! real SQLite files: a healthy database (exit 0), tokens that do not decrypt
//! — each token of the Fernet spec's invalid set, judged against what the
//! app's Python `Fernet.decrypt` (no TTL) does with it — truncated, tampered
//! and wrong-key tokens and numbers (exit 4), state inconsistencies (exit 3),
//! schema problems (exit 5), the `--json` document, and `--fix`.

use crate::util::*;
use predicates::str::contains;
use rusqlite::types::Value;

/// What one doctor run said.
struct Report {
    exit: i32,
    json: serde_json::Value,
}

impl Report {
    /// (user, code, place, severity) of every finding.
    fn findings(&self) -> Vec<(String, String, String, String)> {
        self.json["findings"]
            .as_array()
            .expect("findings array")
            .iter()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                (s("user"), s("code"), s("place"), s("severity"))
            })
            .collect()
    }
}

/// `doctor --json` (with `extra` arguments) on `cmd`: stdout must be exactly
/// one JSON document whose "exit" is the process's exit code.
fn doctor(cmd: &mut assert_cmd::Command, extra: &[&str]) -> Report {
    let out = cmd
        .arg("doctor")
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let exit = out.status.code().expect("exit code");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(json["exit"], exit, "{json}");
    Report { exit, json }
}

/// Sets `user`'s enabled flag and stored secret exactly as given.
fn set(env: &TestEnv, user: &str, enabled: Option<i64>, secret: Value) {
    let n = env
        .conn()
        .execute(
            "UPDATE account SET twofa_enabled = ?1, twofa_secret = ?2 WHERE username = ?3",
            rusqlite::params![enabled, secret, user],
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn blob(token: &str) -> Value {
    Value::Blob(token.as_bytes().to_vec())
}

fn text(token: &str) -> Value {
    Value::Text(token.to_string())
}

/// alice and bob enabled with healthy app-style tokens; carol untouched.
fn healthy() -> TestEnv {
    let env = TestEnv::new();
    set(
        &env,
        "alice",
        Some(1),
        blob(&fernet_encrypt(KEY, &secret_for(1))),
    );
    set(
        &env,
        "bob",
        Some(1),
        blob(&fernet_encrypt(KEY, &secret_for(2))),
    );
    env
}

#[test]
fn healthy_database_exits_0_and_is_not_changed() {
    for (schema, form) in [(SCHEMA_BLOB, "blob"), (SCHEMA_TEXT, "text")] {
        let env = TestEnv::with_schema(schema);
        enable_robust(&env, "alice");
        set(
            &env,
            "bob",
            Some(1),
            blob(&fernet_encrypt(KEY, &secret_for(2))),
        );
        env.enroll("carol");
        let snap = env.snapshot();
        env.cmd()
            .arg("doctor")
            .assert()
            .success()
            .stdout(contains("healthy"))
            .stdout(contains(
                "3 accounts, 2 with 2FA enabled, 2 stored tokens, 1 pending",
            ));
        let r = doctor(&mut env.cmd(), &[]);
        assert_eq!(r.exit, 0);
        let mut keys: Vec<&str> = r
            .json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "accounts",
                "database",
                "enabled",
                "exit",
                "findings",
                "fixed",
                "healthy",
                "key_check",
                "more_findings",
                "pending",
                "token_form",
                "tokens"
            ]
        );
        let j = &r.json;
        assert_eq!(j["healthy"], true);
        assert_eq!(j["database"], env.db.display().to_string());
        assert_eq!(j["token_form"], form);
        assert_eq!(
            (&j["accounts"], &j["enabled"], &j["tokens"], &j["pending"]),
            (&3.into(), &2.into(), &2.into(), &1.into())
        );
        assert_eq!(j["fixed"], 0);
        // Written under KEY by the confirmation of alice.
        assert_eq!(j["key_check"], "matches");
        assert_eq!(j["findings"], serde_json::json!([]));
        assert_eq!(j["more_findings"], 0);
        assert_eq!(env.snapshot(), snap, "doctor without --fix wrote");
    }
}

/// One defect per case, on an otherwise healthy database: the exit code and
/// the one finding it must produce.
#[test]
fn each_defect_has_its_exit_code_and_finding() {
    let good = fernet_encrypt(KEY, &secret_for(9));
    let tampered = {
        let mut b = good.clone().into_bytes();
        b[60] = if b[60] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    type Setup = Box<dyn Fn(&TestEnv)>;
    let on_carol = |enabled: Option<i64>, v: Value| -> Setup {
        Box::new(move |env: &TestEnv| set(env, "carol", enabled, v.clone()))
    };
    let cases: Vec<(&str, Setup, i32, &str, &str)> = vec![
        // (what, setup, exit, code, place) — the finding is carol's.
        (
            "truncated token",
            on_carol(Some(1), blob(&good[..good.len() - 10])),
            4,
            "does-not-decrypt",
            "account",
        ),
        (
            "token under another key",
            on_carol(Some(1), blob(&fernet_encrypt(KEY3, &secret_for(9)))),
            4,
            "does-not-decrypt",
            "account",
        ),
        (
            "tampered token",
            on_carol(Some(1), blob(&tampered)),
            4,
            "does-not-decrypt",
            "account",
        ),
        (
            "text that is no token",
            on_carol(Some(1), text("JBSWY3DPEHPK3PXP")),
            4,
            "does-not-decrypt",
            "account",
        ),
        (
            "an integer",
            on_carol(Some(1), Value::Integer(12345)),
            4,
            "not-a-token",
            "account",
        ),
        (
            "a real",
            on_carol(Some(1), Value::Real(1.5)),
            4,
            "not-a-token",
            "account",
        ),
        (
            "an integer, 2FA off",
            on_carol(Some(0), Value::Integer(7)),
            4,
            "not-a-token",
            "account",
        ),
        (
            "decrypts to something not base32",
            on_carol(Some(1), blob(&fernet_encrypt(KEY, "not base32!"))),
            4,
            "not-base32",
            "account",
        ),
        (
            "decrypts to nothing",
            on_carol(Some(1), blob(&fernet_encrypt(KEY, ""))),
            4,
            "not-base32",
            "account",
        ),
        (
            "a 120-bit secret (pyotp takes it; under the 128 expected)",
            on_carol(
                Some(1),
                blob(&fernet_encrypt(KEY, "JBSWY3DPEHPK3PXPJBSWY3DP")),
            ),
            3,
            "weak-secret",
            "account",
        ),
        (
            "enabled with a NULL secret",
            on_carol(Some(1), Value::Null),
            3,
            "enabled-without-secret",
            "account",
        ),
        (
            "enabled with an empty string",
            on_carol(Some(1), text("")),
            3,
            "empty-secret",
            "account",
        ),
        (
            "enabled with an empty blob",
            on_carol(Some(1), Value::Blob(Vec::new())),
            3,
            "empty-secret",
            "account",
        ),
        (
            "enabled with blanks",
            on_carol(Some(1), text("  ")),
            3,
            "empty-secret",
            "account",
        ),
        (
            "disabled with a secret",
            on_carol(Some(0), blob(&good)),
            3,
            "disabled-with-secret",
            "account",
        ),
        (
            "disabled (NULL flag) with a secret",
            on_carol(None, text(&good)),
            3,
            "disabled-with-secret",
            "account",
        ),
        (
            "expired pending enrollment",
            Box::new(|env: &TestEnv| {
                env.enroll("carol");
                env.conn()
                    .execute(
                        "UPDATE mex2fa_pending SET expires_at = ?1",
                        [now() as i64 - 1],
                    )
                    .unwrap();
            }),
            3,
            "expired-pending",
            "pending",
        ),
        (
            "pending under another key",
            Box::new(|env: &TestEnv| {
                env.enroll("carol");
                env.conn()
                    .execute(
                        "UPDATE mex2fa_pending SET secret_token = ?1",
                        [fernet_encrypt(KEY3, &secret_for(5))],
                    )
                    .unwrap();
            }),
            4,
            "does-not-decrypt",
            "pending",
        ),
    ];
    for (what, setup, exit, code, place) in cases {
        let env = healthy();
        setup(&env);
        let snap = env.snapshot();
        let r = doctor(&mut env.cmd(), &[]);
        assert_eq!(r.exit, exit, "{what}: {}", r.json);
        assert_eq!(r.json["healthy"], false, "{what}");
        let severity = if exit == 4 { "key" } else { "state" };
        assert_eq!(
            r.findings(),
            [("carol".into(), code.into(), place.into(), severity.into())],
            "{what}: {}",
            r.json
        );
        // The table says the same, with the same exit code.
        env.cmd()
            .arg("doctor")
            .assert()
            .code(exit)
            .stdout(contains(code))
            .stdout(contains("carol"));
        assert_eq!(env.snapshot(), snap, "{what}: doctor wrote");
    }
}

/// pyotp (the app's 2.12) raises `ValueError` for a secret under 112 bits:
/// the app's login fails for that user whatever code is typed, a lockout as
/// sure as a token that does not decrypt.
#[test]
fn a_secret_pyotp_refuses_is_a_lockout() {
    let python = python();
    let short = "JBSWY3DPEHPK3PXP"; // 80 bits
    assert_ne!(
        py_outcome(&python, &["now", short]).0,
        Some(0),
        "pyotp takes it"
    );
    let env = healthy();
    set(&env, "carol", Some(1), blob(&fernet_encrypt(KEY, short)));
    let r = doctor(&mut env.cmd(), &[]);
    assert_eq!(r.exit, 4, "{}", r.json);
}

#[test]
fn orphan_pending_enrollment_exits_3() {
    let env = healthy();
    env.enroll("carol");
    let carol = env.id_of("carol");
    env.conn()
        .execute("DELETE FROM account WHERE username = 'carol'", [])
        .unwrap();
    let r = doctor(&mut env.cmd(), &[]);
    assert_eq!(r.exit, 3, "{}", r.json);
    let f = &r.json["findings"][0];
    assert_eq!(f["code"], "orphan-pending");
    assert_eq!(f["place"], "pending");
    assert_eq!(f["id"], carol);
    assert_eq!(r.json["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn a_key_finding_outweighs_state_findings() {
    let env = healthy();
    set(&env, "alice", Some(1), Value::Null);
    set(
        &env,
        "carol",
        Some(1),
        blob(&fernet_encrypt(KEY3, &secret_for(3))),
    );
    let r = doctor(&mut env.cmd(), &[]);
    assert_eq!(r.exit, 4);
    assert_eq!(r.findings().len(), 2);
}

#[test]
fn every_invalid_spec_token_is_judged_as_python_judges_it() {
    let python = python();
    let text =
        std::fs::read_to_string(vectors_dir().join("fernet/invalid.json")).expect("invalid.json");
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(vectors.len() >= 8, "the spec's invalid set has 8 tokens");
    let (mut rejected, mut accepted) = (0, 0);
    for v in &vectors {
        let desc = v["desc"].as_str().unwrap();
        let token = v["token"].as_str().unwrap();
        let key = v["secret"].as_str().unwrap();
        // The app decrypts stored secrets with no TTL: the vector's "now" and
        // "ttl_sec" do not apply, so a token can be invalid in the spec and fine here.
        let python_says = py_decrypt(&python, key, &[token]).remove(0);
        let env = healthy();
        set(&env, "carol", Some(1), blob(token));
        let r = doctor(env.cmd().env("TWOFA_MASTER_KEY", key), &[]);
        let carol: Vec<_> = r
            .findings()
            .into_iter()
            .filter(|f| f.0 == "carol")
            .collect();
        match python_says {
            None => {
                rejected += 1;
                assert_eq!(r.exit, 4, "{desc}: {}", r.json);
                assert_eq!(carol.len(), 1, "{desc}: {}", r.json);
                assert_eq!(carol[0].1, "does-not-decrypt", "{desc}");
            }
            Some(plain) => {
                accepted += 1;
                // It decrypts, as in Python; what doctor then says is about the
                // plaintext, which pyotp must also refuse for the token to be unusable.
                assert!(
                    carol.iter().all(|f| f.1 != "does-not-decrypt"),
                    "{desc}: Python decrypts it to {plain:?} but doctor says it does not: {}",
                    r.json
                );
                let pyotp_ok = py_outcome(&python, &["now", &plain]).0 == Some(0);
                assert_eq!(
                    carol.is_empty(),
                    pyotp_ok,
                    "{desc}: plaintext {plain:?}, pyotp accepts it: {pyotp_ok}: {}",
                    r.json
                );
            }
        }
    }
    // The far-future and the expired-TTL tokens decrypt without a TTL; the rest do not.
    assert_eq!((rejected, accepted), (6, 2));
}

/// A well-formed token with blanks around it: Python's base64 decoding skips
/// them, and so must mex2fa.
#[test]
fn token_with_blanks_around_decrypts_as_in_python() {
    let python = python();
    let token = format!("  {}\n", fernet_encrypt(KEY, &secret_for(3)));
    assert!(py_decrypt(&python, KEY, &[&token])[0].is_some());
    let env = healthy();
    set(&env, "carol", Some(1), blob(&token));
    let r = doctor(&mut env.cmd(), &[]);
    assert_eq!(r.exit, 0, "{}", r.json);
}

/// Tokens the app's Fernet accepts or refuses for reasons of base64 alone.
#[test]
fn token_encoding_edge_cases_are_judged_as_python_judges_them() {
    let python = python();
    // 31 characters: a token of 120 characters that ends in one '='. About
    // one token in 45 has no '-' or '_' to put in the standard alphabet.
    let token = std::iter::repeat_with(|| fernet_encrypt(KEY, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX"))
        .take(50)
        .find(|t| t.contains(['-', '_']))
        .expect("one of 50 tokens has a - or _");
    assert!(token.ends_with('='));
    let standard = token.replace('-', "+").replace('_', "/");
    let cases = [
        (
            "without its padding",
            token.trim_end_matches('=').to_string(),
        ),
        ("in the standard alphabet", standard),
        (
            "with a line break inside",
            format!("{}\n{}", &token[..60], &token[60..]),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, t) in &cases {
        let python_ok = py_decrypt(&python, KEY, &[t]).remove(0).is_some();
        let env = healthy();
        set(&env, "carol", Some(1), blob(t));
        let r = doctor(&mut env.cmd(), &[]);
        let ours_ok = r.findings().iter().all(|f| f.1 != "does-not-decrypt");
        if python_ok != ours_ok {
            wrong.push(format!("{what}: python {python_ok}, doctor {ours_ok}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn key_problems_exit_4() {
    let env = healthy();
    // No key: the tokens cannot be checked.
    let r = doctor(env.bare().env("MEX2FA_DB", &env.db), &[]);
    assert_eq!(r.exit, 4);
    assert_eq!(r.json["findings"][0]["code"], "no-key");
    // A malformed key.
    let r = doctor(env.cmd().env("TWOFA_MASTER_KEY", &KEY[..43]), &[]);
    assert_eq!(r.exit, 4);
    assert_eq!(r.json["findings"][0]["code"], "no-key");
    // The wrong key: every token is named.
    let r = doctor(env.cmd().env("TWOFA_MASTER_KEY", KEY2), &[]);
    assert_eq!(r.exit, 4);
    let users: Vec<String> = r.findings().into_iter().map(|f| f.0).collect();
    assert_eq!(users, ["alice", "bob"]);
}

#[test]
fn schema_problems_exit_5() {
    let no_secret = "CREATE TABLE account (accountid INTEGER PRIMARY KEY, username TEXT,
        email TEXT, password TEXT, twofa_enabled INTEGER)";
    let no_enabled = "CREATE TABLE account (accountid INTEGER PRIMARY KEY, username TEXT,
        email TEXT, password TEXT, twofa_secret BLOB)";
    for (schema, says) in [
        (no_secret, "column 'twofa_secret'"),
        (no_enabled, "column 'twofa_enabled'"),
    ] {
        let env = TestEnv::with_schema(&format!("{schema};"));
        env.cmd()
            .arg("doctor")
            .assert()
            .code(5)
            .stderr(contains(says));
        let r = doctor(&mut env.cmd(), &[]);
        assert_eq!(r.exit, 5);
        assert_eq!(r.json["error"], "database");
    }
    let env = healthy();
    env.cmd()
        .args(["doctor", "--table", "users"])
        .assert()
        .code(5)
        .stderr(contains("table 'users' not found"));
    env.cmd()
        .args(["doctor", "--secret-column", "secret"])
        .assert()
        .code(5);
    env.cmd()
        .arg("doctor")
        .env("MEX2FA_DB", env.path("missing.db"))
        .assert()
        .code(5)
        .stderr(contains("not found"));
}

#[test]
fn findings_beyond_the_listed_ones_are_counted() {
    let env = TestEnv::new();
    let mut conn = env.conn();
    let tx = conn.transaction().unwrap();
    for i in 0..250 {
        tx.execute(
            "INSERT INTO account (username, twofa_enabled, twofa_secret) VALUES (?1, 1, NULL)",
            [format!("user{i}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(conn);
    let r = doctor(&mut env.cmd(), &[]);
    assert_eq!(r.exit, 3);
    assert_eq!(r.json["findings"].as_array().unwrap().len(), 200);
    assert_eq!(r.json["more_findings"], 50);
    env.cmd()
        .arg("doctor")
        .assert()
        .code(3)
        .stdout(contains("and 50 more findings"));
}

fn pending_users(env: &TestEnv) -> Vec<String> {
    env.conn()
        .prepare(
            "SELECT a.username FROM mex2fa_pending p JOIN account a ON a.accountid = p.account_id
             ORDER BY a.username",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn expire(env: &TestEnv, user: &str) {
    let id = env.id_of(user);
    env.conn()
        .execute(
            "UPDATE mex2fa_pending SET expires_at = ?1 WHERE account_id = ?2",
            [now() as i64 - 60, id],
        )
        .unwrap();
}

#[test]
fn fix_removes_expired_pending_rows_and_audits_it() {
    let env = healthy();
    env.add_user("dave");
    env.enroll("carol");
    env.enroll("dave");
    expire(&env, "dave");

    // Without a terminal and without --yes: refused, nothing changes.
    let snap = env.snapshot();
    env.cmd()
        .args(["doctor", "--fix"])
        .assert()
        .code(2)
        .stderr(contains("--yes"));
    assert_eq!(env.snapshot(), snap);

    env.cmd()
        .args(["doctor", "--fix", "--yes"])
        .assert()
        .success()
        .stdout(contains("removed 1 expired pending enrollments"))
        .stdout(contains("healthy"));
    assert_eq!(pending_users(&env), ["carol"]);
    let log = env.cmd().args(["log", "--json"]).output().unwrap();
    let log: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let newest = &log[0];
    assert_eq!(newest["action"], "doctor-fix", "{log}");
    assert_eq!(newest["detail"], "removed 1 expired pending enrollments");
    env.cmd()
        .arg("log")
        .assert()
        .success()
        .stdout(contains("doctor-fix"));

    // Nothing left to fix: healthy, no confirmation needed, no new audit entry.
    env.cmd().args(["doctor", "--fix"]).assert().success();
    let again = env.cmd().args(["log", "--json"]).output().unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        again.as_array().unwrap().len(),
        log.as_array().unwrap().len()
    );
}

#[test]
fn fix_leaves_other_findings_and_reports_them() {
    let env = healthy();
    env.add_user("dave");
    env.enroll("carol");
    env.enroll("dave");
    expire(&env, "carol");
    set(
        &env,
        "bob",
        Some(0),
        blob(&fernet_encrypt(KEY, &secret_for(2))),
    );
    let r = doctor(&mut env.cmd(), &["--fix", "--yes"]);
    assert_eq!(r.exit, 3, "{}", r.json);
    assert_eq!(r.json["fixed"], 1);
    let codes: Vec<String> = r.findings().into_iter().map(|f| f.1).collect();
    assert_eq!(codes, ["disabled-with-secret"]);
    assert_eq!(pending_users(&env), ["dave"]);
}

/// An enabled flag that is not 0 or 1 reads as the app reads it, by Python's
/// truthiness of what sqlite3 returns (the text 'false' is on, '' is off),
/// in every command; doctor names each such row.
#[test]
fn flags_other_than_0_or_1_read_as_the_app_reads_them_and_doctor_names_each() {
    let env = TestEnv::new();
    let flags = [
        ("f_two", "2", true),
        ("f_minus", "-1", true),
        ("f_yes", "'yes'", true),
        ("f_no", "'no'", true),
        ("f_half", "0.5", true),
        ("f_blob", "x'01'", true),
        ("f_false", "'false'", true),
        ("f_empty", "''", false),
    ];
    {
        let conn = env.conn();
        for (user, flag, _) in flags {
            conn.execute(
                &format!("INSERT INTO account (username, twofa_enabled) VALUES ('{user}', {flag})"),
                [],
            )
            .unwrap();
        }
    }
    let out = env.cmd().args(["--json", "status"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (user, _, on) in flags {
        let row = status
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user"] == user)
            .unwrap();
        assert_eq!(row["enabled"], on, "{user}: {row}");
    }
    let out = env.cmd().args(["--json", "doctor"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut named: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "odd-flag")
        .map(|f| f["user"].as_str().unwrap())
        .collect();
    named.sort();
    let mut want: Vec<&str> = flags.iter().map(|(u, _, _)| *u).collect();
    want.sort();
    assert_eq!(named, want, "{doc}");
    // `disable --all` takes exactly the accounts the app sees as enabled.
    let out = env
        .cmd()
        .args(["--json", "disable", "--all", "--yes"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["count"], 7, "{doc}");
}
