//! `verify USER`: the app's login check, for support desks and scripts.

use super::{Run, keycheck, obtain_code, open_secret, parse_code, rejected};
use crate::cli::Verify;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::{clock, ui};

impl Run for Verify {
    fn run(&self, cfg: &Config) -> Result<()> {
        // A malformed --code is refused before anything is opened.
        if let Some(c) = &self.code {
            parse_code(c)?;
        }
        let mut db = cfg.open_read()?;
        let account = db.account(&self.user)?;
        if !account.enabled {
            return Err(Error::state(format!(
                "'{}' does not have 2FA enabled; nothing to verify (enroll with: mex2fa enroll {})",
                ui::escape(&account.user),
                ui::escape(&self.user)
            )));
        }
        let key = cfg.master_key()?;
        let what = format!("the stored secret of '{}'", ui::escape(&account.user));
        let secret = open_secret(&key, account.secret.token(), &what).map_err(|e| {
            // Only a token that does not decrypt sends us to the check
            // value, so an accepted code costs no more reads.
            let undecryptable = account
                .secret
                .token()
                .is_some_and(|t| !t.trim().is_empty() && key.decrypt(t).is_none());
            if undecryptable {
                keycheck::explain_undecryptable(db.as_mut(), &key, &what, e)
            } else {
                e
            }
        })?;
        let code = obtain_code(self.code.as_deref(), "code from the authenticator app: ")?;
        let now = clock::now();
        let Some(offset) = secret.accepts(&code, now, self.window) else {
            let drift = secret.drift(&code, now, self.window);
            return Err(rejected(cfg, &account.user, drift, serde_json::json!({})));
        };
        if cfg.json {
            ui::json(&serde_json::json!({
                "user": account.user,
                "accepted": true,
                "drift_steps": offset,
            }));
        } else if !cfg.quiet {
            ui::out(&format!(
                "accepted: the code is valid for '{}'\n",
                ui::escape(&account.user)
            ));
        }
        Ok(())
    }
}
