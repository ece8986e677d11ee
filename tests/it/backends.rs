//! One table of cases, run on every backend (SQLite and the throwaway
//! PostgreSQL `scripts/test` starts): every verb through the real binary,
//! the app's own Python (sqlite3 or psycopg, pyotp, Fernet) writing and
//! reading the same rows, table shapes, locks, the app writing during a
//! rotation, and a rotation killed part way.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::util::backend::{Backend, Db, Shape, each_backend, run};
use crate::util::*;

/// Runs `case` on a fresh database of every backend, naming the backend on failure.
fn each(shape: Shape, case: impl Fn(&Db)) {
    each_backend(&format!(" with {shape:?}"), |b| case(&Db::new(b, shape)));
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Enrolls `user` (JSON, secret shown) and confirms with the current code.
fn enable(db: &Db, user: &str) -> String {
    let doc = json(&run(db.cmd().args([
        "--json",
        "enroll",
        user,
        "--show-secret",
        "--no-qr",
    ])));
    assert_eq!(doc["state"], "pending");
    let secret = doc["secret"].as_str().expect("secret").to_string();
    let out = run_with_code(&secret, |code| {
        let mut c = db.cmd();
        c.args(["confirm", user, "--code", code]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    secret
}

/// A failure: exit `code`, one line on stderr, nothing on stdout, nothing changed.
fn refused(db: &Db, c: &mut assert_cmd::Command, code: i32) -> String {
    let before = db.dump();
    let out = run(c);
    let line = one_line(&out, code);
    assert_eq!(
        db.dump(),
        before,
        "a refused command changed the database: {line}"
    );
    line
}

/// enroll, confirm, verify (accepted, rejected, --window), status, log and
/// disable, with the app logging in with what mex2fa wrote.
#[test]
fn every_verb_and_the_app_agree() {
    each(Shape::APP, |db| {
        let status = json(&run(db.cmd().args(["--json", "status"])));
        assert_eq!(status.as_array().unwrap().len(), 3);
        assert!(status[0]["id"].is_i64(), "ids are numbers: {status}");

        let secret = enable(db, "alice");
        db.app_login(KEY, "alice", &secret)
            .expect("the app logs alice in");
        let out = run_with_code(&secret, |code| {
            let mut c = db.cmd();
            c.args(["--json", "verify", "alice", "--code", code]);
            c
        });
        assert_eq!(json(&out)["accepted"], true);

        // A code 90 s old: rejected (exit 1), but named as drift; --window 3 takes it.
        let old = totp_at(&secret, now() - 90);
        let out = run(db.cmd().args(["--json", "verify", "alice", "--code", &old]));
        assert_eq!(out.status.code(), Some(1));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["accepted"], false);
        assert!(
            doc["drift_steps"].as_i64().is_some_and(|d| d <= -2),
            "{doc}"
        );
        let out = run(db
            .cmd()
            .args(["verify", "alice", "--window", "4", "--code", &old]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

        let status = json(&run(db.cmd().args(["--json", "status", "alice"])));
        assert_eq!(status[0]["enabled"], true);

        let log = json(&run(db.cmd().args(["--json", "log", "alice"])));
        let actions: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["confirm", "enroll"]);
        assert_eq!(log[0]["os_user"], "tester");
        assert!(log[0]["id"].is_i64());

        let out = run(db.cmd().args(["--json", "disable", "alice", "--yes"]));
        assert_eq!(json(&out)["count"], 1);
        assert_eq!(
            db.accounts()[0],
            ("alice".to_string(), false, None),
            "disable leaves enabled off and the secret NULL"
        );
        assert_eq!(
            db.app(&["login", &db.app_location(), KEY, "alice", "000000"])
                .0,
            2
        );
    });
}

/// What the app writes, mex2fa reads, in every shape the app's table may
/// have; and what mex2fa writes, the app reads, before and after a rotation.
#[test]
fn every_table_shape_interoperates_with_the_app() {
    let shapes = [
        Shape::APP,
        Shape {
            text_secret: true,
            ..Shape::APP
        },
        Shape {
            bool_flag: true,
            ..Shape::APP
        },
        Shape {
            text_id: true,
            ..Shape::APP
        },
        Shape {
            schema: Some("app"),
            ..Shape::APP
        },
    ];
    for shape in shapes {
        each(shape, |db| {
            let bob = secret_for(7);
            db.app_store(KEY, "bob", &bob);
            let out = run_with_code(&bob, |code| {
                let mut c = db.cmd();
                c.args(["verify", "bob", "--code", code]);
                c
            });
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            let alice = enable(db, "alice");
            db.app_login(KEY, "alice", &alice).expect("alice logs in");

            let new = db.key_file("new.key", KEY2);
            let out = run(db
                .cmd()
                .args(["--json", "rotate-key", "--new-key-file", &new, "--yes"]));
            assert_eq!(json(&out)["rotated"], 2);
            for (user, secret) in [("alice", &alice), ("bob", &bob)] {
                db.app_login(KEY2, user, secret)
                    .unwrap_or_else(|e| panic!("{user} after rotation: {e}"));
            }
            let doctor = json(&run(db
                .cmd()
                .env("TWOFA_MASTER_KEY", KEY2)
                .args(["--json", "doctor"])));
            assert_eq!(doctor["healthy"], true, "{doctor}");
        });
    }
}

/// dry run, backup, a straggler the app writes under the old key, doctor
/// naming it, the second rotation that fixes it, and restore.
#[test]
fn rotation_stragglers_and_restore() {
    each(Shape::APP, |db| {
        let alice = enable(db, "alice");
        let bob = enable(db, "bob");
        let enrolled = json(&run(db
            .cmd()
            .args(["--json", "enroll", "carol", "--no-qr"])));
        assert_eq!(enrolled["state"], "pending");
        let new = db.key_file("new.key", KEY2);
        let old = db.key_file("old.key", KEY);

        let dry = json(&run(db.cmd().args([
            "--json",
            "rotate-key",
            "--new-key-file",
            &new,
            "--dry-run",
        ])));
        assert_eq!(
            (dry["accounts"].as_u64(), dry["pending"].as_u64()),
            (Some(2), Some(1))
        );
        let backup = db.path("before.bak").display().to_string();
        let done = json(&run(db.cmd().args([
            "--json",
            "rotate-key",
            "--new-key-file",
            &new,
            "--backup",
            &backup,
            "--yes",
        ])));
        assert_eq!(done["rotated"], 3);

        // The app, still on the old key, re-enrolls bob: a straggler.
        let bob2 = secret_for(99);
        db.app_store(KEY, "bob", &bob2);
        let out = run(db
            .cmd()
            .env("TWOFA_MASTER_KEY", KEY2)
            .args(["--json", "doctor"]));
        assert_eq!(out.status.code(), Some(4));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["findings"][0]["user"], "bob", "{doc}");
        let fix = json(&run(db.cmd().env("TWOFA_MASTER_KEY", KEY2).args([
            "--json",
            "rotate-key",
            "--new-key-file",
            &new,
            "--old-key-file",
            &old,
            "--yes",
        ])));
        assert_eq!(fix["rotated"], 1);
        db.app_login(KEY2, "alice", &alice).unwrap();
        db.app_login(KEY2, "bob", &bob2).unwrap();
        let _ = bob;
        assert_eq!(
            run(db.cmd().env("TWOFA_MASTER_KEY", KEY2).args(["doctor"]))
                .status
                .code(),
            Some(0)
        );

        // Restoring the first backup would put alice and carol back under the
        // old key and leave bob's new secret under the new one: refused.
        let restore = |extra: &[&str]| {
            let mut c = db.cmd();
            c.env("TWOFA_MASTER_KEY", KEY2).args([
                "restore",
                "--backup",
                &backup,
                "--old-key-file",
                &old,
                "--yes",
            ]);
            c.args(extra);
            c
        };
        let line = refused(db, &mut restore(&[]), 4);
        assert!(line.contains("more than one key"), "{line}");
        let doc = json(&run(&mut restore(&["--allow-mixed", "--json"])));
        assert_eq!(doc["restored"], 2, "{doc}");
        assert_eq!(doc["not_restored"][0]["user"], "bob", "{doc}");
        assert_eq!(doc["not_restored"][0]["why"], "changed since the rotation");
        assert_eq!(doc["app_key"], serde_json::Value::Null);
        // Bob's new phone keeps working; alice is back on the old key.
        db.app_login(KEY2, "bob", &bob2).unwrap();
        db.app_login(KEY, "alice", &alice).unwrap();
    });
}

/// disable of several users is all or nothing; --all takes pending too.
#[test]
fn disable_many_and_all() {
    each(Shape::APP, |db| {
        enable(db, "alice");
        enable(db, "bob");
        refused(
            db,
            db.cmd().args(["disable", "alice", "nobody", "--yes"]),
            3,
        );
        let out = json(&run(db
            .cmd()
            .args(["--json", "disable", "alice", "bob", "--yes"])));
        assert_eq!(out["count"], 2);
        run(db.cmd().args(["enroll", "carol", "--no-qr"]));
        let out = json(&run(db.cmd().args(["--json", "disable", "--all", "--yes"])));
        assert_eq!(out["disabled"][0]["user"], "carol");
        assert!(db.accounts().iter().all(|(_, on, s)| !on && s.is_none()));
        assert_eq!(
            db.value("SELECT count(*) FROM mex2fa_pending"),
            "0",
            "the pending enrollment is gone"
        );
    });
}

/// Expired pending enrollments: doctor finds them (exit 3), --fix removes them.
#[test]
fn doctor_fix_removes_expired_enrollments() {
    each(Shape::APP, |db| {
        run(db.cmd().args(["enroll", "carol", "--no-qr", "--ttl", "1"]));
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(run(db.cmd().args(["doctor"])).status.code(), Some(3));
        let out = json(&run(db.cmd().args(["--json", "doctor", "--fix", "--yes"])));
        assert_eq!(out["fixed"], 1);
        assert_eq!(run(db.cmd().args(["doctor"])).status.code(), Some(0));
        let log = json(&run(db.cmd().args(["--json", "log"])));
        assert_eq!(log[0]["action"], "doctor-fix");
    });
}

/// Refusals, each one line with its exit code, and nothing changed.
#[test]
fn refusals_change_nothing() {
    each(Shape::APP, |db| {
        enable(db, "alice");
        refused(db, db.cmd().args(["enroll", "nobody"]), 3);
        refused(db, db.cmd().args(["verify", "alice", "--code", "12345"]), 2);
        refused(db, db.cmd().args(["confirm", "bob", "--code", "123456"]), 3);
        let line = refused(
            db,
            db.cmd()
                .env("TWOFA_MASTER_KEY", KEY3)
                .args(["verify", "alice", "--code", "123456"]),
            4,
        );
        assert!(line.contains("does not decrypt"), "{line}");
        let line = refused(db, db.cmd().args(["--table", "nope", "status"]), 5);
        assert!(line.contains("MEX2FA_TABLE"), "{line}");
        let line = refused(db, db.cmd().args(["--secret-column", "nope", "status"]), 5);
        assert!(line.contains("--secret-column"), "{line}");
    });
}

/// Another session holds a lock on a row the rotation rewrites: the
/// rotation waits --busy-timeout, then exits 5 saying so, and nothing changed.
#[test]
fn a_held_lock_times_out_with_exit_5() {
    each(Shape::APP, |db| {
        enable(db, "alice");
        let new = db.key_file("new.key", KEY2);
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let location = db.app_location();
        let backend = db.backend;
        let holder = std::thread::spawn(move || match backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(&location).unwrap();
                c.execute_batch(
                    "BEGIN IMMEDIATE; UPDATE account SET email = 'x' WHERE username = 'bob';",
                )
                .unwrap();
                ready_tx.send(()).unwrap();
                held.recv().unwrap();
                c.execute_batch("ROLLBACK").unwrap();
            }
            Backend::Postgres => {
                let mut c = postgres::Client::connect(&location, postgres::NoTls).unwrap();
                let mut tx = c.transaction().unwrap();
                tx.batch_execute("SELECT 1 FROM account WHERE username = 'alice' FOR UPDATE")
                    .unwrap();
                ready_tx.send(()).unwrap();
                held.recv().unwrap();
                tx.rollback().unwrap();
            }
            Backend::Mariadb => {
                use mysql::prelude::Queryable;
                let mut c = mysql::Conn::new(mysql::Opts::from_url(&location).unwrap()).unwrap();
                c.query_drop("START TRANSACTION").unwrap();
                c.query_drop("SELECT 1 FROM account WHERE username = 'alice' FOR UPDATE")
                    .unwrap();
                ready_tx.send(()).unwrap();
                held.recv().unwrap();
                c.query_drop("ROLLBACK").unwrap();
            }
        });
        ready.recv().unwrap();
        let line = refused(
            db,
            db.cmd().args([
                "--busy-timeout",
                "300",
                "rotate-key",
                "--new-key-file",
                &new,
                "--yes",
            ]),
            5,
        );
        hold.send(()).unwrap();
        holder.join().unwrap();
        assert!(line.contains("300 ms"), "{line}");
        assert!(line.contains("--busy-timeout"), "{line}");
        match db.backend {
            Backend::Postgres => assert!(line.contains("held by pid"), "names the holder: {line}"),
            Backend::Mariadb => assert!(line.contains("held by"), "names the holder: {line}"),
            Backend::Sqlite => {}
        }
    });
}

/// Accounts with tokens under `KEY`, added in bulk: their secrets.
fn many_enabled(db: &Db, n: usize) -> Vec<String> {
    let secrets: Vec<String> = (0..n as u64).map(|i| secret_for(1000 + i)).collect();
    for chunk in secrets.chunks(500).enumerate() {
        let (c, chunk) = chunk;
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let token = fernet_encrypt(KEY, s);
                let value = match db.backend {
                    Backend::Sqlite => format!("CAST('{token}' AS BLOB)"),
                    Backend::Postgres => format!("convert_to('{token}', 'UTF8')"),
                    Backend::Mariadb => format!("CAST('{token}' AS BINARY)"),
                };
                format!("('user{}', 1, {value})", c * 500 + i)
            })
            .collect();
        db.sql(&format!(
            "INSERT INTO account (username, twofa_enabled, twofa_secret) VALUES {}",
            values.join(", ")
        ));
    }
    secrets
}

