//! Crashes: SIGKILL at random moments of every writing
//! command — enroll, confirm, `disable --all --yes`, rotate-key (with a
//! backup) and restore — on rollback-journal and WAL databases.
//!
//! Each trial copies a template database, starts the real binary on it,
//! kills it (`Child::kill`, SIGKILL) after a random delay between 0 and a
//! little past the command's measured run time, then opens the database the
//! way the app would (which rolls back a hot journal or recovers the WAL).
//! `PRAGMA integrity_check` must say ok and the database must be exactly the
//! state before the command or exactly the state after it: every column of
//! every account, the pending enrollments and the audit trail, with each
//! token compared by what it decrypts to and under which key (tokens carry a
//! fresh IV, so their bytes differ between runs).
//!
//! `MEX2FA_CRASH_SEED=N` replays a run's delays; the seed is printed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{KEY, KEY2, TestEnv, avoid_step_end, now, totp_at, write_mode};
use mex2fa::crypto::MasterKey;
use mex2fa::totp::Secret;
use rusqlite::Connection;
use rusqlite::types::Value;

/// Accounts with 2FA enabled in the template: small, so a trial is quick.
const N: usize = 40;
/// Trials per command and journal mode (two modes: 60 per command).
const TRIALS: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Journal {
    Rollback,
    Wal,
}

/// A token as compared: which key opens it and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tok {
    Null,
    /// Decrypts under `KEYS[key]`; `blob` is the storage type.
    Sealed {
        key: usize,
        plain: Plain,
        blob: bool,
    },
    /// Anything else, as stored.
    Raw(String),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Plain {
    /// A secret the template already held.
    Known(String),
    /// A secret made by the command (enroll): only its length is fixed.
    New(usize),
}

const KEYS: [&str; 2] = [KEY, KEY2];

/// (id, username, email, password, enabled, secret)
type AccountRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Tok,
);

/// The database as the comparison sees it.
#[derive(Clone, Debug, PartialEq)]
struct State {
    accounts: Vec<AccountRow>,
    /// (account id, token)
    pending: Vec<(i64, Tok)>,
    /// (action, account id, username)
    audit: Vec<(String, Option<i64>, Option<String>)>,
}

fn tok(v: Value, known: &BTreeSet<String>) -> Tok {
    let (text, blob) = match v {
        Value::Null => return Tok::Null,
        Value::Text(t) => (t, false),
        Value::Blob(b) => match String::from_utf8(b) {
            Ok(t) => (t, true),
            Err(e) => return Tok::Raw(format!("{:?}", e.into_bytes())),
        },
        other => return Tok::Raw(format!("{other:?}")),
    };
    for (i, k) in KEYS.iter().enumerate() {
        if let Some(p) = MasterKey::parse(k).expect("key").decrypt(&text) {
            let p = String::from_utf8(p.to_vec()).expect("utf-8 secret");
            let plain = if known.contains(&p) {
                Plain::Known(p)
            } else {
                Plain::New(p.len())
            };
            return Tok::Sealed {
                key: i,
                plain,
                blob,
            };
        }
    }
    Tok::Raw(text)
}

/// Opens the database as the app would after a crash, checks its
/// integrity, and reads the state.
fn state(db: &Path, known: &BTreeSet<String>) -> Result<State, String> {
    let conn = Connection::open(db).map_err(|e| format!("open: {e}"))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("integrity_check: {e}"))?;
    if check != "ok" {
        return Err(format!("integrity_check: {check}"));
    }
    let has = |t: &str| -> bool {
        conn.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [t],
            |_| Ok(()),
        )
        .is_ok()
    };
    let mut s = State {
        accounts: Vec::new(),
        pending: Vec::new(),
        audit: Vec::new(),
    };
    let mut stmt = conn
        .prepare("SELECT accountid, username, email, password, twofa_enabled, twofa_secret FROM account ORDER BY accountid")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get::<_, Value>(5)?,
            ))
        })
        .map_err(|e| e.to_string())?;
    for r in rows {
        let (id, user, email, pw, en, sec) = r.map_err(|e| e.to_string())?;
        s.accounts.push((id, user, email, pw, en, tok(sec, known)));
    }
    if has("mex2fa_pending") {
        let mut stmt = conn
            .prepare("SELECT account_id, secret_token FROM mex2fa_pending ORDER BY account_id")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, Value>(1)?)))
            .map_err(|e| e.to_string())?;
        for r in rows {
            let (id, t) = r.map_err(|e| e.to_string())?;
            s.pending.push((id, tok(t, known)));
        }
    }
    if has("mex2fa_audit") {
        let mut stmt = conn
            .prepare("SELECT action, account_id, username FROM mex2fa_audit ORDER BY seq")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| e.to_string())?;
        for r in rows {
            s.audit.push(r.map_err(|e| e.to_string())?);
        }
    }
    Ok(s)
}

