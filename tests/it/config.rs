//! End-to-end tests of configuration (the README's "Configuration"): where
//! settings come from (flag > environment > `.env` / `--env-file` > default),
//! how the database is opened and its mapping checked, and how the master
//! key is read. Every refusal: the documented exit code, one line on stderr,
//! the database byte-identical — and a key is never echoed.

use std::path::Path;

use crate::util::*;

/// The issuer in the URI that `enroll alice` prints with these settings.
fn issuer_of(c: &mut assert_cmd::Command) -> String {
    let out = c
        .args(["enroll", "alice", "--json", "--show-secret"])
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uri = doc["otpauth_uri"].as_str().unwrap();
    uri.rsplit_once("&issuer=")
        .map(|(_, i)| i.to_string())
        .unwrap_or_default()
}

/// `verify alice` with the current code for `secret`, as configured by `setup`.
fn verify_with(
    env: &TestEnv,
    secret: &str,
    setup: impl Fn(&mut assert_cmd::Command),
) -> std::process::Output {
    at_step(0, |t| {
        let mut c = env.bare();
        setup(&mut c);
        c.args(["verify", "alice", "--code", &totp_at(secret, t)]);
        output(&mut c)
    })
}

// ------------------------------------------------------------ precedence

#[test]
fn settings_come_from_flag_then_env_then_dotenv_then_default() {
    let env = TestEnv::new();
    assert_eq!(issuer_of(&mut env.cmd()), "MeXanimatoR", "the default");
    std::fs::write(env.path(".env"), "MEX2FA_ISSUER=FromDotEnv\n").unwrap();
    assert_eq!(issuer_of(&mut env.cmd()), "FromDotEnv", "./.env");
    assert_eq!(
        issuer_of(env.cmd().env("MEX2FA_ISSUER", "FromEnv")),
        "FromEnv",
        "the environment beats .env"
    );
    assert_eq!(
        issuer_of(
            env.cmd()
                .env("MEX2FA_ISSUER", "FromEnv")
                .args(["--issuer", "FromFlag"])
        ),
        "FromFlag",
        "a flag beats everything"
    );
    // --env-file replaces ./.env, in both spellings.
    std::fs::create_dir(env.path("conf")).unwrap();
    std::fs::write(
        env.path("conf/prod.env"),
        "# the app's settings\nMEX2FA_ISSUER=\"From File\"\n",
    )
    .unwrap();
    assert_eq!(
        issuer_of(env.cmd().args(["--env-file", "conf/prod.env"])),
        "From%20File"
    );
    let abs = format!("--env-file={}", env.path("conf/prod.env").display());
    assert_eq!(issuer_of(env.cmd().arg(&abs)), "From%20File");
    assert_eq!(
        issuer_of(
            env.cmd()
                .env("MEX2FA_ISSUER", "FromEnv")
                .args(["--env-file", "conf/prod.env"])
        ),
        "FromEnv",
        "the environment beats --env-file"
    );
    // A .env elsewhere than the working directory is not read.
    std::fs::remove_file(env.path(".env")).unwrap();
    std::fs::write(env.path("conf/.env"), "MEX2FA_ISSUER=Elsewhere\n").unwrap();
    assert_eq!(issuer_of(&mut env.cmd()), "MeXanimatoR");
}

#[test]
fn dotenv_can_hold_the_database_and_the_key() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    std::fs::write(
        env.path(".env"),
        format!("MEX2FA_DB=app.db\nTWOFA_MASTER_KEY={KEY}\n"),
    )
    .unwrap();
    assert_ok(&verify_with(&env, &secret, |_| {}));
    // The environment beats .env, a flag beats the environment.
    std::fs::write(
        env.path(".env"),
        format!("MEX2FA_DB=missing.db\nTWOFA_MASTER_KEY={KEY}\n"),
    )
    .unwrap();
    assert_ok(&verify_with(&env, &secret, |c| {
        c.env("MEX2FA_DB", &env.db);
    }));
    assert_ok(&verify_with(&env, &secret, |c| {
        c.env("MEX2FA_DB", "also-missing.db")
            .arg("--db")
            .arg(&env.db);
    }));
    let line = env.fails(env.bare().args(["status"]), 5);
    assert!(line.contains("missing.db"), "{line}");
    assert!(!env.path("missing.db").exists());
}

