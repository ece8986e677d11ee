//! The hostile-input catalog, shared by `hostile.rs` (exit codes, one line
//! on stderr, no panic, an untouched database) and `hygiene.rs`
//! (no secret in any output). Each case runs the real binary against a fresh
//! [`Fixture`]: alice has 2FA enabled (a token under `KEY`, written as the
//! app's Confirm writes it), bob has an enrollment pending, carol has nothing.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mex2fa::crypto::MasterKey;
use mex2fa::totp::Secret;
use rusqlite::types::Value;

use super::{KEY, KEY2, TestEnv, vectors_dir, write_mode};

/// A database with alice enabled, bob pending, carol untouched.
pub struct Fixture {
    pub env: TestEnv,
    /// alice's TOTP secret (stored encrypted under `KEY`).
    pub alice: String,
    /// bob's pending secret (from `enroll --show-secret`).
    pub bob: String,
}

impl Fixture {
    /// A fresh copy of the one fixture database this test binary builds.
    pub fn new() -> Fixture {
        static TEMPLATE: OnceLock<(Vec<u8>, String, String)> = OnceLock::new();
        let (bytes, alice, bob) = TEMPLATE.get_or_init(|| {
            let env = TestEnv::new();
            let alice = Secret::generate().as_str().to_string();
            let token = MasterKey::parse(KEY)
                .expect("KEY")
                .encrypt(alice.as_bytes());
            env.store("alice", Value::Blob(token.into_bytes()));
            let bob = env.enroll("bob");
            (env.snapshot(), alice, bob)
        });
        Fixture {
            env: TestEnv::from_snapshot(bytes),
            alice: alice.clone(),
            bob: bob.clone(),
        }
    }

    /// A well-formed code that none of the secrets a case may store accepts
    /// at any step within ±3 of now, so `verify alice --code` with it exits 1
    /// whenever it runs in the next minute: proof that the key was accepted
    /// and the token decrypted.
    pub fn wrong_code(&self) -> String {
        let now = super::now();
        let near: Vec<String> = [self.alice.as_str(), self.bob.as_str(), SECRET]
            .iter()
            .flat_map(|s| {
                let s = Secret::parse(s).expect("a secret");
                (0..7)
                    .map(|i| s.code_at(now + i * 30 - 90))
                    .collect::<Vec<_>>()
            })
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", n * 7919 % 1_000_000))
            .find(|c| !near.contains(c))
            .expect("a code")
    }
}

/// A third valid key, under which nothing is stored.
pub const KEY3: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The secret inside the hand-made tokens of the catalog.
pub const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// How a case changes the fixture before running.
#[derive(Clone)]
pub enum Prep {
    None,
    /// alice's stored secret replaced by this value (enabled stays 1).
    AliceSecret(Value),
    /// `MEX2FA_DB` points at a path of this kind instead of the fixture.
    DbPath(DbKind),
    /// The fixture database made read-only, even for root ([`read_only`]).
    ReadOnly,
}

#[derive(Clone, Copy, Debug)]
pub enum DbKind {
    Missing,
    Directory,
    NotSqlite,
    Empty,
    /// The first 100 bytes of a real database (a header, no pages).
    Truncated,
    /// A named pipe: opening it for reading blocks until a writer comes.
    Fifo,
    /// A character device (`/dev/null`).
    Device,
    Unset,
}

