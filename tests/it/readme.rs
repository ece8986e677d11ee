//! The README's five-minute tour, run for real so that it cannot rot.
//!
//! Every `$ ` line in the ```console blocks of the section "## Five-minute
//! tour" is executed in order against a temporary database (the reference
//! schema with alice, bob and carol, from `TestEnv`), with the test's temp dir
//! as the working directory. Lines without `$ ` are the output the README
//! shows. The conventions, all of which the README follows:
//!
//! - **Site paths.** `/srv/mexanimator/instance/mexanimator.db` is the temp
//!   database; `/etc/mexanimator/` is a folder in the temp dir holding
//!   `twofa.key`, the app's master key (`util::KEY`, mode 0600). Every other
//!   path is relative to the working directory.
//! - **`$ export NAME=VALUE`** sets NAME for the following commands. VALUE is
//!   literal, or `"$(cat PATH)"`, which reads the file (the only command
//!   substitution understood).
//! - **`$ mex2fa ARGS`** runs the binary with a cleared environment plus the
//!   exported variables. It must exit 0 unless the next line is `$ echo $?`,
//!   whose shown output is the exit code expected instead. Single and double
//!   quotes group words; a `#` word starts a comment.
//! - **`CODE`** as an argument is the current TOTP code of the user the
//!   command names (the first word after the subcommand), computed from the
//!   secret the test knows (and retried once at a 30-second step boundary).
//! - **A confirmation question** shown answered (an output line ending in
//!   `? [y/n] yes`, as mex2fa asks) is answered by adding `--yes`: the test
//!   has no terminal.
//! - **Enrolling at a terminal**: `$ mex2fa enroll USER` whose shown output
//!   has the `code (1/3):` prompt. Without a terminal the command only prints
//!   the QR code and leaves the enrollment pending, so the test plays the
//!   person at the prompt: it decodes the printed QR code with rqrr, takes the
//!   secret from the URI, and types the code through
//!   `mex2fa confirm USER --code ...` (the prompt's own code path).
//! - **Shown results** (output lines starting with `2FA ` or `accepted:`) must
//!   appear verbatim in what the command printed.
//! - **The app's side**: `cp` and `install` lines run as written (on the
//!   mapped paths); `systemctl restart mexanimator` makes the app (re)read its
//!   key from `/etc/mexanimator/twofa.key`; the HTML comment
//!   `<!-- readme-test: the app enables USER -->` has the app turn on 2FA for
//!   USER with the key it runs with (Python's pyotp and Fernet, as the app
//!   does). Any other command fails the test: teach it here first.
//!
//! After the tour every user the tour enabled must verify with the final key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use crate::util::{Ink, TestEnv, run_with_code};

const README: &str = include_str!("../../README.md");
const TOUR_HEADING: &str = "## Five-minute tour";
const SITE_DB: &str = "/srv/mexanimator/instance/mexanimator.db";
const SITE_ETC: &str = "/etc/mexanimator/";
const MARKER: &str = "<!-- readme-test: ";

/// One thing the tour does, in README order.
#[derive(Debug)]
enum Step {
    /// A `$ ` line and the output lines the README shows under it.
    Shell {
        line: String,
        shown: Vec<String>,
        at: usize,
    },
    /// `<!-- readme-test: the app enables USER -->`.
    AppEnables { user: String, at: usize },
}

