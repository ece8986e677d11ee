//! Power loss during every SQLite write of mex2fa, simulated the way SQLite's
//! own crash tests do it.
//!
//! A recording VFS (`powerloss/vfs.rs`) is SQLite's default VFS in this
//! process, beneath mex2fa's connections. Each command runs in process
//! (`mex2fa::run_args`) on a copy of a template database while every write,
//! truncation, sync and delete of the files in its directory is recorded.
//! Once the command has finished normally, the power is cut, on paper, at
//! chosen points of that record: at every sync (just before it and just
//! after it) and at random writes in between. Then:
//!
//! - what a file held at its last sync survives;
//! - each write since its last sync survives whole, is lost, or is torn at
//!   512-byte sectors (each sector kept or lost), chosen at random per write;
//!   a truncation since the last sync happens or not; a file the command
//!   created and never synced may be gone;
//! - deletions take effect in the recorded order.
//!
//! The crashed files are written to a fresh directory (`-journal` and `-wal`
//! with them, the `-shm` left behind, as after a reboot) and opened with plain
//! rusqlite on the unix VFS, which rolls back a hot journal or recovers the
//! WAL as the app's next connection would. `PRAGMA integrity_check` must say
//! ok; every stored token must decrypt under one of the two keys, with as many
//! under each as before the command or as after it (all old or all new, never
//! mixed); and every row of every table must be exactly as before the command
//! or exactly as after it.
//!
//! Each command runs on a rollback-journal and on a WAL database. Rotations,
//! restores and `disable --all` get enough accounts that SQLite's page cache
//! spills dirty pages into the database file before the commit, which the
//! recorded syncs are checked to show. Two more tests run the same machinery
//! with a disk that breaks SQLite's assumptions and require failures to be
//! reported: the checks can fail.
//!
//! The seed of the crash points and fates is printed;
//! `MEX2FA_POWERLOSS_SEED=N` replays them (the command's own random bytes,
//! new IVs and secrets, differ from run to run, where and how much it writes
//! does not).

// A test crate's root finds its modules beside it, not in a folder of its name.
mod vfs;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mex2fa::crypto::MasterKey;
use mex2fa::totp::Secret;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};
use tempfile::TempDir;
use vfs::{Event, Log, Watch};

/// The master key the templates are written under (the Fernet spec's test key).
const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
/// The key rotations rotate to.
const KEY2: &str = "V3Rz0yPq0lmU2x9ZbJ2iK1mWqKJ9b0sXj3p0Kx2qkFQ=";

/// Bytes of other data per account (a profile column). With it a row fills
/// most of a 4 KiB page, so each rewritten token dirties a page of its own
/// and a page cache fills with a few thousand accounts.
const PROFILE: usize = 3000;

/// The sector size writes are torn at.
const SECTOR: u64 = 512;

/// Every mex2fa command that writes, each tested in both journal modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `rotate-key` on the app's reference table (a rowid table, no
    /// trigger): tokens are overwritten in place with incremental blob I/O.
    RotateInPlace,
    /// `rotate-key` on a table with a CHECK constraint: tokens are written
    /// with `UPDATE`.
    RotateUpdate,
    /// `restore` from the backup of a `rotate-key --backup`.
    Restore,
    DisableAll,
    /// `doctor --fix`, which deletes expired pending enrollments.
    DoctorFix,
    Enroll,
    Confirm,
}

const OPS: [Op; 7] = [
    Op::RotateInPlace,
    Op::RotateUpdate,
    Op::Restore,
    Op::DisableAll,
    Op::DoctorFix,
    Op::Enroll,
    Op::Confirm,
];

impl Op {
    /// Accounts in the template; one in 16 has 2FA off.
    const fn accounts(self) -> usize {
        match self {
            // rotate-key gives its connection an 8 MiB page cache, about
            // 1,980 pages of 4 KiB: 2,250 rewritten tokens dirty more.
            Op::RotateInPlace | Op::RotateUpdate => 2400,
            // SQLite's default cache of 2,000 KiB holds about 480 pages:
            // 562 rewritten tokens (and their audit rows) dirty more.
            Op::Restore | Op::DisableAll => 600,
            Op::DoctorFix | Op::Enroll | Op::Confirm => 50,
        }
    }

