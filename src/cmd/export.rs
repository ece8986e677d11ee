//! `export [USER…] --out PATH`: users' secrets to a new file, for `import`
//! into another database (the README's "Move 2FA to another database").
//! The default form is a sealed bundle (no readable secret in transit); the
//! readable forms need `--plaintext`. The file appears complete or not at
//! all: it is written under a hidden name beside `--out` and renamed, never
//! over anything.

use std::path::Path;

use super::{Run, keycheck, open_secret};
use crate::cli::{Export, ExportFormat};
use crate::config::{Config, read_key_file_as};
use crate::db::Account;
use crate::error::{Error, Exit, Result};
use crate::qr::Matrix;
use crate::totp::provisioning_uri;
use crate::transfer::{self, Record, State};
use crate::{clock, files, note, ui};

/// Undecryptable secrets named one by one before "and N more".
const SHOWN: usize = 20;

impl ExportFormat {
    fn name(self) -> &'static str {
        match self {
            ExportFormat::Bundle => "bundle",
            ExportFormat::Otpauth => "otpauth",
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Png => "png",
        }
    }
}

/// A secret to export, before it is decrypted.
struct Wanted {
    user: String,
    state: State,
    token: Option<String>,
}

impl Export {
    /// Every combination of flags that cannot work is refused before
    /// anything is read.
    fn check_flags(&self) -> Result<()> {
        let format = self.format.name();
        let sealed = self.format == ExportFormat::Bundle;
        if !sealed && !self.plaintext {
            return Err(Error::usage(format!(
                "--format {format} writes every secret readable; pass --plaintext to confirm, or leave --format out for a sealed bundle (--bundle-key-file)"
            )));
        }
        if sealed && self.plaintext {
            return Err(Error::usage(
                "--plaintext is for --format otpauth, csv, json or png; a bundle is sealed with --bundle-key-file",
            ));
        }
        if !sealed && self.bundle_key_file.is_some() {
            return Err(Error::usage(format!(
                "--bundle-key-file seals a bundle, and --format {format} is not sealed; drop one of them"
            )));
        }
        if sealed && self.bundle_key_file.is_none() {
            return Err(Error::usage(
                "a bundle is sealed with a key of its own: pass --bundle-key-file PATH (make one with mex2fa keygen --out PATH), or --format otpauth|csv|json|png --plaintext",
            ));
        }
        if self.format == ExportFormat::Otpauth && self.pending {
            return Err(Error::usage(
                "an otpauth URI carries no state, so a pending enrollment would come back enabled; export pending enrollments as the bundle, csv or json",
            ));
        }
        Ok(())
    }
}