#[test]
fn a_missing_env_file_is_a_usage_error() {
    let env = TestEnv::new();
    let line = env.fails(env.cmd().args(["--env-file", "nope.env", "status"]), 2);
    assert!(line.contains("nope.env"), "{line}");
}

// -------------------------------------------------------------- database

#[test]
fn no_database_configured_is_exit_5() {
    let env = TestEnv::new();
    let line = env.fails(
        env.bare()
            .env("TWOFA_MASTER_KEY", KEY)
            .args(["verify", "alice", "--code", "123456"]),
        5,
    );
    assert!(
        line.contains("MEX2FA_DB") && line.contains("--db"),
        "{line}"
    );
}

#[test]
fn a_missing_database_file_is_exit_5_and_never_created() {
    let env = TestEnv::new();
    for path in ["typo.db", "no/such/dir/app.db"] {
        for args in [
            &["status"][..],
            &["enroll", "alice"][..],
            &["verify", "alice", "--code", "123456"][..],
            &["disable", "--all", "--yes"][..],
            &["log"][..],
        ] {
            let line = env.fails(env.cmd().env("MEX2FA_DB", path).args(args), 5);
            assert!(line.contains(path), "{args:?}: {line}");
            assert!(!env.path(path).exists(), "{args:?} created {path}");
        }
    }
}

#[test]
fn a_directory_a_non_sqlite_file_and_an_empty_file_are_exit_5() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path("dir.db")).unwrap();
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(env.path("junk.db"), &junk).unwrap();
    std::fs::write(env.path("notes.txt"), "not a database\n").unwrap();
    std::fs::write(env.path("empty.db"), b"").unwrap();
    for args in [
        &["status"][..],
        &["enroll", "alice"][..],
        &["disable", "alice", "--yes"][..],
    ] {
        for name in ["dir.db", "junk.db", "notes.txt", "empty.db"] {
            let line = env.fails(env.cmd().env("MEX2FA_DB", name).args(args), 5);
            assert!(line.contains(name), "{name} {args:?}: {line}");
        }
        assert_eq!(std::fs::read(env.path("junk.db")).unwrap(), junk);
        assert_eq!(
            std::fs::metadata(env.path("empty.db")).unwrap().len(),
            0,
            "{args:?} wrote into an empty file"
        );
    }
}

#[test]
fn bad_identifiers_are_usage_errors() {
    let env = TestEnv::new();
    let flags = [
        ("--table", "MEX2FA_TABLE"),
        ("--id-column", "MEX2FA_ID_COLUMN"),
        ("--user-column", "MEX2FA_USER_COLUMN"),
        ("--enabled-column", "MEX2FA_ENABLED_COLUMN"),
        ("--secret-column", "MEX2FA_SECRET_COLUMN"),
    ];
    for (flag, var) in flags {
        for bad in [
            "x; DROP TABLE account",
            "1abc",
            "a b",
            "a\"b",
            "naïve",
            "",
            "account--",
        ] {
            let line = env.fails(
                env.cmd()
                    .arg(format!("{flag}={bad}"))
                    .args(["enroll", "alice"]),
                2,
            );
            assert!(
                line.contains(flag) && line.contains(var),
                "{flag} {bad:?}: {line}"
            );
            if !bad.is_empty() {
                env.fails(env.cmd().env(var, bad).args(["status"]), 2);
            }
        }
    }
    assert_eq!(env.sql_i64("SELECT count(*) FROM account"), 3);
}

