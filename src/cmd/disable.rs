//! `disable USER... | --all`: the lost-phone reset. enabled = 0, the secret
//! NULL and any pending enrollment removed — for every named user or none.

use super::Run;
use crate::cli::Disable;
use crate::config::Config;
use crate::db::{Account, AuditEntry};
use crate::error::Result;
use crate::{note, ui};

impl Run for Disable {
    fn run(&self, cfg: &Config) -> Result<()> {
        let mut db = cfg.open_write()?;
        // Resolve everyone first: one unknown name and nothing changes.
        let targets: Vec<Account> = if self.all {
            db.accounts_with_2fa()?
        } else {
            let mut seen = std::collections::HashSet::new();
            let mut v = Vec::new();
            for u in &self.users {
                let a = db.account(u)?;
                if seen.insert(a.id.clone()) {
                    v.push(a);
                }
            }
            v
        };
        if targets.is_empty() {
            if cfg.json {
                ui::json(&serde_json::json!({ "disabled": [], "count": 0 }));
            } else {
                note!(cfg, "no account has 2FA enabled or pending; nothing to do");
            }
            return Ok(());
        }
        let question = if self.all {
            format!(
                "Disable 2FA for all {} accounts that have it?",
                targets.len()
            )
        } else {
            let names: Vec<String> = targets
                .iter()
                .map(|a| format!("'{}'", ui::escape(&a.user)))
                .collect();
            format!("Disable 2FA for {}?", names.join(", "))
        };
        ui::confirm(&question, self.yes)?;

        let os_user = cfg.os_user();
        db.write(|tx| {
            for target in &targets {
                tx.disable(&target.id)?;
                let had_pending = tx.delete_pending(&target.id)?;
                tx.audit(AuditEntry {
                    os_user: &os_user,
                    action: "disable",
                    account: Some(target),
                    detail: format!(
                        "was {}{}",
                        if target.enabled {
                            "enabled"
                        } else {
                            "not enabled"
                        },
                        if had_pending {
                            "; pending enrollment removed"
                        } else {
                            ""
                        }
                    ),
                })?;
            }
            Ok(())
        })?;

        if cfg.json {
            let list: Vec<_> = targets
                .iter()
                .map(|a| serde_json::json!({ "id": a.id.to_json(), "user": a.user }))
                .collect();
            ui::json(&serde_json::json!({ "disabled": list, "count": targets.len() }));
        } else if !cfg.quiet {
            for a in &targets {
                ui::out(&format!("2FA disabled for '{}'\n", ui::escape(&a.user)));
            }
        }
        Ok(())
    }
}
