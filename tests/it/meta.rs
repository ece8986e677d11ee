//! mex2fa's key check value (`mex2fa_meta`) and the operator's `--reason`,
//! on every backend through the real binary: a wrong key named before any
//! account has 2FA, the check value after a rotation, a restore and a
//! change of key made with the app's own tools (stale, never a lockout),
//! `verify` naming the cause, `doctor` and `--fix`; reasons in the audit
//! row, in `log` (escaped) and its JSON, `MEX2FA_REQUIRE_REASON`, and an
//! audit table made by an older mex2fa (without the column) kept working.

use std::process::Output;

use crate::util::backend::{Backend, Db, Shape, each_backend, run};
use crate::util::*;

/// The plaintext of a check value, as the README gives it.
const MARKER: &str = "mex2fa key check v1";

/// Runs `case` on a fresh database of every backend, naming the backend on failure.
fn each(case: impl Fn(&Db)) {
    each_backend("", |b| case(&Db::new(b, Shape::APP)));
}

fn json(out: &Output) -> serde_json::Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Enrolls `user` and confirms with the current code; the secret.
fn enable(db: &Db, user: &str, extra: &[&str]) -> String {
    let mut c = db.cmd();
    c.args(["--json", "enroll", user, "--show-secret", "--no-qr"])
        .args(extra);
    let doc = json(&run(&mut c));
    let secret = doc["secret"].as_str().expect("secret").to_string();
    let out = run_with_code(&secret, |code| {
        let mut c = db.cmd();
        c.args(["confirm", user, "--code", code]).args(extra);
        c
    });
    assert_ok(&out);
    secret
}

/// The stored check value ("" when there is none).
fn check_value(db: &Db) -> String {
    let exists = match db.backend {
        Backend::Sqlite => {
            db.value("SELECT count(*) FROM sqlite_master WHERE name = 'mex2fa_meta'") == "1"
        }
        Backend::Postgres => db.value("SELECT to_regclass('mex2fa_meta') IS NOT NULL") == "true",
        Backend::Mariadb => {
            db.value(
                "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'mex2fa_meta'",
            ) == "1"
        }
    };
    if !exists {
        return String::new();
    }
    db.value("SELECT value FROM mex2fa_meta WHERE name = 'key_check'")
}

/// Which of the test keys the check value is under (by an independent
/// Fernet), with the marker as its plaintext.
fn check_key(db: &Db) -> Option<&'static str> {
    let value = check_value(db);
    [KEY, KEY2, KEY3]
        .into_iter()
        .find(|k| fernet_plaintext(k, &value).as_deref() == Some(MARKER))
}

/// A failure: exit `code`, one line on stderr, nothing on stdout, and
/// nothing changed (the app's rows, mex2fa's tables, the check value).
fn refused(db: &Db, c: &mut assert_cmd::Command, code: i32) -> String {
    let before = (db.dump(), check_value(db));
    let out = run(c);
    let line = one_line(&out, code);
    assert_eq!(
        (db.dump(), check_value(db)),
        before,
        "a refused command changed the database: {line}"
    );
    line
}

fn doctor(db: &Db, key: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = run(db
        .cmd()
        .env("TWOFA_MASTER_KEY", key)
        .args(["--json", "doctor"])
        .args(extra));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON ({e}): {}", stderr(&out)));
    (out.status.code().expect("exit"), doc)
}