/// The tour section's steps. Panics on a malformed marker.
fn tour() -> Vec<Step> {
    let start = README
        .find(&format!("\n{TOUR_HEADING}\n"))
        .expect("the README has a five-minute tour section");
    let first_line = README[..start].lines().count() + 2;
    let body = &README[start + TOUR_HEADING.len() + 2..];
    let body = body.find("\n## ").map_or(body, |end| &body[..end]);
    let mut steps = Vec::new();
    let mut in_console = false;
    for (n, line) in body.lines().enumerate() {
        let at = first_line + n;
        if line.starts_with("```") {
            in_console = !in_console && line.trim() == "```console";
            continue;
        }
        if in_console {
            if let Some(cmd) = line.strip_prefix("$ ") {
                steps.push(Step::Shell {
                    line: cmd.to_string(),
                    shown: Vec::new(),
                    at,
                });
            } else if let Some(Step::Shell { shown, .. }) = steps.last_mut() {
                shown.push(line.to_string());
            } else {
                panic!("README.md:{at}: output before any command in a console block");
            }
        } else if let Some(rest) = line.trim().strip_prefix(MARKER) {
            let what = rest
                .strip_suffix("-->")
                .unwrap_or_else(|| panic!("README.md:{at}: unterminated marker"))
                .trim();
            let user = what
                .strip_prefix("the app enables ")
                .unwrap_or_else(|| panic!("README.md:{at}: unknown marker {what:?}"));
            steps.push(Step::AppEnables {
                user: user.to_string(),
                at,
            });
        }
    }
    assert!(!in_console, "an unclosed console block in the tour");
    steps
}

/// Shell-like words: whitespace separates, '…' and "…" group (no escapes
/// inside), a word starting with `#` ends the line.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, '#') if word.is_none() => break,
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line:?}");
    out.extend(word);
    out
}

struct Tour {
    env: TestEnv,
    etc: PathBuf,
    /// Variables the tour exported.
    vars: BTreeMap<String, String>,
    /// The master key the app runs with (read at each restart).
    app_key: String,
    /// Every user whose current secret the test knows.
    secrets: BTreeMap<String, String>,
    /// mex2fa commands run, by subcommand.
    ran: Vec<String>,
}

impl Tour {
    fn new() -> Tour {
        let env = TestEnv::new();
        let etc = env.path("etc/mexanimator");
        std::fs::create_dir_all(&etc).unwrap();
        crate::util::write_mode(
            &etc.join("twofa.key"),
            &format!("{}\n", crate::util::KEY),
            0o600,
        );
        Tour {
            env,
            etc,
            vars: BTreeMap::new(),
            app_key: crate::util::KEY.to_string(),
            secrets: BTreeMap::new(),
            ran: Vec::new(),
        }
    }

    /// The README's site paths, moved into the temp dir.
    fn map(&self, word: &str) -> String {
        let etc = format!("{}/", self.etc.display());
        word.replace(SITE_DB, &self.env.db.display().to_string())
            .replace(SITE_ETC, &etc)
    }

    fn read(&self, path: &str) -> String {
        let path = self.env.dir.path().join(self.map(path));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
            .trim()
            .to_string()
    }

    fn mex2fa(&self, args: &[String]) -> assert_cmd::Command {
        let mut c = self.env.bare();
        c.envs(&self.vars).args(args);
        c
    }

    /// The app turns on 2FA for `user` with the key it runs with.
    fn app_enables(&mut self, user: &str) {
        let db = self.env.db.display().to_string();
        // The app's Confirm, with pyotp's secret format and Fernet.
        let secret: String = format!("{:A<32}", user.to_ascii_uppercase());
        crate::util::py(
            &crate::util::python(),
            &["store", &db, &self.app_key, user, &secret],
        );
        self.secrets.insert(user.to_string(), secret);
    }

