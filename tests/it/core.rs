//! End-to-end tests of the core commands — enroll, confirm, verify, disable
//! and status — through the real binary on real SQLite files: exit codes,
//! what is printed, and what the database holds afterwards.
//!
//! Codes are computed by the harness's own TOTP (`util::totp_at`), right
//! before each run; `util::at_step` runs again when a 30-second step
//! boundary fell in between.

use std::collections::BTreeSet;

use crate::util::*;
use rusqlite::types::Value;
use serde_json::Value as Json;

fn json(bytes: &[u8]) -> Json {
    let text = std::str::from_utf8(bytes).expect("utf-8 stdout");
    assert_eq!(
        text.matches('\n').count(),
        1,
        "one JSON document on one line: {text:?}"
    );
    serde_json::from_str(text).expect("JSON on stdout")
}

fn keys(doc: &Json) -> BTreeSet<&str> {
    doc.as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(items: &[&'a str]) -> BTreeSet<&'a str> {
    items.iter().copied().collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `secret`'s code at `t`, unless that is also `other`'s code; then a code
/// wrong for `other`. Either way, one that `other` refuses.
fn code_unlike(secret: &str, other: &str, t: u64) -> String {
    let code = totp_at(secret, t);
    if code == totp_at(other, t) {
        wrong_code(other)
    } else {
        code
    }
}

fn pending_count(env: &TestEnv) -> i64 {
    let exists = env.sql_i64(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'mex2fa_pending'",
    );
    if exists == 0 {
        return 0;
    }
    env.sql_i64("SELECT count(*) FROM mex2fa_pending")
}

/// `verify USER --code <code for t + offset steps>` with extra arguments.
fn verify_at(
    env: &TestEnv,
    secret: &str,
    offset: i64,
    extra: &[&str],
    want: i32,
) -> std::process::Output {
    at_step(want, |t| {
        let at = (t as i64 + offset * 30) as u64;
        let mut c = env.cmd();
        c.args(["verify", "alice", "--code", &totp_at(secret, at)])
            .args(extra);
        output(&mut c)
    })
}

fn status_json(env: &TestEnv) -> Vec<Json> {
    let out = env.cmd().args(["status", "--json"]).output().unwrap();
    assert_code(&out, 0);
    json(&out.stdout).as_array().expect("an array").clone()
}

// ---------------------------------------------------------------- enroll

#[test]
fn enroll_keeps_an_encrypted_pending_secret_and_leaves_the_account_alone() {
    let env = TestEnv::new();
    let before = env.full_row("alice");
    let out = env
        .cmd()
        .args(["enroll", "alice", "--json", "--show-secret"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let doc = json(&out.stdout);
    assert_eq!(
        keys(&doc),
        set(&["user", "state", "expires_at", "otpauth_uri", "secret"])
    );
    assert_eq!(doc["user"], "alice");
    assert_eq!(doc["state"], "pending");
    let secret = doc["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits, as pyotp.random_base32()");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(
        doc["otpauth_uri"],
        format!("otpauth://totp/MeXanimatoR:alice?secret={secret}&issuer=MeXanimatoR")
    );

    // The account row is untouched until the code is confirmed.
    assert_eq!(env.full_row("alice"), before);
    // One pending row, holding a Fernet token; its expiry is what was printed.
    assert_eq!(pending_count(&env), 1);
    assert_eq!(
        env.sql_i64("SELECT account_id FROM mex2fa_pending"),
        1,
        "keyed by the account id"
    );
    let token = env.sql_text("SELECT secret_token FROM mex2fa_pending");
    assert!(token.starts_with("gAAAAA"), "a Fernet token: {token}");
    assert_eq!(
        env.sql_text(
            "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', expires_at, 'unixepoch') FROM mex2fa_pending"
        ),
        doc["expires_at"].as_str().unwrap()
    );
    assert_eq!(
        env.sql_i64("SELECT expires_at - created_at FROM mex2fa_pending"),
        900,
        "15 minutes by default"
    );
    // Never the plaintext secret, in any case, anywhere in the file.
    let bytes = env.snapshot();
    assert!(!contains(&bytes, secret.as_bytes()));
    assert!(!contains(&bytes, secret.to_lowercase().as_bytes()));

    // A second enrollment replaces the first: only the new secret confirms.
    let second = env.enroll("alice");
    assert_ne!(second, secret);
    assert_eq!(pending_count(&env), 1);
    let out = at_step(1, |t| {
        let mut c = env.cmd();
        c.args([
            "confirm",
            "alice",
            "--code",
            &code_unlike(secret, &second, t),
        ]);
        output(&mut c)
    });
    assert_code(&out, 1);
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--code", &totp_at(&second, t)]);
        output(&mut c)
    });
    assert_code(&out, 0);
}

#[test]
fn enroll_json_without_show_secret_has_no_secret() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["enroll", "bob", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let doc = json(&out.stdout);
    assert_eq!(keys(&doc), set(&["user", "state", "expires_at"]));
    assert_eq!(doc["user"], "bob");
    assert_eq!(doc["state"], "pending");
    // The same in text mode: the QR code, but neither URI nor secret.
    let out = env
        .cmd()
        .args(["enroll", "bob", "--no-qr"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(!stdout(&out).contains("otpauth://"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("secret"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("mex2fa confirm bob"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn enroll_text_show_secret_prints_the_uri_on_a_line_of_its_own() {
    let env = TestEnv::new();
    for extra in [&["--no-qr"][..], &[][..]] {
        let out = env
            .cmd()
            .args(["enroll", "alice", "--show-secret"])
            .args(extra)
            .output()
            .unwrap();
        assert_code(&out, 0);
        let text = stdout(&out);
        let uri = text
            .lines()
            .find(|l| l.contains("otpauth://"))
            .unwrap_or_else(|| panic!("no URI in {text:?}"));
        assert!(
            uri.starts_with("otpauth://totp/MeXanimatoR:alice?secret=")
                && uri.ends_with("&issuer=MeXanimatoR"),
            "the URI alone on its line: {uri:?}"
        );
        let secret = uri
            .split_once("?secret=")
            .and_then(|(_, rest)| rest.split_once('&'))
            .map(|(s, _)| s)
            .expect("a secret parameter");
        assert_eq!(secret.len(), 32);
        assert!(
            text.lines()
                .any(|l| l.contains(secret) && !l.contains("otpauth")),
            "the secret is printed too: {text:?}"
        );
        if extra.is_empty() {
            assert!(
                text.contains('█') || text.contains('▀') || text.contains('▄'),
                "the QR code is drawn with half blocks: {text:?}"
            );
        } else {
            assert!(!text.contains('▀') && !text.contains('▄'));
        }
        // The printed secret is the one pending.
        let out = at_step(0, |t| {
            let mut c = env.cmd();
            c.args(["confirm", "alice", "--code", &totp_at(secret, t)]);
            output(&mut c)
        });
        assert_code(&out, 0);
        env.cmd()
            .args(["disable", "alice", "--yes"])
            .assert()
            .success();
    }
}

#[test]
fn enroll_of_an_enabled_user_needs_force_and_the_old_secret_works_until_confirm() {
    let env = TestEnv::new();
    let old = env.enable_steady("alice");
    let line = env.fails(env.cmd().args(["enroll", "alice"]), 3);
    assert!(line.contains("--force"), "{line}");

    let new = {
        let out = env
            .cmd()
            .args(["enroll", "alice", "--force", "--json", "--show-secret"])
            .output()
            .unwrap();
        assert_code(&out, 0);
        json(&out.stdout)["secret"].as_str().unwrap().to_string()
    };
    assert_ne!(new, old);
    let row = env.row("alice");
    assert_eq!(row.0, 1, "still enabled while the new secret is pending");
    let st = status_json(&env);
    assert_eq!(st[0]["enabled"], true);
    assert_eq!(st[0]["pending"], true);
    // The old secret keeps working, the new one does not yet.
    assert_code(&verify_at(&env, &old, 0, &[], 0), 0);
    let out = at_step(1, |t| {
        let mut c = env.cmd();
        c.args(["verify", "alice", "--code", &code_unlike(&new, &old, t)]);
        output(&mut c)
    });
    assert_code(&out, 1);

    // Confirmed: the new secret replaces the old one.
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--code", &totp_at(&new, t)]);
        output(&mut c)
    });
    assert_code(&out, 0);
    assert_ne!(env.row("alice").1, row.1, "a new token is stored");
    assert_code(&verify_at(&env, &new, 0, &[], 0), 0);
    let out = at_step(1, |t| {
        let mut c = env.cmd();
        let code = totp_at(&old, t);
        let code = if code == totp_at(&new, t) {
            wrong_code(&new)
        } else {
            code
        };
        c.args(["verify", "alice", "--code", &code]);
        output(&mut c)
    });
    assert_code(&out, 1);
    assert_eq!(pending_count(&env), 0);
}

#[test]
fn enroll_with_a_code_tries_to_confirm_in_the_same_call() {
    let env = TestEnv::new();
    // The secret is made in this very call, so a code typed in advance is
    // refused (exit 1) and the enrollment stays pending for `confirm`.
    let out = env
        .cmd()
        .args([
            "enroll",
            "alice",
            "--no-qr",
            "--show-secret",
            "--code",
            "000000",
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    if out.status.code() == Some(0) {
        // One chance in a million: 000000 was the new secret's code.
        return;
    }
    assert_code(&out, 1);
    assert!(stderr(&out).contains("not accepted"), "{}", stderr(&out));
    assert_eq!(env.row("alice").0, 0);
    assert_eq!(pending_count(&env), 1, "still pending");
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret in {text:?}"))
        .to_string();
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--code", &totp_at(&secret, t)]);
        output(&mut c)
    });
    assert_code(&out, 0);

    // A malformed code is refused before anything is written.
    env.fails(env.cmd().args(["enroll", "bob", "--code", "12345"]), 2);
}

#[test]
fn enroll_json_with_a_rejected_code_still_shows_the_pending_secret() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "enroll",
            "alice",
            "--json",
            "--show-secret",
            "--code",
            "000000",
        ])
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert_eq!(pending_count(&env), 1);
    let doc = json(&out.stdout);
    assert_eq!(doc["state"], "pending");
    let secret = doc["secret"]
        .as_str()
        .expect("the pending secret must be shown, or it can never be confirmed");
    assert!(doc["otpauth_uri"].as_str().is_some());
    assert!(doc["expires_at"].as_str().is_some());
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--code", &totp_at(secret, t)]);
        output(&mut c)
    });
    assert_code(&out, 0);
}

#[test]
fn enroll_png_is_private_holds_the_uri_and_is_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let png = env.path("qr.png");
    let out = env
        .cmd()
        .args([
            "enroll",
            "alice",
            "--json",
            "--show-secret",
            "--png",
            "qr.png",
        ])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let doc = json(&out.stdout);
    let meta = std::fs::metadata(&png).expect("the PNG exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    // It scans as the otpauth URI.
    let img = image::load_from_memory(&bytes)
        .expect("decodes")
        .into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the PNG");
    let (_, content) = grids[0].decode().expect("QR decodes");
    assert_eq!(content, doc["otpauth_uri"].as_str().unwrap());

    // An existing file: refused, and neither the file nor the database changes.
    let line = env.fails(env.cmd().args(["enroll", "alice", "--png", "qr.png"]), 2);
    assert!(line.contains("qr.png"), "{line}");
    assert_eq!(std::fs::read(&png).unwrap(), bytes);
    // The same for a user not yet pending: no pending row appears.
    std::fs::write(env.path("taken.png"), b"mine").unwrap();
    env.fails(env.cmd().args(["enroll", "bob", "--png", "taken.png"]), 2);
    assert_eq!(std::fs::read(env.path("taken.png")).unwrap(), b"mine");
    assert_eq!(pending_count(&env), 1, "only alice's");
}

#[test]
fn enroll_ttl_is_checked_and_applied() {
    let env = TestEnv::new();
    for bad in [
        "abc",
        "0",
        "-5",
        "15x",
        "",
        "1.5m",
        "99999999999999999999",
        "5 m",
    ] {
        let line = env.fails(
            env.cmd().args(["enroll", "alice", &format!("--ttl={bad}")]),
            2,
        );
        assert!(line.contains("--ttl"), "{bad:?}: {line}");
    }
    let mut c = env.cmd();
    c.env("MEX2FA_PENDING_TTL", "soon")
        .args(["enroll", "alice"]);
    env.fails(&mut c, 2);
    assert_eq!(pending_count(&env), 0);

    let ttl_of = |args: &[&str], var: Option<&str>| {
        let mut c = env.cmd();
        if let Some(v) = var {
            c.env("MEX2FA_PENDING_TTL", v);
        }
        c.args(["enroll", "alice", "--json"])
            .args(args)
            .assert()
            .success();
        env.sql_i64("SELECT expires_at - created_at FROM mex2fa_pending")
    };
    assert_eq!(ttl_of(&["--ttl", "90"], None), 90);
    assert_eq!(ttl_of(&["--ttl", "1h"], None), 3600);
    assert_eq!(ttl_of(&["--ttl", "45s"], None), 45);
    assert_eq!(ttl_of(&["--ttl", "2d"], None), 172_800);
    assert_eq!(ttl_of(&[], Some("2m")), 120);
    assert_eq!(ttl_of(&["--ttl", "3m"], Some("2m")), 180, "flag beats env");
}

#[test]
fn enroll_unknown_user_changes_nothing() {
    let env = TestEnv::new();
    let line = env.fails(env.cmd().args(["enroll", "mallory"]), 3);
    assert!(line.contains("mallory"), "{line}");
    // Exact match: no case folding or prefix matching of usernames.
    env.fails(env.cmd().args(["enroll", "Alice"]), 3);
    env.fails(env.cmd().args(["enroll", "alic"]), 3);
}

// --------------------------------------------------------------- confirm

#[test]
fn confirm_enables_and_stores_a_blob_in_a_blob_column() {
    let env = TestEnv::new();
    let before = env.full_row("alice");
    let secret = env.enroll("alice");
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--code", &totp_at(&secret, t)]);
        output(&mut c)
    });
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("2FA enabled for 'alice'"),
        "{}",
        stdout(&out)
    );
    let (enabled, stored) = env.row("alice");
    assert_eq!(enabled, 1);
    match stored {
        Value::Blob(b) => assert!(b.starts_with(b"gAAAAA"), "a Fernet token"),
        other => panic!("a BLOB, as Python writes bytes: {other:?}"),
    }
    assert_eq!(
        env.sql_text("SELECT typeof(twofa_secret) FROM account WHERE username = 'alice'"),
        "blob"
    );
    assert_eq!(pending_count(&env), 0, "the pending row is deleted");
    // Only the two 2FA columns changed.
    let after = env.full_row("alice");
    assert_eq!(after[..4], before[..4]);
    assert_eq!(env.row("bob"), (0, Value::Null));
    assert!(!contains(&env.snapshot(), secret.as_bytes()));
}

#[test]
fn confirm_writes_text_into_a_text_column_and_blob_otherwise() {
    for (decl, want) in [
        ("TEXT", "text"),
        ("VARCHAR(255)", "text"),
        ("CLOB", "text"),
        ("BLOB", "blob"),
        ("", "blob"),
    ] {
        let env = TestEnv::with_schema(
            &SCHEMA_BLOB.replace("twofa_secret BLOB", &format!("twofa_secret {decl}")),
        );
        let secret = env.enable_steady("carol");
        assert_eq!(
            env.sql_text("SELECT typeof(twofa_secret) FROM account WHERE username = 'carol'"),
            want,
            "declared {decl:?}"
        );
        // Either form verifies.
        let out = at_step(0, |t| {
            let mut c = env.cmd();
            c.args(["verify", "carol", "--code", &totp_at(&secret, t)]);
            output(&mut c)
        });
        assert_code(&out, 0);
    }
}

#[test]
fn confirm_with_a_wrong_code_keeps_it_pending() {
    let env = TestEnv::new();
    let secret = env.enroll("alice");
    let line = env.fails(
        env.cmd()
            .args(["confirm", "alice", "--code", &wrong_code(&secret)]),
        1,
    );
    assert!(line.contains("not accepted"), "{line}");
    assert_eq!(env.row("alice"), (0, Value::Null));
    assert_eq!(pending_count(&env), 1);
    assert_eq!(status_json(&env)[0]["pending"], true);
    // --json: the refusal as a document too.
    let out = env
        .cmd()
        .args(["confirm", "alice", "--json", "--code", &wrong_code(&secret)])
        .output()
        .unwrap();
    assert_code(&out, 1);
    let doc = json(&out.stdout);
    assert_eq!(doc["accepted"], false);
    assert_eq!(doc["state"], "pending");
    // And the right code still works afterwards.
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--json", "--code", &totp_at(&secret, t)]);
        output(&mut c)
    });
    assert_code(&out, 0);
    let doc = json(&out.stdout);
    assert_eq!(
        doc,
        serde_json::json!({"user": "alice", "state": "enabled"})
    );
}

