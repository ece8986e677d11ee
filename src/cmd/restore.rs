//! `restore --backup PATH`: the tokens saved by `rotate-key --backup` put back
//! in one transaction, after every one of them is proven to decrypt with the
//! keys given. A token goes back only where its row still holds exactly what
//! the rotation wrote: a row the app changed since (a user who re-enrolled) is
//! left as it is and named. Before the commit, every stored token is counted
//! by the key it is under: a result under more than one key (which the app,
//! reading one, cannot serve) is refused unless `--allow-mixed`.

use rayon::prelude::*;

use super::rotate_key::PAGE;
use super::{Run, keycheck, reason, stream};
use crate::backup::{Entry, Reader};
use crate::cli::Restore;
use crate::config::{Config, read_key_file};
use crate::crypto::{MasterKey, decrypting_key};
use crate::db::{AccountId, AuditEntry, Place, Tx};
use crate::error::{Error, Result};
use crate::{note, ui};

/// Skipped rows named in full before the rest are only counted.
const SHOWN: usize = 20;

/// Reads the whole backup in pages of [`PAGE`] entries.
fn for_each_page(reader: &mut Reader, mut f: impl FnMut(Vec<Entry>) -> Result<()>) -> Result<()> {
    loop {
        let mut page = Vec::with_capacity(PAGE);
        while page.len() < PAGE {
            match reader.next_entry()? {
                Some(e) => page.push(e),
                None => break,
            }
        }
        if page.is_empty() {
            return Ok(());
        }
        f(page)?;
    }
}

/// A row the restore left as it is, and why.
struct Skipped {
    place: Place,
    id: AccountId,
    user: String,
    why: &'static str,
}

/// How many stored tokens are under each key given, and under none of them.
struct KeyCounts {
    per_key: Vec<u64>,
    other: u64,
}

impl KeyCounts {
    /// Counts every stored token, inside the transaction, after the restore.
    fn of(tx: &mut dyn Tx, keys: &[MasterKey]) -> Result<KeyCounts> {
        let mut counts = KeyCounts {
            per_key: vec![0; keys.len()],
            other: 0,
        };
        for place in [Place::Account, Place::Pending] {
            stream(
                tx.pages(place, true, PAGE)?,
                |row| {
                    let token = row.value.token().filter(|_| !row.value.is_blank())?;
                    Some(decrypting_key(token, keys))
                },
                |_, found| {
                    for k in found.into_iter().flatten() {
                        match k {
                            Some(i) => counts.per_key[i] += 1,
                            None => counts.other += 1,
                        }
                    }
                    Ok(())
                },
            )?;
        }
        Ok(counts)
    }

    /// The one key every token is under, if there is one (the first key when
    /// there is no token at all).
    fn single(&self) -> Option<usize> {
        let used: Vec<usize> = (0..self.per_key.len())
            .filter(|&i| self.per_key[i] > 0)
            .collect();
        match (used.as_slice(), self.other) {
            ([], 0) => Some(0),
            ([one], 0) => Some(*one),
            _ => None,
        }
    }

    fn describe(&self, names: &[String]) -> String {
        let mut parts: Vec<String> = self
            .per_key
            .iter()
            .zip(names)
            .filter(|(n, _)| **n > 0)
            .map(|(n, name)| format!("{n} under {name}"))
            .collect();
        if self.other > 0 {
            parts.push(format!("{} under none of the keys given", self.other));
        }
        parts.join(", ")
    }
}

