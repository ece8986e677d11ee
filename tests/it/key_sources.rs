//! Where the master key may come from besides `TWOFA_MASTER_KEY` and
//! `--master-key-file PATH`: `TWOFA_MASTER_KEY_FILE` (container secrets),
//! `--master-key-file -` (standard input) and `--master-key-command CMD` (a
//! secret store's client). Each is checked by a dry-run rotation, which needs
//! the key to open alice's token; each failure is one line, exit 4 (or 2 for
//! a contradiction), and never shows the key.

use std::time::{Duration, Instant};

use crate::util::*;

/// A database with alice enabled under `KEY`.
fn setup() -> TestEnv {
    let env = TestEnv::new();
    env.enable_steady("alice");
    env.write_key("new.key", KEY2);
    env
}

/// A dry-run rotation with no key configured: it must open alice's token.
fn probe(env: &TestEnv) -> assert_cmd::Command {
    let mut c = env.bare();
    c.env("MEX2FA_DB", &env.db).args([
        "rotate-key",
        "--dry-run",
        "--new-key-file",
        env.path("new.key").to_str().unwrap(),
    ]);
    c
}

#[test]
fn a_key_file_named_by_the_environment() {
    let env = setup();
    let out = probe(&env)
        .env("TWOFA_MASTER_KEY_FILE", &env.key_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // With the key itself as well: which one is meant?
    let line = env.fails(
        probe(&env)
            .env("TWOFA_MASTER_KEY_FILE", &env.key_file)
            .env("TWOFA_MASTER_KEY", KEY2),
        2,
    );
    assert!(
        line.contains("both TWOFA_MASTER_KEY and TWOFA_MASTER_KEY_FILE"),
        "{line}"
    );
    let line = env.fails(
        probe(&env).env("TWOFA_MASTER_KEY_FILE", env.path("missing.key")),
        4,
    );
    assert!(line.contains("TWOFA_MASTER_KEY_FILE"), "{line}");
}

#[test]
fn a_key_on_standard_input() {
    let env = setup();
    let out = probe(&env)
        .args(["--master-key-file", "-"])
        .write_stdin(format!("{KEY}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = env.fails(
        probe(&env)
            .args(["--master-key-file", "-"])
            .write_stdin("not a key\n"),
        4,
    );
    assert!(line.contains("standard input"), "{line}");
    let line = env.fails(
        probe(&env).args(["--master-key-file", "-"]).write_stdin(""),
        4,
    );
    assert!(line.contains("empty"), "{line}");
    let line = env.fails(
        probe(&env)
            .args(["--master-key-file", "-"])
            .write_stdin("A".repeat(10_000)),
        4,
    );
    assert!(line.contains("more than 4096 bytes"), "{line}");
}

#[test]
fn a_key_from_a_command() {
    let env = setup();
    let key_file = env.key_file.display().to_string();
    let out = probe(&env)
        .args(["--master-key-command", &format!("cat '{key_file}'")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains(KEY) && !stdout(&out).contains(KEY));

    let line = env.fails(
        probe(&env).args([
            "--master-key-command",
            "echo 'vault: permission denied' >&2; echo; exit 3",
        ]),
        4,
    );
    assert!(
        line.contains("failed") && line.contains("vault: permission denied"),
        "{line}"
    );
    let line = env.fails(probe(&env).args(["--master-key-command", "true"]), 4);
    assert!(line.contains("printed no key"), "{line}");
    let line = env.fails(
        probe(&env).args(["--master-key-command", "echo not-a-key"]),
        4,
    );
    assert!(
        line.contains("--master-key-command") && line.contains("malformed"),
        "{line}"
    );
    // A command that hangs is stopped after 10 s.
    let started = Instant::now();
    let line = env.fails(probe(&env).args(["--master-key-command", "sleep 60"]), 4);
    let took = started.elapsed();
    assert!(line.contains("ran past 10 s"), "{line}");
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(30),
        "stopped after {took:?}"
    );
    // Not both at once.
    let line = env.fails(
        probe(&env).args([
            "--master-key-command",
            "true",
            "--master-key-file",
            &key_file,
        ]),
        2,
    );
    assert!(line.contains("cannot be used with"), "{line}");
}