#[test]
fn confirm_with_nothing_pending_or_no_such_user_is_exit_3() {
    let env = TestEnv::new();
    let line = env.fails(env.cmd().args(["confirm", "alice", "--code", "123456"]), 3);
    assert!(line.contains("enroll"), "{line}");
    env.enable_steady("bob");
    env.fails(env.cmd().args(["confirm", "bob", "--code", "123456"]), 3);
    env.fails(
        env.cmd().args(["confirm", "mallory", "--code", "123456"]),
        3,
    );
    // A malformed code is a usage error first.
    env.fails(env.cmd().args(["confirm", "alice", "--code", "12345x"]), 2);
}

#[test]
fn confirm_of_an_expired_enrollment_says_to_enroll_again() {
    let env = TestEnv::new();
    let secret = env.enroll("alice");
    env.conn()
        .execute(
            "UPDATE mex2fa_pending SET expires_at = CAST(strftime('%s','now') AS INTEGER) - 1",
            [],
        )
        .unwrap();
    let st = status_json(&env);
    assert_eq!(
        st[0]["pending"], false,
        "an expired enrollment is not pending"
    );
    let table = env.cmd().arg("status").output().unwrap();
    assert!(stdout(&table).contains("expired"), "{}", stdout(&table));
    let code = totp_now(&secret);
    let line = env.fails(env.cmd().args(["confirm", "alice", "--code", &code]), 3);
    assert!(
        line.contains("expired") && line.contains("enroll"),
        "{line}"
    );
    assert_eq!(env.row("alice"), (0, Value::Null));
}

