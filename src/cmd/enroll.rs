//! `enroll USER`: a fresh secret, kept pending (encrypted) until a code from
//! the user's authenticator app confirms it; its QR code drawn for scanning.

use std::path::Path;

use super::confirm::{Context, Outcome, confirm_pending, report_enabled};
use super::{Run, drift_hint, keycheck, parse_code, parse_ttl, reason};
use crate::cli::Enroll;
use crate::config::Config;
use crate::db::AuditEntry;
use crate::error::{Error, Exit, Result};
use crate::qr::{Matrix, Style};
use crate::totp::{Code, Secret, provisioning_uri};
use crate::{clock, files, note, ui};
use zeroize::Zeroizing;

const ATTEMPTS: usize = 3;

impl Run for Enroll {
    fn run(&self, cfg: &Config) -> Result<()> {
        // Everything that can be refused is refused before the database changes.
        let ttl = parse_ttl(&self.ttl)?;
        let code = self.code.as_deref().map(parse_code).transpose()?;
        let why = reason(cfg, &self.reason)?;
        let mut db = cfg.open_write()?;
        let account = db.account(&self.user)?;
        let shown = ui::escape(&account.user).into_owned();
        if account.enabled && !self.force {
            return Err(Error::state(format!(
                "'{shown}' already has 2FA enabled; pass --force to re-enroll (the old secret keeps working until the new one is confirmed)"
            )));
        }
        // A re-enrollment at a terminal is asked first (scripts pass --force
        // alone, as before: nothing is destroyed until a code confirms it).
        if account.enabled && ui::stdin_is_tty() {
            ui::confirm(
                &format!(
                    "Re-enroll '{shown}' in {}? The current secret keeps working until the new one is confirmed.",
                    db.location()
                ),
                self.yes,
            )?;
        }
        let key = cfg.master_key()?;
        // A wrong key is refused before any image is written.
        let write_check = keycheck::guard(cfg, db.as_mut(), &key)?;
        let secret = Secret::generate();
        let uri = provisioning_uri(&secret, &account.user, &cfg.issuer);
        let matrix = Matrix::encode(&uri).map_err(Error::Usage)?;
        // Image files are written (and synced) before the enrollment is:
        // an existing path or a full disk stops us with nothing written, and
        // no partial file is left behind to block the retry.
        let mut images: Vec<&Path> = Vec::new();
        for (path, kind) in [(&self.png, Kind::Png), (&self.svg, Kind::Svg)] {
            if let Some(path) = path.as_deref()
                && let Err(e) = write_image(path, kind, &matrix, &mut images)
            {
                discard(&images);
                return Err(e);
            }
        }

        let token = key.encrypt(secret.as_str().as_bytes());
        let now = clock::now() as i64;
        let expires_at = now.saturating_add(ttl as i64);
        let os_user = cfg.os_user();
        let written = db.write(|tx| {
            let account = tx.account(&self.user)?;
            let replaced = tx.pending(&account.id)?.is_some();
            tx.put_pending(&account.id, &token, now, expires_at)?;
            tx.audit(AuditEntry {
                os_user: &os_user,
                action: "enroll",
                account: Some(&account),
                detail: format!(
                    "pending until {}{}{}",
                    clock::format_utc(expires_at),
                    if replaced {
                        "; replaced an earlier pending enrollment"
                    } else {
                        ""
                    },
                    if account.enabled {
                        "; re-enrollment (--force)"
                    } else {
                        ""
                    }
                ),
                reason: why.as_deref(),
            })?;
            if write_check {
                keycheck::write(tx, &key)?;
            }
            Ok(replaced)
        });
        let replaced = match written {
            Ok(r) => r,
            Err(e) => {
                discard(&images);
                return Err(e);
            }
        };
        for path in images {
            note!(
                cfg,
                "wrote the QR code to {} (mode 0600; it holds the secret: delete it after use)",
                path.display()
            );
        }

        // The confirmation that may follow records the same reason; the
        // enrollment has just written the check value.
        let ctx = Context {
            reason: why.as_deref(),
            write_check: false,
        };
        let mut doc = serde_json::json!({
            "user": account.user,
            "state": "pending",
            "expires_at": clock::format_utc(expires_at),
        });
        if self.show_secret {
            doc["otpauth_uri"] = uri.as_str().into();
            doc["secret"] = secret.as_str().into();
        }
        if cfg.json {
            if let Some(code) = &code {
                // A refused code leaves the enrollment pending: the document
                // must still say how to finish it.
                return finish_with_code(cfg, db.as_mut(), &key, &self.user, code, doc, ctx);
            }
            ui::json_secret(doc);
            return Ok(());
        }

        if !self.no_qr {
            let style = if ui::color_allowed(ui::stdout_is_tty()) {
                Style::Ansi
            } else if self.invert {
                Style::LightTerminal
            } else {
                Style::DarkTerminal
            };
            ui::out(&matrix.to_text(style));
        }
        if self.show_secret {
            ui::out(&ui::secret_line(&[uri.as_str()]));
            ui::out(&ui::secret_line(&["secret: ", secret.as_str()]));
        }
        if replaced {
            note!(cfg, "replaced an earlier pending enrollment of '{shown}'");
        }
        note!(
            cfg,
            "enrollment of '{shown}' is pending until {} ({}); scan the QR code with the authenticator app",
            clock::format_utc(expires_at),
            clock::format_span(ttl)
        );
        if let Some(code) = &code {
            return finish_with_code(cfg, db.as_mut(), &key, &self.user, code, doc, ctx);
        }
        if ui::stdin_is_tty() && ui::stderr_is_tty() {
            return guided(cfg, db.as_mut(), &key, &self.user, &shown, ctx);
        }
        note!(
            cfg,
            "then finish with: mex2fa confirm {} --code CODE",
            ui::escape(&self.user)
        );
        Ok(())
    }
}