#[test]
fn a_missing_table_or_column_is_exit_5_naming_it_and_its_variable() {
    let env = TestEnv::new();
    let line = env.fails(env.cmd().args(["--secret-column", "mfa", "status"]), 5);
    assert!(
        line.contains("'mfa'") && line.contains("MEX2FA_SECRET_COLUMN"),
        "{line}"
    );
    let line = env.fails(env.cmd().args(["--table", "users", "status"]), 5);
    assert!(
        line.contains("'users'") && line.contains("MEX2FA_TABLE"),
        "{line}"
    );
    let line = env.fails(
        env.cmd()
            .env("MEX2FA_ENABLED_COLUMN", "otp_on")
            .args(["enroll", "alice"]),
        5,
    );
    assert!(
        line.contains("'otp_on'") && line.contains("MEX2FA_ENABLED_COLUMN"),
        "{line}"
    );
    // An app database from before the 2FA columns were added.
    let old = TestEnv::with_schema(
        "CREATE TABLE account (accountid INTEGER PRIMARY KEY, username TEXT, email TEXT, password TEXT);",
    );
    for (args, col, var) in [
        (&["status"][..], "twofa_enabled", "MEX2FA_ENABLED_COLUMN"),
        (
            &["--enabled-column", "email", "enroll", "alice"][..],
            "twofa_secret",
            "MEX2FA_SECRET_COLUMN",
        ),
    ] {
        let line = old.fails(old.cmd().args(args), 5);
        assert!(line.contains(col) && line.contains(var), "{line}");
    }
}

#[test]
fn a_custom_schema_is_mapped_by_flags_or_by_environment() {
    let env = TestEnv::new();
    let db = env.path("members.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE members (
             member_id TEXT PRIMARY KEY,
             login TEXT UNIQUE NOT NULL,
             display TEXT,
             mfa_on INTEGER NOT NULL DEFAULT 0,
             mfa_key VARCHAR(200)
         );
         INSERT INTO members (member_id, login, display) VALUES
             ('m-001', 'dora', 'Dora'), ('m-002', 'eve', 'Eve');",
    )
    .unwrap();
    drop(conn);
    let flags = [
        "--table",
        "members",
        "--id-column",
        "member_id",
        "--user-column",
        "login",
        "--enabled-column",
        "mfa_on",
        "--secret-column",
        "mfa_key",
    ];
    let by_flags = || {
        let mut c = env.cmd();
        c.env("MEX2FA_DB", &db).args(flags);
        c
    };
    let by_env = || {
        let mut c = env.cmd();
        c.env("MEX2FA_DB", &db)
            .env("MEX2FA_TABLE", "members")
            .env("MEX2FA_ID_COLUMN", "member_id")
            .env("MEX2FA_USER_COLUMN", "login")
            .env("MEX2FA_ENABLED_COLUMN", "mfa_on")
            .env("MEX2FA_SECRET_COLUMN", "mfa_key");
        c
    };
    // The defaults do not fit this database.
    let mut c = env.cmd();
    c.env("MEX2FA_DB", &db).arg("status");
    env.fails(&mut c, 5);

    let out = by_flags()
        .args(["enroll", "dora", "--json", "--show-secret"])
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = doc["secret"].as_str().unwrap().to_string();
    assert!(
        doc["otpauth_uri"]
            .as_str()
            .unwrap()
            .contains("MeXanimatoR:dora?")
    );
    let out = at_step(0, |t| {
        let mut c = by_flags();
        c.args(["confirm", "dora", "--code", &totp_at(&secret, t)]);
        output(&mut c)
    });
    assert_ok(&out);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (on, kind, display): (i64, String, String) = conn
        .query_row(
            "SELECT mfa_on, typeof(mfa_key), display FROM members WHERE login = 'dora'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((on, kind.as_str(), display.as_str()), (1, "text", "Dora"));

    let out = at_step(0, |t| {
        let mut c = by_env();
        c.args(["verify", "dora", "--code", &totp_at(&secret, t)]);
        output(&mut c)
    });
    assert_ok(&out);
    let out = by_env().args(["status", "--json"]).output().unwrap();
    assert_ok(&out);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        st,
        serde_json::json!([
            {"id": "m-001", "user": "dora", "enabled": true, "pending": false},
            {"id": "m-002", "user": "eve", "enabled": false, "pending": false},
        ])
    );
    by_env()
        .args(["disable", "dora", "--yes"])
        .assert()
        .success();
    let (on, key): (i64, Option<String>) = conn
        .query_row(
            "SELECT mfa_on, mfa_key FROM members WHERE login = 'dora'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((on, key), (0, None));
    // The app's default table was never created alongside.
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'account'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_held_write_lock_is_waited_for_then_reported_as_exit_5() {
    let env = TestEnv::new();
    // Snapshots are taken outside the lock: reading the file from this
    // process would drop the lock (POSIX locks end when any descriptor closes).
    let before = env.snapshot();
    let holder = env.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let line = one_line(
        &output(env.cmd().args(["--busy-timeout", "300", "enroll", "alice"])),
        5,
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert!(line.contains("locked"), "{line}");
    one_line(
        &output(
            env.cmd()
                .env("MEX2FA_BUSY_TIMEOUT", "100")
                .args(["disable", "alice", "--yes"]),
        ),
        5,
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(env.snapshot() == before, "nothing was written");

    // A short write by the app is simply waited out.
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        holder.execute_batch("COMMIT").unwrap();
    });
    let out = env
        .cmd()
        .args(["enroll", "alice", "--json"])
        .output()
        .unwrap();
    release.join().unwrap();
    assert_ok(&out);
}

// ------------------------------------------------------------------- key

#[test]
fn no_key_and_no_terminal_is_exit_4() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    env.enroll("bob");
    let no_key = || {
        let mut c = env.bare();
        c.env("MEX2FA_DB", &env.db);
        c
    };
    for args in [
        &["verify", "alice", "--code", totp_now(&secret).as_str()][..],
        &["enroll", "carol"][..],
        &["confirm", "bob", "--code", "123456"][..],
    ] {
        let line = env.fails(no_key().args(args), 4);
        assert!(
            line.contains("TWOFA_MASTER_KEY") && line.contains("--master-key-file"),
            "{line}"
        );
        // An empty variable is no key either.
        env.fails(no_key().env("TWOFA_MASTER_KEY", "").args(args), 4);
    }
    // Commands that need no key run without one.
    no_key().arg("status").assert().success();
    // And a key is never taken from the command line.
    let line = env.fails(
        no_key().args(["--master-key", KEY, "verify", "alice", "--code", "123456"]),
        2,
    );
    assert!(!line.contains(KEY), "{line}");
}

