//! `rotate-key`: every stored token (enabled accounts and pending
//! enrollments) re-encrypted under a new master key, all or nothing.
//!
//! Everything happens inside one `BEGIN IMMEDIATE` transaction, so a crash at
//! any moment leaves the database wholly under the old key or wholly under the
//! new one. Pass 1 only reads: it decrypts every token, re-encrypts it, proves
//! the new token decrypts, and spools the result to an unlinked temporary file
//! (and the old token to the backup). One token that no key opens stops
//! everything before the first write. Pass 2 replays the spool into SQLite.
//! Pages stream through in constant memory, crypto on all cores.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;
use std::time::Instant;

use super::{Run, stream};
use crate::cli::RotateKey;
use crate::config::{Config, read_key_file};
use crate::crypto::{MasterKey, Reencrypted, decrypting_key, reencrypt};
use crate::db::{AccountId, AuditEntry, Place, TokenRow};
use crate::error::{Error, Result};
use crate::{backup, note, ui};

/// Rows per page: large enough to keep both cores busy, small enough for constant memory.
pub const PAGE: usize = 2048;
/// SQLite page cache for the rotation: the default 2 MiB spills dirty pages
/// (and syncs the journal) ~50 times on 200k accounts, 32 MiB a handful of
/// times, and peak memory stays far under 64 MB even at a million accounts.
const CACHE_MIB: u32 = 32;
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
    named: Vec<String>,
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
                    self.named.push(describe(row));
                }
            }
        }
    }

    fn failure(&self) -> Option<Error> {
        (self.failed > 0).then(|| {
            let more = self.failed - self.named.len() as u64;
            Error::key(format!(
                "{} decrypt{} under none of the old keys: {}{}; nothing was changed: pass the key they were written with as --old-key-file, or see mex2fa doctor",
                ui::count(self.failed, "stored token"),
                if self.failed == 1 { "s" } else { "" },
                self.named.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ))
        })
    }
}

fn describe(row: &TokenRow) -> String {
    let pending = if row.place == Place::Pending {
        ", pending"
    } else {
        ""
    };
    format!("'{}' (id {}{pending})", ui::escape(&row.user), row.id)
}

/// Where a token stands, without producing a new one (dry run, confirmation).
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

/// Where a token stands, and its replacement when it needs one.
fn rotate(row: &TokenRow, new: &MasterKey, old: &[MasterKey]) -> (Class, Option<String>) {
    if row.value.is_blank() {
        return (Class::Empty, None);
    }
    match row.value.token().map(|t| reencrypt(t, new, old)) {
        Some(Reencrypted::Rotated(t)) => (Class::Old, Some(t)),
        Some(Reencrypted::AlreadyNew) => (Class::New, None),
        Some(Reencrypted::Undecryptable) | None => (Class::Undecryptable, None),
    }
}

/// New tokens between the two passes: an unlinked temporary file, so memory
/// stays flat however many accounts there are and nothing is left behind.
struct Spool {
    out: BufWriter<File>,
}

impl Spool {
    fn new() -> Result<Spool> {
        let dir = std::env::temp_dir();
        for n in 0..100u32 {
            let path = dir.join(format!("mex2fa-rotate-{}-{n}.spool", std::process::id()));
            match crate::files::create_private_rw(&path) {
                Ok(file) => {
                    let _ = std::fs::remove_file(&path);
                    return Ok(Spool {
                        out: BufWriter::with_capacity(1 << 16, file),
                    });
                }
                Err(Error::Usage(_)) if path.exists() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::usage(format!(
            "cannot create a temporary file in {}; set TMPDIR to a writable folder",
            dir.display()
        )))
    }

    fn io(e: std::io::Error) -> Error {
        Error::usage(format!(
            "cannot use the temporary file: {e}; nothing was changed"
        ))
    }

    /// One record: place, id (integer or text), token.
    fn push(&mut self, place: Place, id: &AccountId, token: &str) -> Result<()> {
        let mut rec = Vec::with_capacity(token.len() + 24);
        rec.push(u8::from(place == Place::Pending));
        match id {
            AccountId::Int(n) => {
                rec.push(0);
                rec.extend_from_slice(&n.to_le_bytes());
            }
            AccountId::Text(t) => {
                rec.push(1);
                rec.extend_from_slice(&(t.len() as u64).to_le_bytes());
                rec.extend_from_slice(t.as_bytes());
            }
        }
        rec.extend_from_slice(&(token.len() as u64).to_le_bytes());
        rec.extend_from_slice(token.as_bytes());
        self.out.write_all(&rec).map_err(Spool::io)
    }

    /// Rewinds for reading.
    fn replay(self) -> Result<Replay> {
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| Spool::io(e.into_error()))?;
        file.rewind().map_err(Spool::io)?;
        Ok(Replay {
            input: BufReader::with_capacity(1 << 16, file),
        })
    }
}