/// A small deterministic generator (xorshift64*), seeded per test.
struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> (Rng, u64) {
        let seed = std::env::var("MEX2FA_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        (
            Rng((seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1),
            seed,
        )
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// The database every trial starts from, and what the trials need beside it.
struct Template {
    bytes: Vec<u8>,
    known: BTreeSet<String>,
    /// bob's pending secret (for confirm).
    bob: String,
    /// Extra files every trial dir gets (name, bytes).
    files: Vec<(&'static str, Vec<u8>)>,
    /// The master key the command runs under.
    key: &'static str,
}

/// N enabled accounts u00..u39 with tokens under KEY as the app writes them,
/// alice and bob with enrollments pending, carol with nothing.
fn populated(journal: Journal) -> Template {
    let env = TestEnv::new();
    let mut known = BTreeSet::new();
    {
        let conn = env.conn();
        if journal == Journal::Wal {
            let m: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .expect("wal");
            assert_eq!(m, "wal");
        }
        let key = MasterKey::parse(KEY).expect("KEY");
        for i in 0..N {
            let secret = Secret::generate().as_str().to_string();
            conn.execute(
                "INSERT INTO account (username, email, password, twofa_enabled, twofa_secret)
                 VALUES (?1, ?2, 'pw', 1, ?3)",
                rusqlite::params![
                    format!("u{i:02}"),
                    format!("u{i:02}@example.com"),
                    Value::Blob(key.encrypt(secret.as_bytes()).into_bytes())
                ],
            )
            .expect("insert");
            known.insert(secret);
        }
    }
    known.insert(env.enroll("alice"));
    let bob = env.enroll("bob");
    known.insert(bob.clone());
    Template {
        bytes: env.snapshot(),
        known,
        bob,
        files: vec![("new.key", format!("{KEY2}\n").into_bytes())],
        key: KEY,
    }
}

/// A trial's private copy.
struct Trial {
    dir: tempfile::TempDir,
    db: PathBuf,
}

fn lay(t: &Template) -> Trial {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("app.db");
    std::fs::write(&db, &t.bytes).expect("write db");
    for (name, bytes) in &t.files {
        write_mode(
            &dir.path().join(name),
            std::str::from_utf8(bytes).expect("text"),
            0o600,
        );
    }
    Trial { dir, db }
}

fn spawn(t: &Template, trial: &Trial, args: &[String]) -> std::process::Child {
    Command::new(crate::util::bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("USER", "tester")
        .env("MEX2FA_DB", &trial.db)
        .env("TWOFA_MASTER_KEY", t.key)
        .env("TMPDIR", trial.dir.path())
        .current_dir(trial.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mex2fa")
}

/// The command line of a trial; confirm's code is made just before the start.
fn args_for(command: &str, t: &Template) -> Vec<String> {
    let v: Vec<&str> = match command {
        "enroll" => vec!["enroll", "carol", "--no-qr"],
        "confirm" => {
            avoid_step_end();
            return vec![
                "confirm".into(),
                "bob".into(),
                "--code".into(),
                totp_at(&t.bob, now()),
            ];
        }
        "disable" => vec!["disable", "--all", "--yes"],
        "rotate-key" => vec![
            "rotate-key",
            "--new-key-file",
            "new.key",
            "--backup",
            "backup.jsonl",
            "--yes",
        ],
        "restore" => vec!["restore", "--backup", "old.jsonl", "--yes"],
        other => panic!("no command {other}"),
    };
    v.into_iter().map(String::from).collect()
}

/// Runs the command to completion on a fresh copy: the state after, and how long it took.
fn complete(command: &str, t: &Template) -> (State, Duration, Trial) {
    for _ in 0..3 {
        let trial = lay(t);
        let args = args_for(command, t);
        let started = Instant::now();
        let status = spawn(t, &trial, &args).wait().expect("wait");
        let took = started.elapsed();
        if status.code() == Some(0) {
            return (
                state(&trial.db, &t.known).expect("state after"),
                took,
                trial,
            );
        }
        // confirm: a step boundary passed; try again.
        assert_eq!(command, "confirm", "{command} failed: {status:?}");
    }
    panic!("{command} did not complete in 3 tries");
}

fn template_for(command: &str, journal: Journal) -> Template {
    let mut t = populated(journal);
    if command == "restore" {
        // The state a rotation with a backup leaves, and that backup.
        let (_, _, done) = complete("rotate-key", &t);
        t.bytes = std::fs::read(&done.db).expect("rotated db");
        let backup = std::fs::read(done.dir.path().join("backup.jsonl")).expect("backup");
        t.files = vec![("old.jsonl", backup)];
        t.key = KEY;
    }
    t
}

fn crash(command: &str, journal: Journal) {
    let t = template_for(command, journal);
    let before = state(&lay(&t).db, &t.known).expect("state before");
    // Calibrate: the state after, and the median run time on this machine now.
    let mut runs: Vec<(State, Duration)> = (0..3)
        .map(|_| complete(command, &t))
        .map(|(s, d, _)| (s, d))
        .collect();
    runs.sort_by_key(|r| r.1);
    let after = runs[1].0.clone();
    for (s, _) in &runs {
        assert_eq!(s, &after, "{command}: two complete runs disagree");
    }
    assert_ne!(
        before, after,
        "{command} changes nothing: the test would prove nothing"
    );
    let run_time = runs[1].1;
    // From 0 to a quarter past the run time, in microseconds.
    let span = (run_time.as_micros() as u64) * 5 / 4;

    let salt = command
        .bytes()
        .fold(journal as u64, |a, b| a.wrapping_mul(31) ^ u64::from(b));
    let (mut rng, seed) = Rng::new(salt);
    let (mut killed_before, mut killed_after, mut finished) = (0, 0, 0);
    let mut trials = 0;
    // At least TRIALS; more (up to 3x) until both outcomes have been seen.
    while trials < TRIALS
        || (trials < 3 * TRIALS && (killed_before == 0 || killed_after + finished == 0))
    {
        trials += 1;
        let trial = lay(&t);
        let args = args_for(command, &t);
        let delay = Duration::from_micros(rng.below(span + 1));
        let mut child = spawn(&t, &trial, &args);
        std::thread::sleep(delay);
        let exited = child.try_wait().expect("try_wait");
        let status = match exited {
            Some(s) => s,
            None => {
                child.kill().expect("kill");
                child.wait().expect("wait")
            }
        };
        let got = state(&trial.db, &t.known).unwrap_or_else(|e| {
            panic!("{command} {journal:?} trial {trials} (seed {seed}, delay {delay:?}): {e}")
        });
        let ctx = format!(
            "{command} {journal:?} trial {trials} (seed {seed}, delay {delay:?}, status {status:?})"
        );
        if exited.is_some() {
            finished += 1;
            match status.code() {
                Some(0) => assert_eq!(got, after, "{ctx}: completed, but not the after state"),
                // confirm only: the code went stale at a step boundary.
                Some(1) if command == "confirm" => {
                    assert_eq!(got, before, "{ctx}: rejected, but changed")
                }
                other => panic!("{ctx}: exited {other:?}"),
            }
        } else if got == before {
            killed_before += 1;
        } else if got == after {
            killed_after += 1;
        } else {
            panic!(
                "{ctx}: killed, and the database is neither the before nor the after state:\n{}",
                diff(&before, &after, &got)
            );
        }
    }
    eprintln!(
        "crash {command} {journal:?}: {trials} trials (run time {run_time:?}, seed {seed}): \
         {killed_before} killed → before, {killed_after} killed → after, {finished} finished first"
    );
}

/// Which parts of `got` match neither side, for the failure message.
fn diff(before: &State, after: &State, got: &State) -> String {
    let mut out = Vec::new();
    if got.accounts != before.accounts && got.accounts != after.accounts {
        for (i, row) in got.accounts.iter().enumerate() {
            if before.accounts.get(i) != Some(row) && after.accounts.get(i) != Some(row) {
                out.push(format!("account row {i}: {row:?}"));
            }
        }
    }
    out.push(format!(
        "accounts: {} before-like, {} after-like of {}",
        got.accounts
            .iter()
            .zip(&before.accounts)
            .filter(|(a, b)| a == b)
            .count(),
        got.accounts
            .iter()
            .zip(&after.accounts)
            .filter(|(a, b)| a == b)
            .count(),
        got.accounts.len()
    ));
    out.push(format!(
        "pending: before {:?}\n after {:?}\n got {:?}",
        before.pending, after.pending, got.pending
    ));
    out.push(format!(
        "audit rows: before {}, after {}, got {}",
        before.audit.len(),
        after.audit.len(),
        got.audit.len()
    ));
    out.join("\n")
}

#[test]
fn crash_enroll_rollback() {
    crash("enroll", Journal::Rollback);
}

#[test]
fn crash_enroll_wal() {
    crash("enroll", Journal::Wal);
}

#[test]
fn crash_confirm_rollback() {
    crash("confirm", Journal::Rollback);
}

#[test]
fn crash_confirm_wal() {
    crash("confirm", Journal::Wal);
}

#[test]
fn crash_disable_all_rollback() {
    crash("disable", Journal::Rollback);
}

#[test]
fn crash_disable_all_wal() {
    crash("disable", Journal::Wal);
}

#[test]
fn crash_rotate_key_rollback() {
    crash("rotate-key", Journal::Rollback);
}

#[test]
fn crash_rotate_key_wal() {
    crash("rotate-key", Journal::Wal);
}

#[test]
fn crash_restore_rollback() {
    crash("restore", Journal::Rollback);
}

#[test]
fn crash_restore_wal() {
    crash("restore", Journal::Wal);
}