#[derive(Clone)]
pub struct Case {
    pub group: &'static str,
    pub name: String,
    pub args: Vec<OsString>,
    pub stdin: Vec<u8>,
    /// On top of `TestEnv::cmd()`: `Some` sets a variable, `None` removes it.
    pub env: Vec<(&'static str, Option<OsString>)>,
    /// Files written into the temp dir first: (name, bytes, mode).
    pub files: Vec<(&'static str, Vec<u8>, u32)>,
    pub prep: Prep,
    /// The documented exit code (the README's "Exit codes").
    pub exit: i32,
}

impl Case {
    fn new(group: &'static str, name: impl Into<String>, args: &[&str], exit: i32) -> Case {
        Case {
            group,
            name: name.into(),
            args: args.iter().map(OsString::from).collect(),
            stdin: Vec::new(),
            env: Vec::new(),
            files: Vec::new(),
            prep: Prep::None,
            exit,
        }
    }

    fn stdin(mut self, bytes: &[u8]) -> Case {
        self.stdin = bytes.to_vec();
        self
    }

    fn env(mut self, name: &'static str, value: Option<&str>) -> Case {
        self.env.push((name, value.map(OsString::from)));
        self
    }

    fn file(mut self, name: &'static str, bytes: &[u8]) -> Case {
        self.files.push((name, bytes.to_vec(), 0o600));
        self
    }

    fn prep(mut self, prep: Prep) -> Case {
        self.prep = prep;
        self
    }

    fn arg_os(mut self, arg: OsString) -> Case {
        self.args.push(arg);
        self
    }
}

/// Where the placeholder `WRONG` in a case's args is replaced by
/// [`Fixture::wrong_code`] at run time.
pub const WRONG: &str = "@wrong-code@";

/// The standard-alphabet (`+/`) spelling of a URL-safe key.
pub fn std_alphabet(key: &str) -> String {
    key.replace('-', "+").replace('_', "/")
}

/// The Fernet spec's invalid tokens (`tests/vectors/fernet/invalid.json`).
pub fn fernet_invalid() -> Vec<(String, String, String)> {
    let path = vectors_dir().join("fernet/invalid.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("invalid.json");
    let list = v.as_array().expect("an array");
    assert!(!list.is_empty(), "invalid.json is empty");
    list.iter()
        .map(|e| {
            (
                e["desc"].as_str().expect("desc").to_string(),
                e["token"].as_str().expect("token").to_string(),
                e["secret"].as_str().expect("secret").to_string(),
            )
        })
        .collect()
}

/// Whether a vector is invalid only because of its age: Python's
/// `Fernet.decrypt(token)` with no TTL (what the app calls) accepts it, and so
/// does mex2fa. Its plaintext ("hello") is then a valid, weak base32 secret.
pub fn only_ttl_invalid(desc: &str) -> bool {
    let d = desc.to_ascii_lowercase();
    d.contains("ttl") || d.contains("clock skew")
}

/// Every hostile case.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    codes(&mut v);
    usernames(&mut v);
    keys(&mut v);
    tokens(&mut v);
    identifiers(&mut v);
    databases(&mut v);
    options(&mut v);
    v
}

fn codes(v: &mut Vec<Case>) {
    let big = "1".repeat(10 * 1024);
    let bad: [(&str, &str); 7] = [
        ("empty", ""),
        ("5 digits", "12345"),
        ("7 digits", "1234567"),
        ("letters", "abcdef"),
        ("Arabic-Indic digits", "١٢٣٤٥٦"),
        ("10 kB", &big),
        ("digits and a sign", "+12345"),
    ];
    for (name, code) in bad {
        for cmd in [
            &["verify", "alice"][..],
            &["confirm", "bob"][..],
            &["enroll", "carol", "--no-qr"][..],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--code", code]);
            v.push(Case::new(
                "code",
                format!("{} --code {name}", cmd[0]),
                &args,
                2,
            ));
        }
    }
    // argv cannot carry NUL: stdin can.
    for (name, input) in [
        ("embedded NUL", &b"123\x00456\n"[..]),
        ("NUL only", b"\x00\x00\x00\x00\x00\x00\n"),
        ("10 kB", &[b'9'; 10 * 1024][..]),
        ("not UTF-8", b"12\xff\xfe56\n"),
        ("nothing", b""),
        ("letters", b"abcdef\n"),
    ] {
        v.push(
            Case::new(
                "code",
                format!("verify stdin {name}"),
                &["verify", "alice"],
                2,
            )
            .stdin(input),
        );
        v.push(
            Case::new(
                "code",
                format!("confirm stdin {name}"),
                &["confirm", "bob"],
                2,
            )
            .stdin(input),
        );
    }
    v.push(Case::new(
        "code",
        "verify a wrong code",
        &["verify", "alice", "--code", WRONG],
        1,
    ));
    v.push(
        Case::new(
            "code",
            "verify a wrong code on stdin",
            &["verify", "alice"],
            1,
        )
        .stdin(format!("{WRONG}\n").as_bytes()),
    );
    v.push(Case::new(
        "code",
        "verify --window 11",
        &["verify", "alice", "--code", WRONG, "--window", "11"],
        2,
    ));
}

fn usernames(v: &mut Vec<Case>) {
    let big = "a".repeat(10 * 1024);
    let names: [(&str, &str); 12] = [
        ("quote-or", "' OR '1'='1"),
        ("comment", "alice'--"),
        ("drop table", "alice\"; DROP TABLE account; --"),
        ("union", "x' UNION SELECT 1,2,3,4 --"),
        ("LIKE wildcard", "%"),
        ("case differs", "ALICE"),
        ("trailing space", "alice "),
        ("empty", ""),
        ("10 kB", &big),
        ("ANSI escapes", "\x1b[31malice\x1b[0m\x1b]0;pwned\x07"),
        ("newline", "alice\nmex2fa: all good"),
        ("carriage return", "alice\rOK"),
    ];
    for (name, user) in names {
        for (cmd, extra) in [
            ("verify", &["--code", "123456"][..]),
            ("confirm", &["--code", "123456"][..]),
            ("enroll", &["--no-qr"][..]),
            ("disable", &["--yes"][..]),
            ("status", &[][..]),
        ] {
            // Options first: after `--` everything is a username.
            let mut args: Vec<&str> = vec![cmd];
            args.extend(extra);
            args.extend(["--", user]);
            v.push(Case::new("user", format!("{cmd} {name}"), &args, 3));
        }
    }
    // Not UTF-8: clap refuses it (a username comes from the terminal as text).
    for cmd in ["verify", "enroll", "disable", "status"] {
        v.push(
            Case::new("user", format!("{cmd} non-UTF-8 argv"), &[cmd], 2)
                .arg_os(OsString::from_vec(b"al\xffice\x80".to_vec())),
        );
    }
    v.push(Case::new(
        "user",
        "disable one unknown among known",
        &["disable", "alice", "nosuch", "--yes"],
        3,
    ));
    v.push(Case::new(
        "user",
        "verify a user without 2FA",
        &["verify", "carol", "--code", "123456"],
        3,
    ));
    v.push(Case::new(
        "user",
        "confirm with nothing pending",
        &["confirm", "carol", "--code", "123456"],
        3,
    ));
    v.push(Case::new(
        "user",
        "enroll an enabled user",
        &["enroll", "alice", "--no-qr"],
        3,
    ));
}

fn keys(v: &mut Vec<Case>) {
    let verify = [
        "verify",
        "alice",
        "--code",
        WRONG,
        "--master-key-file",
        "k.key",
    ];
    let files: [(&str, Vec<u8>, i32); 11] = [
        ("short", b"abc".to_vec(), 4),
        ("long", format!("{KEY}AAAA").into_bytes(), 4),
        ("non-base64", KEY.replace('x', "!").into_bytes(), 4),
        (
            "padding inside",
            format!("{}={}", &KEY[..20], &KEY[21..]).into_bytes(),
            4,
        ),
        ("+/ alphabet", std_alphabet(KEY).into_bytes(), 1),
        ("unpadded", KEY.as_bytes()[..43].to_vec(), 4),
        (
            "whitespace around",
            format!("\n\n \t{KEY} \r\n\n").into_bytes(),
            1,
        ),
        ("empty file", Vec::new(), 4),
        ("only whitespace", b" \n\t\n".to_vec(), 4),
        ("not UTF-8", b"\xff\xfe\x00key".to_vec(), 4),
        ("the wrong key", KEY2.as_bytes().to_vec(), 4),
    ];
    for (name, bytes, exit) in files {
        v.push(
            Case::new("key", format!("key file {name}"), &verify, exit)
                .file("k.key", &bytes)
                .env("TWOFA_MASTER_KEY", None),
        );
    }
    v.push(Case::new("key", "key file missing", &verify, 4).env("TWOFA_MASTER_KEY", None));
    v.push(
        Case::new(
            "key",
            "key file is a directory",
            &["verify", "alice", "--code", WRONG, "--master-key-file", "."],
            4,
        )
        .env("TWOFA_MASTER_KEY", None),
    );
    let env_verify = ["verify", "alice", "--code", WRONG];
    let std_key = std_alphabet(KEY);
    let spaced = format!("  {KEY}\n");
    let envs: [(&str, Option<&str>, i32); 7] = [
        ("unset", None, 4),
        ("empty", Some(""), 4),
        ("short", Some("abc"), 4),
        ("unpadded", Some(&KEY[..43]), 4),
        ("+/ alphabet", Some(&std_key), 1),
        ("whitespace around", Some(&spaced), 1),
        ("the wrong key", Some(KEY2), 4),
    ];
    for (name, value, exit) in envs {
        v.push(
            Case::new("key", format!("TWOFA_MASTER_KEY {name}"), &env_verify, exit)
                .env("TWOFA_MASTER_KEY", value),
        );
    }
    // rotate-key's own key files.
    let rotate = ["rotate-key", "--new-key-file", "new.key", "--yes"];
    v.push(Case::new("key", "rotate-key new key missing", &rotate, 4));
    for (name, bytes) in [
        ("short", b"abc".to_vec()),
        ("empty", Vec::new()),
        ("unpadded", KEY2.as_bytes()[..43].to_vec()),
    ] {
        v.push(
            Case::new("key", format!("rotate-key new key {name}"), &rotate, 4)
                .file("new.key", &bytes),
        );
    }
    v.push(
        Case::new(
            "key",
            "rotate-key old key short",
            &[
                "rotate-key",
                "--new-key-file",
                "new.key",
                "--old-key-file",
                "old.key",
                "--yes",
            ],
            4,
        )
        .file("new.key", KEY2.as_bytes())
        .file("old.key", b"abc"),
    );
    v.push(
        Case::new("key", "rotate-key under the wrong current key", &rotate, 4)
            .file("new.key", format!("{KEY2}\n").as_bytes())
            .env("TWOFA_MASTER_KEY", Some(KEY3)),
    );
    v.push(
        Case::new("key", "restore under the wrong key", &["restore", "--backup", "b.jsonl", "--yes"], 4)
            .file(
                "b.jsonl",
                format!(
                    "{{\"format\":\"mex2fa-backup\",\"version\":2,\"table\":\"account\",\"id_column\":\"accountid\",\"secret_column\":\"twofa_secret\"}}\n{{\"place\":\"account\",\"id\":1,\"token\":\"{}\",\"rotated\":\"{}\"}}\n",
                    MasterKey::parse(KEY2).unwrap().encrypt(b"JBSWY3DPEHPK3PXP"),
                    MasterKey::parse(KEY3).unwrap().encrypt(b"JBSWY3DPEHPK3PXP")
                )
                .as_bytes(),
            ),
    );
    v.push(
        Case::new(
            "key",
            "restore a malformed backup",
            &["restore", "--backup", "b.jsonl", "--yes"],
            2,
        )
        .file(
            "b.jsonl",
            b"{\"format\":\"mex2fa-backup\",\"version\":2}\n\x00\xff",
        ),
    );
}

fn tokens(v: &mut Vec<Case>) {
    let key = MasterKey::parse(KEY).expect("KEY");
    let good = key.encrypt(SECRET.as_bytes());
    // (name, stored value, exit of verify, of doctor, of rotate-key to KEY2 if
    // it must refuse: only a token no key opens stops a rotation).
    let mut stored: Vec<(String, Value, i32, i32, Option<i32>)> = vec![
        (
            "truncated".into(),
            Value::Blob(good.as_bytes()[..good.len() - 10].to_vec()),
            4,
            4,
            Some(4),
        ),
        (
            "truncated to the header".into(),
            Value::Text(good[..40].to_string()),
            4,
            4,
            Some(4),
        ),
        ("NULL".into(), Value::Null, 4, 3, None),
        (
            "empty string".into(),
            Value::Text(String::new()),
            4,
            3,
            None,
        ),
        ("empty blob".into(), Value::Blob(Vec::new()), 4, 3, None),
        ("an integer".into(), Value::Integer(42), 4, 4, Some(4)),
        ("a real".into(), Value::Real(1.5), 4, 4, Some(4)),
        (
            "not UTF-8".into(),
            Value::Blob(vec![0x80, 0xff, 0x00, 0x41]),
            4,
            4,
            Some(4),
        ),
        (
            "plaintext not base32".into(),
            Value::Text(key.encrypt(b"not base32!")),
            4,
            4,
            None,
        ),
        (
            "plaintext not UTF-8".into(),
            Value::Blob(key.encrypt(b"\xff\xfe").into_bytes()),
            4,
            4,
            None,
        ),
        (
            "a valid token padded with whitespace".into(),
            Value::Text(format!("  {good}\n")),
            1,
            0,
            None,
        ),
        (
            "under another key".into(),
            Value::Blob(
                MasterKey::parse(KEY2)
                    .expect("KEY2")
                    .encrypt(SECRET.as_bytes())
                    .into_bytes(),
            ),
            4,
            4,
            None,
        ),
        (
            "10 kB of base64".into(),
            Value::Text("A".repeat(10 * 1024)),
            4,
            4,
            Some(4),
        ),
    ];
    for (desc, token, secret) in fernet_invalid() {
        assert_eq!(secret, KEY, "the vectors use the spec's key, as KEY");
        let exits = if only_ttl_invalid(&desc) {
            // Decrypts (no TTL, as the app's decrypt) to an empty secret: refused,
            // and a rotation carries it over unchanged.
            (4, 4, None)
        } else {
            (4, 4, Some(4))
        };
        stored.push((
            format!("Fernet spec: {desc}"),
            Value::Blob(token.into_bytes()),
            exits.0,
            exits.1,
            exits.2,
        ));
    }
    for (name, value, verify, doctor, rotate) in stored {
        v.push(
            Case::new(
                "token",
                format!("verify stored {name}"),
                &["verify", "alice", "--code", WRONG],
                verify,
            )
            .prep(Prep::AliceSecret(value.clone())),
        );
        if doctor != 0 {
            v.push(
                Case::new(
                    "token",
                    format!("doctor stored {name}"),
                    &["doctor"],
                    doctor,
                )
                .prep(Prep::AliceSecret(value.clone())),
            );
        }
        if let Some(exit) = rotate {
            v.push(
                Case::new(
                    "token",
                    format!("rotate-key stored {name}"),
                    &["rotate-key", "--new-key-file", "new.key", "--yes"],
                    exit,
                )
                .file("new.key", KEY2.as_bytes())
                .prep(Prep::AliceSecret(value)),
            );
        }
    }
}

fn identifiers(v: &mut Vec<Case>) {
    let bad: [(&str, &str); 9] = [
        ("--table", "acc ount"),
        ("--table", "acc\"ount"),
        ("--table", "account'"),
        ("--user-column", "x; DROP TABLE account"),
        ("--secret-column", "twofa_secret--"),
        ("--id-column", ""),
        ("--enabled-column", "naïve"),
        ("--table", "1account"),
        ("--table", "account\x1b[2J"),
    ];
    for (flag, value) in bad {
        v.push(Case::new(
            "ident",
            format!("status {flag} {value:?}"),
            &["status", flag, value],
            2,
        ));
        v.push(Case::new(
            "ident",
            format!("disable {flag} {value:?}"),
            &["disable", "alice", "--yes", flag, value],
            2,
        ));
    }
    for (var, value) in [
        ("MEX2FA_TABLE", "account; DROP TABLE account"),
        ("MEX2FA_SECRET_COLUMN", "twofa_secret = NULL --"),
        ("MEX2FA_USER_COLUMN", "username OR 1=1"),
    ] {
        v.push(
            Case::new(
                "ident",
                format!("{var}={value:?}"),
                &["disable", "alice", "--yes"],
                2,
            )
            .env(var, Some(value)),
        );
    }
    // Valid identifiers that name nothing, keywords and SQLite's own tables: quoted, so a schema mismatch.
    for (flag, value) in [
        ("--table", "select"),
        ("--table", "sqlite_master"),
        ("--table", "mex2fa_audit"),
        ("--user-column", "from"),
        ("--secret-column", "email_"),
        ("--id-column", "rowid"),
    ] {
        v.push(Case::new(
            "ident",
            format!("status {flag} {value}"),
            &["status", flag, value],
            5,
        ));
        v.push(Case::new(
            "ident",
            format!("disable {flag} {value}"),
            &["disable", "alice", "--yes", flag, value],
            5,
        ));
    }
}

fn databases(v: &mut Vec<Case>) {
    for kind in [
        DbKind::Missing,
        DbKind::Directory,
        DbKind::NotSqlite,
        DbKind::Empty,
        DbKind::Truncated,
        DbKind::Fifo,
        DbKind::Device,
        DbKind::Unset,
    ] {
        for args in [
            &["status"][..],
            &["verify", "alice", "--code", "123456"][..],
            &["enroll", "carol", "--no-qr"][..],
            &["disable", "--all", "--yes"][..],
            &["doctor"][..],
            &["log"][..],
        ] {
            v.push(
                Case::new("db", format!("{} on a {kind:?} database", args[0]), args, 5)
                    .prep(Prep::DbPath(kind)),
            );
        }
    }
    for args in [
        &["enroll", "carol", "--no-qr"][..],
        &["disable", "alice", "--yes"][..],
        &["rotate-key", "--new-key-file", "new.key", "--yes"][..],
    ] {
        v.push(
            Case::new(
                "db",
                format!("{} on a read-only database", args[0]),
                args,
                5,
            )
            .file("new.key", KEY2.as_bytes())
            .prep(Prep::ReadOnly),
        );
    }
    // A rejected code writes nothing, so a read-only file is no error there.
    v.push(
        Case::new(
            "db",
            "confirm a wrong code on a read-only database",
            &["confirm", "bob", "--code", WRONG],
            1,
        )
        .prep(Prep::ReadOnly),
    );
}

fn options(v: &mut Vec<Case>) {
    for (name, args) in [
        (
            "busy timeout past i32",
            &["status", "--busy-timeout", "3000000000"][..],
        ),
        (
            "busy timeout negative",
            &["status", "--busy-timeout", "-1"][..],
        ),
        ("ttl zero", &["enroll", "carol", "--ttl", "0"][..]),
        (
            "ttl overflowing i64",
            &["enroll", "carol", "--ttl", "9223372036854775808"][..],
        ),
        (
            "ttl overflowing u64",
            &["enroll", "carol", "--ttl", "99999999999999999999d"][..],
        ),
        ("ttl unit", &["enroll", "carol", "--ttl", "5y"][..]),
        ("since not a date", &["log", "--since", "2026-02-30"][..]),
        ("unknown flag", &["status", "--master-key", "x"][..]),
        ("unknown command", &["drop-table"][..]),
    ] {
        v.push(Case::new("option", name, args, 2));
    }
    v.push(
        Case::new("option", "MEX2FA_BUSY_TIMEOUT past i32", &["status"], 2)
            .env("MEX2FA_BUSY_TIMEOUT", Some("99999999999")),
    );
    v.push(Case::new(
        "option",
        "env file missing",
        &["status", "--env-file", "nope.env"],
        2,
    ));
    v.push(
        Case::new(
            "option",
            "env file with an unbalanced quote",
            &["status", "--env-file", "bad.env"],
            2,
        )
        .file(
            "bad.env",
            format!("MEX2FA_ISSUER=x\nTWOFA_MASTER_KEY='{KEY}\n").as_bytes(),
        )
        .env("TWOFA_MASTER_KEY", None),
    );
    v.push(
        Case::new(
            "option",
            "rotate-key without --yes and no terminal",
            &["rotate-key", "--new-key-file", "new.key"],
            2,
        )
        .file("new.key", KEY2.as_bytes()),
    );
    v.push(Case::new(
        "option",
        "disable without --yes and no terminal",
        &["disable", "alice"],
        2,
    ));
    v.push(
        Case::new(
            "option",
            "keygen --out an existing file",
            &["keygen", "--out", "exists.key"],
            2,
        )
        .file("exists.key", b"keep me\n"),
    );
    v.push(
        Case::new(
            "option",
            "enroll --png an existing file",
            &["enroll", "carol", "--no-qr", "--png", "qr.png"],
            2,
        )
        .file("qr.png", b"keep me\n"),
    );
    v.push(
        Case::new(
            "option",
            "rotate-key --backup an existing file",
            &[
                "rotate-key",
                "--new-key-file",
                "new.key",
                "--backup",
                "b.jsonl",
                "--yes",
            ],
            2,
        )
        .file("new.key", KEY2.as_bytes())
        .file("b.jsonl", b"keep me\n"),
    );
}

/// What one case did.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The fixture database, and any file the case pointed `--db` at, before and after.
    pub db_before: Vec<(PathBuf, Vec<u8>)>,
    pub db_after: Vec<(PathBuf, Vec<u8>)>,
    /// Files the case wrote first, and their bytes after the run.
    pub files_after: Vec<(&'static str, Option<Vec<u8>>)>,
    /// The names in the temp dir before and after the run.
    pub dir_before: Vec<String>,
    pub dir_after: Vec<String>,
    /// Every audit row, as text.
    pub audit: Vec<String>,
    /// The TOTP secrets of this fixture (alice's, bob's).
    pub secrets: Vec<String>,
}

/// Makes the file writable again when dropped, so that the temp dir can be
/// deleted even if the test fails.
struct ReadOnly {
    path: PathBuf,
    immutable: bool,
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        }
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600));
    }
}

