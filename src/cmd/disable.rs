//! `disable USER... | --all`: the lost-phone reset. enabled = 0, the secret
//! NULL and any pending enrollment removed — for every named user or none.
//!
//! The report says what each user had: 2FA turned off (it was enabled, or an
//! enrollment was pending), or nothing to disable. A named user with nothing
//! of 2FA (not enabled, no secret, nothing pending) is not asked about and
//! left untouched, without an audit entry. What is reported is read again
//! inside the write transaction: the app may have written meanwhile.

use super::{Run, reason};
use crate::cli::Disable;
use crate::config::Config;
use crate::db::{Account, AuditEntry, Stored};
use crate::error::Result;
use crate::{note, ui};

/// What disabling one user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 2FA was enabled; now off.
    WasEnabled,
    /// An enrollment was pending (2FA not yet on); removed.
    WasPending,
    /// 2FA was off, but a secret was still stored (the app's Disable clears
    /// it); removed.
    SecretRemoved,
    /// 2FA was off and nothing was stored or pending: nothing written.
    WasOff,
}

impl Outcome {
    fn disabled(self) -> bool {
        matches!(self, Outcome::WasEnabled | Outcome::WasPending)
    }

    fn line(self, user: &str) -> String {
        let user = ui::escape(user);
        match self {
            Outcome::WasEnabled => format!("2FA disabled for '{user}'\n"),
            Outcome::WasPending => {
                format!("2FA disabled for '{user}' (an enrollment was pending; it is removed)\n")
            }
            Outcome::SecretRemoved => {
                format!("2FA was not on for '{user}'; the secret still stored was removed\n")
            }
            Outcome::WasOff => format!("2FA was not on for '{user}'; nothing to disable\n"),
        }
    }
}

impl Run for Disable {
    fn run(&self, cfg: &Config) -> Result<()> {
        // Refused without a way to ask whatever the users' state, so that a
        // script that lacks --yes fails the first time, not the first time it
        // meets a user with 2FA on.
        ui::require_confirmable(self.yes)?;
        let why = reason(cfg, &self.reason)?;
        let mut db = cfg.open_write()?;
        // Resolve everyone first: one unknown name and nothing changes.
        // Each with whether there is anything to change.
        let plan: Vec<(Account, bool)> = if self.all {
            db.accounts_with_2fa()?
                .into_iter()
                .map(|a| (a, true))
                .collect()
        } else {
            let mut seen = std::collections::HashSet::new();
            let mut v = Vec::new();
            for u in &self.users {
                let a = db.account(u)?;
                if seen.insert(a.id.clone()) {
                    let act = a.enabled || a.secret != Stored::Null || db.pending(&a.id)?.is_some();
                    v.push((a, act));
                }
            }
            v
        };
        let targets: Vec<&Account> = plan
            .iter()
            .filter(|(_, act)| *act)
            .map(|(a, _)| a)
            .collect();
        if targets.is_empty() && self.all {
            if cfg.json {
                report_json(&[]);
            } else {
                note!(cfg, "no account has 2FA enabled or pending; nothing to do");
            }
            return Ok(());
        }
        if !targets.is_empty() {
            // The question names the database, so that the right one is changed.
            let question = if self.all {
                format!(
                    "Disable 2FA for all {} accounts that have it in {}?",
                    targets.len(),
                    db.location()
                )
            } else {
                let names: Vec<String> = targets
                    .iter()
                    .map(|a| format!("'{}'", ui::escape(&a.user)))
                    .collect();
                format!("Disable 2FA for {} in {}?", names.join(", "), db.location())
            };
            ui::confirm(&question, self.yes)?;
        }

        let os_user = cfg.os_user();
        // A transaction even when nothing seems to need one: under the write
        // lock, a user the app enabled since the read above is still disabled
        // (the operator named them), and reported as such.
        let outcomes: Vec<Outcome> = db.write(|tx| {
            let mut outcomes = Vec::with_capacity(plan.len());
            for (planned, _) in &plan {
                // --all found each account by its id, with something on it;
                // a named one is read again by its name.
                let target = if self.all {
                    planned.clone()
                } else {
                    tx.account(&planned.user)?
                };
                let had_pending = tx.delete_pending(&target.id)?;
                if !target.enabled && target.secret == Stored::Null && !had_pending {
                    outcomes.push(Outcome::WasOff);
                    continue;
                }
                tx.disable(&target.id)?;
                tx.audit(AuditEntry {
                    os_user: &os_user,
                    action: "disable",
                    account: Some(&target),
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
                    reason: why.as_deref(),
                })?;
                outcomes.push(if target.enabled {
                    Outcome::WasEnabled
                } else if had_pending {
                    Outcome::WasPending
                } else {
                    Outcome::SecretRemoved
                });
            }
            Ok(outcomes)
        })?;

        let done: Vec<(&Account, Outcome)> = plan.iter().map(|(a, _)| a).zip(outcomes).collect();
        if cfg.json {
            report_json(&done);
        } else if !cfg.quiet {
            let text: String = done.iter().map(|(a, o)| o.line(&a.user)).collect();
            ui::out(&text);
        }
        Ok(())
    }
}

/// `{"disabled": [{"id", "user", "was"}], "count", "already_off": [{"id",
/// "user", "secret_removed"}]}`: `disabled` and `count` are the users whose
/// 2FA was on or pending; `already_off` those it was not on for.
fn report_json(done: &[(&Account, Outcome)]) {
    let disabled: Vec<_> = done
        .iter()
        .filter(|(_, o)| o.disabled())
        .map(|(a, o)| {
            serde_json::json!({
                "id": a.id.to_json(),
                "user": a.user,
                "was": if *o == Outcome::WasEnabled { "enabled" } else { "pending" },
            })
        })
        .collect();
    let already_off: Vec<_> = done
        .iter()
        .filter(|(_, o)| !o.disabled())
        .map(|(a, o)| {
            serde_json::json!({
                "id": a.id.to_json(),
                "user": a.user,
                "secret_removed": *o == Outcome::SecretRemoved,
            })
        })
        .collect();
    ui::json(&serde_json::json!({
        "count": disabled.len(),
        "disabled": disabled,
        "already_off": already_off,
    }));
}
