//! End-to-end tests of the operator's tools: `keygen` (a Fernet key the app's
//! Python accepts, written privately, never over a file), `log` (the audit
//! trail of state changes, filtered, never holding a secret) and `demo` (the
//! whole tour on throwaway files, touching nothing else).

use std::collections::BTreeSet;

use crate::util::*;
use base64::Engine;
use serde_json::Value as Json;

fn run_json(c: &mut assert_cmd::Command) -> Json {
    let out = c.output().unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn check_key_text(key: &str) {
    assert_eq!(key.len(), 44, "{key:?}");
    assert!(key.ends_with('='), "padded: {key:?}");
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='),
        "URL-safe alphabet: {key:?}"
    );
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(key)
        .expect("base64");
    assert_eq!(bytes.len(), 32);
}

// ---------------------------------------------------------------- keygen

#[test]
fn keygen_prints_a_fresh_fernet_key() {
    let env = TestEnv::new();
    let out = env.bare().arg("keygen").output().unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
    let key = text.trim_end();
    check_key_text(key);
    let doc = run_json(env.bare().args(["keygen", "--json"]));
    let other = doc["key"].as_str().expect("{\"key\": ...}");
    check_key_text(other);
    assert_ne!(key, other, "a new key every time");
    assert_ne!(key, KEY);
}

#[test]
fn keygen_out_is_private_never_overwrites_and_the_key_works() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let out = env
        .bare()
        .args(["keygen", "--out", "new.key"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(out.stdout.is_empty(), "the key goes to the file only");
    let path = env.path("new.key");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    check_key_text(text.trim_end());
    assert!(!String::from_utf8_lossy(&out.stderr).contains(text.trim_end()));

    // Never over an existing file: the new key or anyone else's.
    let line = one_line(&output(env.bare().args(["keygen", "--out", "new.key"])), 2);
    assert!(line.contains("new.key"), "{line}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    std::fs::write(env.path("notes.txt"), "keep me").unwrap();
    one_line(
        &output(env.bare().args(["keygen", "--out", "notes.txt"])),
        2,
    );
    assert_eq!(
        std::fs::read_to_string(env.path("notes.txt")).unwrap(),
        "keep me"
    );

    // The key is usable as the master key.
    let mut c = env.bare();
    c.env("MEX2FA_DB", &env.db)
        .args(["--master-key-file", "new.key"])
        .args(["enroll", "alice", "--json", "--show-secret"]);
    let secret = run_json(&mut c)["secret"].as_str().unwrap().to_string();
    let out = at_step(0, |t| {
        let mut c = env.bare();
        c.env("MEX2FA_DB", &env.db)
            .args(["--master-key-file", "new.key"])
            .args(["confirm", "alice", "--code", &totp_at(&secret, t)]);
        output(&mut c)
    });
    assert_ok(&out);
    // ... and only that key opens what it wrote.
    one_line(
        &output(
            env.cmd()
                .args(["verify", "alice", "--code", &totp_now(&secret)]),
        ),
        4,
    );

    // Python's Fernet (the app) takes the key as it is.
    let python = python();
    let key = text.trim_end();
    let token = py(&python, &["encrypt", key, "JBSWY3DPEHPK3PXP"]);
    assert_eq!(py(&python, &["decrypt", key, &token]), "JBSWY3DPEHPK3PXP");
}

// ------------------------------------------------------------------- log

fn log(env: &TestEnv, args: &[&str]) -> Vec<Json> {
    let mut c = env.cmd();
    c.args(["log", "--json"]).args(args);
    run_json(&mut c).as_array().expect("an array").clone()
}

fn actions(entries: &[Json]) -> Vec<(&str, &str)> {
    entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["user"].as_str().unwrap()))
        .collect()
}