#[test]
fn confirm_after_a_real_one_second_ttl_is_expired() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["enroll", "alice", "--ttl", "1", "--json", "--show-secret"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let secret = json(&out.stdout)["secret"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let line = env.fails(
        env.cmd()
            .args(["confirm", "alice", "--code", &totp_now(&secret)]),
        3,
    );
    assert!(line.contains("enroll"), "{line}");
}

#[test]
fn confirm_reads_the_code_from_stdin() {
    let env = TestEnv::new();
    let secret = env.enroll("alice");
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "alice"])
            .write_stdin(format!("{}\n", totp_at(&secret, t)));
        output(&mut c)
    });
    assert_code(&out, 0);
    assert_eq!(env.row("alice").0, 1);
}

// ---------------------------------------------------------------- verify

#[test]
fn verify_accepts_the_current_code_and_refuses_others() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    let before = env.snapshot();
    let out = verify_at(&env, &secret, 0, &[], 0);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("accepted"), "{}", stdout(&out));
    let out = verify_at(&env, &secret, 0, &["--json"], 0);
    assert_code(&out, 0);
    assert_eq!(
        json(&out.stdout),
        serde_json::json!({"user": "alice", "accepted": true, "drift_steps": 0})
    );
    let line = env.fails(
        env.cmd()
            .args(["verify", "alice", "--code", &wrong_code(&secret)]),
        1,
    );
    assert!(line.contains("not accepted"), "{line}");
    let out = env
        .cmd()
        .args(["verify", "alice", "--json", "--code", &wrong_code(&secret)])
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert_eq!(json(&out.stdout)["accepted"], false);
    assert_eq!(env.snapshot(), before, "verify never writes");
}

