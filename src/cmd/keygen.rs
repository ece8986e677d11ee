//! `keygen [--out FILE]`: a new Fernet master key.

use super::Run;
use crate::cli::Keygen;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::error::Result;
use crate::{files, note, ui};

impl Run for Keygen {
    fn run(&self, cfg: &Config) -> Result<()> {
        let key = MasterKey::generate();
        match &self.out {
            Some(path) => {
                files::write_private(path, ui::secret_line(&[key.as_str()]).as_bytes())?;
                if cfg.json {
                    ui::json(&serde_json::json!({ "path": path.display().to_string() }));
                } else {
                    note!(
                        cfg,
                        "wrote a new master key to {} (mode 0600)",
                        path.display()
                    );
                }
            }
            None if cfg.json => ui::json_secret(serde_json::json!({ "key": key.as_str() })),
            None => ui::out(&ui::secret_line(&[key.as_str()])),
        }
        Ok(())
    }
}