/// Makes `path` read-only for every process: mode 0444, which binds every
/// user but root, and for root also `chattr +i` (e2fsprogs), which binds root.
fn read_only(path: &Path) -> Result<ReadOnly, String> {
    use std::os::unix::fs::PermissionsExt;
    let writable = || std::fs::OpenOptions::new().append(true).open(path).is_ok();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let mut guard = ReadOnly {
        path: path.to_path_buf(),
        immutable: false,
    };
    if !writable() {
        return Ok(guard);
    }
    let out = Command::new(super::require("chattr", "e2fsprogs"))
        .arg("+i")
        .arg(path)
        .output()
        .map_err(|e| format!("chattr does not run ({e})"))?;
    if !out.status.success() {
        return Err(format!(
            "chattr +i fails on the temp dir's filesystem: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    guard.immutable = true;
    // Proof that it holds: root cannot open it for writing.
    if writable() {
        return Err("chattr +i did not make the file read-only".into());
    }
    Ok(guard)
}

/// Runs one case on a fresh fixture; `Err(reason)` when it cannot run here
/// (a failure of the test that ran it).
pub fn run(case: &Case) -> Result<Ran, String> {
    let fx = Fixture::new();
    let env = &fx.env;
    let wrong = fx.wrong_code();
    for (name, bytes, mode) in &case.files {
        let path = env.path(name);
        std::fs::write(&path, bytes).expect("write case file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).expect("chmod");
    }
    let mut db_paths = vec![env.db.clone()];
    let mut db_env: Option<Option<PathBuf>> = None;
    let mut _guard = None;
    match &case.prep {
        Prep::None => {}
        Prep::AliceSecret(value) => {
            env.conn()
                .execute(
                    "UPDATE account SET twofa_secret = ?1 WHERE username = 'alice'",
                    [value],
                )
                .expect("store the hostile token");
        }
        Prep::DbPath(kind) => {
            let path = env.path("other.db");
            match kind {
                DbKind::Missing => {}
                DbKind::Directory => std::fs::create_dir(&path).expect("mkdir"),
                DbKind::NotSqlite => write_mode(
                    &path,
                    "this is not a database\n".repeat(200).as_str(),
                    0o600,
                ),
                DbKind::Empty => write_mode(&path, "", 0o600),
                DbKind::Truncated => {
                    let bytes = std::fs::read(&env.db).expect("db");
                    std::fs::write(&path, &bytes[..100]).expect("write");
                }
                DbKind::Fifo => {
                    let ok = Command::new("mkfifo")
                        .arg(&path)
                        .status()
                        .map_err(|e| format!("mkfifo is not available ({e})"))?;
                    if !ok.success() {
                        return Err("mkfifo failed".into());
                    }
                }
                DbKind::Device => std::os::unix::fs::symlink("/dev/null", &path).expect("symlink"),
                DbKind::Unset => {}
            }
            if path.is_file() {
                db_paths.push(path.clone());
            }
            db_env = Some(match kind {
                DbKind::Unset => None,
                _ => Some(path),
            });
        }
        Prep::ReadOnly => _guard = Some(read_only(&env.db)?),
    }
    let snapshot = |paths: &[PathBuf]| -> Vec<(PathBuf, Vec<u8>)> {
        paths
            .iter()
            .map(|p| (p.clone(), std::fs::read(p).expect("read db")))
            .collect()
    };
    let db_before = snapshot(&db_paths);
    let dir_before = listing(env.dir.path());

    let mut cmd = Command::new(super::bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("USER", "tester")
        .env("MEX2FA_DB", &env.db)
        .env("TWOFA_MASTER_KEY", KEY)
        .current_dir(env.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for a in &case.args {
        if a == WRONG {
            cmd.arg(&wrong);
        } else {
            cmd.arg(a);
        }
    }
    match db_env {
        Some(Some(p)) => {
            cmd.env("MEX2FA_DB", p);
        }
        Some(None) => {
            cmd.env_remove("MEX2FA_DB");
        }
        None => {}
    }
    for (name, value) in &case.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let stdin = if case.stdin.starts_with(WRONG.as_bytes()) {
        format!("{wrong}\n").into_bytes()
    } else {
        case.stdin.clone()
    };
    let mut child = cmd.spawn().expect("spawn mex2fa");
    {
        let mut pipe = child.stdin.take().expect("stdin");
        // The binary may exit without reading: a broken pipe is fine.
        let _ = pipe.write_all(&stdin);
    }
    let out = wait_bounded(child);
    drop(_guard);

    let db_after = snapshot(&db_paths);
    let dir_after = listing(env.dir.path());
    let files_after = case
        .files
        .iter()
        .map(|(name, _, _)| (*name, std::fs::read(env.path(name)).ok()))
        .collect();
    Ok(Ran {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
        db_before,
        db_after,
        files_after,
        dir_before,
        dir_after,
        audit: audit_rows(&env.db),
        secrets: vec![fx.alice.clone(), fx.bob.clone()],
    })
}

/// How long a case may run before it counts as hung (and is killed).
const HUNG: Duration = Duration::from_secs(20);

/// Waits for the child, killing it if it hangs: a hung case then fails
/// (no exit code, a note on stderr) instead of hanging the test run.
fn wait_bounded(mut child: std::process::Child) -> Output {
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let started = Instant::now();
    let mut hung = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if started.elapsed() > HUNG {
            hung = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = err.join().expect("stderr reader");
    if hung {
        stderr.extend_from_slice(b"\n(the test killed it: it hung)\n");
    }
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr,
    }
}

/// Every row of `mex2fa_audit` as one line of text (none if the table is absent).
pub fn audit_rows(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let Ok(mut stmt) = conn.prepare("SELECT * FROM mex2fa_audit ORDER BY seq") else {
        return Vec::new();
    };
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| r.get::<_, Value>(i).map(|v| format!("{v:?}")))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(" | "))
    })
    .expect("audit")
    .collect::<Result<Vec<_>, _>>()
    .expect("audit rows")
}

/// The sorted names in a directory.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The cases of one group (`code`, `user`, `key`, `token`, `ident`, `db`, `option`).
pub fn group(name: &str) -> Vec<Case> {
    let v: Vec<Case> = cases().into_iter().filter(|c| c.group == name).collect();
    assert!(!v.is_empty(), "no case in group {name}");
    v
}