/// A database no account has 2FA in: `doctor --fix` writes the check value
/// under the key given; then another key is refused by every command that
/// would write a token, before anything is written, and `doctor` names it.
#[test]
fn a_wrong_key_is_named_before_any_account_has_2fa() {
    each(|db| {
        let (code, doc) = doctor(db, KEY, &[]);
        assert_eq!((code, &doc["key_check"]), (0, &"missing".into()), "{doc}");
        let (code, doc) = doctor(db, KEY, &["--fix", "--yes"]);
        assert_eq!((code, &doc["key_check"]), (0, &"matches".into()), "{doc}");
        assert_eq!(doc["fixed"], 1, "{doc}");
        assert_eq!(check_key(db), Some(KEY), "the check value is under KEY");
        assert!(db.accounts().iter().all(|(_, on, s)| !on && s.is_none()));

        // An import under the wrong key would leave every imported user
        // with a secret the app cannot read.
        let uris = db.path("alice.uris");
        std::fs::write(
            &uris,
            "otpauth://totp/MeXanimatoR:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=MeXanimatoR\n",
        )
        .unwrap();
        let uris = uris.display().to_string();
        let out = db.path("out.csv").display().to_string();
        for args in [
            vec!["enroll", "alice", "--no-qr"],
            vec!["enroll", "alice", "--no-qr", "--code", "123456"],
            vec!["import", &uris],
            // Read-only, but refused at once rather than user by user.
            vec!["export", "--format", "csv", "--plaintext", "--out", &out],
        ] {
            let line = refused(db, db.cmd().env("TWOFA_MASTER_KEY", KEY2).args(&args), 4);
            assert!(
                line.contains("this is not the key this database was last used with")
                    && line.contains("doctor --fix --accept-key"),
                "{line}"
            );
            assert!(!line.contains(KEY2) && !line.contains(KEY), "{line}");
        }
        assert!(
            !std::path::Path::new(&out).exists(),
            "an export was written"
        );
        // A rotation whose old key is not the check value's is refused too.
        let new = db.key_file("new.key", KEY3);
        let line = refused(
            db,
            db.cmd().env("TWOFA_MASTER_KEY", KEY2).args([
                "rotate-key",
                "--new-key-file",
                &new,
                "--yes",
            ]),
            4,
        );
        assert!(line.contains("last used with"), "{line}");

        let (code, doc) = doctor(db, KEY2, &[]);
        assert_eq!(code, 4, "{doc}");
        assert_eq!(doc["key_check"], "wrong");
        assert_eq!(doc["findings"][0]["code"], "wrong-key", "{doc}");
        assert_eq!(doc["findings"][0]["place"], "meta", "{doc}");
        // Without a key the check value is only reported as there.
        let out = run(db
            .cmd()
            .env_remove("TWOFA_MASTER_KEY")
            .args(["--json", "doctor"]));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["key_check"], "present", "{doc}");

        // The right key works, and the app reads what it wrote.
        let secret = enable(db, "alice", &[]);
        db.app_login(KEY, "alice", &secret)
            .expect("the app logs alice in");

        // A key replaced on purpose: --fix --accept-key, asked and audited.
        // (alice's secret is under KEY: it now stands out as a straggler.)
        let (code, doc) = doctor(db, KEY2, &["--fix", "--yes", "--accept-key"]);
        assert_eq!(code, 4, "alice's token still does not decrypt: {doc}");
        assert_eq!(doc["key_check"], "matches", "{doc}");
        assert_eq!(check_key(db), Some(KEY2));
        assert_ne!(doc["findings"][0]["code"], "wrong-key", "{doc}");
    });
}

