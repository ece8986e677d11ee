//! What a person meets first, through the real binary: mistakes answered with
//! what was meant, help that teaches (the commands, each command's own flags
//! first, the global settings under their headings, examples), and outcomes
//! that say what actually happened.

use crate::util::*;

/// The one line on stderr of a usage error (exit 2), nothing on stdout.
fn usage_error(env: &TestEnv, args: &[&str]) -> String {
    let out = env.bare().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert_eq!(stdout(&out), "", "{args:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    err.trim_end().to_string()
}

#[test]
fn a_mistyped_command_is_answered_with_what_was_meant() {
    let env = TestEnv::new();
    assert_eq!(
        usage_error(&env, &["verfy", "alice"]),
        "mex2fa: unrecognized subcommand 'verfy'; did you mean 'verify'? see mex2fa --help"
    );
    assert_eq!(
        usage_error(&env, &["enroll", "alice", "--show-secrets"]),
        "mex2fa: unexpected argument '--show-secrets' found; did you mean '--show-secret'? see mex2fa enroll --help"
    );
    let line = usage_error(&env, &["completions", "tcsh"]);
    assert!(
        line.contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{line}"
    );
}

#[test]
fn a_missing_argument_is_named_on_the_one_line() {
    let env = TestEnv::new();
    assert_eq!(
        usage_error(&env, &["rotate-key"]),
        "mex2fa: the following required arguments were not provided: --new-key-file <PATH>; see mex2fa rotate-key --help"
    );
    assert_eq!(
        usage_error(&env, &["enroll"]),
        "mex2fa: the following required arguments were not provided: <USER>; see mex2fa enroll --help"
    );
}

#[test]
fn a_usage_error_in_json_mode_is_one_document_too() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .args(["--json", "verfy", "alice"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["error"], "usage");
    assert_eq!(
        doc["message"],
        "unrecognized subcommand 'verfy'; did you mean 'verify'? see mex2fa --help"
    );
}

#[test]
fn control_characters_in_a_mistake_are_shown_not_sent_to_the_terminal() {
    let env = TestEnv::new();
    // U+009B is an 8-bit CSI to some terminals.
    let line = usage_error(&env, &["verif\u{9b}31my"]);
    assert!(!line.contains('\u{9b}'), "{line:?}");
    assert!(line.contains("verif\\u{9b}31my"), "{line:?}");
}

// ------------------------------------------------------------------ help

/// The subcommands `mex2fa --help` lists, `help` aside.
fn subcommands(env: &TestEnv) -> Vec<String> {
    let out = env.bare().arg("--help").output().unwrap();
    assert_ok(&out);
    let help = stdout(&out);
    help.split("Commands:\n")
        .nth(1)
        .expect("a Commands: section")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn mex2fa_alone_lists_the_commands() {
    let env = TestEnv::new();
    let out = env.bare().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    for command in subcommands(&env) {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(command.as_str())),
            "{command} missing from:\n{text}"
        );
    }
    assert!(text.contains("mex2fa demo"), "no first step shown:\n{text}");
}

#[test]
fn every_command_help_shows_its_own_flags_first_then_the_settings_then_examples() {
    let env = TestEnv::new();
    let commands = subcommands(&env);
    assert!(commands.len() >= 12, "{commands:?}");
    for command in &commands {
        let out = env
            .bare()
            .args([command.as_str(), "--help"])
            .output()
            .unwrap();
        assert_ok(&out);
        let help = stdout(&out);
        let at = |heading: &str| {
            help.find(&format!("\n{heading}:\n"))
                .unwrap_or_else(|| panic!("{command} --help: no {heading}: heading in\n{help}"))
        };
        let (own, database, key, output, examples) = (
            at("Options"),
            at("Database"),
            at("Master key"),
            at("Output"),
            at("Examples"),
        );
        assert!(
            own < database && database < key && key < output && output < examples,
            "{command} --help: headings out of order:\n{help}"
        );
        // Each setting under its heading, none among the command's own flags.
        // A section: its heading line, then lines up to the next heading
        // (short help is one line a flag; long help has blank lines inside).
        let section = |from: usize| {
            let mut lines = help[from + 1..].lines();
            let heading = lines.next().unwrap_or_default().to_string();
            lines
                .take_while(|l| l.is_empty() || l.starts_with(' '))
                .fold(heading, |all, l| all + "\n" + l)
        };
        for (heading_at, flags) in [
            (
                database,
                &["--db <PATH|URL>", "--table", "--busy-timeout"][..],
            ),
            (key, &["--master-key-file"][..]),
            (output, &["--json", "--quiet"][..]),
        ] {
            for flag in flags {
                assert!(
                    section(heading_at).contains(flag),
                    "{command} --help: {flag} not under its heading:\n{help}"
                );
                assert!(
                    !section(own).contains(flag),
                    "{command} --help: {flag} among the command's own options:\n{help}"
                );
            }
        }
        // Two or three examples of this very command close the help.
        let examples: Vec<&str> = help[examples..]
            .lines()
            .skip(2)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert!(
            (2..=3).contains(&examples.len()),
            "{command} --help: {} examples:\n{help}",
            examples.len()
        );
        for line in &examples {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                words.contains(&"mex2fa") && words.contains(&command.as_str()),
                "{command} --help: an example of something else: {line:?}"
            );
        }
        assert_eq!(
            help.trim_end().lines().last(),
            examples.last().copied(),
            "{command} --help does not end with its examples"
        );
    }
}

