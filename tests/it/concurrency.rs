//! A running app beside us.
//!
//! A writer thread plays the web app on its own connection — logins that
//! update other columns of `account`, short `BEGIN IMMEDIATE` transactions,
//! registrations, and the app's own Confirm/Disable of 2FA for other users —
//! while mex2fa verify / enroll / confirm / status / disable / rotate-key run
//! in a loop through the real binary, interleaved with it. No "database is
//! locked" may reach stderr, every command exits as documented, and the app
//! never sees an error either. A writer that holds the write lock past
//! `--busy-timeout` makes the writing commands exit 5 with a clear message and
//! change nothing, while reads still work where SQLite allows them. All of
//! it for a rollback-journal and a WAL database; mex2fa never changes the
//! journal mode or any other persistent pragma.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::util::{KEY, KEY2, TestEnv, avoid_step_end, now, totp_at, write_mode, wrong_code_for};
use mex2fa::crypto::MasterKey;
use mex2fa::totp::Secret;
use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior};

/// mex2fa command rounds per journal mode.
const ROUNDS: usize = 8;
/// Users only the writer (the app) touches.
const APP_USERS: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Journal {
    Rollback,
    Wal,
}

/// The persistent settings mex2fa must never change.
#[derive(Debug, PartialEq)]
struct Pragmas {
    journal_mode: String,
    /// File format read/write versions in the header: 1 rollback, 2 WAL.
    header_versions: (u8, u8),
    user_version: i64,
    application_id: i64,
    page_size: i64,
    auto_vacuum: i64,
}

fn pragmas(db: &Path) -> Pragmas {
    let conn = Connection::open(db).expect("open");
    let get = |p: &str| -> Value {
        conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .expect(p)
    };
    let int = |p: &str| match get(p) {
        Value::Integer(n) => n,
        v => panic!("PRAGMA {p} = {v:?}"),
    };
    let journal_mode = match get("journal_mode") {
        Value::Text(t) => t,
        v => panic!("journal_mode = {v:?}"),
    };
    let header = std::fs::read(db).expect("read db");
    Pragmas {
        journal_mode,
        header_versions: (header[18], header[19]),
        user_version: int("user_version"),
        application_id: int("application_id"),
        page_size: int("page_size"),
        auto_vacuum: int("auto_vacuum"),
    }
}

/// Every row of the tables mex2fa and the app share, to prove "nothing changed".
fn dump(db: &Path) -> Vec<Vec<Value>> {
    let conn = Connection::open(db).expect("open");
    let mut out = Vec::new();
    for table in ["account", "mex2fa_pending", "mex2fa_audit"] {
        let Ok(mut stmt) = conn.prepare(&format!("SELECT * FROM {table} ORDER BY rowid")) else {
            continue;
        };
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        out.push(vec![Value::Text(table.into())]);
        out.extend(rows);
    }
    out
}

struct Setup {
    env: TestEnv,
    alice: String,
    key2_file: PathBuf,
    key1_file: PathBuf,
}

/// The reference database with non-default persistent settings (so a reset
/// to a default shows), in the given journal mode, alice enabled under KEY,
/// and the app's own users.
fn setup(journal: Journal) -> Setup {
    let env = TestEnv::new();
    let conn = env.conn();
    conn.execute_batch(
        "PRAGMA page_size = 8192; PRAGMA auto_vacuum = INCREMENTAL; VACUUM;
         PRAGMA user_version = 42; PRAGMA application_id = 1296646470;",
    )
    .expect("pragmas");
    let mode: String = conn
        .query_row(
            match journal {
                Journal::Rollback => "PRAGMA journal_mode = DELETE",
                Journal::Wal => "PRAGMA journal_mode = WAL",
            },
            [],
            |r| r.get(0),
        )
        .expect("journal mode");
    assert_eq!(
        mode,
        if journal == Journal::Wal {
            "wal"
        } else {
            "delete"
        }
    );
    for i in 0..APP_USERS {
        conn.execute(
            "INSERT INTO account (username, email, password) VALUES (?1, ?2, 'pw')",
            [format!("u{i:02}"), format!("u{i:02}@example.com")],
        )
        .expect("insert");
    }
    let alice = Secret::generate().as_str().to_string();
    let token = MasterKey::parse(KEY)
        .expect("KEY")
        .encrypt(alice.as_bytes());
    conn.execute(
        "UPDATE account SET twofa_enabled = 1, twofa_secret = ?1 WHERE username = 'alice'",
        [Value::Blob(token.into_bytes())],
    )
    .expect("enable alice");
    drop(conn);
    let key1_file = env.path("key1.key");
    let key2_file = env.path("key2.key");
    write_mode(&key1_file, &format!("{KEY}\n"), 0o600);
    write_mode(&key2_file, &format!("{KEY2}\n"), 0o600);
    Setup {
        env,
        alice,
        key1_file,
        key2_file,
    }
}