#[test]
fn malformed_keys_are_exit_4_with_a_reason_and_never_echoed() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    let bang = format!("{}!{}", &KEY[..9], &KEY[10..]);
    let short_bytes = format!("{}==", "B".repeat(41) + "A");
    let cases: [(&str, &str); 6] = [
        ("Zq9Xw7Lm", "8 characters"),
        (&KEY[..43], "padding"),
        (&bang, "character 10"),
        ("Zq9Xw7Lm Zq9Xw7Lm Zq9Xw7Lm Zq9Xw7Lm Zq9Xw7Lm Zq9", "base64"),
        (&short_bytes, "31 bytes"),
        (
            "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=A",
            "45 characters",
        ),
    ];
    let code = totp_now(&secret);
    for (key, reason) in cases {
        let via_env = env.fails(
            env.cmd()
                .env("TWOFA_MASTER_KEY", key)
                .args(["verify", "alice", "--code", &code]),
            4,
        );
        write_mode(&env.path("bad.key"), &format!("{key}\n"), 0o600);
        let via_file = env.fails(
            env.cmd()
                .args(["--master-key-file", "bad.key", "enroll", "bob"]),
            4,
        );
        for line in [&via_env, &via_file] {
            assert!(line.contains(reason), "{key:?}: {line}");
            assert!(line.contains("malformed"), "{key:?}: {line}");
            for part in key.split_whitespace() {
                assert!(!line.contains(part), "the key was echoed: {line}");
            }
        }
        assert!(via_env.contains("TWOFA_MASTER_KEY"), "{via_env}");
        assert!(via_file.contains("bad.key"), "{via_file}");
    }
}