#[test]
fn verify_window_accepts_nearby_steps_only_when_asked() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    // Two steps old: refused by the app's rule (window 0) and by window 1,
    // with a hint about the clock.
    let out = verify_at(&env, &secret, -2, &[], 1);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("s ago"), "{}", stderr(&out));
    assert_code(&verify_at(&env, &secret, -2, &["--window", "1"], 1), 1);
    let out = verify_at(&env, &secret, -2, &["--window", "2", "--json"], 0);
    assert_code(&out, 0);
    assert_eq!(json(&out.stdout)["drift_steps"], -2);
    // One step ahead (a fast phone).
    let out = verify_at(&env, &secret, 1, &[], 1);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("in 30 s"), "{}", stderr(&out));
    let out = verify_at(&env, &secret, 1, &["--window", "1", "--json"], 0);
    assert_code(&out, 0);
    assert_eq!(json(&out.stdout)["drift_steps"], 1);
    // Out of range or not a number: usage.
    for bad in ["11", "-1", "x", ""] {
        env.fails(
            env.cmd().args([
                "verify",
                "alice",
                "--code",
                "123456",
                &format!("--window={bad}"),
            ]),
            2,
        );
    }
}

#[test]
fn verify_ignores_spaces_inside_the_code() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    let out = at_step(0, |t| {
        let code = totp_at(&secret, t);
        let mut c = env.cmd();
        c.args([
            "verify",
            "alice",
            "--code",
            &format!("{} {}", &code[..3], &code[3..]),
        ]);
        output(&mut c)
    });
    assert_code(&out, 0);
}