/// The app: its own connection with Python sqlite3's default 5 s timeout.
struct App {
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<Vec<String>>,
}

impl App {
    fn start(db: &Path) -> App {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let (db, s, o) = (db.to_path_buf(), stop.clone(), ops.clone());
        let key = MasterKey::parse(KEY).expect("KEY");
        let tokens: Vec<Vec<u8>> = (0..4)
            .map(|_| {
                key.encrypt(Secret::generate().as_str().as_bytes())
                    .into_bytes()
            })
            .collect();
        let handle = std::thread::spawn(move || {
            let mut conn = Connection::open(&db).expect("app connection");
            conn.busy_timeout(Duration::from_secs(5)).expect("timeout");
            let mut errors = Vec::new();
            let mut i: u64 = 0;
            while !s.load(Ordering::SeqCst) {
                i += 1;
                let user = format!("u{:02}", i % APP_USERS as u64);
                let r = app_step(&mut conn, i, &user, &tokens);
                if let Err(e) = r {
                    errors.push(format!("app step {i} ({user}): {e}"));
                }
                o.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
            errors
        });
        App { stop, ops, handle }
    }

    /// Waits until the app has done `n` more steps: every mex2fa command
    /// runs interleaved with the app's writes.
    fn wait_steps(&self, n: u64) {
        let start = self.ops.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.ops.load(Ordering::SeqCst) < start + n {
            assert!(Instant::now() < deadline, "the app thread stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let errors = self.handle.join().expect("app thread");
        (self.ops.load(Ordering::SeqCst), errors)
    }
}

fn app_step(conn: &mut Connection, i: u64, user: &str, tokens: &[Vec<u8>]) -> rusqlite::Result<()> {
    match i % 5 {
        // A login: read the row, then record it in another column (autocommit).
        0 | 1 => {
            let id: i64 = conn.query_row(
                "SELECT accountid FROM account WHERE username = ?1",
                [user],
                |r| r.get(0),
            )?;
            conn.execute(
                "UPDATE account SET email = ?1 WHERE accountid = ?2",
                rusqlite::params![format!("{user}+{i}@example.com"), id],
            )?;
        }
        // A short transaction touching several rows.
        2 => {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE account SET password = ?1 WHERE username = ?2",
                [format!("pw{i}"), user.into()],
            )?;
            tx.execute(
                "UPDATE account SET password = password || 'x' WHERE accountid % 7 = ?1",
                [(i % 7) as i64],
            )?;
            tx.commit()?;
        }
        // The app's own Confirm and Disable for its users.
        3 => {
            conn.execute(
                "UPDATE account SET twofa_enabled = 1, twofa_secret = ?1 WHERE username = ?2",
                rusqlite::params![tokens[(i % tokens.len() as u64) as usize], user],
            )?;
        }
        _ => {
            if i % 25 == 4 {
                conn.execute(
                    "INSERT INTO account (username, email, password) VALUES (?1, 'new@example.com', 'pw')",
                    [format!("new{i}")],
                )?;
            } else {
                conn.execute(
                    "UPDATE account SET twofa_enabled = 0, twofa_secret = NULL WHERE username = ?1",
                    [user],
                )?;
            }
        }
    }
    Ok(())
}

/// Runs mex2fa with `TWOFA_MASTER_KEY=key`.
fn mex(env: &TestEnv, key: &str, args: &[&str]) -> Output {
    let mut c = env.bare();
    c.env("MEX2FA_DB", &env.db)
        .env("TWOFA_MASTER_KEY", key)
        .env("TMPDIR", env.dir.path());
    c.args(args).output().expect("run mex2fa")
}

/// One round of mex2fa commands beside the app, recording what goes wrong.
struct Round<'a> {
    app: &'a App,
    env: &'a TestEnv,
    key: &'a str,
    label: String,
    failures: &'a mut Vec<String>,
    runs: &'a mut usize,
}

impl Round<'_> {
    /// Lets the app take a few steps, then runs mex2fa and records the outcome.
    fn run(&mut self, what: &str, args: &[&str], ok: &[i32]) -> Output {
        self.app.wait_steps(3);
        let out = mex(self.env, self.key, args);
        self.record(what, &out, ok);
        out
    }

