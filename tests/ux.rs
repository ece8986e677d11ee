//! What a person meets first, through the real binary: mistakes answered with
//! what was meant, help that teaches (the commands, each command's own flags
//! first, the global settings under their headings, examples), and outcomes
//! that say what actually happened.

mod common;

use common::*;

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
