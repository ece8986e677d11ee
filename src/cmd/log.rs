//! `log [USER]`: the audit trail of every state change mex2fa made.

use super::Run;
use crate::cli::Log;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::{clock, ui};

impl Run for Log {
    fn run(&self, cfg: &Config) -> Result<()> {
        let since = self
            .since
            .as_deref()
            .map(|s| {
                clock::parse_utc(s).ok_or_else(|| {
                    Error::usage(format!(
                        "--since '{}' is not a date; use 2026-11-25 or 2026-11-25T08:00:00Z (UTC)",
                        ui::escape(s)
                    ))
                })
            })
            .transpose()?;
        let mut db = cfg.open_read()?;
        let rows = db.audit_log(self.user.as_deref(), since, self.limit)?;
        if cfg.json {
            ui::json_array(rows.iter().map(|r| {
                serde_json::json!({
                    "at": r.at,
                    "os_user": r.os_user,
                    "action": r.action,
                    "id": r.account_id.as_ref().map(|i| i.to_json()),
                    "user": r.user,
                    "detail": r.detail,
                    "reason": r.reason,
                })
            }));
            return Ok(());
        }
        let mut table = ui::table(&["at (UTC)", "by", "action", "id", "user", "detail", "reason"]);
        for r in &rows {
            table.add_row(vec![
                r.at.clone(),
                ui::escape(&r.os_user).into_owned(),
                r.action.clone(),
                // A text id can be user-supplied (e.g. --id-column email).
                r.account_id
                    .as_ref()
                    .map_or_else(String::new, |i| ui::escape(&i.to_string()).into_owned()),
                ui::escape(r.user.as_deref().unwrap_or("")).into_owned(),
                ui::escape(&r.detail).into_owned(),
                // Typed by an operator: escaped like every text from the database.
                ui::escape(r.reason.as_deref().unwrap_or("")).into_owned(),
            ]);
        }
        ui::out(&format!("{table}\n"));
        Ok(())
    }
}
