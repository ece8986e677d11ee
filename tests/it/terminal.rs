//! The interactive paths, on a real pseudo-terminal (Python's `pty` drives
//! the binary, `tests/py/pty_drive.py`): the code prompt after the QR code (three
//! attempts, the enrollment left pending on failure), `confirm`'s prompt,
//! `disable`'s and `rotate-key`'s questions (with its progress bars), and the
//! hidden master-key prompt.
//!
//! The Python is the venv `scripts/test` installs; without it the tests fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::util::*;
use rusqlite::types::Value;

struct Tty {
    exit: i32,
    output: String,
}

/// Runs mex2fa ARGS on a pseudo-terminal with `vars` as its whole
/// environment, answering each (regex, text) prompt in turn.
fn on_tty(
    python: &Path,
    env: &TestEnv,
    vars: &[(&str, &str)],
    args: &[&str],
    steps: &[(&str, &str)],
    secret: Option<&str>,
) -> Tty {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/pty_drive.py");
    let mut envmap = serde_json::Map::new();
    envmap.insert(
        "PATH".into(),
        std::env::var("PATH").unwrap_or_default().into(),
    );
    envmap.insert("USER".into(), "tester".into());
    envmap.insert("TERM".into(), "xterm".into());
    for (k, v) in vars {
        envmap.insert((*k).into(), (*v).into());
    }
    let mut argv = vec![bin().display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let spec = serde_json::json!({
        "argv": argv,
        "env": envmap,
        "cwd": env.dir.path(),
        "timeout": 20,
        "secret": secret,
        "steps": steps.iter().map(|(e, s)| vec![e, s]).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pty_drive.py failed");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let output = doc["output"].as_str().unwrap().to_string();
    assert!(
        doc["missed"].is_null(),
        "never saw {} in:\n{output}",
        doc["missed"]
    );
    Tty {
        exit: doc["exit"].as_i64().unwrap() as i32,
        output,
    }
}

fn keyed(env: &TestEnv) -> Vec<(&str, &str)> {
    vec![
        ("MEX2FA_DB", env.db.to_str().unwrap()),
        ("TWOFA_MASTER_KEY", KEY),
    ]
}

#[test]
fn enroll_on_a_terminal_asks_for_the_code_and_enables_on_the_second_try() {
    let python = python();
    let env = TestEnv::new();
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["enroll", "alice", "--no-qr", "--show-secret"],
        &[
            (r"secret: (?P<secret>[A-Z2-7]{32})", ""),
            (r"code \(1/3\): ", "{wrong}\n"),
            (r"not accepted", ""),
            (r"code \(2/3\): ", "{code}\n"),
        ],
        None,
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert!(
        run.output.contains("2FA enabled for 'alice'"),
        "{}",
        run.output
    );
    assert_eq!(env.row("alice").0, 1);
    assert_eq!(env.sql_i64("SELECT count(*) FROM mex2fa_pending"), 0);
}

#[test]
fn enroll_on_a_terminal_leaves_it_pending_after_three_wrong_codes() {
    let python = python();
    let env = TestEnv::new();
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["enroll", "alice", "--no-qr", "--show-secret"],
        &[
            (r"secret: (?P<secret>[A-Z2-7]{32})", ""),
            (r"code \(1/3\): ", "{wrong}\n"),
            (r"code \(2/3\): ", "12345\n"),
            (r"code \(3/3\): ", "{wrong}\n"),
        ],
        None,
    );
    assert_eq!(run.exit, 1, "{}", run.output);
    assert!(run.output.contains("pending"), "{}", run.output);
    assert_eq!(env.row("alice"), (0, Value::Null));
    let secret = run
        .output
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .unwrap()
        .trim()
        .to_string();
    // Still pending: confirm finishes it, here at confirm's own prompt.
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["confirm", "alice"],
        &[(r"code from the authenticator app: ", "{code}\n")],
        Some(&secret),
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert_eq!(env.row("alice").0, 1);
}

#[test]
fn disable_on_a_terminal_asks_first() {
    let python = python();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let before = env.snapshot();
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["disable", "alice"],
        &[(r"Disable 2FA for 'alice'\?", "n")],
        None,
    );
    assert_eq!(run.exit, 2, "{}", run.output);
    assert!(env.snapshot() == before, "a 'no' changes nothing");
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["disable", "alice"],
        &[(r"Disable 2FA for 'alice'\?", "y")],
        None,
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert_eq!(env.row("alice"), (0, Value::Null));
}

#[test]
fn a_missing_key_is_asked_for_without_echo() {
    let python = python();
    let env = TestEnv::new();
    let db = env.db.to_str().unwrap();
    let run = on_tty(
        &python,
        &env,
        &[("MEX2FA_DB", db)],
        &["enroll", "bob", "--json", "--show-secret"],
        &[(r"master key \(input hidden\): ", &format!("{KEY}\n"))],
        None,
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert!(
        !run.output.contains(KEY),
        "the key was echoed: {}",
        run.output
    );
    let secret = run
        .output
        .split("\"secret\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the JSON document")
        .to_string();
    // Encrypted under the key typed in: it confirms with the usual key.
    let out = at_step(0, |t| {
        let mut c = env.cmd();
        c.args(["confirm", "bob", "--code", &totp_at(&secret, t)]);
        output(&mut c)
    });
    assert_eq!(out.status.code(), Some(0));
    // A malformed key typed in: exit 4, and it is not repeated either.
    let run = on_tty(
        &python,
        &env,
        &[("MEX2FA_DB", db)],
        &["enroll", "carol"],
        &[(r"master key \(input hidden\): ", "Zq9Xw7Lm-not-a-key\n")],
        None,
    );
    assert_eq!(run.exit, 4, "{}", run.output);
    assert!(run.output.contains("malformed"), "{}", run.output);
    assert!(!run.output.contains("Zq9Xw7Lm"), "{}", run.output);
}

#[test]
fn rotate_key_on_a_terminal_asks_first_and_shows_its_progress() {
    let python = python();
    let env = TestEnv::new();
    {
        let mut conn = env.conn();
        let tx = conn.transaction().unwrap();
        insert_enrolled(&tx, 2100, |_| KEY);
        tx.commit().unwrap();
    }
    let new_key = env.write_key("new.key", KEY2);
    let args = ["rotate-key", "--new-key-file", new_key.to_str().unwrap()];
    let question = r"Re-encrypt 2100 secrets under the new key \(0 already under it\)\?";
    let before = env.snapshot();
    let run = on_tty(&python, &env, &keyed(&env), &args, &[(question, "n")], None);
    assert_eq!(run.exit, 2, "{}", run.output);
    assert!(env.snapshot() == before, "a 'no' changes nothing");

    let run = on_tty(&python, &env, &keyed(&env), &args, &[(question, "y")], None);
    assert_eq!(run.exit, 0, "{}", run.output);
    for shown in [
        "checking [",
        "rotating [",
        "rotated 2100 secrets (2100 accounts, 0 pending) to the new key",
        "next: set the app's TWOFA_MASTER_KEY",
    ] {
        assert!(
            run.output.contains(shown),
            "no {shown:?} in:\n{}",
            run.output
        );
    }
    for t in env.tokens().iter().step_by(97) {
        let i: u64 = env
            .sql_text(&format!(
                "SELECT username FROM account WHERE accountid = {}",
                t.id
            ))
            .trim_start_matches("user")
            .parse()
            .unwrap();
        assert_eq!(fernet_plaintext(KEY2, &t.token), Some(secret_for(i)));
    }
}
