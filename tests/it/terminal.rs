//! The interactive paths, on a real pseudo-terminal (Python's `pty` drives
//! the binary, `tests/py/pty_drive.py`): the code prompt after the QR code (three
//! attempts, the enrollment left pending on failure), `confirm`'s prompt,
//! `disable`'s and `rotate-key`'s questions (with its progress bars), and the
//! hidden master-key prompt.
//!
//! The Python is the venv `scripts/test` installs; without it the tests fail.

use std::path::Path;

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
    let mut argv = vec![bin().display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    on_tty_argv(python, env, vars, &argv, steps, secret)
}

/// [`on_tty`] for any program: `argv[0]` is run.
fn on_tty_argv(
    python: &Path,
    env: &TestEnv,
    vars: &[(&str, &str)],
    argv: &[&str],
    steps: &[(&str, &str)],
    secret: Option<&str>,
) -> Tty {
    let spec = serde_json::json!({
        "argv": argv,
        "env": pty_env(vars),
        "cwd": env.dir.path(),
        "timeout": 20,
        "secret": secret,
        "steps": steps.iter().map(|(e, s)| vec![e, s]).collect::<Vec<_>>(),
    });
    let doc = pty_drive(python, "pty_drive.py", &spec);
    Tty {
        exit: doc["exit"].as_i64().unwrap() as i32,
        output: doc["output"].as_str().unwrap().to_string(),
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
        &[(r"Disable 2FA for 'alice' in [^?]*\? \[y/n\] ", "n\n")],
        None,
    );
    assert_eq!(run.exit, 2, "{}", run.output);
    assert!(env.snapshot() == before, "a 'no' changes nothing");
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["disable", "alice"],
        &[(r"Disable 2FA for 'alice' in [^?]*\? \[y/n\] ", "y\n")],
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
    let question = r"Re-encrypt 2100 secrets under the new key \(0 already under it\)\? \[y/n\] ";
    let before = env.snapshot();
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &args,
        &[(question, "n\n")],
        None,
    );
    assert_eq!(run.exit, 2, "{}", run.output);
    assert!(env.snapshot() == before, "a 'no' changes nothing");

    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &args,
        &[(question, "y\n")],
        None,
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    // SQLite rotates in one pass: one bar, counting up to every token.
    assert!(!run.output.contains("checking ["), "{}", run.output);
    for shown in [
        "rotating [",
        "2100/2100",
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

/// Runs `mex2fa ARGS` on the terminal like [`on_tty`], then reads what is
/// left unread in the terminal's input once mex2fa has exited: what the
/// shell would have run next. Returns the run and those bytes.
fn on_tty_leftover(
    python: &Path,
    env: &TestEnv,
    args: &[&str],
    steps: &[(&str, &str)],
) -> (Tty, String) {
    const AFTER: &str = r#"
import os, select, subprocess, sys, termios
rc = subprocess.call(sys.argv[1:])
# Byte by byte, as soon as typed: a partial line counts too.
mode = termios.tcgetattr(0)
raw = list(mode)
raw[3] &= ~(termios.ICANON | termios.ECHO)
raw[6] = list(raw[6])
raw[6][termios.VMIN], raw[6][termios.VTIME] = 0, 0
termios.tcsetattr(0, termios.TCSANOW, raw)
left = b""
while select.select([0], [], [], 0.5)[0]:
    chunk = os.read(0, 4096)
    if not chunk:
        break
    left += chunk
termios.tcsetattr(0, termios.TCSANOW, mode)
print("LEFT-FOR-THE-SHELL:" + left.hex())
sys.exit(rc)
"#;
    let mut argv = vec![
        python.display().to_string(),
        "-c".into(),
        AFTER.into(),
        bin().display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let run = on_tty_argv(python, env, &keyed(env), &argv, steps, None);
    let hex = run
        .output
        .split("LEFT-FOR-THE-SHELL:")
        .nth(1)
        .unwrap_or_else(|| panic!("no report of the leftover input in:\n{}", run.output))
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    (run, String::from_utf8_lossy(&bytes).into_owned())
}

#[test]
fn a_typed_yes_and_enter_are_consumed_by_the_question() {
    let python = python();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let (run, left) = on_tty_leftover(
        &python,
        &env,
        &["disable", "alice"],
        &[(r"Disable 2FA for 'alice' in [^?]*\? \[y/n\] ", "yes\n")],
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert_eq!(left, "", "left in the terminal for the shell to run");
    assert_eq!(env.row("alice"), (0, Value::Null));
}

#[test]
fn a_typed_no_and_enter_are_consumed_and_change_nothing() {
    let python = python();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let before = env.snapshot();
    let (run, left) = on_tty_leftover(
        &python,
        &env,
        &["disable", "alice"],
        &[(r"Disable 2FA for 'alice' in [^?]*\? \[y/n\] ", "n\n")],
    );
    assert_eq!(run.exit, 2, "{}", run.output);
    assert!(
        run.output.contains("cancelled; nothing was changed"),
        "{}",
        run.output
    );
    assert_eq!(left, "", "left in the terminal for the shell to run");
    assert!(env.snapshot() == before, "a 'no' changes nothing");
}

#[test]
fn anything_but_yes_or_no_asks_again() {
    let python = python();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let before = env.snapshot();
    let question = r"Disable 2FA for 'alice' in [^?]*\? \[y/n\] ";
    let (run, left) = on_tty_leftover(
        &python,
        &env,
        &["disable", "alice"],
        &[
            (question, "yess\n"),
            ("please answer yes or no", ""),
            (question, "\n"),
            ("please answer yes or no", ""),
            (question, "NO\n"),
        ],
    );
    assert_eq!(run.exit, 2, "{}", run.output);
    assert_eq!(left, "");
    assert!(env.snapshot() == before, "a 'no' changes nothing");
    assert!(
        run.output.contains(&env.db.display().to_string()),
        "the question names the database it changes: {}",
        run.output
    );
    let (run, _) = on_tty_leftover(
        &python,
        &env,
        &["disable", "alice"],
        &[
            (question, "maybe\n"),
            ("please answer yes or no", ""),
            (question, "YES\n"),
        ],
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert_eq!(env.row("alice"), (0, Value::Null));
}

#[test]
fn every_question_reads_a_whole_line() {
    let python = python();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let new_key = env.write_key("new.key", KEY2);
    let backup = env.path("before.bak");
    let rotate = [
        "rotate-key",
        "--new-key-file",
        new_key.to_str().unwrap(),
        "--backup",
        backup.to_str().unwrap(),
    ];
    let (run, left) = on_tty_leftover(
        &python,
        &env,
        &rotate,
        &[(
            r"under the new key \(0 already under it\)\? \[y/n\] ",
            "yes\n",
        )],
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert_eq!(left, "", "rotate-key left input behind");
    // restore asks under the key the backup was taken under (KEY, as keyed()).
    let (run, left) = on_tty_leftover(
        &python,
        &env,
        &["restore", "--backup", backup.to_str().unwrap()],
        &[(r"\[y/n\] ", "Yes\n")],
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert_eq!(left, "", "restore left input behind");
    // doctor --fix asks before removing an expired enrollment.
    env.enroll("bob");
    env.conn()
        .execute("UPDATE mex2fa_pending SET expires_at = 1", [])
        .unwrap();
    let (run, left) = on_tty_leftover(
        &python,
        &env,
        &["doctor", "--fix"],
        &[(r"Remove 1 expired pending enrollments\? \[y/n\] ", "y\n")],
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert_eq!(left, "", "doctor --fix left input behind");
    assert_eq!(env.sql_i64("SELECT count(*) FROM mex2fa_pending"), 0);
}

#[test]
fn rotate_key_reports_the_seconds_of_its_work_not_of_the_question() {
    let python = python();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let new_key = env.write_key("new.key", KEY2);
    let question = r"\(0 already under it\)\? \[y/n\] ";
    // Each typed answer comes a second after the question (pty_drive.py waits
    // for a hidden prompt that this is not): at least 3 s at the question.
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &[
            "rotate-key",
            "--new-key-file",
            new_key.to_str().unwrap(),
            "--json",
        ],
        &[
            (question, "maybe\n"),
            (question, "later\n"),
            (question, "y\n"),
        ],
        None,
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    let doc = run
        .output
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON document in:\n{}", run.output));
    let doc: serde_json::Value = serde_json::from_str(doc.trim()).unwrap();
    let seconds = doc["seconds"].as_f64().unwrap();
    assert!(
        seconds < 1.5,
        "{seconds} s reported for one secret: the time at the question counted"
    );
}

#[test]
fn nothing_to_disable_asks_nothing_on_a_terminal() {
    let python = python();
    let env = TestEnv::new();
    let carol = env.full_row("carol");
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["disable", "carol"],
        &[("2FA was not on for 'carol'; nothing to disable", "")],
        None,
    );
    assert_eq!(run.exit, 0, "{}", run.output);
    assert!(!run.output.contains("[y/n]"), "{}", run.output);
    assert_eq!(env.full_row("carol"), carol);
}

/// `enroll --force` of a user with 2FA on asks first at a terminal; a 'no'
/// leaves nothing pending, a 'yes' starts the re-enrollment.
#[test]
fn a_re_enrollment_is_asked_first_on_a_terminal() {
    let python = python();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let before = env.snapshot();
    let question = r"Re-enroll 'alice' in [^?]*\? The current secret keeps working until the new one is confirmed\. \[y/n\] ";
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["enroll", "alice", "--force", "--no-qr"],
        &[(question, "no\n")],
        None,
    );
    assert_eq!(run.exit, 2, "{}", run.output);
    assert!(env.snapshot() == before, "a 'no' changes nothing");
    let run = on_tty(
        &python,
        &env,
        &keyed(&env),
        &["enroll", "alice", "--force", "--no-qr"],
        &[(question, "yes\n"), (r"code \(1/3\): ", "\u{3}")],
        None,
    );
    assert_ne!(run.exit, 0, "{}", run.output);
    assert_eq!(
        env.sql_i64("SELECT count(*) FROM mex2fa_pending"),
        1,
        "the re-enrollment is pending: {}",
        run.output
    );
}