#[test]
fn every_example_in_the_help_parses() {
    // An example that no longer matches the flags would teach a usage error.
    let env = TestEnv::new();
    let mut tried = 0;
    for command in subcommands(&env) {
        let out = env
            .bare()
            .args([command.as_str(), "--help"])
            .output()
            .unwrap();
        let help = stdout(&out);
        let examples = help.split("\nExamples:\n").nth(1).unwrap_or("");
        for line in examples.lines().take_while(|l| !l.trim().is_empty()) {
            // The example itself: up to the first run of two spaces (the comment).
            let example = line.trim().split("  ").next().unwrap();
            let example = example.rsplit("| ").next().unwrap();
            let words: Vec<&str> = example
                .split_whitespace()
                .take_while(|w| *w != ">")
                .skip(1)
                .collect();
            // --help after the example's words: clap checks them first.
            let mut args = words.clone();
            args.push("--help");
            let out = env.bare().args(&args).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "the example {example:?} does not parse: {}",
                stderr(&out)
            );
            tried += 1;
        }
    }
    assert!(tried >= 24, "only {tried} examples");
}

// ------------------------------------------------------------------ outcomes

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", stdout(out)))
}

#[test]
fn disabling_a_user_whose_2fa_was_never_on_says_so_and_changes_nothing() {
    let env = TestEnv::new();
    let carol = env.full_row("carol");
    let out = env
        .cmd()
        .args(["disable", "carol", "--yes"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "2FA was not on for 'carol'; nothing to disable\n"
    );
    let out = env
        .cmd()
        .args(["disable", "carol", "--yes", "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        json_of(&out),
        serde_json::json!({
            "disabled": [],
            "count": 0,
            "already_off": [{"id": 3, "user": "carol", "secret_removed": false}],
        })
    );
    assert_eq!(env.full_row("carol"), carol, "her row is untouched");
    assert_eq!(
        env.sql_i64("SELECT count(*) FROM mex2fa_audit"),
        0,
        "nothing done, nothing in the audit log"
    );
    // Without --yes and without a terminal it is refused as for any user, so
    // a script missing --yes fails whatever state its users are in.
    let out = env.cmd().args(["disable", "carol"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn json_tells_enabled_pending_and_off_apart() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    env.enroll("bob");
    let out = env
        .cmd()
        .args(["disable", "alice", "bob", "carol", "--yes", "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        json_of(&out),
        serde_json::json!({
            "disabled": [
                {"id": 1, "user": "alice", "was": "enabled"},
                {"id": 2, "user": "bob", "was": "pending"},
            ],
            "count": 2,
            "already_off": [{"id": 3, "user": "carol", "secret_removed": false}],
        })
    );
    // The audit log records the two changes, not the no-op.
    let log = env.cmd().args(["log", "--json"]).output().unwrap();
    let users: Vec<String> = json_of(&log)
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "disable")
        .map(|e| e["user"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(users, ["bob", "alice"], "newest first");
}

#[test]
fn text_output_says_what_happened_to_each_user_in_the_order_named() {
    let env = TestEnv::new();
    env.enable_steady("alice");
    env.enroll("bob");
    // 2FA off but a secret left behind (doctor's disabled-with-secret).
    env.conn()
        .execute(
            "UPDATE account SET twofa_secret = x'67414141' WHERE username = 'carol'",
            [],
        )
        .unwrap();
    env.add_user("erin");
    let out = env
        .cmd()
        .args(["disable", "erin", "carol", "bob", "alice", "--yes"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "2FA was not on for 'erin'; nothing to disable\n\
         2FA was not on for 'carol'; the secret still stored was removed\n\
         2FA disabled for 'bob' (an enrollment was pending; it is removed)\n\
         2FA disabled for 'alice'\n"
    );
    for user in ["alice", "bob", "carol", "erin"] {
        assert_eq!(env.row(user), (0, rusqlite::types::Value::Null), "{user}");
    }
    assert_eq!(env.sql_i64("SELECT count(*) FROM mex2fa_pending"), 0);
}

#[test]
fn the_stale_secret_of_a_user_whose_2fa_is_off_shows_in_json() {
    let env = TestEnv::new();
    env.conn()
        .execute(
            "UPDATE account SET twofa_secret = 'gAAAA' WHERE username = 'carol'",
            [],
        )
        .unwrap();
    let out = env
        .cmd()
        .args(["disable", "carol", "--yes", "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    let doc = json_of(&out);
    assert_eq!(doc["count"], 0);
    assert_eq!(doc["already_off"][0]["secret_removed"], true, "{doc}");
    assert_eq!(env.row("carol"), (0, rusqlite::types::Value::Null));
}

#[test]
fn the_audit_log_names_the_account_of_the_uid_when_no_user_variable_is_set() {
    // cron and systemd units may set neither USER nor SUDO_USER (nor LOGNAME).
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    assert!(me.status.success(), "id -un: {}", stderr(&me));
    let me = String::from_utf8(me.stdout).unwrap().trim().to_string();
    let env = TestEnv::new();
    env.enable_steady("alice");
    let out = env
        .cmd()
        .env_remove("USER")
        .args(["disable", "alice", "--yes"])
        .output()
        .unwrap();
    assert_ok(&out);
    let log = env.cmd().args(["log", "alice", "--json"]).output().unwrap();
    let entries = json_of(&log);
    assert_eq!(entries[0]["action"], "disable", "{entries}");
    assert_eq!(entries[0]["os_user"], me.as_str(), "{entries}");
    // SUDO_USER still wins: it names the person behind `sudo`.
    env.enable_steady("bob");
    env.cmd()
        .env("SUDO_USER", "operator")
        .args(["disable", "bob", "--yes"])
        .assert()
        .success();
    let log = env.cmd().args(["log", "bob", "--json"]).output().unwrap();
    assert_eq!(json_of(&log)[0]["os_user"], "operator");
}

#[test]
fn an_id_has_one_json_type_in_status_log_disable_and_doctor() {
    let env = TestEnv::new();
    env.enroll("alice");
    // An expired enrollment: doctor reports it, with the account's id.
    env.conn()
        .execute("UPDATE mex2fa_pending SET expires_at = 1", [])
        .unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = env.cmd().args(args).arg("--json").output().unwrap();
        json_of(&out)
    };
    let status = json(&["status", "alice"]);
    let doctor = json(&["doctor"]);
    let finding = doctor["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "expired-pending")
        .unwrap_or_else(|| panic!("no expired-pending finding: {doctor}"))
        .clone();
    let disable = json(&["disable", "alice", "--yes"]);
    let log = json(&["log", "alice"]);
    let ids = [
        ("status", status[0]["id"].clone()),
        ("doctor", finding["id"].clone()),
        ("disable", disable["disabled"][0]["id"].clone()),
        ("log", log[0]["id"].clone()),
    ];
    for (command, id) in &ids {
        assert_eq!(id, &serde_json::json!(1), "{command}: {ids:?}");
    }
}

// ------------------------------------------------------------------ demo

#[test]
fn the_demo_shows_a_dry_run_a_restore_a_straggler_found_and_fixed() {
    let env = TestEnv::new();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = env.bare().env("TMPDIR", &tmp).arg("demo").output().unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    // In this order: each step depends on the one before.
    let steps = [
        "$ mex2fa rotate-key --new-key-file new-master.key --dry-run\ndry run: 1 secret would be re-encrypted",
        "$ mex2fa rotate-key --new-key-file new-master.key --backup rotation-backup.jsonl --yes\nrotated 1 secret",
        "$ mex2fa restore --backup rotation-backup.jsonl --yes\nrestored 1 ",
        "$ mex2fa rotate-key --new-key-file new-master.key --yes\nrotated 1 secret",
        // The old key is refused by mex2fa (its key check value), so the
        // demo plays the app writing carol's secret under it.
        "$ mex2fa enroll carol --no-qr\nmex2fa: this is not the key this database was last used with",
        "(exit code 4, as expected)",
        "$ mex2fa doctor\n",
        "does-not-decrypt",
        "(exit code 4, as expected)",
        "$ mex2fa rotate-key --new-key-file new-master.key --old-key-file master.key --yes\nrotated 1 secret",
        "$ mex2fa doctor\n",
        ": healthy (",
        "$ mex2fa verify carol --code ",
    ];
    let mut from = 0;
    for step in steps {
        let at = text[from..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing (or out of order) in the demo:\n{text}"));
        from += at + step.len();
    }
    // The closing line names every file left, the backup (it holds the
    // secrets) first.
    let dir = std::fs::read_dir(&tmp)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let last = text.trim_end().lines().last().unwrap();
    let named = last
        .split_once(": ")
        .unwrap_or_else(|| panic!("{last}"))
        .1
        .split("; remove them with")
        .next()
        .unwrap();
    let mut names: Vec<String> = named
        .split(", ")
        .map(|f| f.split(" (").next().unwrap().to_string())
        .collect();
    assert_eq!(names[0], "rotation-backup.jsonl", "{last}");
    assert!(
        named.starts_with("rotation-backup.jsonl (the secrets"),
        "{last}"
    );
    names.sort();
    assert_eq!(names, left, "{last}");
    assert!(
        last.ends_with(&format!("rm -r {}", dir.display())),
        "{last}"
    );
}