/// rotate-key rewrites the check value under the new key in its
/// transaction; the old key is then refused; restore puts the check value
/// back under the key the restored tokens are under.
#[test]
fn the_check_value_follows_rotation_and_restore() {
    each(|db| {
        let alice = enable(db, "alice", &[]);
        assert_eq!(check_key(db), Some(KEY));
        let new = db.key_file("new.key", KEY2);
        let dry = json(&run(db.cmd().args([
            "--json",
            "rotate-key",
            "--new-key-file",
            &new,
            "--dry-run",
        ])));
        assert_eq!(dry["to_rotate"], 1);
        assert_eq!(check_key(db), Some(KEY), "a dry run writes nothing");

        let backup = db.path("b.bak").display().to_string();
        let done = json(&run(db.cmd().args([
            "--json",
            "rotate-key",
            "--new-key-file",
            &new,
            "--backup",
            &backup,
            "--yes",
            "--reason",
            "yearly rotation",
        ])));
        assert_eq!(done["rotated"], 1);
        assert_eq!(check_key(db), Some(KEY2), "rewritten under the new key");
        db.app_login(KEY2, "alice", &alice).unwrap();
        let (code, doc) = doctor(db, KEY2, &[]);
        assert_eq!((code, &doc["key_check"]), (0, &"matches".into()), "{doc}");

        // The old key now opens neither the check value nor any token.
        let line = refused(db, db.cmd().args(["enroll", "bob", "--no-qr"]), 4);
        assert!(line.contains("last used with"), "{line}");
        let out = run(db.cmd().args(["verify", "alice", "--code", "123456"]));
        let line = one_line(&out, 4);
        assert!(
            line.contains("this is not the key this database was last used with"),
            "{line}"
        );

        let log = json(&run(db.cmd().args(["--json", "log"])));
        assert_eq!(log[0]["action"], "rotate-key");
        assert_eq!(log[0]["reason"], "yearly rotation");

        // Undo with the old key: the check value follows the tokens back.
        let doc = json(&run(db.cmd().args([
            "--json",
            "restore",
            "--backup",
            &backup,
            "--yes",
            "--reason",
            "app not switched yet",
        ])));
        assert_eq!(doc["restored"], 1, "{doc}");
        assert_eq!(check_key(db), Some(KEY));
        db.app_login(KEY, "alice", &alice).unwrap();
        let log = json(&run(db.cmd().args(["--json", "log", "--limit", "1"])));
        assert_eq!(
            (&log[0]["action"], &log[0]["reason"]),
            (&"restore".into(), &"app not switched yet".into())
        );
    });
}

/// The app changes its key with its own tools (every secret rewritten under
/// a new key, mex2fa's check value left behind): the new key is not locked
/// out. doctor calls the check value stale (exit 0), verify works, and the
/// next change says so on stderr and rewrites it.
#[test]
fn a_stale_check_value_never_locks_out_the_right_key() {
    each(|db| {
        let alice = enable(db, "alice", &[]);
        assert_eq!(check_key(db), Some(KEY));
        db.app_store(KEY2, "alice", &alice);

        let (code, doc) = doctor(db, KEY2, &[]);
        assert_eq!((code, &doc["key_check"]), (0, &"stale".into()), "{doc}");
        let out = run_with_code(&alice, |code| {
            let mut c = db.cmd();
            c.env("TWOFA_MASTER_KEY", KEY2)
                .args(["verify", "alice", "--code", code]);
            c
        });
        assert_ok(&out);
        assert_eq!(check_key(db), Some(KEY), "verify writes nothing");

        let out = run(db
            .cmd()
            .env("TWOFA_MASTER_KEY", KEY2)
            .args(["enroll", "bob", "--no-qr"]));
        assert_ok(&out);
        assert!(stderr(&out).contains("key check value"), "{}", stderr(&out));
        assert_eq!(check_key(db), Some(KEY2), "rewritten by the change");
        let (code, doc) = doctor(db, KEY2, &[]);
        assert_eq!((code, &doc["key_check"]), (0, &"matches".into()), "{doc}");
        db.app_login(KEY2, "alice", &alice).unwrap();

        // doctor --fix rewrites a stale check value too.
        db.app_store(KEY3, "alice", &alice);
        db.sql("DELETE FROM mex2fa_pending");
        let (code, doc) = doctor(db, KEY3, &["--fix", "--yes"]);
        assert_eq!((code, &doc["key_check"]), (0, &"matches".into()), "{doc}");
        assert_eq!(check_key(db), Some(KEY3));
    });
}

/// verify with a token that does not decrypt names the cause from the
/// check value: a wrong key, or a secret written under another key.
#[test]
fn verify_names_the_cause_of_an_undecryptable_secret() {
    each(|db| {
        enable(db, "alice", &[]);
        let line = one_line(
            &run(db
                .cmd()
                .env("TWOFA_MASTER_KEY", KEY2)
                .args(["verify", "alice", "--code", "123456"])),
            4,
        );
        assert!(
            line.contains("this is not the key this database was last used with"),
            "{line}"
        );
        // bob's secret written by the app under another key: the key is right.
        db.app_store(KEY2, "bob", &secret_for(7));
        let line = one_line(
            &run(db.cmd().args(["verify", "bob", "--code", "123456"])),
            4,
        );
        assert!(
            line.contains("does not decrypt") && line.contains("written under another key"),
            "{line}"
        );
    });
}