struct Replay {
    input: BufReader<File>,
}

impl Replay {
    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.input.read_exact(&mut b).map_err(Spool::io)?;
        Ok(u64::from_le_bytes(b))
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.u64()? as usize;
        let mut v = vec![0u8; n];
        self.input.read_exact(&mut v).map_err(Spool::io)?;
        Ok(v)
    }

    /// The next (place, id, token), or `None` at the end.
    fn next(&mut self) -> Result<Option<(Place, AccountId, String)>> {
        let mut head = [0u8; 2];
        match self.input.read_exact(&mut head[..1]) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            r => r.map_err(Spool::io)?,
        }
        self.input.read_exact(&mut head[1..]).map_err(Spool::io)?;
        let place = if head[0] == 1 {
            Place::Pending
        } else {
            Place::Account
        };
        let id = if head[1] == 0 {
            AccountId::Int(self.u64()? as i64)
        } else {
            AccountId::Text(
                String::from_utf8(self.bytes()?)
                    .map_err(|_| Spool::io(std::io::ErrorKind::InvalidData.into()))?,
            )
        };
        let token = String::from_utf8(self.bytes()?)
            .map_err(|_| Spool::io(std::io::ErrorKind::InvalidData.into()))?;
        Ok(Some((place, id, token)))
    }
}

fn progress(cfg: &Config, total: u64, what: &str) -> indicatif::ProgressBar {
    if cfg.quiet || cfg.json || !ui::stderr_is_tty() {
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
        let started = Instant::now();
        let new = read_key_file(&self.new_key_file, "--new-key-file")?;
        let mut old = vec![cfg.master_key()?];
        for path in &self.old_key_file {
            old.push(read_key_file(path, "--old-key-file")?);
        }
        if self.old_key_file.is_empty() && new.same_as(&old[0]) {
            return Err(Error::usage(
                "the new key is the current master key; nothing would change: generate one with mex2fa keygen --out FILE",
            ));
        }
        // Tokens under a key that is also the new one are simply "already new".
        old.retain(|k| !k.same_as(&new));
        if !self.dry_run {
            ui::require_confirmable(self.yes)?;
        }
        let mut db = if self.dry_run {
            cfg.open_read()?
        } else {
            cfg.open_write()?
        };

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
            ui::confirm(
                &format!(
                    "Re-encrypt {} under the new key ({} already under it)?",
                    ui::count(tally.to_rotate(), "secret"),
                    tally.already_new
                ),
                false,
            )?;
        }

        let mut backup = match &self.backup {
            Some(path) => Some(backup::Writer::create(path, &cfg.schema)?),
            None => None,
        };
        let os_user = cfg.os_user();
        db.set_cache_mib(CACHE_MIB)?;
        let result = db.write(|tx| {
            let (accounts, pending) = tx.count_tokens()?;
            // Pass 1: read, decrypt, re-encrypt, check; nothing is written yet.
            let bar = progress(cfg, accounts + pending, "encrypting");
            let mut spool = Spool::new()?;
            let mut tally = Tally::default();
            for place in [Place::Account, Place::Pending] {
                stream(tx.pages(place, true, PAGE), |row| rotate(row, &new, &old), |rows, outs| {
                    for (row, (class, token)) in rows.iter().zip(outs) {
                        tally.add(row, class);
                        // Only what changes is backed up: tokens already under the
                        // new key stay as they are, and a restore need not open them.
                        if let Some(b) = backup.as_mut().filter(|_| class == Class::Old) {
                            b.add(row)?;
                        }
                        if let Some(t) = token {
                            spool.push(row.place, &row.id, &t)?;
                        }
                    }
                    bar.inc(rows.len() as u64);
                    Ok(())
                })?;
            }
            bar.finish_and_clear();
            if let Some(e) = tally.failure() {
                return Err(e);
            }
            if let Some(b) = backup.as_mut() {
                // On disk before the first token is replaced.
                b.sync()?;
            }
            // Pass 2: write the new tokens.
            let bar = progress(cfg, tally.to_rotate(), "writing");
            let mut replay = spool.replay()?;
            let mut writers = [tx.token_writer(Place::Account)?, tx.token_writer(Place::Pending)?];
            while let Some((place, id, token)) = replay.next()? {
                if !writers[usize::from(place == Place::Pending)].set(&id, &token)? {
                    return Err(Error::state(format!(
                        "the {} token of id {id} vanished during the rotation; nothing was changed, run it again",
                        place.name()
                    )));
                }
                bar.inc(1);
            }
            drop(writers);
            bar.finish_and_clear();
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
            })?;
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
            p.display(),
            p.display()
        ));
    }
    ui::out(&out);
}