enum Kind {
    Png,
    Svg,
}

/// Writes one QR image (0600, never over an existing file) and adds it to
/// `written`; a file created but not completely written is removed.
fn write_image<'a>(
    path: &'a Path,
    kind: Kind,
    matrix: &Matrix,
    written: &mut Vec<&'a Path>,
) -> Result<()> {
    let bytes = match kind {
        Kind::Png => matrix.to_png(8).map_err(Error::Usage)?,
        Kind::Svg => Zeroizing::new(matrix.to_svg().as_bytes().to_vec()),
    };
    let file = files::create_private(path)?;
    written.push(path);
    files::finish(file, path, &bytes)
}

/// Removes the image files this run created, when the enrollment did not happen.
fn discard(images: &[&Path]) {
    for path in images {
        let _ = std::fs::remove_file(path);
    }
}

fn finish_with_code(
    cfg: &Config,
    db: &mut dyn crate::db::Store,
    key: &crate::crypto::MasterKey,
    user: &str,
    code: &Code,
    mut pending: serde_json::Value,
    ctx: Context<'_>,
) -> Result<()> {
    match confirm_pending(cfg, db, key, user, code, ctx)? {
        Outcome::Enabled(account) => {
            ui::scrub(&mut pending);
            report_enabled(cfg, &account);
            Ok(())
        }
        Outcome::Rejected(drift) => Err(super::rejected(cfg, user, drift, pending)),
    }
}

/// The terminal flow: ask for the first code, three tries; the enrollment
/// stays pending whatever happens here (Ctrl-C included).
fn guided(
    cfg: &Config,
    db: &mut dyn crate::db::Store,
    key: &crate::crypto::MasterKey,
    user: &str,
    shown: &str,
    ctx: Context<'_>,
) -> Result<()> {
    ui::message(&format!(
        "type the 6-digit code the app shows to turn 2FA on (Ctrl-C stops; the enrollment stays pending: mex2fa confirm {})",
        ui::escape(user)
    ));
    for attempt in 1..=ATTEMPTS {
        let line = ui::prompt_hidden(&format!("code ({attempt}/{ATTEMPTS}): "))?;
        let code = match Code::parse(&line) {
            Ok(c) => c,
            Err(msg) => {
                ui::message(&msg);
                continue;
            }
        };
        match confirm_pending(cfg, db, key, user, &code, ctx)? {
            Outcome::Enabled(account) => {
                report_enabled(cfg, &account);
                return Ok(());
            }
            Outcome::Rejected(drift) => {
                ui::message(&format!("not accepted: {}", drift_hint(drift)))
            }
        }
    }
    ui::message(&format!(
        "no code accepted; the enrollment of '{shown}' stays pending: finish with mex2fa confirm {}",
        ui::escape(user)
    ));
    Err(Error::Silent(Exit::Rejected))
}