    /// Runs one `$ ` line; returns the exit code of a mex2fa command, None
    /// for anything else or a command skipped.
    fn shell(&mut self, line: &str, shown: &[String], at: usize) -> Option<i32> {
        let w = words(line);
        let (cmd, rest) = w.split_first().expect("an empty command");
        match cmd.as_str() {
            "mex2fa" => self.run_mex2fa(rest, shown, at),
            "export" => {
                let [assignment] = rest else {
                    panic!("README.md:{at}: export takes one NAME=VALUE")
                };
                let (name, value) = assignment.split_once('=').expect("NAME=VALUE");
                let value = match value.strip_prefix("$(cat ") {
                    Some(path) => self.read(path.strip_suffix(')').expect("$(cat PATH)")),
                    None => {
                        assert!(!value.contains('$'), "README.md:{at}: unsupported {value}");
                        self.map(value)
                    }
                };
                self.vars.insert(name.to_string(), value);
                None
            }
            "cp" | "install" => {
                let out = std::process::Command::new(cmd)
                    .args(rest.iter().map(|a| self.map(a)))
                    .current_dir(self.env.dir.path())
                    .output()
                    .unwrap();
                assert!(out.status.success(), "README.md:{at}: {line}: {out:?}");
                None
            }
            "systemctl" => {
                assert_eq!(rest, ["restart", "mexanimator"], "README.md:{at}");
                self.app_key = self.read(&format!("{SITE_ETC}twofa.key"));
                None
            }
            other => panic!(
                "README.md:{at}: the tour runs `{other}`, which tests/it/readme.rs does not know; teach it first"
            ),
        }
    }

    fn run_mex2fa(&mut self, rest: &[String], shown: &[String], at: usize) -> Option<i32> {
        let mut args: Vec<String> = rest.iter().map(|a| self.map(a)).collect();
        let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let sub = positional
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let user = positional.get(1).map(|s| s.to_string());
        self.ran.push(sub.clone());
        if shown.iter().any(|l| l.trim_end().ends_with("? [y/n] yes")) {
            args.push("--yes".into());
        }
        let out = if args.iter().any(|a| a == "CODE") {
            let user = user
                .as_deref()
                .unwrap_or_else(|| panic!("README.md:{at}: CODE for whom?"));
            let secret = self.secrets.get(user).unwrap_or_else(|| {
                panic!("README.md:{at}: CODE for {user}, whose secret the tour never showed")
            });
            run_with_code(secret, |code| {
                let with: Vec<String> = args
                    .iter()
                    .map(|a| {
                        if a == "CODE" {
                            code.to_string()
                        } else {
                            a.clone()
                        }
                    })
                    .collect();
                self.mex2fa(&with)
            })
        } else {
            self.mex2fa(&args).output().unwrap()
        };
        let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
        printed += &String::from_utf8_lossy(&out.stderr);
        if sub == "enroll" && shown.iter().any(|l| l.starts_with("code (1/3):")) {
            assert!(out.status.success(), "README.md:{at}: {out:?}");
            let user = user.expect("enroll USER");
            printed += &self.type_first_code(&user, &out, at);
        }
        for result in shown
            .iter()
            .filter(|l| l.starts_with("2FA ") || l.starts_with("accepted:"))
        {
            assert!(
                printed.lines().any(|l| l == result),
                "README.md:{at}: shows {result:?}, but mex2fa printed:\n{printed}"
            );
        }
        Some(out.status.code().expect("exit code"))
    }