impl Run for Restore {
    fn run(&self, cfg: &Config) -> Result<()> {
        let mut keys = vec![cfg.master_key()?];
        let mut names = vec!["the master key".to_string()];
        for path in &self.old_key_file {
            keys.push(read_key_file(path, "--old-key-file")?);
            names.push(ui::escape(&path.display().to_string()).into_owned());
        }
        ui::require_confirmable(self.yes)?;
        let why = reason(cfg, &self.reason)?;
        let (mut total, mut failed, mut named) = (0u64, 0u64, Vec::new());
        for_each_page(&mut Reader::open(&self.backup, &cfg.schema)?, |page| {
            let bad: Vec<&Entry> = page
                .par_iter()
                .filter(|e| decrypting_key(&e.token, &keys).is_none())
                .collect();
            total += page.len() as u64;
            failed += bad.len() as u64;
            named.extend(
                bad.iter()
                    .take(SHOWN - named.len().min(SHOWN))
                    .map(|e| format!("id {}", e.id)),
            );
            Ok(())
        })?;
        if failed > 0 {
            return Err(Error::key(format!(
                "{failed} of {total} tokens in the backup do not decrypt with the keys given ({}{}); restore needs the key the backup was made under (the old key, plus any --old-key-file the rotation used); nothing was changed",
                named.join(", "),
                if failed > named.len() as u64 {
                    ", ..."
                } else {
                    ""
                }
            )));
        }
        let mut db = cfg.open_write()?;
        ui::confirm(
            &format!(
                "Restore {total} tokens from {}? Rows changed since the rotation are left as they are.",
                self.backup.display()
            ),
            self.yes,
        )?;
        let os_user = cfg.os_user();
        let (restored, skipped, more, counts) = db.write(|tx| {
            let (mut restored, mut skipped, mut more) = (0u64, Vec::new(), 0u64);
            for_each_page(&mut Reader::open(&self.backup, &cfg.schema)?, |page| {
                for e in page {
                    // Only where the row holds exactly what the rotation wrote.
                    if tx.swap_token(e.place, &e.id, &e.rotated, &e.token)? {
                        restored += 1;
                    } else if skipped.len() < SHOWN {
                        let user = tx.user_of(e.place, &e.id)?;
                        let why = if user.is_empty() {
                            "gone since the rotation"
                        } else {
                            "changed since the rotation"
                        };
                        skipped.push(Skipped {
                            place: e.place,
                            id: e.id,
                            user,
                            why,
                        });
                    } else {
                        more += 1;
                    }
                }
                Ok(())
            })?;
            let counts = KeyCounts::of(tx, &keys)?;
            if counts.single().is_none() && !self.allow_mixed {
                return Err(Error::key(format!(
                    "after this restore the stored tokens would be under more than one key ({}), and the app reads only one; nothing was changed: pass --allow-mixed to restore anyway, then bring them under one key with rotate-key --old-key-file",
                    counts.describe(&names)
                )));
            }
            let n_skipped = skipped.len() as u64 + more;
            tx.audit(AuditEntry {
                os_user: &os_user,
                action: "restore",
                account: None,
                detail: format!(
                    "restored {restored} tokens from {}; {n_skipped} left as they were (changed or gone since the rotation)",
                    self.backup.display()
                ),
                reason: why.as_deref(),
            })?;
            // Under the key the stored tokens now are; under the master key
            // given when they are under several (--allow-mixed).
            keycheck::write(tx, &keys[counts.single().unwrap_or(0)])?;
            Ok((restored, skipped, more, counts))
        })?;
        let n_skipped = skipped.len() as u64 + more;
        let app_key = counts.single().map(|i| names[i].clone());
        if cfg.json {
            let list: Vec<_> = skipped
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "place": s.place.name(),
                        "id": s.id.to_json(),
                        "user": s.user,
                        "why": s.why,
                    })
                })
                .collect();
            let keys: Vec<_> = names
                .iter()
                .zip(&counts.per_key)
                .map(|(name, n)| serde_json::json!({ "key": name, "tokens": n }))
                .collect();
            ui::json(&serde_json::json!({
                "restored": restored,
                "skipped": n_skipped,
                "not_restored": list,
                "keys": keys,
                "other_tokens": counts.other,
                "app_key": app_key,
            }));
            return Ok(());
        }
        let mut out = format!(
            "restored {restored} tokens from {}\n",
            ui::path(&self.backup)
        );
        if n_skipped > 0 {
            let listed: Vec<String> = skipped
                .iter()
                .map(|s| {
                    format!(
                        "'{}' (id {}{}): {}",
                        ui::escape(&s.user),
                        ui::escape(&s.id.to_string()),
                        if s.place == Place::Pending {
                            ", pending"
                        } else {
                            ""
                        },
                        s.why
                    )
                })
                .collect();
            out.push_str(&format!(
                "left as they are: {}{}\n",
                listed.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        ui::out(&out);
        match app_key {
            Some(name) => note!(
                cfg,
                "next: every stored token is under {name}: set the app's TWOFA_MASTER_KEY to it and restart the app"
            ),
            None => note!(
                cfg,
                "the stored tokens are under more than one key ({}); the app reads only one: bring them under one with rotate-key --old-key-file",
                counts.describe(&names)
            ),
        }
        Ok(())
    }
}
