//! Hostile input, table-driven through the real binary.
//!
//! Every case of `util/catalog.rs` — malformed codes (argv and stdin, NUL
//! included), SQL-injection and control-character usernames, non-UTF-8 argv,
//! broken keys, corrupt stored tokens (the Fernet spec's invalid set among
//! them), hostile identifiers, database paths that are not databases, a
//! read-only database — must end with the documented exit code (the
//! README's "Exit codes"), exactly one line on stderr with no raw control
//! character, no panic, a byte-identical database, untouched input files and
//! no file left behind.

use crate::util::catalog;

use catalog::{Case, Ran};

/// What is wrong with one run, if anything.
fn problems(case: &Case, ran: &Ran) -> Vec<String> {
    let mut p = Vec::new();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    if ran.code != Some(case.exit) {
        p.push(format!("exit {:?}, expected {}", ran.code, case.exit));
    }
    let lines = ran
        .stderr
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    if lines != 1 || !ran.stderr.ends_with(b"\n") {
        p.push(format!("{lines} lines on stderr, expected exactly one"));
    }
    for needle in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        if stderr.contains(needle) {
            p.push(format!("'{needle}' on stderr"));
        }
    }
    if let Some(b) = ran
        .stderr
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\n') || b == 0x7f)
    {
        p.push(format!("a raw control byte 0x{b:02x} on stderr"));
    }
    if ran.stdout.contains(&0x1b) {
        p.push("a raw ESC byte on stdout".into());
    }
    for ((path, before), (_, after)) in ran.db_before.iter().zip(&ran.db_after) {
        if before != after {
            p.push(format!(
                "{} changed ({} → {} bytes)",
                path.display(),
                before.len(),
                after.len()
            ));
        }
    }
    for ((name, bytes, _), (_, after)) in case.files.iter().zip(&ran.files_after) {
        if after.as_ref() != Some(bytes) {
            p.push(format!("input file {name} changed"));
        }
    }
    if ran.dir_before != ran.dir_after {
        p.push(format!(
            "files appeared or vanished: {:?} → {:?}",
            ran.dir_before, ran.dir_after
        ));
    }
    if !p.is_empty() {
        p.push(format!("stderr: {stderr:?}"));
    }
    p
}

fn check_group(name: &str) {
    let cases = catalog::group(name);
    let mut failures = Vec::new();
    for case in &cases {
        match catalog::run(case) {
            Ok(ran) => {
                let p = problems(case, &ran);
                if !p.is_empty() {
                    failures.push(format!(
                        "[{}] {}:\n    {}",
                        case.group,
                        case.name,
                        p.join("\n    ")
                    ));
                }
            }
            Err(reason) => {
                failures.push(format!(
                    "[{}] {}:\n    cannot run here: {reason}",
                    case.group, case.name
                ));
            }
        }
    }
    eprintln!(
        "hostile group {name}: {} cases, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn hostile_codes() {
    check_group("code");
}

#[test]
fn hostile_usernames() {
    check_group("user");
}

#[test]
fn hostile_keys() {
    check_group("key");
}

#[test]
fn hostile_stored_tokens() {
    check_group("token");
}

#[test]
fn hostile_identifiers() {
    check_group("ident");
}

#[test]
fn hostile_database_paths() {
    check_group("db");
}

#[test]
fn hostile_options() {
    check_group("option");
}

/// The catalog covers every kind of input listed above, so a trimmed
/// catalog fails here.
#[test]
fn catalog_covers_the_issue() {
    let cases = catalog::cases();
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let has = |s: &str| names.iter().any(|n| n.contains(s));
    for needle in [
        "--code empty",
        "--code 5 digits",
        "--code 7 digits",
        "--code letters",
        "--code Arabic-Indic digits",
        "--code 10 kB",
        "stdin embedded NUL",
        "quote-or",
        "drop table",
        "10 kB",
        "non-UTF-8 argv",
        "ANSI escapes",
        "key file short",
        "key file long",
        "key file non-base64",
        "key file +/ alphabet",
        "key file unpadded",
        "key file whitespace around",
        "key file empty file",
        "stored truncated",
        "stored NULL",
        "stored empty string",
        "stored an integer",
        "on a Missing database",
        "on a Directory database",
        "on a NotSqlite database",
        "on a Empty database",
        "on a read-only database",
    ] {
        assert!(has(needle), "no hostile case named like '{needle}'");
    }
    for needle in [
        "\"acc ount\"",
        "acc\\\"ount",
        "select",
        "DROP TABLE account",
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c.group == "ident" && c.name.contains(needle)),
            "no identifier case with {needle}"
        );
    }
    assert!(names.iter().filter(|n| n.contains("Fernet spec")).count() >= 8);
    let nul = cases
        .iter()
        .find(|c| c.name.contains("embedded NUL"))
        .expect("NUL case");
    assert!(nul.stdin.contains(&0), "the NUL case must carry a NUL byte");
}

/// Usernames already in the database (the app lets users pick them) with
/// terminal escapes and line breaks: every command that prints them shows
/// them escaped, on stdout and stderr, text and JSON alike.
#[test]
fn stored_hostile_usernames_are_printed_escaped() {
    let env = crate::util::TestEnv::new();
    let evil = "\x1b[31mevil\x1b]0;title\x07\nmex2fa: fake line\r";
    env.conn()
        .execute(
            "INSERT INTO account (username, email, password) VALUES (?1, 'e@example.com', 'pw')",
            [evil],
        )
        .expect("insert");
    let run = |args: &[&str]| {
        let out = env.cmd().args(args).output().expect("run");
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !bytes.iter().any(|&b| b == 0x1b || b == 0x07 || b == b'\r'),
                "{args:?}: a raw control byte on {stream}: {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert!(
                !String::from_utf8_lossy(bytes).contains("\nmex2fa: fake line"),
                "{args:?}: the stored line break reached {stream}"
            );
        }
        out
    };
    let enroll = run(&["enroll", evil, "--no-qr", "--json", "--show-secret"]);
    assert_eq!(enroll.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&enroll.stdout).expect("one JSON document");
    assert_eq!(
        doc["user"], evil,
        "JSON carries the name itself, escaped by JSON"
    );
    for args in [
        &["enroll", evil, "--no-qr"][..],
        &["status"][..],
        &["status", "--json"][..],
        &["doctor"][..],
        &["log"][..],
        &["log", "--json"][..],
        &["confirm", evil, "--code", "12345"][..],
        &["verify", evil, "--code", "123456"][..],
    ] {
        let out = run(args);
        assert!(out.status.code().is_some(), "{args:?} died");
        if args.contains(&"--json") {
            let _: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        }
    }
    let out = run(&["disable", "--all", "--yes"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\\u{1b}[31mevil"));
}