#[test]
fn verify_refuses_malformed_codes_with_exit_2() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    for bad in [
        "",
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        "١٢٣٤٥٦",
        "１２３４５６",
        "12_456",
        "+12345",
    ] {
        let line = env.fails(
            env.cmd()
                .args(["verify", "alice", &format!("--code={bad}")]),
            2,
        );
        assert!(line.contains("code"), "{bad:?}: {line}");
    }
    // On stdin: a NUL inside, letters, nothing at all.
    for bad in ["123\u{0}456\n", "12345z\n", "1234567\n", ""] {
        env.fails(env.cmd().args(["verify", "alice"]).write_stdin(bad), 2);
    }
}

#[test]
fn verify_reads_the_code_from_a_stdin_pipe() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    for fmt in ["{}\n", "{}", "{}\r\n"] {
        let out = at_step(0, |t| {
            let mut c = env.cmd();
            c.args(["verify", "alice"])
                .write_stdin(fmt.replace("{}", &totp_at(&secret, t)));
            output(&mut c)
        });
        assert_code(&out, 0);
    }
    env.fails(
        env.cmd()
            .args(["verify", "alice"])
            .write_stdin(format!("{}\n", wrong_code(&secret))),
        1,
    );
}

#[test]
fn verify_of_a_user_without_2fa_or_unknown_is_exit_3() {
    let env = TestEnv::new();
    let line = env.fails(env.cmd().args(["verify", "carol", "--code", "123456"]), 3);
    assert!(line.contains("carol"), "{line}");
    env.enroll("bob"); // pending only
    env.fails(env.cmd().args(["verify", "bob", "--code", "123456"]), 3);
    env.fails(env.cmd().args(["verify", "mallory", "--code", "123456"]), 3);
}