    /// Simulated crashes per journal mode: fewer where a crash image is large.
    const fn crashes(self) -> usize {
        match self {
            Op::RotateInPlace | Op::RotateUpdate => 30,
            Op::Restore | Op::DisableAll => 60,
            Op::DoctorFix | Op::Enroll | Op::Confirm => 120,
        }
    }

    /// Whether the page cache must spill before the commit.
    const fn spills(self) -> bool {
        matches!(
            self,
            Op::RotateInPlace | Op::RotateUpdate | Op::Restore | Op::DisableAll
        )
    }

    /// The command line, for a run in `root` (settings come after: they
    /// are global flags).
    fn args(self, root: &Path, confirm_code: Option<&str>) -> Vec<OsString> {
        let file = |name: &str| root.join(name).into_os_string();
        let mut v: Vec<OsString> = match self {
            Op::RotateInPlace | Op::RotateUpdate => vec![
                "rotate-key".into(),
                "--new-key-file".into(),
                file("new.key"),
                "--yes".into(),
            ],
            Op::Restore => vec![
                "restore".into(),
                "--backup".into(),
                file("backup.jsonl"),
                "--yes".into(),
            ],
            Op::DisableAll => vec!["disable".into(), "--all".into(), "--yes".into()],
            Op::DoctorFix => vec!["doctor".into(), "--fix".into(), "--yes".into()],
            // --json: no QR code, and no prompt for a code on a terminal.
            Op::Enroll => vec!["enroll".into(), ENROLLED.into(), "--json".into()],
            Op::Confirm => vec![
                "confirm".into(),
                CONFIRMED.into(),
                "--code".into(),
                confirm_code.expect("a code").into(),
            ],
        };
        v.insert(0, "mex2fa".into());
        v.extend([
            "--db".into(),
            file("app.db"),
            "--master-key-file".into(),
            file("master.key"),
            "--quiet".into(),
        ]);
        v
    }
}

/// At least 1,000 simulated crashes in all.
const _: () = {
    let (mut i, mut total) = (0, 0);
    while i < OPS.len() {
        total += 2 * OPS[i].crashes();
        i += 1;
    }
    assert!(total >= 1000);
};

/// Users with an enrollment pending in every template (all with 2FA off).
const PENDING: [&str; 3] = ["u00000", "u00016", "u00032"];
/// The pending enrollments `doctor --fix` finds expired.
const EXPIRED: [&str; 2] = ["u00000", "u00016"];
const CONFIRMED: &str = "u00032";
/// 2FA off, nothing pending.
const ENROLLED: &str = "u00048";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Journal {
    Rollback,
    Wal,
}

/// How the simulated disk treats what was written before the power went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disk {
    /// What SQLite may assume of a disk (see the module documentation).
    Honest,
    /// Broken: syncs are ignored and writes reach the disk newest first, so
    /// what survives is a random suffix of all the writes.
    ReverseOrder,
    /// Broken: the rollback journal or WAL is gone after the crash, synced
    /// content and all.
    LostJournal,
}

// ---------------------------------------------------------------------------
// Randomness and seeds

