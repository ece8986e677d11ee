//! Output discipline, through the real binary:
//! - text that came from the database (usernames, the audit log's OS user) is
//!   printed with control characters escaped: no raw ESC, BEL, DEL or C1
//!   control ever reaches stdout or stderr, in text or in JSON;
//! - results go to stdout, messages and errors to stderr;
//! - `--quiet` drops the notes but keeps results and errors;
//! - `--json` prints exactly one JSON document on stdout for every command,
//!   errors included (`{"error","message","exit"}`, with `exit` equal to the
//!   process's exit code).
//!
//! Codes are computed from the secret at run time and retried once if a
//! 30-second step boundary passed during the run (`util::run_with_code`).

use std::process::Output;

use crate::util::{KEY2, TestEnv, run_with_code, wrong_code};

/// Usernames an attacker could register in the app: screen-clearing and
/// color sequences, a terminal-title OSC, BEL, DEL, the 8-bit CSI (U+009B),
/// and line breaks that would forge extra output lines.
const HOSTILE: [&str; 3] = [
    "mallory\x1b[2J\x1b[31mred",
    "eve\x07\u{9b}31m\x7f\x1b]0;pwned\x07",
    "forged\nmex2fa: 2FA disabled for 'root'\r",
];

/// A control character as `ui::escape` shows it (`\u{1b}`, `\n`, ...).
fn escaped(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Fails on any control character other than newline in `bytes`.
fn assert_clean(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: raw control characters {bad:?} in:\n{text}"
    );
}

fn assert_both_clean(out: &Output, what: &str) {
    assert_clean(&out.stdout, &format!("{what} (stdout)"));
    assert_clean(&out.stderr, &format!("{what} (stderr)"));
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("UTF-8 output")
}

/// Runs `mex2fa ARGS` (with the hostile OS user) and returns the output.
fn run(env: &TestEnv, args: &[&str]) -> Output {
    env.cmd()
        .env("USER", HOSTILE[1])
        .args(args)
        .output()
        .expect("run mex2fa")
}

