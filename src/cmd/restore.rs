//! `restore --backup PATH`: the tokens saved by `rotate-key --backup` put back
//! in one transaction, after every one of them is proven to decrypt with the
//! master key given (the key the backup was made under).

use rayon::prelude::*;

use super::Run;
use super::rotate_key::PAGE;
use crate::backup::{Entry, Reader};
use crate::cli::Restore;
use crate::config::{Config, read_key_file};
use crate::crypto::decrypting_key;
use crate::db::AuditEntry;
use crate::error::{Error, Result};
use crate::{note, ui};

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

impl Run for Restore {
    fn run(&self, cfg: &Config) -> Result<()> {
        let mut keys = vec![cfg.master_key()?];
        for path in &self.old_key_file {
            keys.push(read_key_file(path, "--old-key-file")?);
        }
        ui::require_confirmable(self.yes)?;
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
                    .take(20 - named.len().min(20))
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
                "Restore {total} tokens from {}? The app must then use the old key again.",
                self.backup.display()
            ),
            self.yes,
        )?;
        let os_user = cfg.os_user();
        let (restored, skipped) = db.write(|tx| {
            let (mut restored, mut skipped) = (0u64, 0u64);
            for_each_page(&mut Reader::open(&self.backup, &cfg.schema)?, |page| {
                for e in page {
                    if tx.set_token(e.place, &e.id, &e.token)? {
                        restored += 1;
                    } else {
                        skipped += 1;
                    }
                }
                Ok(())
            })?;
            tx.audit(AuditEntry {
                os_user: &os_user,
                action: "restore",
                account: None,
                detail: format!(
                    "restored {restored} tokens from {}; {skipped} skipped (no longer enrolled)",
                    self.backup.display()
                ),
            })?;
            Ok((restored, skipped))
        })?;
        if cfg.json {
            ui::json(&serde_json::json!({ "restored": restored, "skipped": skipped }));
        } else {
            ui::out(&format!(
                "restored {restored} tokens from {}{}\n",
                ui::path(&self.backup),
                if skipped > 0 {
                    format!(
                        "; {skipped} skipped (their rows no longer hold a token or pending enrollment)"
                    )
                } else {
                    String::new()
                }
            ));
            note!(
                cfg,
                "next: set the app's TWOFA_MASTER_KEY back to the key used here and restart the app"
            );
        }
        Ok(())
    }
}
