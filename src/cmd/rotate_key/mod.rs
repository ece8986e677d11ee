//! `rotate-key`: every stored token (enabled accounts and pending
//! enrollments) re-encrypted under a new master key, all or nothing.
//!
//! Everything happens inside one transaction (on a server, every row read is
//! locked until the commit), so a crash at any moment leaves the database
//! wholly under the old key or wholly under the new one. On all cores, each
//! token is decrypted and re-encrypted, and the new token checked to decode
//! to what was built, to hold the same secret and to open under the new key
//! with the timestamp it kept. Where the backend can write between two reads
//! (SQLite), that is one pass: this thread writes a page while the other
//! cores re-encrypt the next. Where a read must end before the connection
//! writes (a server streams it), pass 1 reads and re-encrypts everything and
//! spools the new tokens (see [`records`]); pass 2 reads the spool back on a
//! thread of its own, checking each token again, while this thread hands
//! them to the backend's bulk writer. Either way, one token that no key
//! opens stops the writes and rolls everything back, the backup is on disk
//! before the commit, and last, before the commit, what the database holds
//! is proven to be under the new key. Memory stays bounded however many
//! accounts there are.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

mod records;

use records::{Record, Records, Replay};

use super::{Run, keycheck, reason, stream, stream_here};
use crate::cli::RotateKey;
use crate::config::{Config, read_key_file};
use crate::crypto::{MasterKey, Reencrypted, Rotated, decrypting_key, reencrypt};
use crate::db::{AccountId, AuditEntry, Place, TokenRow, Tx, Written};
use crate::error::{Error, Result};
use crate::{backup, note, ui};

/// Rows per page: large enough to keep both cores busy, small enough for constant memory.
pub const PAGE: usize = 2048;
/// Checked pages waiting for the writer.
const AHEAD: usize = 4;
/// Spooled tokens kept in memory (~130k accounts); beyond, a temporary
/// file. With the page cache, peak memory stays under 64 MB at any size.
pub(crate) const SPOOL_MEMORY: usize = 24 << 20;
/// Undecryptable accounts named in the error before "and N more".
const SHOWN: usize = 20;

/// How a token stands before rotation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Old,
    New,
    /// An empty string or blob: nothing to rotate (doctor reports it).
    Empty,
    Undecryptable,
}

#[derive(Default)]
struct Tally {
    accounts: u64,
    pending: u64,
    already_new: u64,
    empty: u64,
    failed: u64,
    /// The first undecryptable rows: place, id, username (empty until looked up).
    named: Vec<(Place, AccountId, String)>,
}

impl Tally {
    fn to_rotate(&self) -> u64 {
        self.accounts + self.pending
    }

    fn add(&mut self, row: &TokenRow, class: Class) {
        match class {
            Class::Old if row.place == Place::Account => self.accounts += 1,
            Class::Old => self.pending += 1,
            Class::New => self.already_new += 1,
            Class::Empty => self.empty += 1,
            Class::Undecryptable => {
                self.failed += 1;
                if self.named.len() < SHOWN {
                    self.named
                        .push((row.place, row.id.clone(), row.user.clone()));
                }
            }
        }
    }

    /// Fills in the usernames a lean read left out.
    fn name_failures(&mut self, tx: &mut dyn Tx) -> Result<()> {
        for (place, id, user) in &mut self.named {
            if user.is_empty() {
                *user = tx.user_of(*place, id)?;
            }
        }
        Ok(())
    }

    /// Fails, naming the first undecryptable tokens, if there was one.
    fn stop_if_failed(&mut self, tx: &mut dyn Tx) -> Result<()> {
        if self.failed > 0 {
            self.name_failures(tx)?;
        }
        self.failure().map_or(Ok(()), Err)
    }

    fn failure(&self) -> Option<Error> {
        (self.failed > 0).then(|| {
            let more = self.failed - self.named.len() as u64;
            let named: Vec<String> = self
                .named
                .iter()
                .map(|(place, id, user)| describe(*place, id, user))
                .collect();
            Error::key(format!(
                "{} decrypt{} under none of the old keys: {}{}; nothing was changed: pass the key they were written with as --old-key-file, or see mex2fa doctor",
                ui::count(self.failed, "stored token"),
                if self.failed == 1 { "s" } else { "" },
                named.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ))
        })
    }
}