#[test]
fn verify_with_the_wrong_master_key_is_exit_4() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    let mut c = env.cmd();
    c.env("TWOFA_MASTER_KEY", KEY2)
        .args(["verify", "alice", "--code", &totp_now(&secret)]);
    let line = env.fails(&mut c, 4);
    assert!(!line.contains(KEY2) && !line.contains(KEY), "{line}");
    assert!(line.contains("master key"), "{line}");
    // A stored value that is no token at all: also 4, with a hint.
    env.store("bob", Value::Text("not a token".into()));
    env.fails(env.cmd().args(["verify", "bob", "--code", "123456"]), 4);
    env.store("carol", Value::Null);
    env.fails(env.cmd().args(["verify", "carol", "--code", "123456"]), 4);
}

// --------------------------------------------------------------- disable

#[test]
fn disable_one_user_clears_the_flag_and_the_secret() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    env.enable_steady("bob");
    let bob = env.full_row("bob");
    let alice = env.full_row("alice");
    let out = env
        .cmd()
        .args(["disable", "alice", "--yes"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("2FA disabled for 'alice'"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.row("alice"), (0, Value::Null));
    assert_eq!(env.full_row("alice")[..4], alice[..4], "other columns kept");
    assert_eq!(env.full_row("bob"), bob, "bob untouched");
    env.fails(
        env.cmd()
            .args(["verify", "alice", "--code", &totp_now(&secret)]),
        3,
    );
}

#[test]
fn disable_several_users_at_once() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    env.enable_steady("bob");
    let out = env
        .cmd()
        .args(["disable", "alice", "bob", "alice", "--yes", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        json(&out.stdout),
        serde_json::json!({
            "disabled": [
                {"id": 1, "user": "alice", "was": "enabled"},
                {"id": 2, "user": "bob", "was": "enabled"}
            ],
            "count": 2,
            "already_off": []
        })
    );
    assert_eq!(env.row("alice"), (0, Value::Null));
    assert_eq!(env.row("bob"), (0, Value::Null));
}

#[test]
fn disable_with_an_unknown_user_changes_nothing() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    env.enroll("bob");
    let line = env.fails(
        env.cmd()
            .args(["disable", "alice", "mallory", "bob", "--yes"]),
        3,
    );
    assert!(line.contains("mallory"), "{line}");
    assert_eq!(env.row("alice").0, 1);
    assert_eq!(pending_count(&env), 1);
}