#[test]
fn a_key_in_the_standard_alphabet_or_with_whitespace_is_the_same_key() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    let standard = KEY.replace('-', "+").replace('_', "/");
    assert_ne!(standard, KEY);
    for (i, text) in [
        format!("{standard}\n"),
        format!("  {KEY}  \n\n"),
        format!("\t{standard}\r\n"),
        KEY.to_string(),
    ]
    .iter()
    .enumerate()
    {
        let file = env.path(&format!("k{i}.key"));
        write_mode(&file, text, 0o600);
        let out = verify_with(&env, &secret, |c| {
            c.env("MEX2FA_DB", &env.db)
                .arg("--master-key-file")
                .arg(&file);
        });
        assert_ok(&out);
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = verify_with(&env, &secret, |c| {
        c.env("MEX2FA_DB", &env.db)
            .env("TWOFA_MASTER_KEY", format!(" {standard}\n"));
    });
    assert_ok(&out);
}

#[test]
fn the_key_file_wins_over_the_environment() {
    let env = TestEnv::new();
    let secret = env.enable_steady("alice");
    let wrong = env.path("wrong.key");
    write_mode(&wrong, &format!("{KEY2}\n"), 0o600);
    let out = verify_with(&env, &secret, |c| {
        c.env("MEX2FA_DB", &env.db)
            .env("TWOFA_MASTER_KEY", KEY2)
            .arg("--master-key-file")
            .arg(&env.key_file);
    });
    assert_ok(&out);
    let line = env.fails(
        env.cmd().arg("--master-key-file").arg(&wrong).args([
            "verify",
            "alice",
            "--code",
            &totp_now(&secret),
        ]),
        4,
    );
    assert!(!line.contains(KEY2) && !line.contains(KEY), "{line}");
    // A key file that is not there: exit 4 naming it, not a fallback to the env.
    let line = env.fails(
        env.cmd().args([
            "--master-key-file",
            "gone.key",
            "verify",
            "alice",
            "--code",
            "123456",
        ]),
        4,
    );
    assert!(line.contains("gone.key"), "{line}");
    assert!(!Path::new(&env.path("gone.key")).exists());
}

#[test]
fn a_wal_mode_database_works_while_the_app_has_it_open() {
    let env = TestEnv::new();
    let app = env.conn();
    let mode: String = app
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // The app keeps its connection, reading between our commands.
    let secret = env.enable_steady("alice");
    let (on, kind): (i64, String) = app
        .query_row(
            "SELECT twofa_enabled, typeof(twofa_secret) FROM account WHERE username = 'alice'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((on, kind.as_str()), (1, "blob"));
    let out = verify_with(&env, &secret, |c| {
        c.env("MEX2FA_DB", &env.db).env("TWOFA_MASTER_KEY", KEY);
    });
    assert_ok(&out);
    env.cmd()
        .args(["disable", "alice", "--yes"])
        .assert()
        .success();
    let on: i64 = app
        .query_row(
            "SELECT twofa_enabled FROM account WHERE username = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(on, 0);
}

#[test]
fn with_json_a_failure_is_also_one_document_on_stdout() {
    let env = TestEnv::new();
    for (args, code, kind) in [
        (&["verify", "mallory", "--code", "123456"][..], 3, "state"),
        (&["verify", "alice", "--code", "12345"][..], 2, "usage"),
        (&["--table", "nope", "status"][..], 5, "database"),
    ] {
        let before = env.snapshot();
        let out = env.cmd().arg("--json").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["error"], kind, "{doc}");
        assert_eq!(doc["exit"], code, "{doc}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.matches('\n').count(), 1, "{stderr:?}");
        assert_eq!(
            doc["message"].as_str().unwrap(),
            stderr.trim_end().trim_start_matches("mex2fa: ")
        );
        assert!(env.snapshot() == before);
    }
}

#[test]
fn an_empty_database_variable_is_no_database() {
    let env = TestEnv::new();
    let line = env.fails(env.cmd().env("MEX2FA_DB", "").arg("status"), 5);
    assert!(line.contains("MEX2FA_DB"), "{line}");
    // The same from a .env placeholder line.
    std::fs::write(env.path(".env"), "MEX2FA_DB=\n").unwrap();
    let line = env.fails(env.bare().arg("status"), 5);
    assert!(line.contains("MEX2FA_DB"), "{line}");
}