/// --reason on each changing command lands in its audit row, shown by log
/// (escaped in the table, exact in JSON); MEX2FA_REQUIRE_REASON=1 refuses
/// a change without one before anything is written; malformed reasons are
/// refused.
#[test]
fn reasons_are_recorded_required_and_shown_escaped() {
    each(|db| {
        let hostile = "lost phone \u{1b}[31mRED\u{202e} ticket 7";
        enable(db, "alice", &["--reason", "onboarding"]);
        let out = run(db
            .cmd()
            .args(["disable", "alice", "--yes", "--reason", hostile]));
        assert_ok(&out);
        let log = json(&run(db.cmd().args(["--json", "log"])));
        let got: Vec<(&str, &serde_json::Value)> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["action"].as_str().unwrap(), &r["reason"]))
            .collect();
        assert_eq!(
            got,
            [
                ("disable", &hostile.into()),
                ("confirm", &"onboarding".into()),
                ("enroll", &"onboarding".into()),
            ]
        );
        let out = run(db.cmd().args(["log"]));
        assert_ok(&out);
        let text = stdout(&out);
        assert!(
            text.contains("reason") && text.contains("onboarding"),
            "{text}"
        );
        assert!(
            text.contains("\\u{1b}[31mRED\\u{202e}") && !text.contains('\u{1b}'),
            "{text}"
        );

        // Required: every changing command, before anything is written.
        let new = db.key_file("new.key", KEY2);
        let backup = db.path("none.bak").display().to_string();
        let uris = db.path("carol.uris");
        std::fs::write(
            &uris,
            "otpauth://totp/MeXanimatoR:carol?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=MeXanimatoR\n",
        )
        .unwrap();
        let uris = uris.display().to_string();
        for args in [
            vec!["enroll", "bob", "--no-qr"],
            vec!["confirm", "bob", "--code", "123456"],
            vec!["disable", "alice", "--yes"],
            vec!["rotate-key", "--new-key-file", &new, "--yes"],
            vec!["restore", "--backup", &backup, "--yes"],
            vec!["doctor", "--fix", "--yes"],
            vec!["import", &uris],
        ] {
            let line = refused(
                db,
                db.cmd().env("MEX2FA_REQUIRE_REASON", "1").args(&args),
                2,
            );
            assert!(
                line.contains("--reason") && line.contains("MEX2FA_REQUIRE_REASON"),
                "{args:?}: {line}"
            );
        }
        for (value, bad) in [
            ("", "empty"),
            ("   ", "empty"),
            (&*"x".repeat(501), "501 characters"),
        ] {
            let line = refused(
                db,
                db.cmd()
                    .args(["enroll", "bob", "--no-qr", "--reason", value]),
                2,
            );
            assert!(line.contains("--reason") && line.contains(bad), "{line}");
        }
        let line = refused(
            db,
            db.cmd()
                .env("MEX2FA_REQUIRE_REASON", "maybe")
                .args(["enroll", "bob", "--no-qr", "--reason", "x"]),
            2,
        );
        assert!(line.contains("MEX2FA_REQUIRE_REASON"), "{line}");
        // What changes nothing needs no reason; 500 characters are kept.
        for args in [
            vec!["status"],
            vec!["doctor"],
            vec!["rotate-key", "--new-key-file", &new, "--dry-run"],
            vec!["import", &uris, "--dry-run"],
        ] {
            assert_ok(&run(db
                .cmd()
                .env("MEX2FA_REQUIRE_REASON", "true")
                .args(&args)));
        }
        let long = "y".repeat(500);
        assert_ok(&run(db
            .cmd()
            .env("MEX2FA_REQUIRE_REASON", "1")
            .args(["enroll", "bob", "--no-qr", "--reason", &long])));
        let log = json(&run(db.cmd().args(["--json", "log", "bob"])));
        assert_eq!(log[0]["reason"], long.as_str());
        assert_ok(&run(db.cmd().env("MEX2FA_REQUIRE_REASON", "1").args([
            "import",
            &uris,
            "--reason",
            "moved from the old host",
        ])));
        let log = json(&run(db.cmd().args(["--json", "log", "carol"])));
        assert_eq!(log[0]["action"], "import");
        assert_eq!(log[0]["reason"], "moved from the old host");
    });
}