impl Run for Export {
    fn run(&self, cfg: &Config) -> Result<()> {
        self.check_flags()?;
        files::ensure_absent(&self.out)?;
        let bundle_key = self
            .bundle_key_file
            .as_deref()
            .map(|p| read_key_file_as(p, "--bundle-key-file", "bundle key"))
            .transpose()?;
        let mut db = cfg.open_read()?;
        let key = cfg.master_key()?;
        keycheck::refuse_wrong(db.as_mut(), &key)?;
        if let Some(b) = &bundle_key
            && b.same_as(&key)
        {
            note!(
                cfg,
                "mex2fa: warning: the bundle key is the master key: whoever has the app's key can open the bundle"
            );
        }

        // The users, in the database's order (or as named), each once.
        let accounts: Vec<Account> = if self.users.is_empty() {
            db.accounts_with_2fa()?
        } else {
            let mut named: Vec<Account> = Vec::new();
            for user in &self.users {
                let a = db.account(user)?;
                if !named.iter().any(|n| n.id == a.id) {
                    named.push(a);
                }
            }
            named
        };
        let now = clock::now() as i64;
        let mut wanted = Vec::new();
        for account in accounts {
            let before = wanted.len();
            if account.enabled {
                wanted.push(Wanted {
                    user: account.user.clone(),
                    state: State::Enabled,
                    token: account.secret.token().map(str::to_string),
                });
            }
            if self.pending
                && let Some(p) = db.pending(&account.id)?
                && p.expires_at > now
            {
                wanted.push(Wanted {
                    user: account.user.clone(),
                    state: State::Pending,
                    token: Some(p.token),
                });
            }
            if wanted.len() == before && !self.users.is_empty() {
                return Err(Error::state(format!(
                    "'{}' has no 2FA enabled{}; nothing was written",
                    ui::escape(&account.user),
                    if self.pending {
                        " and no enrollment pending"
                    } else {
                        " (pass --pending to export a pending enrollment)"
                    }
                )));
            }
        }
        if wanted.is_empty() {
            return Err(Error::state(format!(
                "no user has 2FA enabled{}: nothing to export; nothing was written",
                if self.pending { " or pending" } else { "" }
            )));
        }

        let mut records = Vec::with_capacity(wanted.len());
        let mut skipped: Vec<(String, State)> = Vec::new();
        for w in wanted {
            let shown = ui::escape(&w.user).into_owned();
            let what = match w.state {
                State::Enabled => format!("the secret of '{shown}'"),
                State::Pending => format!("the pending secret of '{shown}'"),
            };
            match open_secret(&key, w.token.as_deref(), &what) {
                Ok(secret) => records.push(Record {
                    user: w.user,
                    state: w.state,
                    secret,
                    place: String::new(),
                }),
                Err(e @ Error::Key(_)) => {
                    if skipped.len() < SHOWN {
                        ui::message(&format!("mex2fa: {e}; not exported"));
                    }
                    skipped.push((w.user, w.state));
                }
                Err(e) => return Err(e),
            }
        }
        if skipped.len() > SHOWN {
            ui::message(&format!(
                "mex2fa: and {} more secrets that do not decrypt; not exported (mex2fa doctor lists them all)",
                skipped.len() - SHOWN
            ));
        }
        if !skipped.is_empty() && !self.skip_undecryptable {
            return Err(Error::key(format!(
                "{} did not decrypt (named above); nothing was written: fix them (mex2fa doctor) or pass --skip-undecryptable to export the others",
                ui::count(skipped.len() as u64, "secret")
            )));
        }
        if records.is_empty() {
            return Err(Error::key(
                "no secret decrypted (named above); nothing was written",
            ));
        }

        let files = self.write(cfg, &records, bundle_key.as_ref())?;
        self.report(cfg, &records, &files, &skipped)
    }
}

impl Export {
    /// Writes the file (or the directory of images); the images' names.
    fn write(
        &self,
        cfg: &Config,
        records: &[Record],
        bundle_key: Option<&crate::crypto::MasterKey>,
    ) -> Result<Vec<String>> {
        let bytes = match self.format {
            ExportFormat::Bundle => {
                let at = clock::format_utc(clock::now() as i64);
                transfer::seal(records, &cfg.issuer, &at, bundle_key.expect("checked"))
            }
            ExportFormat::Otpauth => transfer::to_otpauth(records, &cfg.issuer),
            ExportFormat::Csv => transfer::to_csv(records),
            ExportFormat::Json => transfer::to_json(records, &cfg.issuer),
            ExportFormat::Png => return self.write_images(cfg, records),
        };
        write_file(&self.out, &bytes)?;
        Ok(Vec::new())
    }