fn describe(place: Place, id: &AccountId, user: &str) -> String {
    let pending = if place == Place::Pending {
        ", pending"
    } else {
        ""
    };
    format!("'{}' (id {id}{pending})", ui::escape(user))
}

/// Where a token stands: decrypting it is all a dry run (and the count in
/// the question before a rotation) needs.
fn classify(row: &TokenRow, new: &MasterKey, old: &[MasterKey]) -> Class {
    if row.value.is_blank() {
        return Class::Empty;
    }
    match row.value.token() {
        None => Class::Undecryptable,
        Some(t) if decrypting_key(t, old).is_some() => Class::Old,
        Some(t) if new.decrypt(t).is_some() => Class::New,
        Some(_) => Class::Undecryptable,
    }
}

/// Pass 1's verdict on a token: where it stands and, for an old one, the
/// token it becomes.
fn rotate(row: &TokenRow, new: &MasterKey, old: &[MasterKey]) -> (Class, Option<Rotated>) {
    if row.value.is_blank() {
        return (Class::Empty, None);
    }
    match row.value.token().map(|t| reencrypt(t, new, old)) {
        Some(Reencrypted::Rotated(r)) => (Class::Old, Some(r)),
        Some(Reencrypted::AlreadyNew) => (Class::New, None),
        // Also a new token that failed its checks: nothing is written.
        Some(Reencrypted::Undecryptable) | None => (Class::Undecryptable, None),
    }
}

/// Pass 2's reading side: spooled records, each new token checked to
/// decrypt under the new key with the timestamp it kept, a page at a time,
/// until the spool ends, a check fails, or the writer hangs up.
fn check_spool(mut replay: Replay, out: SyncSender<Result<Vec<Record>>>, new: &MasterKey) {
    loop {
        let page = replay.page(PAGE).and_then(|p| {
            match p.iter().find(|r| !new.opens_at(&r.token, r.timestamp)) {
                Some(r) => Err(unopenable(r.place, &r.id)),
                None => Ok(p),
            }
        });
        let end = page.as_ref().map_or(true, Vec::is_empty);
        if out.send(page).is_err() || end {
            return;
        }
    }
}

/// Pass 2's writer side: checked records in spool order.
struct Feed {
    input: Option<Receiver<Result<Vec<Record>>>>,
    page: std::vec::IntoIter<Record>,
    failure: Option<Error>,
    bar: indicatif::ProgressBar,
    popped: u64,
}

impl Feed {
    fn new(input: Receiver<Result<Vec<Record>>>, bar: indicatif::ProgressBar) -> Feed {
        Feed {
            input: Some(input),
            page: Vec::new().into_iter(),
            failure: None,
            bar,
            popped: 0,
        }
    }

    /// The next record, waiting for the reader if it is behind; `None` at
    /// the end or once it failed.
    fn pop(&mut self) -> Option<Record> {
        let mut next = self.page.next();
        while next.is_none() && self.failure.is_none() {
            match self.input.as_ref()?.recv() {
                Ok(Ok(page)) => {
                    self.page = page.into_iter();
                    next = self.page.next();
                }
                Ok(Err(e)) => self.failure = Some(e),
                Err(_) => self.input = None,
            }
        }
        if next.is_some() {
            // The bar reads the clock on every call: a call per page, not per token.
            self.popped += 1;
            if self.popped.is_multiple_of(1024) {
                self.bar.inc(1024);
            }
        }
        next
    }

    /// Lets the reader stop (its next send fails) and keeps what went wrong.
    fn close(&mut self) -> Option<Error> {
        self.input = None;
        self.bar.inc(self.popped % 1024);
        self.failure.take()
    }
}

/// Writes every record of `feed`; what was written.
fn write_all(tx: &mut dyn Tx, feed: &mut Feed) -> Result<Written> {
    let mut writer = tx.token_writer()?;
    while let Some(r) = feed.pop() {
        writer.put(r.place, &r.id, r.slot, &r.token)?;
    }
    writer.finish()
}

/// The error for a new token that does not open under the new key: a fault
/// of the crypto stack or of the spool, never written.
fn unopenable(place: Place, id: &AccountId) -> Error {
    Error::key(format!(
        "the new {} token of id {id} does not decrypt under the new key; nothing was changed",
        place.name()
    ))
}