#[test]
fn usernames_from_the_database_are_printed_escaped() {
    let env = TestEnv::new();
    for name in HOSTILE {
        env.add_user(name);
    }
    let enabled = HOSTILE[0];
    let secret = env.enable_any_step(enabled);

    let out = run(&env, &["status"]);
    assert!(out.status.success());
    assert_both_clean(&out, "status");
    let table = text(&out.stdout);
    for name in HOSTILE {
        assert!(
            table.contains(&escaped(name)),
            "status lacks {:?}:\n{table}",
            escaped(name)
        );
    }
    // The forged line did not become a line of its own.
    assert!(!table.lines().any(|l| l.starts_with("mex2fa: 2FA disabled")));

    for name in HOSTILE {
        let out = run(&env, &["status", name]);
        assert!(out.status.success());
        assert_both_clean(&out, "status USER");
    }

    // verify: rejected (exit 1), not enabled (exit 3), unknown (exit 3).
    let wrong = wrong_code(&secret);
    let wrong = wrong.as_str();
    let out = run(&env, &["verify", enabled, "--code", wrong]);
    assert_eq!(out.status.code(), Some(1));
    assert_both_clean(&out, "verify rejected");
    assert!(text(&out.stderr).contains(&escaped(enabled)));
    let out = run(&env, &["verify", HOSTILE[1], "--code", "123456"]);
    assert_eq!(out.status.code(), Some(3));
    assert_both_clean(&out, "verify not enabled");
    assert!(text(&out.stderr).contains(&escaped(HOSTILE[1])));
    let out = run(&env, &["verify", "nobody\x1b[2J", "--code", "123456"]);
    assert_eq!(out.status.code(), Some(3));
    assert_both_clean(&out, "verify unknown user");
    let out = run_with_code(&secret, |code| {
        let mut c = env.cmd();
        c.args(["verify", enabled, "--code", code]);
        c
    });
    assert!(out.status.success());
    assert_both_clean(&out, "verify accepted");

    // enroll (notes), a refused re-enroll, confirm with nothing pending.
    let out = run(&env, &["enroll", HOSTILE[2], "--no-qr"]);
    assert!(out.status.success());
    assert_both_clean(&out, "enroll");
    assert!(text(&out.stderr).contains(&escaped(HOSTILE[2])));
    let out = run(&env, &["enroll", enabled, "--no-qr"]);
    assert_eq!(out.status.code(), Some(3));
    assert_both_clean(&out, "enroll of an enabled user");
    let out = run(&env, &["confirm", HOSTILE[1], "--code", "123456"]);
    assert_eq!(out.status.code(), Some(3));
    assert_both_clean(&out, "confirm with nothing pending");

    // disable prints every name it disabled.
    let out = run(
        &env,
        &["disable", "--yes", HOSTILE[0], HOSTILE[1], HOSTILE[2]],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_both_clean(&out, "disable");
    for name in HOSTILE {
        assert!(text(&out.stdout).contains(&escaped(name)));
    }

    // The audit log holds the names and the hostile OS user.
    let out = run(&env, &["log"]);
    assert!(out.status.success());
    assert_both_clean(&out, "log");
    let log = text(&out.stdout);
    assert!(log.contains(&escaped(HOSTILE[0])), "{log}");
    assert!(
        log.contains(&escaped(HOSTILE[1])),
        "log lacks the OS user:\n{log}"
    );
    let out = run(&env, &["log", HOSTILE[0]]);
    assert!(out.status.success());
    assert_both_clean(&out, "log USER");
    assert!(text(&out.stdout).contains(&escaped(HOSTILE[0])));
}

#[test]
fn json_output_escapes_every_control_character_and_round_trips() {
    let env = TestEnv::new();
    for name in HOSTILE {
        env.add_user(name);
    }
    env.enroll(HOSTILE[1]);
    for args in [
        &["status", "--json"][..],
        &["status", HOSTILE[1], "--json"],
        &["log", "--json"],
        &["verify", HOSTILE[0], "--code", "123456", "--json"],
    ] {
        let out = run(&env, args);
        assert_both_clean(&out, &format!("{args:?}"));
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("one JSON document");
        let users: Vec<&str> = match &doc {
            serde_json::Value::Array(rows) => {
                rows.iter().filter_map(|r| r["user"].as_str()).collect()
            }
            other => vec![other["message"].as_str().unwrap_or_default()],
        };
        assert!(
            users
                .iter()
                .any(|u| u.contains(HOSTILE[1]) || u.contains(&escaped(HOSTILE[0]))),
            "{args:?}: the name did not survive: {doc}"
        );
    }
    // JSON carries the exact stored name (escaped by JSON, not altered).
    let out = run(&env, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user"].as_str().unwrap())
        .collect();
    for name in HOSTILE {
        assert!(names.contains(&name), "{name:?} not in {names:?}");
    }
    // And the log's OS user too (a state change made by the hostile USER).
    assert!(
        run(&env, &["enroll", HOSTILE[2], "--no-qr"])
            .status
            .success()
    );
    let out = run(&env, &["log", "--json"]);
    assert_both_clean(&out, "log --json");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["os_user"], HOSTILE[1]);
}

#[test]
fn results_go_to_stdout_and_messages_to_stderr() {
    let env = TestEnv::new();

    // enroll: the QR and the URI are results; the notes are messages.
    let out = env
        .cmd()
        .args(["enroll", "alice", "--no-qr"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "", "enroll --no-qr printed results");
    let notes = text(&out.stderr);
    assert!(notes.contains("pending until"), "{notes}");
    assert!(notes.contains("mex2fa confirm alice"), "{notes}");
    let out = env
        .cmd()
        .args(["enroll", "alice", "--no-qr", "--show-secret"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("otpauth://totp/MeXanimatoR:alice?secret="));
    let secret = lines[1].strip_prefix("secret: ").expect("secret line");
    assert!(
        !text(&out.stderr).contains(secret),
        "the secret went to stderr"
    );
    assert!(text(&out.stderr).contains("replaced an earlier pending enrollment"));

    // confirm and verify: one result line, nothing on stderr.
    let out = run_with_code(secret, |code| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--code", code]);
        c
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2FA enabled for 'alice'\n");
    assert_eq!(text(&out.stderr), "");
    let out = run_with_code(secret, |code| {
        let mut c = env.cmd();
        c.args(["verify", "alice", "--code", code]);
        c
    });
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 1);
    assert!(text(&out.stdout).starts_with("accepted"));
    assert_eq!(text(&out.stderr), "");

    // A rejected code: the verdict is the exit code and a message on stderr.
    let wrong = wrong_code(secret);
    let wrong = wrong.as_str();
    let out = env
        .cmd()
        .args(["verify", "alice", "--code", wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).starts_with("mex2fa: code not accepted for 'alice'"));

    // status and log: the table on stdout only.
    for cmd in ["status", "log"] {
        let out = env.cmd().arg(cmd).output().unwrap();
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("alice"), "{cmd}");
        assert_eq!(text(&out.stderr), "", "{cmd} wrote to stderr");
    }

    // keygen: the key is the result; with --out, only a note remains.
    let out = env.bare().arg("keygen").output().unwrap();
    assert_eq!(text(&out.stdout).trim().len(), 44);
    assert_eq!(text(&out.stderr), "");
    let out = env
        .bare()
        .args(["keygen", "--out", "new.key"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("new.key"));

    // disable: the result on stdout.
    let out = env
        .cmd()
        .args(["disable", "alice", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "2FA disabled for 'alice'\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn errors_are_one_line_on_stderr_and_nothing_on_stdout() {
    let env = TestEnv::new();
    let cases: [(&[&str], i32); 8] = [
        (&["verify", "alice", "--code", "12"], 2),
        (&["enroll", "nobody"], 3),
        (&["verify", "alice", "--code", "123456"], 3),
        (&["bogus-command"], 2),
        (&["status", "--table", "1bad"], 2),
        (&["status", "--db", "missing.db"], 5),
        (&["log", "--since", "yesterday"], 2),
        (&["disable", "alice"], 2),
    ];
    for (args, code) in cases {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?} printed on stdout");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("mex2fa: "), "{args:?}: {err}");
    }
    // A wrong or missing key: exit 4.
    env.enable_any_step("bob");
    let out = env
        .cmd()
        .env("TWOFA_MASTER_KEY", KEY2)
        .args(["verify", "bob", "--code", "123456"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr).lines().count(), 1);
}

#[test]
fn quiet_drops_notes_but_keeps_results_and_errors() {
    let env = TestEnv::new();
    // Without --quiet there are notes (so the checks below can fail).
    let loud = env
        .cmd()
        .args(["enroll", "alice", "--no-qr"])
        .output()
        .unwrap();
    assert!(!loud.stderr.is_empty());
    for flag in ["--quiet", "-q"] {
        let out = env
            .cmd()
            .args(["enroll", "alice", "--no-qr", "--show-secret", flag])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(text(&out.stderr), "", "{flag}: notes on stderr");
        assert!(
            text(&out.stdout).starts_with("otpauth://"),
            "{flag}: result lost"
        );
    }
    // The QR itself is a result.
    let out = env.cmd().args(["enroll", "alice", "-q"]).output().unwrap();
    assert!(text(&out.stdout).contains('█'));
    assert_eq!(text(&out.stderr), "");

    let loud = env
        .bare()
        .args(["keygen", "--out", "a.key"])
        .output()
        .unwrap();
    assert!(!loud.stderr.is_empty());
    let out = env
        .bare()
        .args(["keygen", "--out", "b.key", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
    assert!(env.path("b.key").exists());

    let loud = env
        .cmd()
        .args(["disable", "--all", "--yes"])
        .output()
        .unwrap();
    assert!(loud.status.success());
    let out = env
        .cmd()
        .args(["disable", "--all", "--yes", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "", "'nothing to do' is a note");

    // Errors are never quiet.
    let out = env
        .cmd()
        .args(["enroll", "nobody", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).starts_with("mex2fa: no account named 'nobody'"));
    let wrong = env
        .cmd()
        .args(["verify", "alice", "--code", "123456", "-q"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3));
    assert!(!wrong.stderr.is_empty());
}

/// Parses stdout as exactly one JSON document (and a final newline).
fn one_document(out: &Output, what: &str) -> serde_json::Value {
    let stdout = text(&out.stdout);
    assert!(stdout.ends_with('\n'), "{what}: stdout {stdout:?}");
    let mut docs = serde_json::Deserializer::from_str(&stdout).into_iter::<serde_json::Value>();
    let first = docs
        .next()
        .unwrap_or_else(|| panic!("{what}: no JSON on stdout"))
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}):\n{stdout}"));
    assert!(
        docs.next().is_none(),
        "{what}: more than one document:\n{stdout}"
    );
    first
}

/// An error document: exactly `error`, `message`, `exit`, agreeing with the
/// exit code and the stderr line.
fn check_error_doc(out: &Output, code: i32, kind: &str, what: &str) {
    assert_eq!(out.status.code(), Some(code), "{what}");
    let doc = one_document(out, what);
    let obj = doc.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["error", "exit", "message"], "{what}: {doc}");
    assert_eq!(doc["error"], kind, "{what}: {doc}");
    assert_eq!(doc["exit"], code, "{what}: {doc}");
    let err = text(&out.stderr);
    assert_eq!(
        err.trim_end().strip_prefix("mex2fa: "),
        doc["message"].as_str(),
        "{what}: stderr and message differ"
    );
}

#[test]
fn json_prints_exactly_one_document_for_every_command() {
    let env = TestEnv::new();
    let json = |args: &[&str]| -> Output { env.cmd().args(args).arg("--json").output().unwrap() };

    let out = json(&["enroll", "alice"]);
    let doc = one_document(&out, "enroll");
    assert_eq!(doc["state"], "pending");
    assert!(doc.get("secret").is_none() && doc.get("otpauth_uri").is_none());
    let out = json(&["enroll", "alice", "--show-secret"]);
    let doc = one_document(&out, "enroll --show-secret");
    let secret = doc["secret"].as_str().unwrap().to_string();
    assert!(doc["otpauth_uri"].as_str().unwrap().contains(&secret));
    assert!(doc["expires_at"].as_str().unwrap().ends_with('Z'));

    let out = json(&["confirm", "alice", "--code", &wrong_code(&secret)]);
    assert_eq!(out.status.code(), Some(1));
    let doc = one_document(&out, "confirm rejected");
    assert_eq!(doc["accepted"], false);
    assert_eq!(doc["state"], "pending");
    let out = run_with_code(&secret, |code| {
        let mut c = env.cmd();
        c.args(["confirm", "alice", "--json", "--code", code]);
        c
    });
    let doc = one_document(&out, "confirm");
    assert_eq!(
        doc,
        serde_json::json!({"user": "alice", "state": "enabled"})
    );

    let out = run_with_code(&secret, |code| {
        let mut c = env.cmd();
        c.args(["verify", "alice", "--json", "--code", code]);
        c
    });
    assert!(out.status.success());
    let doc = one_document(&out, "verify");
    assert_eq!(doc["accepted"], true);
    assert_eq!(doc["user"], "alice");

    // enroll --code: pending and enabled in one call, one document.
    let bob = env.enroll("bob");
    let out = run_with_code(&bob, |code| {
        let mut c = env.cmd();
        c.args(["enroll", "carol", "--json", "--code", code]);
        c
    });
    // carol's new secret is unknown to bob's code: rejected, one document.
    assert_eq!(out.status.code(), Some(1));
    let doc = one_document(&out, "enroll --code (wrong)");
    assert_eq!(doc["accepted"], false);
    assert!(doc.get("drift_steps").is_some());

    let out = json(&["status"]);
    let doc = one_document(&out, "status");
    let rows = doc.as_array().expect("an array");
    assert_eq!(rows.len(), 3);
    for row in rows {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(keys, ["enabled", "id", "pending", "user"]);
    }
    assert_eq!(rows[0]["enabled"], true);
    assert_eq!(rows[1]["pending"], true);
    let doc = one_document(&json(&["status", "bob"]), "status USER");
    assert_eq!(doc.as_array().unwrap().len(), 1);

    let doc = one_document(&json(&["log"]), "log");
    assert!(doc.as_array().unwrap().len() >= 3);
    let doc = one_document(&json(&["log", "alice", "--limit", "1"]), "log USER");
    assert_eq!(doc.as_array().unwrap().len(), 1);

    let doc = one_document(&json(&["keygen"]), "keygen");
    assert_eq!(doc["key"].as_str().unwrap().len(), 44);
    let doc = one_document(&json(&["keygen", "--out", "k.key"]), "keygen --out");
    assert!(doc["path"].as_str().unwrap().ends_with("k.key"));

    let out = json(&["disable", "alice", "--yes"]);
    let doc = one_document(&out, "disable");
    assert_eq!(doc["count"], 1);
    assert_eq!(doc["disabled"][0]["user"], "alice");
    let out = json(&["disable", "--all", "--yes"]);
    let doc = one_document(&out, "disable --all");
    assert_eq!(doc["count"], 2, "bob and carol are pending: {doc}");
    let doc = one_document(
        &json(&["disable", "--all", "--yes"]),
        "disable --all (none)",
    );
    assert_eq!(doc["count"], 0);

    // Errors: one document, and the same message on stderr.
    check_error_doc(
        &json(&["verify", "alice", "--code", "12"]),
        2,
        "usage",
        "bad code",
    );
    check_error_doc(&json(&["enroll", "nobody"]), 3, "state", "unknown user");
    check_error_doc(
        &json(&["verify", "alice", "--code", "123456"]),
        3,
        "state",
        "not enabled",
    );
    check_error_doc(&json(&["--bogus"]), 2, "usage", "bad flag");
    check_error_doc(&json(&[]), 2, "usage", "no subcommand");
    check_error_doc(
        &json(&["status", "--db", "missing.db"]),
        5,
        "database",
        "no db file",
    );
    check_error_doc(&json(&["log", "--since", "x"]), 2, "usage", "bad date");
    check_error_doc(
        &json(&["disable", "bob"]),
        2,
        "usage",
        "no --yes without a terminal",
    );
    let out = env
        .bare()
        .env("MEX2FA_DB", &env.db)
        .args(["enroll", "alice", "--json"])
        .output()
        .unwrap();
    check_error_doc(&out, 4, "key", "no key");
    let out = env
        .cmd()
        .env("TWOFA_MASTER_KEY", "too-short")
        .args(["enroll", "alice", "--json"])
        .output()
        .unwrap();
    check_error_doc(&out, 4, "key", "malformed key");
    let out = env.bare().args(["status", "--json"]).output().unwrap();
    check_error_doc(&out, 5, "database", "no database configured");
}

#[test]
fn json_completions_is_one_document() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .args(["completions", "bash", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success() || out.status.code() == Some(2));
    one_document(&out, "completions --json");
}

#[test]
fn json_demo_is_one_document() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .args(["demo", "--clean", "--json"])
        .output()
        .unwrap();
    one_document(&out, "demo --json");
}

/// Account ids are data too: with `--id-column` mapped to a text column the
/// users fill in (here the e-mail address), the id is user-supplied text.
#[test]
fn text_account_ids_are_printed_escaped() {
    let env = TestEnv::new();
    let hostile = "alice\x1b[2J@example.com";
    env.conn()
        .execute(
            "UPDATE account SET email = ?1 WHERE username = 'alice'",
            [hostile],
        )
        .unwrap();
    let mapped = |args: &[&str]| -> Output {
        env.cmd()
            .args(args)
            .args(["--id-column", "email"])
            .output()
            .unwrap()
    };
    let out = mapped(&["enroll", "alice", "--no-qr"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_both_clean(&out, "enroll");
    for cmd in [&["status"][..], &["status", "alice"], &["log"]] {
        let out = mapped(cmd);
        assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
        assert_both_clean(&out, &format!("{cmd:?}"));
        assert!(
            text(&out.stdout).contains(&escaped(hostile)),
            "{cmd:?}: {}",
            text(&out.stdout)
        );
    }
    for cmd in [&["status", "--json"][..], &["log", "--json"]] {
        let out = mapped(cmd);
        assert_both_clean(&out, &format!("{cmd:?}"));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc[0]["id"], hostile, "{cmd:?}: {doc}");
    }
}

/// Runs `mex2fa ARGS` (no quoting needed in ARGS) on a pseudo-terminal of
/// `cols` columns through util-linux `script`.
fn on_terminal(env: &TestEnv, cols: u16, args: &str) -> String {
    let inner = format!(
        "stty cols {cols} rows 40; exec '{}' {args} </dev/null",
        crate::util::bin().display()
    );
    let out = crate::util::script()
        .args(["-qec", &inner, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MEX2FA_DB", &env.db)
        .env("TWOFA_MASTER_KEY", crate::util::KEY)
        .env("USER", "tester")
        .env("TERM", "dumb")
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    assert!(out.status.success(), "{args}: {out:?}");
    text(&out.stdout).replace('\r', "")
}

#[test]
fn tables_fit_the_terminal_width() {
    let env = TestEnv::new();
    let long = "a-very-long-username-that-a-person-could-register-in-the-app-x";
    env.add_user(long);
    env.enroll(long);
    for cols in [60u16, 100] {
        for cmd in ["status", "log"] {
            let shown = on_terminal(&env, cols, cmd);
            assert!(
                shown.contains('│'),
                "{cmd}: not the terminal style:\n{shown}"
            );
            for line in shown.lines() {
                assert!(
                    line.chars().count() <= usize::from(cols),
                    "{cmd} at {cols} columns: a line of {} characters:\n{shown}",
                    line.chars().count()
                );
            }
        }
    }
}

/// A terminal that reports no size (0 columns: a bare pseudo-terminal, some
/// serial consoles) must not squeeze every column to one character.
#[test]
fn a_terminal_without_a_width_gets_a_readable_table() {
    let env = TestEnv::new();
    env.enroll("alice");
    for cmd in ["status", "log"] {
        let shown = on_terminal(&env, 0, cmd);
        assert!(
            shown.contains('│'),
            "{cmd}: not the terminal style:\n{shown}"
        );
        let header = shown.lines().nth(1).unwrap_or_default();
        assert!(
            header.contains(" user "),
            "{cmd}: header squeezed:\n{shown}"
        );
        assert!(
            shown.lines().any(|l| l.contains(" alice ")),
            "{cmd}: 'alice' broken up:\n{shown}"
        );
    }
}