    /// Plays the person at enroll's prompt: reads the QR code the command
    /// printed, and confirms with the code the phone would show.
    fn type_first_code(&mut self, user: &str, out: &Output, at: usize) -> String {
        let qr = String::from_utf8(out.stdout.clone()).unwrap();
        let m = crate::util::modules_from_half_blocks(&qr, Ink::Light);
        let uri = m
            .rows(m.width)
            .decode(4)
            .unwrap_or_else(|e| panic!("README.md:{at}: the QR code does not scan: {e}"));
        let secret = uri
            .split("secret=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .unwrap_or_else(|| panic!("README.md:{at}: no secret in {uri}"))
            .to_string();
        assert!(uri.starts_with(&format!("otpauth://totp/MeXanimatoR:{user}?")));
        let out = run_with_code(&secret, |code| {
            self.mex2fa(&["confirm".into(), user.into(), "--code".into(), code.into()])
        });
        assert!(
            out.status.success(),
            "README.md:{at}: the code from {user}'s QR code was not accepted: {out:?}"
        );
        self.secrets.insert(user.to_string(), secret);
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn the_five_minute_tour_runs_as_written() {
    let steps = tour();
    let mut t = Tour::new();
    let mut i = 0;
    while i < steps.len() {
        match &steps[i] {
            Step::AppEnables { user, at } => {
                let n: i64 = t
                    .env
                    .conn()
                    .query_row(
                        "SELECT count(*) FROM account WHERE username = ?1",
                        [user],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(n, 1, "README.md:{at}: no user {user}");
                t.app_enables(user);
            }
            Step::Shell { line, shown, at } => {
                let exit = t.shell(line, shown, *at);
                // `$ echo $?` right after: the exit code the README shows.
                let expected = match steps.get(i + 1) {
                    Some(Step::Shell { line, shown, at }) if line.trim() == "echo $?" => {
                        i += 1;
                        let code = shown.first().and_then(|s| s.trim().parse::<i32>().ok());
                        Some(
                            code.unwrap_or_else(|| panic!("README.md:{at}: echo $? shows no code")),
                        )
                    }
                    _ => None,
                };
                if let Some(exit) = exit {
                    assert_eq!(
                        exit,
                        expected.unwrap_or(0),
                        "README.md:{at}: `$ {line}` exited {exit}"
                    );
                }
            }
        }
        i += 1;
    }

    // The tour shows what the README promises (so a broken extraction fails).
    for sub in [
        "status",
        "enroll",
        "verify",
        "disable",
        "log",
        "keygen",
        "rotate-key",
        "doctor",
    ] {
        assert!(
            t.ran.iter().any(|s| s == sub),
            "the tour never runs `mex2fa {sub}`"
        );
    }
    assert!(
        t.vars.contains_key("MEX2FA_DB") && t.vars.contains_key("TWOFA_MASTER_KEY"),
        "the tour sets neither the database nor the key"
    );
    // Everyone the tour enabled (the straggler included) signs in with the
    // key the tour ends with, and that is the new key.
    assert_eq!(t.vars["TWOFA_MASTER_KEY"], t.read("new.key"));
    assert_ne!(t.vars["TWOFA_MASTER_KEY"], crate::util::KEY);
    assert!(t.secrets.len() >= 3, "{:?}", t.secrets.keys());
    for (user, secret) in &t.secrets {
        let out = run_with_code(secret, |code| {
            t.mex2fa(&["verify".into(), user.clone(), "--code".into(), code.into()])
        });
        assert!(
            out.status.success(),
            "{user} cannot sign in after the tour: {out:?}"
        );
    }
}

#[test]
fn words_split_like_a_shell() {
    assert_eq!(
        words("mex2fa verify alice --code CODE"),
        ["mex2fa", "verify", "alice", "--code", "CODE"]
    );
    assert_eq!(
        words(r#"export TWOFA_MASTER_KEY="$(cat /etc/x.key)"  # a comment"#),
        ["export", "TWOFA_MASTER_KEY=$(cat /etc/x.key)"]
    );
    assert_eq!(words("a 'b c' \"\" d#e"), ["a", "b c", "", "d#e"]);
}

#[test]
fn the_tour_is_found_and_ordered() {
    let steps = tour();
    let lines: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Shell { line, .. } => Some(line.as_str()),
            Step::AppEnables { .. } => None,
        })
        .collect();
    assert!(
        lines.len() >= 15,
        "only {} commands in the tour",
        lines.len()
    );
    assert!(lines[0].starts_with("export MEX2FA_DB="), "{lines:?}");
    // The set-up commands are not part of the tour.
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("cargo") || l.starts_with("scripts/"))
    );
    let markers = steps
        .iter()
        .filter(|s| matches!(s, Step::AppEnables { .. }))
        .count();
    assert_eq!(markers, 2);
    assert!(README.contains(SITE_DB) && README.contains(SITE_ETC));
}