/// A rotation under way: the keys, what was seen so far, the backup being
/// written and the progress bars' settings. [`one_pass`](Rotation::one_pass)
/// where the backend allows it, else [`two_passes`](Rotation::two_passes).
struct Rotation<'a> {
    new: &'a MasterKey,
    old: &'a [MasterKey],
    tally: Tally,
    backup: &'a mut Option<backup::Writer>,
    shown: bool,
    total: u64,
}

impl Rotation<'_> {
    /// A token read: counted and, when it changes, backed up (tokens
    /// already under the new key stay as they are, and a restore need not
    /// open them).
    fn seen(&mut self, row: &TokenRow, class: Class, rotated: Option<&Rotated>) -> Result<()> {
        self.tally.add(row, class);
        match (rotated, self.backup.as_mut()) {
            (Some(r), Some(b)) => b.add(row, &r.token),
            _ => Ok(()),
        }
    }

    /// Every token read: fails, naming them, if one did not decrypt; else
    /// the backup goes to disk (before the first write in two passes,
    /// before the commit in one).
    fn all_read(&mut self, tx: &mut dyn Tx) -> Result<()> {
        self.tally.stop_if_failed(tx)?;
        match self.backup.as_mut() {
            Some(b) => b.sync(),
            None => Ok(()),
        }
    }

    /// In one pass, where the backend can write between two reads (see
    /// [`Tx::rewrite`]): while the other cores re-encrypt a page, this
    /// thread writes the page before. A token that no key opens stops the
    /// writes (the transaction is then rolled back) but not the reads, so
    /// that every such token is counted and the first ones named. `None`
    /// (nothing read) where the backend cannot.
    fn one_pass(&mut self, tx: &mut dyn Tx) -> Result<Option<Written>> {
        let (new, old) = (self.new, self.old);
        let mut written = Written {
            rows: 0,
            read_back: Vec::new(),
        };
        let bar = progress(self.shown, self.total, "rotating");
        for place in [Place::Account, Place::Pending] {
            let Some((pages, mut writer)) = tx.rewrite(place, PAGE)? else {
                if place == Place::Account {
                    return Ok(None);
                }
                return Err(Error::db(
                    "the database could rewrite accounts in one pass but not pending enrollments; nothing was changed",
                ));
            };
            stream_here(
                pages,
                |row| {
                    let (class, rotated) = rotate(row, new, old);
                    let opens = rotated
                        .as_ref()
                        .is_none_or(|r| new.opens_at(&r.token, r.timestamp));
                    (class, rotated, opens)
                },
                |rows, verdicts| {
                    for (row, (class, rotated, opens)) in rows.iter().zip(verdicts) {
                        if !opens {
                            return Err(unopenable(row.place, &row.id));
                        }
                        self.seen(row, class, rotated.as_ref())?;
                        if let Some(r) = rotated
                            && self.tally.failed == 0
                        {
                            writer.put(row.place, &row.id, row.slot, &r.token)?;
                        }
                    }
                    bar.inc(rows.len() as u64);
                    Ok(())
                },
            )?;
            let w = writer.finish()?;
            written.rows += w.rows;
            // This writer saw this place's writes only.
            written
                .read_back
                .extend(w.read_back.into_iter().filter(|p| *p == place));
        }
        bar.finish_and_clear();
        self.all_read(tx)?;
        Ok(Some(written))
    }

    /// In two passes, where a read must end before the connection writes.
    /// Pass 1 reads, decrypts and re-encrypts everything and spools the new
    /// tokens; nothing is written yet. Pass 2: a thread reads the spool back
    /// and checks each token, this one writes.
    fn two_passes(&mut self, tx: &mut dyn Tx) -> Result<Written> {
        let (new, old) = (self.new, self.old);
        let bar = progress(self.shown, self.total, "checking");
        let mut spool = Records::new();
        for place in [Place::Account, Place::Pending] {
            stream(
                tx.token_pages(place, PAGE)?,
                |row| rotate(row, new, old),
                |rows, verdicts| {
                    for (row, (class, rotated)) in rows.iter().zip(verdicts) {
                        self.seen(row, class, rotated.as_ref())?;
                        if let Some(r) = rotated {
                            spool.push(row, &r)?;
                        }
                    }
                    bar.inc(rows.len() as u64);
                    Ok(())
                },
            )?;
        }
        bar.finish_and_clear();
        self.all_read(tx)?;
        let replay = spool.replay()?;
        let (send, receive) = sync_channel(AHEAD);
        let mut feed = Feed::new(
            receive,
            progress(self.shown, self.tally.to_rotate(), "rotating"),
        );
        let written = std::thread::scope(|s| {
            s.spawn(|| check_spool(replay, send, new));
            let written = write_all(tx, &mut feed);
            // Also stops the reader when the writes failed.
            let failure = feed.close();
            match (written, failure) {
                (_, Some(e)) | (Err(e), None) => Err(e),
                (Ok(n), None) => Ok(n),
            }
        })?;
        feed.bar.finish_and_clear();
        Ok(written)
    }
}