    /// One QR image a record, in a new directory (0700) that appears with
    /// all of them or not at all.
    fn write_images(&self, cfg: &Config, records: &[Record]) -> Result<Vec<String>> {
        let names = transfer::image_names(records.iter().map(|r| (r.user.as_str(), r.state)));
        let tmp = files::temp_beside(&self.out);
        files::create_private_dir(&tmp).map_err(|e| retarget(e, &tmp, &self.out))?;
        let written = (|| {
            for (r, name) in records.iter().zip(&names) {
                let uri = provisioning_uri(&r.secret, &r.user, &cfg.issuer);
                let png = Matrix::encode(&uri)
                    .and_then(|m| m.to_png(8))
                    .map_err(Error::Usage)?;
                files::write_private(&tmp.join(name), &png)?;
            }
            files::publish(&tmp, &self.out)
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        written.map(|()| names)
    }

    fn report(
        &self,
        cfg: &Config,
        records: &[Record],
        files: &[String],
        skipped: &[(String, State)],
    ) -> Result<()> {
        let path = self.out.display().to_string();
        let pending = records.iter().filter(|r| r.state == State::Pending).count();
        let users: Vec<serde_json::Value> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut v = serde_json::json!({ "user": r.user, "state": r.state.as_str() });
                if let Some(f) = files.get(i) {
                    v["file"] = f.as_str().into();
                }
                v
            })
            .collect();
        let skipped_json: Vec<serde_json::Value> = skipped
            .iter()
            .map(|(u, s)| serde_json::json!({ "user": u, "state": s.as_str() }))
            .collect();
        let failed = !skipped.is_empty();
        if cfg.json {
            let mut doc = serde_json::json!({
                "path": path,
                "format": self.format.name(),
                "count": records.len(),
                "users": users,
                "skipped": skipped_json,
            });
            if failed {
                doc["exit"] = (Exit::Key as u8).into();
            }
            ui::json(&doc);
        } else if !cfg.quiet {
            // A user with 2FA enabled and a re-enrollment pending has two records.
            let users: std::collections::HashSet<&str> =
                records.iter().map(|r| r.user.as_str()).collect();
            ui::out(&format!(
                "exported {} ({} enabled, {pending} pending) to {}\n",
                ui::count(users.len() as u64, "user"),
                records.len() - pending,
                ui::escape(&path)
            ));
        }
        for (r, f) in records.iter().zip(files) {
            let plain = format!(
                "{}{}.png",
                r.user,
                if r.state == State::Pending {
                    ".pending"
                } else {
                    ""
                }
            );
            if *f != plain {
                note!(cfg, "the QR code of '{}' is {f}", ui::escape(&r.user));
            }
        }
        match self.format {
            ExportFormat::Bundle => note!(
                cfg,
                "import it with: mex2fa import {} --bundle-key-file KEYFILE (the bundle key travels apart from the bundle)",
                ui::escape(&path)
            ),
            ExportFormat::Png => note!(
                cfg,
                "{} holds every secret in the clear (mode 0700): delete it once the phones are enrolled",
                ui::escape(&path)
            ),
            _ => note!(
                cfg,
                "{} holds every secret in the clear (mode 0600): delete it once imported",
                ui::escape(&path)
            ),
        }
        if failed {
            let msg = format!(
                "{} did not decrypt (named above) and {} left out of {}",
                ui::count(skipped.len() as u64, "secret"),
                if skipped.len() == 1 { "was" } else { "were" },
                ui::escape(&path)
            );
            if cfg.json {
                ui::message(&format!("mex2fa: {msg}"));
                return Err(Error::Silent(Exit::Key));
            }
            return Err(Error::key(msg));
        }
        Ok(())
    }
}

/// An error about the hidden name, told about the path the user gave.
fn retarget(e: Error, tmp: &Path, path: &Path) -> Error {
    let fix = |s: String| s.replace(&tmp.display().to_string(), &path.display().to_string());
    match e {
        Error::Usage(s) => Error::Usage(fix(s)),
        Error::Database(s) => Error::Database(fix(s)),
        other => other,
    }
}

/// Writes `bytes` under a hidden name beside `path` (0600), syncs it, and
/// gives it its name; nothing is left behind when that fails.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = files::temp_beside(path);
    let file = files::create_private(&tmp).map_err(|e| retarget(e, &tmp, path))?;
    let done = files::finish(file, &tmp, bytes)
        .map_err(|e| retarget(e, &tmp, path))
        .and_then(|()| files::publish(&tmp, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}