/// splitmix64: small, deterministic, good enough to pick crash points.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The base seed: `MEX2FA_POWERLOSS_SEED`, else the clock.
fn base_seed() -> u64 {
    std::env::var("MEX2FA_POWERLOSS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// A seed of its own for each case, so that cases do not share crash points.
fn case_seed(base: u64, case: &str) -> u64 {
    let salt = case.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    Rng::new(base ^ salt).next()
}

// ---------------------------------------------------------------------------
// Files

/// A directory for scratch files: on tmpfs where there is one, since every
/// crash writes its files out and SQLite reads them back.
fn scratch() -> TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("mex2fa-powerloss")
            .tempdir_in(shm)
    } else {
        tempfile::Builder::new()
            .prefix("mex2fa-powerloss")
            .tempdir()
    };
    dir.expect("a scratch directory")
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).expect("write a file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Opens a database with plain rusqlite on the unix VFS, past the recording one.
fn open_plain(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags_and_vfs(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        c"unix",
    )
}

/// The database at `path` in one file: a WAL left behind is checkpointed first.
fn settled(path: &Path) -> Vec<u8> {
    let wal = sibling(path, "-wal");
    if wal.exists() {
        let conn = open_plain(path).expect("open to checkpoint");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
    }
    assert!(
        !sibling(path, "-journal").exists(),
        "a hot journal is left beside {}",
        path.display()
    );
    std::fs::read(path).expect("read the database")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

// ---------------------------------------------------------------------------
// Templates

/// What a run directory starts with.
struct Template {
    files: Vec<(&'static str, Vec<u8>)>,
    /// The secret pending for [`CONFIRMED`], for the confirm code.
    confirm_secret: String,
}

/// Runs the mex2fa binary to prepare a template (not a command under test).
fn prepare(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_mex2fa"))
        .args(args)
        .arg("--db")
        .arg(dir.join("app.db"))
        .arg("--master-key-file")
        .arg(dir.join("master.key"))
        .arg("--quiet")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run mex2fa");
    assert!(
        out.status.success(),
        "preparing a template: mex2fa {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn template(op: Op, journal: Journal) -> Template {
    let dir = scratch();
    let db = dir.path().join("app.db");
    write_private(
        &dir.path().join("master.key"),
        format!("{KEY}\n").as_bytes(),
    );
    write_private(&dir.path().join("new.key"), format!("{KEY2}\n").as_bytes());
    let key = MasterKey::parse(KEY).expect("KEY");
    {
        let mut conn = open_plain_create(&db);
        if journal == Journal::Wal {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .expect("WAL");
            assert_eq!(mode, "wal");
        }
        // The app's reference table, plus the profile; the UPDATE path's
        // table differs by a CHECK constraint, which an in-place write would
        // not re-evaluate.
        let check = if op == Op::RotateUpdate {
            ",\n CHECK (twofa_enabled IN (0, 1))"
        } else {
            ""
        };
        conn.execute_batch(&format!(
            "CREATE TABLE account (
                 accountid INTEGER PRIMARY KEY AUTOINCREMENT,
                 username TEXT UNIQUE NOT NULL,
                 email TEXT,
                 password TEXT,
                 profile BLOB,
                 twofa_enabled INTEGER DEFAULT 0,
                 twofa_secret BLOB{check}
             );"
        ))
        .expect("schema");
        let tx = conn.transaction().expect("begin");
        for i in 0..op.accounts() {
            let on = i % 16 != 0;
            let token = on.then(|| {
                key.encrypt(Secret::generate().as_str().as_bytes())
                    .into_bytes()
            });
            tx.execute(
                "INSERT INTO account (username, email, password, profile, twofa_enabled, twofa_secret)
                 VALUES (?1, ?2, 'pw', randomblob(?3), ?4, ?5)",
                params![
                    format!("u{i:05}"),
                    format!("u{i:05}@example.com"),
                    PROFILE as i64,
                    i64::from(on),
                    token
                ],
            )
            .expect("insert");
        }
        tx.commit().expect("commit");
    }
    for user in PENDING {
        prepare(dir.path(), &["enroll", user, "--json"]);
    }
    let conn = open_plain(&db).expect("open template");
    if op == Op::DoctorFix {
        for user in EXPIRED {
            let n = conn
                .execute(
                    "UPDATE mex2fa_pending SET expires_at = 1 WHERE account_id =
                     (SELECT accountid FROM account WHERE username = ?1)",
                    [user],
                )
                .expect("expire");
            assert_eq!(n, 1);
        }
    }
    let token: String = conn
        .query_row(
            "SELECT secret_token FROM mex2fa_pending WHERE account_id =
             (SELECT accountid FROM account WHERE username = ?1)",
            [CONFIRMED],
            |r| r.get(0),
        )
        .expect("pending token");
    let plain = key.decrypt(&token).expect("pending token decrypts");
    let confirm_secret = Secret::from_plaintext(&plain)
        .expect("a secret")
        .as_str()
        .to_string();
    drop(conn);
    let mut files = vec![
        ("master.key", format!("{KEY}\n").into_bytes()),
        ("new.key", format!("{KEY2}\n").into_bytes()),
    ];
    if op == Op::Restore {
        let backup = dir.path().join("backup.jsonl");
        let backup = backup.to_str().expect("UTF-8 path");
        prepare(
            dir.path(),
            &[
                "rotate-key",
                "--new-key-file",
                "new.key",
                "--backup",
                backup,
                "--yes",
            ],
        );
        files.push((
            "backup.jsonl",
            std::fs::read(dir.path().join("backup.jsonl")).expect("backup"),
        ));
    }
    files.push(("app.db", settled(&db)));
    Template {
        files,
        confirm_secret,
    }
}

fn open_plain_create(path: &Path) -> Connection {
    Connection::open_with_flags_and_vfs(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        c"unix",
    )
    .expect("create the template")
}

// ---------------------------------------------------------------------------
// The command under test

/// A finished run: its directory (the after-state) and what it wrote.
struct Ran {
    dir: TempDir,
    log: Log,
}

fn run(op: Op, t: &Template) -> Ran {
    for _ in 0..3 {
        let dir = scratch();
        let root = std::fs::canonicalize(dir.path()).expect("canonical run directory");
        for (name, bytes) in &t.files {
            write_private(&root.join(name), bytes);
        }
        let code = (op == Op::Confirm).then(|| {
            // Not in the last seconds of a step: the code must still be
            // current when mex2fa checks it.
            while mex2fa::clock::now() % 30 >= 27 {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Secret::parse(&t.confirm_secret)
                .expect("secret")
                .code_at(mex2fa::clock::now())
        });
        let args = op.args(&root, code.as_deref());
        let watch = Watch::start(&root);
        let exit = mex2fa::run_args(args.clone());
        let log = watch.finish();
        if exit == 1 && op == Op::Confirm {
            continue; // the step ended after all: again, with a new code
        }
        assert_eq!(exit, 0, "mex2fa {args:?} exited {exit}");
        return Ran { dir, log };
    }
    panic!("confirm: no code was accepted in 3 tries");
}

/// Whether the database file was written before the journal's last sync:
/// dirty pages spilled before the commit.
fn spilled(log: &Log) -> bool {
    let (Some(db), Some(journal)) = (log.index("app.db"), log.index("app.db-journal")) else {
        return false;
    };
    let last_sync = log
        .events
        .iter()
        .rposition(|e| matches!(e, Event::Sync { file } if *file == journal));
    let first_write = log
        .events
        .iter()
        .position(|e| matches!(e, Event::Write { file, .. } if *file == db));
    matches!((first_write, last_sync), (Some(w), Some(s)) if w < s)
}

// ---------------------------------------------------------------------------
// The simulated disk

#[derive(Clone, Copy)]
enum Pending<'l> {
    Write { at: u64, data: &'l [u8] },
    Truncate(u64),
}

/// One file as the disk holds it at a moment of the record.
struct FileState<'l> {
    /// What a crash cannot take away.
    durable: Vec<u8>,
    /// Since the last sync (with [`Disk::ReverseOrder`]: since the open),
    /// with the index of the event.
    pending: Vec<(usize, Pending<'l>)>,
    /// Created by the command and not synced since.
    fresh: bool,
}

fn apply(content: &mut Vec<u8>, op: &Pending<'_>) {
    match *op {
        Pending::Write { at, data } => {
            let at = at as usize;
            if content.len() < at + data.len() {
                content.resize(at + data.len(), 0);
            }
            content[at..at + data.len()].copy_from_slice(data);
        }
        Pending::Truncate(size) => content.resize(size as usize, 0),
    }
}

/// The record replayed up to a point: every file's durable and pending state.
struct Replay<'l> {
    log: &'l Log,
    disk: Disk,
    files: Vec<Option<FileState<'l>>>,
    /// Events replayed so far.
    at: usize,
}

impl<'l> Replay<'l> {
    fn new(log: &'l Log, disk: Disk) -> Replay<'l> {
        Replay {
            log,
            disk,
            files: (0..log.files.len()).map(|_| None).collect(),
            at: 0,
        }
    }

    /// Replays the events before `point`.
    fn advance(&mut self, point: usize) {
        while self.at < point {
            let i = self.at;
            self.at += 1;
            let event = &self.log.events[i];
            let slot = &mut self.files[event.file()];
            match event {
                Event::Open { content, .. } => {
                    if slot.is_none() {
                        *slot = Some(FileState {
                            durable: content.clone().unwrap_or_default(),
                            pending: Vec::new(),
                            fresh: content.is_none(),
                        });
                    }
                }
                Event::Write { at, data, .. } => {
                    if let Some(f) = slot {
                        f.pending.push((i, Pending::Write { at: *at, data }));
                    }
                }
                Event::Truncate { size, .. } => {
                    if let Some(f) = slot {
                        f.pending.push((i, Pending::Truncate(*size)));
                    }
                }
                Event::Sync { .. } => {
                    if let Some(f) = slot
                        && self.disk != Disk::ReverseOrder
                    {
                        for (_, op) in f.pending.drain(..) {
                            apply(&mut f.durable, &op);
                        }
                        f.fresh = false;
                    }
                }
                Event::Delete { .. } => *slot = None,
            }
        }
    }

    /// Writes what the disk holds after a power loss now into `dir`, the
    /// fate of each pending change drawn from `fate`.
    fn crash_into(&self, dir: &Path, fate: &mut Rng) {
        // A disk that writes newest first: everything from event `cut` on survives.
        let cut =
            (self.disk == Disk::ReverseOrder).then(|| fate.below(self.at as u64 + 1) as usize);
        for (index, state) in self.files.iter().enumerate() {
            let Some(state) = state else { continue };
            let name = &self.log.files[index];
            if name.ends_with("-shm") {
                continue; // shared memory: rebuilt from the WAL
            }
            if self.disk == Disk::LostJournal
                && (name.ends_with("-journal") || name.ends_with("-wal"))
            {
                continue;
            }
            if self.disk == Disk::Honest && state.fresh && fate.below(4) == 0 {
                continue; // its directory entry never reached the disk
            }
            let file = File::create(dir.join(name)).expect("create a crashed file");
            file.write_all_at(&state.durable, 0)
                .expect("write a crashed file");
            let len = state.durable.len() as u64;
            file.set_len(len).expect("size a crashed file");
            for (event, op) in &state.pending {
                if let Some(cut) = cut {
                    if *event >= cut {
                        put(&file, op, None);
                    }
                    continue;
                }
                match fate.below(3) {
                    0 => put(&file, op, None),
                    1 => {}
                    _ => put(&file, op, Some(&mut *fate)),
                }
            }
        }
    }
}

/// Applies a pending change to a crashed file: whole, or (given `torn`)
/// each sector of a write kept or lost at random.
fn put(file: &File, op: &Pending<'_>, torn: Option<&mut Rng>) {
    match (*op, torn) {
        (Pending::Truncate(size), _) => file.set_len(size).expect("truncate"),
        (Pending::Write { at, data }, None) => file.write_all_at(data, at).expect("write"),
        (Pending::Write { at, data }, Some(fate)) => {
            let end = at + data.len() as u64;
            let mut from = at;
            while from < end {
                let to = ((from / SECTOR + 1) * SECTOR).min(end);
                if fate.below(2) == 0 {
                    let bytes = &data[(from - at) as usize..(to - at) as usize];
                    file.write_all_at(bytes, from).expect("write a sector");
                }
                from = to;
            }
        }
    }
}

/// Crash points (a point is the number of events done before the power
/// went): just before and just after every sync, the end, and random points
/// until there are `budget`, in order.
fn crash_points(log: &Log, budget: usize, rng: &mut Rng) -> Vec<usize> {
    let n = log.events.len();
    let mut points = vec![1, n];
    for (i, e) in log.events.iter().enumerate() {
        if matches!(e, Event::Sync { .. }) {
            points.extend([i, i + 1]);
        }
    }
    while points.len() < budget {
        // From 1: before the first event no file is open yet.
        points.push(1 + rng.below(n as u64) as usize);
    }
    points.sort_unstable();
    points
}

/// Where a crash point lies, for messages.
fn describe(log: &Log, point: usize) -> String {
    let n = log.events.len();
    let event = |i: usize| {
        let e = &log.events[i];
        let name = &log.files[e.file()];
        match e {
            Event::Open { .. } => format!("open of {name}"),
            Event::Write { at, data, .. } => {
                format!("write of {} bytes at {at} to {name}", data.len())
            }
            Event::Truncate { size, .. } => format!("truncation of {name} to {size}"),
            Event::Sync { file } => {
                let nth = log.events[..=i]
                    .iter()
                    .filter(|e| matches!(e, Event::Sync { file: f } if f == file))
                    .count();
                format!("sync {nth} of {name}")
            }
            Event::Delete { .. } => format!("deletion of {name}"),
        }
    };
    if point >= n {
        format!("after the last of {n} events ({})", event(n - 1))
    } else {
        format!(
            "after event {point} of {n} ({}), before the {}",
            event(point - 1),
            event(point)
        )
    }
}

// ---------------------------------------------------------------------------
// The checks

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Before,
    After,
}

/// Tokens counted by the key that opens them: [KEY, KEY2, neither].
type KeyCounts = [u64; 3];

/// What a crashed database is compared with.
struct Expect {
    _dir: TempDir,
    before: PathBuf,
    after: PathBuf,
    before_keys: KeyCounts,
    after_keys: KeyCounts,
    keys: [MasterKey; 2],
    /// Which key opens a token, by its bytes: decrypted once each.
    opened: HashMap<Vec<u8>, usize>,
}

impl Expect {
    fn new(before: &[u8], after: &[u8]) -> Expect {
        let dir = scratch();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            let mut bytes = bytes.to_vec();
            // Read as a rollback-journal database: the references are only
            // read, with ?immutable=1, and never need a WAL.
            bytes[18] = 1;
            bytes[19] = 1;
            std::fs::write(&path, bytes).expect("write a reference");
            path
        };
        let mut e = Expect {
            before: write("before.db", before),
            after: write("after.db", after),
            _dir: dir,
            before_keys: [0; 3],
            after_keys: [0; 3],
            keys: [
                MasterKey::parse(KEY).expect("KEY"),
                MasterKey::parse(KEY2).expect("KEY2"),
            ],
            opened: HashMap::new(),
        };
        let count = |e: &mut Expect, path: &Path| {
            let conn = open_plain(path).expect("open a reference");
            e.key_counts(&conn).expect("tokens of a reference")
        };
        let (before, after) = (e.before.clone(), e.after.clone());
        e.before_keys = count(&mut e, &before);
        e.after_keys = count(&mut e, &after);
        assert_eq!(
            e.before_keys[2] + e.after_keys[2],
            0,
            "a token before or after the command decrypts under neither key"
        );
        e
    }

    fn key_counts(&mut self, conn: &Connection) -> Result<KeyCounts, String> {
        let err = |e: rusqlite::Error| format!("reading the tokens: {e}");
        let mut stmt = conn
            .prepare(
                "SELECT twofa_secret FROM account WHERE twofa_secret IS NOT NULL
                 UNION ALL SELECT secret_token FROM mex2fa_pending",
            )
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut counts = [0; 3];
        while let Some(r) = rows.next().map_err(err)? {
            let bytes = match r.get_ref(0).map_err(err)? {
                ValueRef::Text(b) | ValueRef::Blob(b) => b,
                _ => {
                    counts[2] += 1;
                    continue;
                }
            };
            let key = match self.opened.get(bytes) {
                Some(&k) => k,
                None => {
                    let k = std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|t| self.keys.iter().position(|k| k.decrypt(t).is_some()))
                        .unwrap_or(2);
                    self.opened.insert(bytes.to_vec(), k);
                    k
                }
            };
            counts[key] += 1;
        }
        Ok(counts)
    }

    /// Opens a crashed database as the app would and says which state it is in.
    fn check(&mut self, db: &Path) -> Result<Side, String> {
        let conn = open_plain(db).map_err(|e| format!("open: {e}"))?;
        let verdict: Vec<String> = conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| format!("integrity_check: {e}"))?;
        if verdict != ["ok"] {
            return Err(format!("integrity_check: {}", verdict.join("; ")));
        }
        let keys = self.key_counts(&conn)?;
        for (alias, path) in [("before", &self.before), ("after", &self.after)] {
            conn.execute(&format!("ATTACH ?1 AS {alias}"), [immutable_uri(path)])
                .map_err(|e| format!("attach {alias}: {e}"))?;
        }
        let token_counts = format!(
            "{} tokens under the old key, {} under the new, {} under neither (before: {:?}, after: {:?})",
            keys[0], keys[1], keys[2], self.before_keys, self.after_keys
        );
        if keys[2] > 0 {
            return Err(format!(
                "tokens that decrypt under neither key: {token_counts}"
            ));
        }
        let before = differences(&conn, "before")?;
        if before.is_empty() && keys == self.before_keys {
            return Ok(Side::Before);
        }
        let after = differences(&conn, "after")?;
        if after.is_empty() && keys == self.after_keys {
            return Ok(Side::After);
        }
        let mixed = if keys != self.before_keys && keys != self.after_keys {
            "tokens mixed: "
        } else {
            ""
        };
        Err(format!(
            "neither the state before the command nor the state after it: {mixed}{token_counts}; \
             rows unlike before: {before:?}; rows unlike after: {after:?}"
        ))
    }
}

fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_str().expect("UTF-8 path").chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// How the main database differs from the attached `alias`: the schema,
/// then per table the rows that are missing, extra or changed. Empty: the same.
fn differences(conn: &Connection, alias: &str) -> Result<Vec<(String, i64)>, String> {
    let err = |e: rusqlite::Error| format!("comparing with {alias}: {e}");
    let schema: i64 = conn
        .query_row(
            &format!(
                "SELECT (SELECT count(*) FROM (
                     SELECT type, name, tbl_name, sql FROM main.sqlite_schema
                     EXCEPT SELECT type, name, tbl_name, sql FROM {alias}.sqlite_schema))
                 + (SELECT count(*) FROM (
                     SELECT type, name, tbl_name, sql FROM {alias}.sqlite_schema
                     EXCEPT SELECT type, name, tbl_name, sql FROM main.sqlite_schema))"
            ),
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    if schema > 0 {
        return Ok(vec![("schema".into(), schema)]);
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(err)?;
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1, 'main')")
            .and_then(|mut s| s.query_map([&table], |r| r.get(0))?.collect())
            .map_err(err)?;
        let changed: Vec<String> = columns
            .iter()
            .map(|c| format!("m.{c} IS NOT o.{c}", c = quoted(c)))
            .collect();
        let t = quoted(&table);
        // Rows are matched by rowid: a rolled-back page brings back the very rows.
        let (count, unlike): (i64, i64) = conn
            .query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM main.{t}) - (SELECT count(*) FROM {alias}.{t}),
                            (SELECT count(*) FROM main.{t} m LEFT JOIN {alias}.{t} o
                             ON o.rowid = m.rowid WHERE o.rowid IS NULL OR {})",
                    changed.join(" OR ")
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err)?;
        if count != 0 || unlike != 0 {
            out.push((table, unlike + count.abs()));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// A case

struct Report {
    crashes: usize,
    before: usize,
    after: usize,
    failures: Vec<String>,
}

/// Runs `op` on a `journal` database, then simulates `budget` power losses
/// on a `disk`; every check that fails is a failure of the report.
fn simulate(op: Op, journal: Journal, disk: Disk, budget: usize, test: &str) -> Report {
    let started = Instant::now();
    vfs::install().unwrap_or_else(|e| panic!("{e}"));
    let base = base_seed();
    let case = format!("{op:?} {journal:?} {disk:?}");
    let mut rng = Rng::new(case_seed(base, &case));
    let replay_hint = format!("MEX2FA_POWERLOSS_SEED={base} cargo test --test powerloss {test}");

    let t = template(op, journal);
    let ran = run(op, &t);
    let log = &ran.log;
    let db = log.index("app.db");
    let written = |name: &str| {
        log.index(name).is_some_and(|f| {
            log.events
                .iter()
                .any(|e| matches!(e, Event::Write { file, .. } if *file == f))
        })
    };
    // Nothing recorded: another VFS sits beneath
    // the recording VFS instead of above it.
    assert!(
        db.is_some() && (written("app.db") || written("app.db-wal")),
        "{case}: the recording VFS saw no write to the database: it is not beneath mex2fa's connections"
    );
    match journal {
        Journal::Rollback => assert!(
            written("app.db-journal"),
            "{case}: no rollback journal was written"
        ),
        Journal::Wal => assert!(written("app.db-wal"), "{case}: no WAL was written"),
    }
    if journal == Journal::Rollback && op.spills() {
        assert!(
            spilled(log),
            "{case}: the database was not written before the journal's last sync: \
             the page cache did not spill before the commit; use more accounts"
        );
    }

    let before = &t
        .files
        .iter()
        .find(|(n, _)| *n == "app.db")
        .expect("template db")
        .1;
    let after = settled(&ran.dir.path().join("app.db"));
    let mut expect = Expect::new(before, &after);
    assert!(
        !differences_of(&expect).is_empty(),
        "{case}: the command changed nothing; the test would prove nothing"
    );

    let points = crash_points(log, budget, &mut rng);
    let crashes_dir = scratch();
    let mut replay = Replay::new(log, disk);
    let mut report = Report {
        crashes: 0,
        before: 0,
        after: 0,
        failures: Vec::new(),
    };
    for (i, &point) in points.iter().enumerate() {
        replay.advance(point);
        let dir = crashes_dir.path().join(i.to_string());
        std::fs::create_dir(&dir).expect("crash directory");
        let mut fate = Rng::new(rng.next());
        replay.crash_into(&dir, &mut fate);
        let outcome = expect.check(&dir.join("app.db"));
        report.crashes += 1;
        let at_end = point == log.events.len();
        match outcome {
            Ok(Side::Before) if !at_end => report.before += 1,
            Ok(Side::After) => report.after += 1,
            Ok(Side::Before) => report.failures.push(format!(
                "{case}: crash {i} {}: the before-state, though the command had finished",
                describe(log, point)
            )),
            Err(e) => report.failures.push(format!(
                "{case}: crash {i} of {} {}: {e}",
                points.len(),
                describe(log, point)
            )),
        }
        std::fs::remove_dir_all(&dir).expect("remove a crash directory");
    }
    let syncs = log
        .events
        .iter()
        .filter(|e| matches!(e, Event::Sync { .. }))
        .count();
    eprintln!(
        "powerloss {case}: {} crashes ({} before-state, {} after-state, {} failed) over {} events \
         ({syncs} syncs) in {:.1?}; seed {base} (replay: {replay_hint})",
        report.crashes,
        report.before,
        report.after,
        report.failures.len(),
        log.events.len(),
        started.elapsed(),
    );
    if let Some(first) = report.failures.first() {
        eprintln!("first failure: {first}\nreplay: {replay_hint}");
    }
    report
}

/// Whether the reference states differ at all (through the same comparison).
fn differences_of(e: &Expect) -> Vec<(String, i64)> {
    let conn = open_plain(&e.before).expect("open before");
    conn.execute("ATTACH ?1 AS after", [immutable_uri(&e.after)])
        .expect("attach after");
    differences(&conn, "after").expect("compare the references")
}

/// One command on one kind of database, on an honest disk: every crash
/// must leave the before- or the after-state.
fn case(op: Op, journal: Journal, test: &str) {
    let r = simulate(op, journal, Disk::Honest, op.crashes(), test);
    assert!(
        r.failures.is_empty(),
        "{} of {} simulated power losses broke the database; the first: {}",
        r.failures.len(),
        r.crashes,
        r.failures[0]
    );
    assert!(
        r.before > 0 && r.after > 0,
        "{op:?} {journal:?}: the crashes found only one state ({} before, {} after)",
        r.before,
        r.after
    );
}

/// A broken disk must be caught: otherwise the checks prove nothing.
fn caught(disk: Disk, test: &str) {
    let op = Op::DisableAll;
    let r = simulate(op, Journal::Rollback, disk, op.crashes(), test);
    assert!(
        !r.failures.is_empty(),
        "{disk:?}: {} simulated power losses on a disk that breaks SQLite's assumptions \
         all passed ({} before-state, {} after-state): the checks cannot fail",
        r.crashes,
        r.before,
        r.after
    );
}

macro_rules! cases {
    ($($name:ident: $op:ident $journal:ident;)*) => {
        $(
            #[test]
            fn $name() {
                case(Op::$op, Journal::$journal, stringify!($name));
            }
        )*
    };
}

cases! {
    rotate_key_in_place_rollback: RotateInPlace Rollback;
    rotate_key_in_place_wal: RotateInPlace Wal;
    rotate_key_update_rollback: RotateUpdate Rollback;
    rotate_key_update_wal: RotateUpdate Wal;
    restore_rollback: Restore Rollback;
    restore_wal: Restore Wal;
    disable_all_rollback: DisableAll Rollback;
    disable_all_wal: DisableAll Wal;
    doctor_fix_rollback: DoctorFix Rollback;
    doctor_fix_wal: DoctorFix Wal;
    enroll_rollback: Enroll Rollback;
    enroll_wal: Enroll Wal;
    confirm_rollback: Confirm Rollback;
    confirm_wal: Confirm Wal;
}

#[test]
fn a_disk_that_ignores_syncs_is_caught() {
    caught(Disk::ReverseOrder, "a_disk_that_ignores_syncs_is_caught");
}

#[test]
fn a_lost_journal_is_caught() {
    caught(Disk::LostJournal, "a_lost_journal_is_caught");
}