/// Reads back, before the commit, every token now stored in `places` and
/// proves each decrypts under the new key: what counts is what the database
/// holds, not what was sent (a trigger, say, may have put another value
/// back). A place the backend read back write by write (see
/// [`Written::read_back`]) is not read again.
fn prove_stored(tx: &mut dyn Tx, new: &MasterKey, places: &[Place]) -> Result<()> {
    let mut wrong: Vec<(Place, AccountId)> = Vec::new();
    let mut count = 0u64;
    for &place in places {
        // A plain read: the rows are this transaction's already.
        stream(
            tx.pages(place, true, PAGE)?,
            |row| {
                row.value.is_blank() || row.value.token().is_some_and(|t| new.decrypt(t).is_some())
            },
            |rows, fine| {
                for (row, ok) in rows.iter().zip(fine) {
                    if !ok {
                        count += 1;
                        if wrong.len() < SHOWN {
                            wrong.push((row.place, row.id.clone()));
                        }
                    }
                }
                Ok(())
            },
        )?;
    }
    if count == 0 {
        return Ok(());
    }
    let mut named = Vec::new();
    for (place, id) in &wrong {
        let user = tx.user_of(*place, id)?;
        named.push(describe(*place, id, &user));
    }
    Err(Error::db(format!(
        "after writing, {} in the database {} not under the new key (a trigger or rule on the table changed what was written?): {}{}; nothing was changed",
        ui::count(count, "stored token"),
        if count == 1 { "is" } else { "are" },
        named.join(", "),
        if count > wrong.len() as u64 {
            format!(" and {} more", count - wrong.len() as u64)
        } else {
            String::new()
        }
    )))
}

/// Whether progress bars are drawn: on a terminal, unless --quiet or --json.
fn bar_shown(cfg: &Config) -> bool {
    !(cfg.quiet || cfg.json) && ui::stderr_is_tty()
}

fn progress(shown: bool, total: u64, what: &str) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