    fn record(&mut self, what: &str, out: &Output, ok: &[i32]) {
        check(self.failures, &format!("{}: {what}", self.label), out, ok);
        *self.runs += 1;
    }
}

/// Records what is wrong with one run.
fn check(failures: &mut Vec<String>, what: &str, out: &Output, ok: &[i32]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    if !code.is_some_and(|c| ok.contains(&c)) {
        failures.push(format!(
            "{what}: exit {code:?}, expected one of {ok:?}; stderr: {stderr}"
        ));
    }
    if stderr.to_ascii_lowercase().contains("database is locked") {
        failures.push(format!("{what}: 'database is locked' on stderr: {stderr}"));
    }
    if stderr.contains("panicked") {
        failures.push(format!("{what}: panicked: {stderr}"));
    }
}

fn busy_app(journal: Journal) {
    let s = setup(journal);
    let env = &s.env;
    let before = pragmas(&env.db);
    let app = App::start(&env.db);
    let mut failures = Vec::new();
    let mut runs = 0;
    // (current key text, its file, the other key's file)
    let mut keys = [(KEY, &s.key1_file), (KEY2, &s.key2_file)];
    for round in 0..ROUNDS {
        let key = keys[0].0;
        let mut r = Round {
            app: &app,
            env,
            key,
            label: format!("{journal:?} round {round}"),
            failures: &mut failures,
            runs: &mut runs,
        };
        let code = totp_at(&s.alice, now());
        r.run(
            "verify (right code)",
            &["verify", "alice", "--code", &code, "--window", "1"],
            &[0],
        );
        let wrong = wrong_code_for(&[&s.alice]);
        r.run(
            "verify (wrong code)",
            &["verify", "alice", "--code", &wrong],
            &[1],
        );
        let out = r.run(
            "enroll",
            &["enroll", "carol", "--no-qr", "--json", "--show-secret"],
            &[0],
        );
        let secret = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v["secret"].as_str().map(str::to_string));
        if let Some(secret) = secret {
            avoid_step_end();
            let step = now() / 30;
            let code = totp_at(&secret, now());
            let out = mex(env, key, &["confirm", "carol", "--code", &code]);
            // 1 only if a step boundary passed while it ran.
            let ok: &[i32] = if now() / 30 == step { &[0] } else { &[0, 1] };
            r.record("confirm", &out, ok);
        }
        r.run("status", &["status", "--json"], &[0]);
        r.run("disable", &["disable", "carol", "--yes"], &[0]);
        let new_file = keys[1].1.to_str().expect("utf-8 path").to_string();
        let out = r.run(
            "rotate-key",
            &["rotate-key", "--new-key-file", &new_file, "--yes"],
            &[0],
        );
        if out.status.success() {
            keys.swap(0, 1);
        }
    }
    let (ops, app_errors) = app.stop();
    eprintln!("{journal:?}: {runs} mex2fa runs beside {ops} app steps");
    assert!(
        app_errors.is_empty(),
        "the app saw errors:\n{}",
        app_errors.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(pragmas(&env.db), before, "a persistent setting changed");
    let conn = env.conn();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    // The rotations happened: alice's token is under the key they left current.
    let token: Vec<u8> = conn
        .query_row(
            "SELECT twofa_secret FROM account WHERE username = 'alice'",
            [],
            |r| r.get(0),
        )
        .expect("alice");
    let current = MasterKey::parse(keys[0].0).expect("key");
    let plain = current
        .decrypt(std::str::from_utf8(&token).expect("token text"))
        .expect("alice's token decrypts under the current key");
    assert_eq!(plain.as_slice(), s.alice.as_bytes());
}

