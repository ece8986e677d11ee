//! `confirm USER`: a pending enrollment becomes enabled 2FA once a code from
//! the user's app matches — one transaction, as the app's Confirm does.

use super::{Run, keycheck, obtain_code, open_secret, parse_code, reason, rejected};
use crate::cli::Confirm;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::db::{Account, AuditEntry, Store};
use crate::error::{Error, Result};
use crate::totp::{Code, Secret};
use crate::{clock, ui};

/// What a confirmation attempt came to, short of an error.
pub enum Outcome {
    Enabled(Account),
    /// Not accepted; the nearest matching step nearby, if any.
    Rejected(Option<i64>),
}

/// What a change records beside itself: the operator's `--reason`, and
/// whether the key check value is to be (re)written under the key used.
#[derive(Clone, Copy, Default)]
pub struct Context<'a> {
    pub reason: Option<&'a str>,
    pub write_check: bool,
}

/// Checks `code` against `user`'s pending secret and, if it matches, writes
/// the token and enabled = 1 and removes the pending row, all in one transaction.
pub fn confirm_pending(
    cfg: &Config,
    db: &mut dyn Store,
    key: &MasterKey,
    user: &str,
    code: &Code,
    ctx: Context<'_>,
) -> Result<Outcome> {
    let os_user = cfg.os_user();
    let result = db.write(|tx| {
        let account = tx.account(user)?;
        let shown = ui::escape(&account.user).into_owned();
        let pending = tx
            .pending(&account.id)?
            .ok_or_else(|| nothing_pending(&account.user, user))?;
        let now = clock::now();
        if pending.expires_at <= now as i64 {
            return Err(Error::state(format!(
                "the enrollment of '{shown}' expired at {}; enroll again: mex2fa enroll {}",
                clock::format_utc(pending.expires_at),
                ui::escape(user)
            )));
        }
        let secret: Secret = open_secret(
            key,
            Some(&pending.token),
            &format!("the pending secret of '{shown}'"),
        )?;
        if secret.accepts(code, now, 0).is_none() {
            // Nothing was written: the transaction commits empty.
            return Ok(Outcome::Rejected(secret.drift(code, now, 0)));
        }
        let token = key.encrypt(secret.as_str().as_bytes());
        tx.enable(&account.id, &token)?;
        tx.delete_pending(&account.id)?;
        tx.audit(AuditEntry {
            os_user: &os_user,
            action: "confirm",
            account: Some(&account),
            detail: if account.enabled {
                "re-enrolled: new secret replaces the old one".into()
            } else {
                "2FA enabled".into()
            },
            reason: ctx.reason,
        })?;
        if ctx.write_check {
            keycheck::write(tx, key)?;
        }
        Ok(Outcome::Enabled(account))
    })?;
    Ok(result)
}

fn nothing_pending(stored: &str, typed: &str) -> Error {
    Error::state(format!(
        "nothing is pending for '{}'; start with: mex2fa enroll {}",
        ui::escape(stored),
        ui::escape(typed)
    ))
}

/// Prints the result of a successful confirmation.
pub fn report_enabled(cfg: &Config, account: &Account) {
    if cfg.json {
        ui::json(&serde_json::json!({
            "user": account.user,
            "state": "enabled",
        }));
    } else if !cfg.quiet {
        ui::out(&format!(
            "2FA enabled for '{}'\n",
            ui::escape(&account.user)
        ));
    }
}

impl Run for Confirm {
    fn run(&self, cfg: &Config) -> Result<()> {
        if let Some(c) = &self.code {
            parse_code(c)?;
        }
        let why = reason(cfg, &self.reason)?;
        let mut db = cfg.open_write()?;
        let account = db.account(&self.user)?;
        // Checked before asking for a code that could not be used.
        if db.pending(&account.id)?.is_none() {
            return Err(nothing_pending(&account.user, &self.user));
        }
        let key = cfg.master_key()?;
        let write_check = keycheck::guard(cfg, db.as_mut(), &key)?;
        let code = obtain_code(self.code.as_deref(), "code from the authenticator app: ")?;
        let ctx = Context {
            reason: why.as_deref(),
            write_check,
        };
        match confirm_pending(cfg, db.as_mut(), &key, &self.user, &code, ctx)? {
            Outcome::Enabled(account) => {
                report_enabled(cfg, &account);
                Ok(())
            }
            Outcome::Rejected(drift) => Err(rejected(
                cfg,
                &account.user,
                drift,
                serde_json::json!({ "state": "pending" }),
            )),
        }
    }
}