impl Run for RotateKey {
    fn run(&self, cfg: &Config) -> Result<()> {
        let new = read_key_file(&self.new_key_file, "--new-key-file")?;
        let mut old = vec![cfg.master_key()?];
        for path in &self.old_key_file {
            old.push(read_key_file(path, "--old-key-file")?);
        }
        // From here: the master key may have been typed at a prompt.
        let mut started = Instant::now();
        if self.old_key_file.is_empty() && new.same_as(&old[0]) {
            return Err(Error::usage(
                "the new key is the current master key; nothing would change: generate one with mex2fa keygen --out FILE",
            ));
        }
        // Tokens under a key that is also the new one are simply "already new".
        old.retain(|k| !k.same_as(&new));
        // A dry run changes nothing: it records no reason and needs none.
        let why = if self.dry_run {
            None
        } else {
            ui::require_confirmable(self.yes)?;
            reason(cfg, &self.reason)?
        };
        let mut db = if self.dry_run {
            cfg.open_read()?
        } else {
            cfg.open_write()?
        };
        keycheck::guard_rotation(db.as_mut(), &new, &old)?;

        if self.dry_run || !self.yes {
            let mut tally = Tally::default();
            for place in [Place::Account, Place::Pending] {
                stream(
                    db.pages(place, true, PAGE)?,
                    |row| classify(row, &new, &old),
                    |rows, classes| {
                        rows.iter()
                            .zip(classes)
                            .for_each(|(row, class)| tally.add(row, class));
                        Ok(())
                    },
                )?;
            }
            if let Some(e) = tally.failure() {
                return Err(e);
            }
            if self.dry_run {
                report(cfg, &tally, true, started, None);
                return Ok(());
            }
            let asked = Instant::now();
            ui::confirm(
                &format!(
                    "Re-encrypt {} under the new key ({} already under it)?",
                    ui::count(tally.to_rotate(), "secret"),
                    tally.already_new
                ),
                false,
            )?;
            // The seconds reported are the work's, not the operator's at the question.
            started += asked.elapsed();
        }

        let mut backup = match &self.backup {
            Some(path) => Some(backup::Writer::create(path, &cfg.schema)?),
            None => None,
        };
        let os_user = cfg.os_user();
        let result = db.write(|tx| {
            let shown = bar_shown(cfg);
            // Counting costs a scan of its own: only for a bar someone sees.
            let total = if shown {
                let (accounts, pending) = tx.count_tokens()?;
                accounts + pending
            } else {
                0
            };
            tx.bulk_rewrite()?;
            let mut rotation = Rotation {
                new: &new,
                old: &old,
                tally: Tally::default(),
                backup: &mut backup,
                shown,
                total,
            };
            let written = match rotation.one_pass(tx)? {
                Some(written) => written,
                None => rotation.two_passes(tx)?,
            };
            let tally = rotation.tally;
            if written.rows != tally.to_rotate() {
                return Err(Error::state(format!(
                    "{} of {} tokens were rewritten; nothing was changed, run it again",
                    written.rows,
                    tally.to_rotate()
                )));
            }
            tx.audit(AuditEntry {
                os_user: &os_user,
                action: "rotate-key",
                account: None,
                detail: format!(
                    "rotated {} ({} accounts, {} pending); {} already under the new key{}",
                    tally.to_rotate(),
                    tally.accounts,
                    tally.pending,
                    tally.already_new,
                    self.backup
                        .as_ref()
                        .map(|p| format!("; backup {}", p.display()))
                        .unwrap_or_default()
                ),
                reason: why.as_deref(),
            })?;
            keycheck::write(tx, &new)?;
            // Last before the commit, after every write of this transaction.
            let unproven: Vec<Place> = [Place::Account, Place::Pending]
                .into_iter()
                .filter(|p| !written.read_back.contains(p))
                .collect();
            prove_stored(tx, &new, &unproven)?;
            Ok(tally)
        });
        match result {
            Ok(tally) => {
                if let Some(b) = backup {
                    b.finish()?;
                }
                report(cfg, &tally, false, started, self.backup.as_deref());
                if tally.to_rotate() > 0 {
                    note!(
                        cfg,
                        "next: set the app's TWOFA_MASTER_KEY to the key in {} and restart the app; until then it cannot read the rotated secrets",
                        self.new_key_file.display()
                    );
                }
                Ok(())
            }
            Err(e) => {
                if let Some(b) = backup {
                    b.discard();
                }
                Err(e)
            }
        }
    }
}

fn report(cfg: &Config, t: &Tally, dry_run: bool, started: Instant, backup: Option<&Path>) {
    let secs = started.elapsed().as_secs_f64();
    if cfg.json {
        ui::json(&serde_json::json!({
            "dry_run": dry_run,
            "rotated": if dry_run { 0 } else { t.to_rotate() },
            "to_rotate": t.to_rotate(),
            "accounts": t.accounts,
            "pending": t.pending,
            "already_new": t.already_new,
            "empty": t.empty,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "backup": backup.map(|p| p.display().to_string()),
        }));
        return;
    }
    let mut out = if dry_run {
        format!(
            "dry run: {} would be re-encrypted ({} accounts, {} pending), {} already under the new key; every token decrypts ({secs:.2} s)\n",
            ui::count(t.to_rotate(), "secret"),
            t.accounts,
            t.pending,
            t.already_new
        )
    } else if t.to_rotate() == 0 {
        format!(
            "nothing to rotate: {} already under the new key ({secs:.2} s)\n",
            ui::count(t.already_new, "token")
        )
    } else {
        format!(
            "rotated {} ({} accounts, {} pending) to the new key; {} already under it ({secs:.2} s)\n",
            ui::count(t.to_rotate(), "secret"),
            t.accounts,
            t.pending,
            t.already_new
        )
    };
    if t.empty > 0 {
        out.push_str(&format!(
            "{} an empty secret (not a token); see mex2fa doctor\n",
            if t.empty == 1 {
                "1 row holds".to_string()
            } else {
                format!("{} rows hold", t.empty)
            }
        ));
    }
    if let Some(p) = backup {
        out.push_str(&format!(
            "backup of the old tokens: {} (undo with: mex2fa restore --backup {} using the old key)\n",
            ui::path(p),
            ui::path(p)
        ));
    }
    ui::out(&out);
}