#[test]
fn busy_app_rollback_journal() {
    busy_app(Journal::Rollback);
}

#[test]
fn busy_app_wal() {
    busy_app(Journal::Wal);
}

/// The app holds the write lock (`BEGIN IMMEDIATE`, or `BEGIN EXCLUSIVE`)
/// until told to let go; mex2fa runs meanwhile with a short busy timeout.
fn held_lock(journal: Journal, exclusive: bool) {
    let s = setup(journal);
    let env = &s.env;
    let before_pragmas = pragmas(&env.db);
    let before = dump(&env.db);
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let db = env.db.clone();
    let holder = std::thread::spawn(move || {
        let conn = Connection::open(&db).expect("open");
        conn.execute_batch(if exclusive {
            "BEGIN EXCLUSIVE"
        } else {
            "BEGIN IMMEDIATE"
        })
        .expect("begin");
        conn.execute(
            "UPDATE account SET email = 'held' WHERE username = 'u01'",
            [],
        )
        .expect("update");
        locked_tx.send(()).expect("signal");
        release_rx.recv().expect("release");
        conn.execute_batch("ROLLBACK").expect("rollback");
    });
    locked_rx.recv().expect("the holder took the lock");

    let mut failures = Vec::new();
    let timeout = ["--busy-timeout", "300"];
    let writes: [(&str, Vec<&str>); 4] = [
        (
            "rotate-key",
            vec![
                "rotate-key",
                "--new-key-file",
                s.key2_file.to_str().unwrap(),
                "--yes",
            ],
        ),
        ("enroll", vec!["enroll", "carol", "--no-qr"]),
        ("disable", vec!["disable", "alice", "--yes"]),
        ("disable --all", vec!["disable", "--all", "--yes"]),
    ];
    for (what, args) in &writes {
        let mut args = args.clone();
        args.extend(timeout);
        let out = mex(env, KEY, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        check(&mut failures, what, &out, &[5]);
        let lines = stderr.lines().count();
        if lines != 1
            || !stderr.contains("locked by another connection")
            || !stderr.contains("300 ms")
        {
            failures.push(format!(
                "{what}: not one clear line about the lock and the 300 ms: {stderr}"
            ));
        }
    }
    // Readers: WAL never blocks them; a rollback journal blocks them only
    // while the writer holds EXCLUSIVE, and then the answer is the same clear exit 5.
    let readers_blocked = exclusive && journal == Journal::Rollback;
    let code = totp_at(&s.alice, now());
    for (what, args) in [
        (
            "verify",
            vec!["verify", "alice", "--code", &code, "--window", "1"],
        ),
        ("status", vec!["status"]),
    ] {
        let mut args = args.clone();
        args.extend(timeout);
        let out = mex(env, KEY, &args);
        let expected = if readers_blocked { 5 } else { 0 };
        check(&mut failures, what, &out, &[expected]);
        if readers_blocked && !String::from_utf8_lossy(&out.stderr).contains("300 ms") {
            failures.push(format!(
                "{what}: the lock message does not name the timeout"
            ));
        }
    }
    release_tx.send(()).expect("release");
    holder.join().expect("holder");
    assert!(
        failures.is_empty(),
        "{journal:?} exclusive={exclusive}:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        dump(&env.db),
        before,
        "a refused command changed the database"
    );
    assert_eq!(pragmas(&env.db), before_pragmas);

    // Once the lock is free, the same rotation goes through.
    let out = mex(
        env,
        KEY,
        &[
            "rotate-key",
            "--new-key-file",
            s.key2_file.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pragmas(&env.db), before_pragmas);
}

#[test]
fn held_write_lock_rollback_journal() {
    held_lock(Journal::Rollback, false);
}

#[test]
fn held_write_lock_wal() {
    held_lock(Journal::Wal, false);
}

#[test]
fn held_exclusive_lock_rollback_journal() {
    held_lock(Journal::Rollback, true);
}

#[test]
fn held_exclusive_lock_wal() {
    held_lock(Journal::Wal, true);
}