#[test]
fn disable_without_a_terminal_needs_yes() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    let line = env.fails(env.cmd().args(["disable", "alice"]), 2);
    assert!(line.contains("--yes"), "{line}");
    env.fails(env.cmd().args(["disable", "--all"]), 2);
    assert_eq!(env.row("alice").0, 1);
    // Neither names nor --all, or both: usage.
    env.fails(env.cmd().args(["disable", "--yes"]), 2);
    env.fails(env.cmd().args(["disable", "alice", "--all", "--yes"]), 2);
}

#[test]
fn disable_all_resets_enabled_and_pending_accounts_only() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    env.enroll("bob");
    let carol = env.full_row("carol");
    let out = env
        .cmd()
        .args(["disable", "--all", "--yes", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(json(&out.stdout)["count"], 2);
    assert_eq!(env.row("alice"), (0, Value::Null));
    assert_eq!(pending_count(&env), 0, "bob's pending enrollment removed");
    assert_eq!(env.full_row("carol"), carol);
    env.fails(env.cmd().args(["confirm", "bob", "--code", "123456"]), 3);
    // Nothing left: success, and nothing to do.
    let out = env
        .cmd()
        .args(["disable", "--all", "--yes", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        json(&out.stdout),
        serde_json::json!({"disabled": [], "count": 0, "already_off": []})
    );
}

#[test]
fn disable_removes_a_pending_enrollment() {
    let env = TestEnv::new();
    let secret = env.enroll("bob");
    env.cmd()
        .args(["disable", "bob", "--yes"])
        .assert()
        .success();
    assert_eq!(pending_count(&env), 0);
    env.fails(
        env.cmd()
            .args(["confirm", "bob", "--code", &totp_now(&secret)]),
        3,
    );
}

// ---------------------------------------------------------------- status

#[test]
fn status_lists_every_account_as_a_table_and_as_json() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    env.enroll("bob");
    let before = env.snapshot();
    let st = status_json(&env);
    assert_eq!(st.len(), 3);
    for row in &st {
        assert_eq!(keys(row), set(&["id", "user", "enabled", "pending"]));
    }
    assert_eq!(
        st,
        vec![
            serde_json::json!({"id": 1, "user": "alice", "enabled": true, "pending": false}),
            serde_json::json!({"id": 2, "user": "bob", "enabled": false, "pending": true}),
            serde_json::json!({"id": 3, "user": "carol", "enabled": false, "pending": false}),
        ]
    );
    let out = env
        .cmd()
        .args(["status", "bob", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        json(&out.stdout),
        serde_json::json!([{"id": 2, "user": "bob", "enabled": false, "pending": true}])
    );

    let out = env.cmd().arg("status").output().unwrap();
    assert_code(&out, 0);
    let text = stdout(&out);
    let line = |u: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {u} ")))
            .unwrap_or_else(|| panic!("no row for {u}: {text}"))
            .to_string()
    };
    assert!(line("alice").contains("enabled"), "{text}");
    assert!(line("bob").contains("expires in"), "{text}");
    assert!(line("carol").contains("off"), "{text}");
    assert_eq!(env.snapshot(), before, "status never writes");

    env.fails(env.cmd().args(["status", "mallory"]), 3);
}

#[test]
fn status_escapes_control_characters_in_usernames() {
    let env = TestEnv::new();
    env.conn()
        .execute(
            "INSERT INTO account (username) VALUES (?1)",
            ["ev\u{1b}[2Jil"],
        )
        .unwrap();
    for args in [&["status"][..], &["status", "--json"][..]] {
        let out = env.cmd().args(args).output().unwrap();
        assert_code(&out, 0);
        assert!(
            !out.stdout.contains(&0x1b),
            "a raw escape reached the terminal: {}",
            stdout(&out)
        );
    }
}