/// How many stored tokens open under each key: (old, new, neither).
fn under_keys(db: &Db) -> (usize, usize, usize) {
    let (mut old, mut new, mut neither) = (0, 0, 0);
    for (_, _, secret) in db.accounts() {
        let Some(token) = secret else { continue };
        if fernet_plaintext(KEY, &token).is_some() {
            old += 1;
        } else if fernet_plaintext(KEY2, &token).is_some() {
            new += 1;
        } else {
            neither += 1;
        }
    }
    (old, new, neither)
}

/// The app keeps confirming new secrets (under the old key) while mex2fa
/// rotates: every token ends under one key or the other, never damaged;
/// doctor names the stragglers and a second rotation fixes them.
#[test]
fn the_app_writing_during_a_rotation_leaves_only_stragglers() {
    each(Shape::APP, |db| {
        many_enabled(db, 3000);
        let stop = db.path("stop");
        let loc = db.app_location();
        let stop_s = stop.display().to_string();
        let mut args = vec!["writer", &loc, KEY, "blob", "int", &stop_s];
        args.extend(["user1", "user1500", "user2999", "alice"]);
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/app_db.py");
        let writer = std::process::Command::new(python())
            .arg(script)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("writer");
        std::thread::sleep(Duration::from_millis(300));
        let new = db.key_file("new.key", KEY2);
        let old = db.key_file("old.key", KEY);
        let out = run(db.cmd().args([
            "--busy-timeout",
            "20000",
            "rotate-key",
            "--new-key-file",
            &new,
            "--yes",
        ]));
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&stop, "").unwrap();
        let w = writer.wait_with_output().unwrap();
        assert!(
            w.status.success(),
            "writer: {}",
            String::from_utf8_lossy(&w.stderr)
        );
        let writes: u64 = String::from_utf8_lossy(&w.stdout).trim().parse().unwrap();
        assert!(writes > 0, "the app wrote during the test");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let (_, _, neither) = under_keys(db);
        assert_eq!(neither, 0, "a token under neither key");
        let fix = run(db.cmd().env("TWOFA_MASTER_KEY", KEY2).args([
            "rotate-key",
            "--new-key-file",
            &new,
            "--old-key-file",
            &old,
            "--yes",
        ]));
        assert_eq!(fix.status.code(), Some(0), "{}", stderr(&fix));
        assert_eq!(under_keys(db).0, 0, "no token left under the old key");
        assert_eq!(
            run(db.cmd().env("TWOFA_MASTER_KEY", KEY2).args(["doctor"]))
                .status
                .code(),
            Some(0)
        );
    });
}