#[test]
fn log_records_each_state_change_and_never_a_secret() {
    let env = TestEnv::new();
    assert_eq!(log(&env, &[]), Vec::<Json>::new(), "a fresh database");
    let alice = env.enable_steady("alice");
    let bob = env.enroll("bob");
    env.cmd()
        .args(["disable", "alice", "--yes"])
        .assert()
        .success();
    // Refusals and checks are not state changes.
    let before = log(&env, &[]).len();
    one_line(
        &output(
            env.cmd()
                .args(["confirm", "bob", "--code", &wrong_code(&bob)]),
        ),
        1,
    );
    one_line(&output(env.cmd().args(["enroll", "mallory"])), 3);
    assert_eq!(log(&env, &[]).len(), before);

    let all = log(&env, &[]);
    assert_eq!(
        actions(&all),
        [
            ("disable", "alice"),
            ("enroll", "bob"),
            ("confirm", "alice"),
            ("enroll", "alice"),
        ],
        "newest first"
    );
    let want: BTreeSet<&str> = ["at", "os_user", "action", "id", "user", "detail", "reason"]
        .into_iter()
        .collect();
    for e in &all {
        let got: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(got, want);
        assert_eq!(e["os_user"], "tester", "the OS user ($USER)");
        assert_eq!(e["reason"], serde_json::Value::Null, "no --reason given");
        let at = e["at"].as_str().unwrap();
        assert!(
            at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
            "{at}"
        );
    }
    assert_eq!(all[0]["id"], 1);
    assert_eq!(all[1]["id"], 2);

    assert_eq!(
        actions(&log(&env, &["--limit", "1"])),
        [("disable", "alice")]
    );
    assert_eq!(
        actions(&log(&env, &["bob"])),
        [("enroll", "bob")],
        "one user's entries"
    );
    assert_eq!(log(&env, &["--limit", "0"]), Vec::<Json>::new());

    // The table lists the same, and no output or stored entry holds a secret.
    let out = env.cmd().arg("log").output().unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    for word in ["enroll", "confirm", "disable", "alice", "bob", "tester"] {
        assert!(text.contains(word), "{word}: {text}");
    }
    let json_text = serde_json::to_string(&all).unwrap();
    let stored = env.sql_text("SELECT group_concat(detail, '|') FROM mex2fa_audit");
    for secret in [&alice, &bob] {
        assert!(!text.contains(secret.as_str()));
        assert!(!json_text.contains(secret.as_str()));
        assert!(!stored.contains(secret.as_str()));
    }
}

#[test]
fn log_since_filters_by_utc_time_and_checks_the_date() {
    let env = TestEnv::new();
    env.enroll("alice");
    env.enroll("bob");
    // Backdate alice's entry to 2001.
    env.conn()
        .execute(
            "UPDATE mex2fa_audit SET at_unix = 978307200, at = '2001-01-01T00:00:00Z' WHERE username = 'alice'",
            [],
        )
        .unwrap();
    assert_eq!(log(&env, &["--since", "2000-06-01"]).len(), 2);
    assert_eq!(
        actions(&log(&env, &["--since", "2020-01-01"])),
        [("enroll", "bob")]
    );
    assert_eq!(
        actions(&log(&env, &["--since", "2001-01-01T00:00:00Z"])).len(),
        2,
        "--since is inclusive"
    );
    assert_eq!(
        actions(&log(&env, &["--since", "2001-01-01T00:00:01Z"])),
        [("enroll", "bob")]
    );
    assert_eq!(log(&env, &["--since", "2999-01-01"]), Vec::<Json>::new());
    for bad in ["yesterday", "2026-02-30", "2026-13-01", "01/02/2026", ""] {
        let line = env.fails(env.cmd().args(["log", &format!("--since={bad}")]), 2);
        assert!(line.contains("--since"), "{bad:?}: {line}");
    }
    env.fails(env.cmd().args(["log", "--limit", "-1"]), 2);
}

// ------------------------------------------------------------------ demo

#[test]
fn demo_shows_every_verb_and_cleans_up_after_itself() {
    let env = TestEnv::new();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Run from a directory whose .env points at real data: the demo must
    // neither use nor touch it.
    std::fs::write(
        env.path(".env"),
        "MEX2FA_TABLE=members\nMEX2FA_ISSUER=Prod\nMEX2FA_PENDING_TTL=nonsense\n",
    )
    .unwrap();
    let before = env.snapshot();
    let out = env
        .cmd()
        .env("TMPDIR", &tmp)
        .args(["demo", "--clean"])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    for verb in [
        "$ mex2fa keygen",
        "$ mex2fa status",
        "$ mex2fa enroll alice",
        "$ mex2fa confirm alice",
        "$ mex2fa verify alice",
        "$ mex2fa disable bob",
        "$ mex2fa log",
    ] {
        assert!(text.contains(verb), "{verb} missing from the demo:\n{text}");
    }
    assert!(text.contains("2FA enabled for 'alice'"), "{text}");
    assert!(text.contains("2FA disabled for 'bob'"), "{text}");
    assert!(
        !text.contains("Prod"),
        "the .env of the working dir leaked in"
    );
    assert_eq!(
        env.snapshot(),
        before,
        "the configured database is untouched"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "--clean left {left:?}");
}

#[test]
fn demo_without_clean_leaves_its_files_to_look_at() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = env.bare().env("TMPDIR", &tmp).arg("demo").output().unwrap();
    assert_ok(&out);
    let dirs: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let dir = &dirs[0];
    assert!(
        stdout(&out).contains(&dir.display().to_string()),
        "says where"
    );
    let key = dir.join("master.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let conn = rusqlite::Connection::open(dir.join("mexanimator.db")).unwrap();
    let state: Vec<(String, i64, String)> = conn
        .prepare(
            "SELECT username, twofa_enabled, typeof(twofa_secret) FROM account ORDER BY accountid",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        state,
        [
            ("alice".to_string(), 1, "blob".to_string()),
            ("bob".to_string(), 0, "null".to_string()),
            ("carol".to_string(), 1, "blob".to_string()),
        ]
    );
}