/// The tables as an earlier mex2fa made them: an audit table without the
/// reason column, with a row in it, and no mex2fa_meta; one statement each.
fn older_tables(db: &Db) -> [String; 3] {
    let (pending, audit) = match db.backend {
        Backend::Sqlite => (
            "CREATE TABLE mex2fa_pending (account_id PRIMARY KEY, secret_token TEXT NOT NULL,
                 created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
            "CREATE TABLE mex2fa_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
                 at_unix INTEGER NOT NULL, os_user TEXT NOT NULL, action TEXT NOT NULL,
                 account_id, username TEXT, detail TEXT NOT NULL)",
        ),
        Backend::Postgres => (
            "CREATE TABLE mex2fa_pending (account_id bigint PRIMARY KEY, secret_token text NOT NULL,
                 created_at bigint NOT NULL, expires_at bigint NOT NULL)",
            "CREATE TABLE mex2fa_audit (seq bigserial PRIMARY KEY, at text NOT NULL,
                 at_unix bigint NOT NULL, os_user text NOT NULL, action text NOT NULL,
                 account_id bigint, username text, detail text NOT NULL)",
        ),
        Backend::Mariadb => (
            "CREATE TABLE mex2fa_pending (account_id int NOT NULL PRIMARY KEY,
                 secret_token text NOT NULL, created_at bigint NOT NULL, expires_at bigint NOT NULL)
                 ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            "CREATE TABLE mex2fa_audit (seq bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
                 at varchar(32) NOT NULL, at_unix bigint NOT NULL, os_user text NOT NULL,
                 action varchar(64) NOT NULL, account_id int NULL, username varchar(255) NULL,
                 detail text NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        ),
    };
    [
        pending.to_string(),
        audit.to_string(),
        "INSERT INTO mex2fa_audit (at, at_unix, os_user, action, account_id, username, detail)
         VALUES ('2026-01-05T10:00:00Z', 1767607200, 'olduser', 'disable', 2, 'bob', 'was enabled')"
            .to_string(),
    ]
}

/// A database an older mex2fa wrote to: read-only commands read it as it
/// is (no reason, no check value); the first change adds the column and
/// the check value, and the app keeps working.
#[test]
fn a_database_of_an_older_mex2fa_keeps_working() {
    each(|db| {
        for sql in older_tables(db) {
            db.sql(&sql);
        }
        let log = json(&run(db.cmd().args(["--json", "log"])));
        assert_eq!(log[0]["os_user"], "olduser");
        assert_eq!(log[0]["reason"], serde_json::Value::Null);
        let out = run(db.cmd().args(["log"]));
        assert_ok(&out);
        assert!(stdout(&out).contains("was enabled"), "{}", stdout(&out));
        let (code, doc) = doctor(db, KEY, &[]);
        assert_eq!((code, &doc["key_check"]), (0, &"missing".into()), "{doc}");
        assert_eq!(check_value(db), "", "read-only commands create nothing");

        let alice = enable(db, "alice", &["--reason", "first change"]);
        db.app_login(KEY, "alice", &alice).unwrap();
        assert_eq!(check_key(db), Some(KEY));
        let log = json(&run(db.cmd().args(["--json", "log"])));
        let got: Vec<(&str, &serde_json::Value)> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["action"].as_str().unwrap(), &r["reason"]))
            .collect();
        assert_eq!(
            got,
            [
                ("confirm", &"first change".into()),
                ("enroll", &"first change".into()),
                ("disable", &serde_json::Value::Null),
            ]
        );
        let (code, doc) = doctor(db, KEY, &[]);
        assert_eq!((code, &doc["key_check"]), (0, &"matches".into()), "{doc}");
    });
}