/// SIGKILL at random moments of a rotation: the database (or the server,
/// rolling the transaction back) is wholly under the old key or wholly
/// under the new one.
#[test]
fn a_killed_rotation_is_all_old_or_all_new() {
    each(Shape::APP, |db| {
        let n = many_enabled(db, 6000).len();
        let new = db.key_file("new.key", KEY2);
        let started = Instant::now();
        let out = run(db
            .cmd()
            .args(["rotate-key", "--new-key-file", &new, "--dry-run"]));
        assert!(out.status.success());
        let scan = started.elapsed();
        let (mut before, mut after) = (0, 0);
        for trial in 0..6u32 {
            let current = if under_keys(db).0 == n { KEY } else { KEY2 };
            let target = if current == KEY { KEY2 } else { KEY };
            let target_file = db.key_file(&format!("t{trial}.key"), target);
            let mut child = std::process::Command::new(bin())
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("MEX2FA_DB", db.location())
                .env("TWOFA_MASTER_KEY", current)
                .envs(db.password().map(|p| ("MEX2FA_DB_PASSWORD", p)))
                .args([
                    "rotate-key",
                    "--new-key-file",
                    &target_file,
                    "--yes",
                    "--quiet",
                ])
                .current_dir(db.dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Somewhere in the first 1.5 scans' time: before, during and after the writes.
            let wait = scan.mul_f64(0.25 + f64::from(trial) * 0.25);
            std::thread::sleep(wait);
            let _ = child.kill();
            child.wait().unwrap();
            if db.backend != Backend::Sqlite {
                // The server notices the dead client and rolls back.
                std::thread::sleep(Duration::from_millis(300));
            }
            let (old_n, new_n, neither) = under_keys(db);
            let (cur_n, tgt_n) = if current == KEY {
                (old_n, new_n)
            } else {
                (new_n, old_n)
            };
            assert_eq!(neither, 0);
            assert!(
                (cur_n, tgt_n) == (n, 0) || (cur_n, tgt_n) == (0, n),
                "trial {trial}: {cur_n} under the current key, {tgt_n} under the target"
            );
            if tgt_n == n {
                after += 1;
            } else {
                before += 1;
            }
        }
        assert!(before > 0, "no kill landed before the commit");
        let _ = after;
    });
}

/// A user who re-enrolled after the rotation keeps the new secret when the
/// rotation is undone: restore puts back only rows nobody changed since.
#[test]
fn restore_leaves_a_secret_changed_since_the_rotation() {
    each(Shape::APP, |db| {
        let secrets: Vec<String> = ["alice", "bob", "carol"]
            .iter()
            .map(|u| enable(db, u))
            .collect();
        let new = db.key_file("new.key", KEY2);
        let backup = db.path("b.bak").display().to_string();
        run(db.cmd().args([
            "rotate-key",
            "--new-key-file",
            &new,
            "--backup",
            &backup,
            "--yes",
        ]));
        // The app, still on the old key, re-enrolls bob's new phone.
        let bob_new = secret_for(4242);
        db.app_store(KEY, "bob", &bob_new);
        let doc = json(&run(db
            .cmd()
            .args(["--json", "restore", "--backup", &backup, "--yes"])));
        assert_eq!(doc["restored"], 2, "{doc}");
        assert_eq!(doc["skipped"], 1);
        assert_eq!(doc["not_restored"][0]["user"], "bob");
        assert_eq!(doc["app_key"], "the master key");
        db.app_login(KEY, "bob", &bob_new).expect("bob's new phone");
        db.app_login(KEY, "alice", &secrets[0]).expect("alice");
        db.app_login(KEY, "carol", &secrets[2]).expect("carol");
        let log = json(&run(db.cmd().args(["--json", "log", "--limit", "1"])));
        assert_eq!(log[0]["action"], "restore");
    });
}

/// A trigger that puts the old token back after the rotation writes bob's:
/// the rotation reads back what is stored before it commits, names bob, and
/// changes nothing.
#[test]
fn a_rotation_proves_what_is_stored_not_what_it_sent() {
    each(Shape::APP, |db| {
        enable(db, "alice");
        enable(db, "bob");
        db.sql(match db.backend {
            Backend::Sqlite => {
                "CREATE TRIGGER put_back AFTER UPDATE OF twofa_secret ON account
                 WHEN NEW.username = 'bob'
                 BEGIN
                     UPDATE account SET twofa_secret = OLD.twofa_secret
                     WHERE accountid = NEW.accountid;
                 END;"
            }
            // MariaDB's triggers may not write the table they are on: this
            // one puts the old token back before the row is written.
            Backend::Mariadb => {
                "CREATE TRIGGER put_back BEFORE UPDATE ON account FOR EACH ROW
                 SET NEW.twofa_secret = IF(NEW.username = 'bob', OLD.twofa_secret, NEW.twofa_secret)"
            }
            Backend::Postgres => {
                "CREATE FUNCTION put_back() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     UPDATE account SET twofa_secret = OLD.twofa_secret
                     WHERE accountid = NEW.accountid;
                     RETURN NULL;
                 END $$;
                 CREATE TRIGGER put_back AFTER UPDATE OF twofa_secret ON account
                 FOR EACH ROW WHEN (NEW.username = 'bob' AND pg_trigger_depth() = 0)
                 EXECUTE FUNCTION put_back();"
            }
        });
        let new = db.key_file("new.key", KEY2);
        let line = refused(
            db,
            db.cmd()
                .args(["rotate-key", "--new-key-file", &new, "--yes"]),
            5,
        );
        assert!(line.contains("not under the new key"), "{line}");
        assert!(line.contains("'bob'"), "{line}");
        assert!(!line.contains("'alice'"), "{line}");
    });
}

/// `enroll` draws its QR code on every backend, and `enroll --code` with a
/// wrong code leaves the enrollment pending (exit 1).
#[test]
fn enroll_draws_the_code_and_a_wrong_first_code_leaves_it_pending() {
    each(Shape::APP, |db| {
        let out = run(db.cmd().args(["enroll", "carol"]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out)
                .lines()
                .filter(|l| l.contains('▀') || l.contains('█'))
                .count()
                > 10,
            "no QR code drawn:\n{}",
            stdout(&out)
        );
        let out = run(db
            .cmd()
            .args(["--json", "enroll", "bob", "--no-qr", "--code", "000000"]));
        let status = json(&run(db.cmd().args(["--json", "status", "bob"])));
        if out.status.code() == Some(1) {
            assert_eq!(status[0]["pending"], true, "{status}");
            assert_eq!(status[0]["enabled"], false);
        } else {
            // 000000 happened to be the code of the moment.
            assert_eq!(out.status.code(), Some(0));
        }
    });
}
