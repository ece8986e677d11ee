//! `status [USER]`: who has 2FA enabled, who has an enrollment pending.

use super::Run;
use crate::cli::Status;
use crate::config::Config;
use crate::error::Result;
use crate::{clock, ui};

impl Run for Status {
    fn run(&self, cfg: &Config) -> Result<()> {
        let mut db = cfg.open_read()?;
        let rows = db.status(self.user.as_deref())?;
        let now = clock::now() as i64;
        if cfg.json {
            ui::json_array(rows.iter().map(|r| {
                serde_json::json!({
                    "id": r.id.to_json(),
                    "user": r.user,
                    "enabled": r.enabled,
                    "pending": r.pending_expires_at.is_some_and(|t| t > now),
                })
            }));
            return Ok(());
        }
        let mut table = ui::table(&["id", "user", "2fa", "pending"]);
        for r in &rows {
            let pending = match r.pending_expires_at {
                None => "-".to_string(),
                Some(t) if t <= now => "expired".to_string(),
                Some(t) => format!("expires in {}", clock::format_span((t - now) as u64)),
            };
            table.add_row(vec![
                // A text id can be user-supplied (e.g. --id-column email).
                ui::escape(&r.id.to_string()).into_owned(),
                ui::escape(&r.user).into_owned(),
                if r.enabled { "enabled" } else { "off" }.to_string(),
                pending,
            ]);
        }
        ui::out(&format!("{table}\n"));
        Ok(())
    }
}
