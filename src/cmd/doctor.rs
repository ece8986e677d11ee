//! `doctor`: the database, the mapping, the key and every stored token —
//! what would lock a user out, found before the user finds it.

use std::sync::atomic::{AtomicBool, Ordering};

use super::keycheck::{self, Proof, State};
use super::rotate_key::PAGE;
use super::{Run, reason, stream};
use crate::cli::Doctor;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::db::{AccountId, AuditEntry, Place, Stored, TokenRow};
use crate::error::{Error, Exit, Result};
use crate::totp::{Secret, SecretProblem};
use crate::{clock, note, ui};

/// Findings listed in full before the rest are only counted.
const LISTED: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    /// A state inconsistency (exit 3).
    State,
    /// A token that does not decrypt or a key problem (exit 4).
    Key,
}

struct Finding {
    severity: Severity,
    code: &'static str,
    /// `account`, `pending`, or `meta` (mex2fa's key check value).
    place: &'static str,
    id: Option<AccountId>,
    user: String,
    message: String,
}

/// What one row tells: nothing when it is healthy.
fn examine(
    row: &TokenRow,
    key: Option<&MasterKey>,
    now: i64,
) -> Vec<(Severity, &'static str, String)> {
    let mut found: Vec<_> = examine_token(row, key, now).into_iter().collect();
    if let Some(flag) = &row.odd_flag {
        found.push((
            Severity::State,
            "odd-flag",
            format!(
                "the enabled flag holds {}, not 0 or 1; the app (and mex2fa) read it as {} by Python's truthiness; mex2fa disable or enroll writes a clean flag",
                ui::escape(flag),
                if row.enabled { "on" } else { "off" }
            ),
        ));
    }
    found
}

/// The message of a token stored as hex text.
const HEX_TOKEN: &str = "the token is stored as hex text (\\x...), as psycopg writes Python bytes into a text column: the app cannot read it; doctor --fix turns it back into the token";

/// What one row's token tells; `None` when it is healthy.
fn examine_token(
    row: &TokenRow,
    key: Option<&MasterKey>,
    now: i64,
) -> Option<(Severity, &'static str, String)> {
    use Severity::*;
    let token = row.value.token().filter(|_| !row.value.is_blank());
    if row.place == Place::Pending {
        if !row.enabled {
            return Some((
                State,
                "orphan-pending",
                "a pending enrollment for an account that no longer exists".into(),
            ));
        }
        if row.expires_at.is_some_and(|t| t <= now) {
            return Some((
                State,
                "expired-pending",
                "an expired pending enrollment (doctor --fix removes it)".into(),
            ));
        }
    } else {
        match (&row.value, row.enabled) {
            (Stored::Null, true) => {
                return Some((State, "enabled-without-secret", "2FA is enabled but no secret is stored: the user cannot log in; disable and re-enroll".into()));
            }
            (Stored::Null, false) => return None,
            (Stored::Number(_), _) => {
                return Some((
                    Key,
                    "not-a-token",
                    "the secret column holds a number, not a Fernet token; disable and re-enroll"
                        .into(),
                ));
            }
            (v, _) if v.is_blank() => {
                return Some((
                    State,
                    "empty-secret",
                    format!(
                        "the secret is {}, not a token (the app's Disable stores NULL); disable and re-enroll",
                        v.describe()
                    ),
                ));
            }
            (_, false) if token.is_some() => {
                return Some((State, "disabled-with-secret", "2FA is off but a secret is still stored (the app's Disable clears it); mex2fa disable clears it".into()));
            }
            _ => {}
        }
    }
    if let Some(hex) = row.value.hex_token() {
        let opens = key.is_none_or(|k| k.decrypt(&hex).is_some());
        return Some((
            Key,
            "hex-token",
            if opens {
                HEX_TOKEN.to_string()
            } else {
                format!("{HEX_TOKEN}; it does not decrypt with this master key either")
            },
        ));
    }
    let key = key?;
    let Some(token) = token else {
        return Some((
            Key,
            "not-a-token",
            format!(
                "the stored value is {}, not a Fernet token",
                row.value.describe()
            ),
        ));
    };
    let Some(plain) = key.decrypt(token) else {
        return Some((Key, "does-not-decrypt", "the token does not decrypt with this master key (written under another key? rotate-key --old-key-file fixes stragglers)".into()));
    };
    match Secret::from_plaintext(&plain) {
        Err(p @ SecretProblem::TooShort { .. }) => Some((
            Key,
            "too-short",
            format!("the token decrypts, but {p}; disable and re-enroll"),
        )),
        Err(p) => Some((Key, "not-base32", format!("the token decrypts, but {p}"))),
        Ok(s) if s.bits() < 128 => Some((
            State,
            "weak-secret",
            format!(
                "the secret has {} bits; at least 128 are expected",
                s.bits()
            ),
        )),
        Ok(_) => None,
    }
}

/// How the key check value stands, as `doctor` reports it: `present` when
/// there is no key to check it with.
fn check_word(state: Option<State>, present: bool) -> &'static str {
    match state {
        Some(s) => s.word(),
        None if present => "present",
        None => "missing",
    }
}

/// The line of the text report about the key check value.
fn check_line(state: Option<State>, present: bool) -> &'static str {
    match state {
        Some(State::Matches(_)) => "key check value: matches this master key",
        Some(State::Missing) => {
            "key check value: missing (the next command that writes a secret, or doctor --fix, writes it)"
        }
        Some(State::Stale) => {
            "key check value: stale: not under this master key, but the stored secrets are (doctor --fix rewrites it)"
        }
        Some(State::Wrong) => {
            "key check value: wrong: this is not the key this database was last used with"
        }
        None if present => "key check value: present (not checked without a master key)",
        None => "key check value: missing",
    }
}

impl Run for Doctor {
    fn run(&self, cfg: &Config) -> Result<()> {
        let why = if self.fix {
            reason(cfg, &self.reason)?
        } else {
            None
        };
        let mut db = if self.fix {
            cfg.open_write()?
        } else {
            cfg.open_read()?
        };
        let mut findings: Vec<Finding> = Vec::new();
        let (mut counts, mut more) = ([0u64; 2], 0u64);
        let key = match cfg.master_key() {
            Ok(k) => Some(k),
            Err(e) => {
                findings.push(Finding {
                    severity: Severity::Key,
                    code: "no-key",
                    place: Place::Account.name(),
                    id: None,
                    user: String::new(),
                    message: format!("{e}; tokens were not checked"),
                });
                None
            }
        };
        let now = clock::now() as i64;
        let (mut accounts, mut enabled, mut tokens, mut pending, mut expired) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        // Hex tokens --fix turns back: where, what is stored, the token.
        let mut hex: Vec<(Place, AccountId, String, String)> = Vec::new();
        // Whether any token is stored, and whether one decrypts under the
        // key: what proves a key the check value does not match.
        let (seen, opened) = (AtomicBool::new(false), AtomicBool::new(false));
        for place in [Place::Account, Place::Pending] {
            stream(
                db.pages(place, false, PAGE)?,
                |row| {
                    if let Some(t) = row.value.token().filter(|_| !row.value.is_blank()) {
                        seen.store(true, Ordering::Relaxed);
                        if !opened.load(Ordering::Relaxed)
                            && key.as_ref().is_some_and(|k| k.decrypt(t).is_some())
                        {
                            opened.store(true, Ordering::Relaxed);
                        }
                    }
                    examine(row, key.as_ref(), now)
                },
                |rows, outs| {
                    for (row, out) in rows.iter().zip(outs) {
                        match place {
                            Place::Account => {
                                accounts += 1;
                                enabled += u64::from(row.enabled);
                                tokens +=
                                    u64::from(row.value.token().is_some() && !row.value.is_blank());
                            }
                            Place::Pending => pending += 1,
                        }
                        for (severity, code, message) in out {
                            expired += u64::from(code == "expired-pending");
                            if code == "hex-token"
                                && let (Some(stored), Some(token)) =
                                    (row.value.token(), row.value.hex_token())
                            {
                                hex.push((place, row.id.clone(), stored.to_string(), token));
                            }
                            counts[severity as usize] += 1;
                            if findings.len() < LISTED {
                                findings.push(Finding {
                                    severity,
                                    code,
                                    place: place.name(),
                                    id: Some(row.id.clone()),
                                    user: row.user.clone(),
                                    message,
                                });
                            } else {
                                more += 1;
                            }
                        }
                    }
                    Ok(())
                },
            )?;
        }
        if key.is_none() {
            counts[Severity::Key as usize] += 1;
        }

        let check = db.key_check()?;
        let proof = match (seen.into_inner(), opened.into_inner()) {
            (_, true) => Proof::Opens,
            (true, false) => Proof::NoneOpen,
            (false, false) => Proof::NoTokens,
        };
        let mut state = match &key {
            Some(k) => Some(keycheck::judge(
                check.as_ref().map(|c| c.token.as_str()),
                &[k],
                || Ok(proof),
            )?),
            None => None,
        };
        if state == Some(State::Wrong) {
            counts[Severity::Key as usize] += 1;
            findings.push(Finding {
                severity: Severity::Key,
                code: "wrong-key",
                place: "meta",
                id: None,
                user: String::new(),
                message: "this is not the key this database was last used with: mex2fa's key check value does not decrypt under it, and no stored token does; use the app's TWOFA_MASTER_KEY (doctor --fix --accept-key writes a new check value, if the app's key was replaced on purpose)".into(),
            });
        }
        // What --fix writes: a missing check value unless the stored tokens
        // contradict the key, a stale one, a wrong one only when told to.
        let write_check = self.fix
            && match state {
                Some(State::Missing) => proof != Proof::NoneOpen,
                Some(State::Stale) => true,
                Some(State::Wrong) => self.accept_key,
                Some(State::Matches(_)) | None => false,
            };

        let (mut fixed, mut unhexed) = (0, 0u64);
        if self.fix && (expired > 0 || !hex.is_empty() || write_check) {
            let mut work = Vec::new();
            if expired > 0 {
                work.push(format!("remove {expired} expired pending enrollments"));
            }
            if !hex.is_empty() {
                work.push(format!(
                    "turn {} back into tokens",
                    ui::count(hex.len() as u64, "hex-text token")
                ));
            }
            if write_check {
                work.push(match state {
                    Some(State::Wrong) => {
                        "write a new key check value under this master key, which nothing proves right (--accept-key)".to_string()
                    }
                    Some(State::Stale) => "rewrite the stale key check value".to_string(),
                    _ => "write the key check value".to_string(),
                });
            }
            let mut question = work.join(" and ");
            question[..1].make_ascii_uppercase();
            ui::confirm(&format!("{question}?"), self.yes)?;
            let os_user = cfg.os_user();
            (fixed, unhexed) = db.write(|tx| {
                let n = if expired > 0 {
                    tx.delete_expired_pending(now)?
                } else {
                    0
                };
                let mut unhexed = 0u64;
                for (place, id, stored, token) in &hex {
                    // Only where the row still holds the hex text that was read.
                    unhexed += u64::from(tx.swap_token(*place, id, stored, token)?);
                }
                if let (true, Some(k)) = (write_check, &key) {
                    keycheck::write(tx, k)?;
                }
                tx.audit(AuditEntry {
                    os_user: &os_user,
                    action: "doctor-fix",
                    account: None,
                    detail: [
                        (expired > 0).then(|| format!("removed {n} expired pending enrollments")),
                        (!hex.is_empty())
                            .then(|| format!("turned {unhexed} hex-text tokens back into tokens")),
                        write_check.then(|| {
                            format!(
                                "wrote the key check value (it was {})",
                                check_word(state, check.is_some())
                            )
                        }),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; "),
                    reason: why.as_deref(),
                })?;
                Ok((n, unhexed))
            })?;
            // A hex token whose row changed meanwhile was left as it is: still listed.
            let all_unhexed = unhexed == hex.len() as u64;
            findings
                .retain(|f| f.code != "expired-pending" && (f.code != "hex-token" || !all_unhexed));
            counts[Severity::State as usize] -= expired.min(counts[Severity::State as usize]);
            counts[Severity::Key as usize] -= unhexed.min(counts[Severity::Key as usize]);
            if write_check {
                if state == Some(State::Wrong) {
                    findings.retain(|f| f.code != "wrong-key");
                    counts[Severity::Key as usize] -= 1;
                }
                state = Some(State::Matches(0));
            }
        }
        let present = check.is_some() || state == Some(State::Matches(0));

        let exit = if counts[Severity::Key as usize] > 0 {
            Exit::Key
        } else if counts[Severity::State as usize] > 0 {
            Exit::State
        } else {
            Exit::Ok
        };
        if cfg.json {
            let list: Vec<_> = findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "severity": if f.severity == Severity::Key { "key" } else { "state" },
                        "code": f.code,
                        "place": f.place,
                        // The id's JSON form, as in status, log and disable.
                        "id": f.id.as_ref().map(AccountId::to_json),
                        "user": f.user,
                        "message": f.message,
                    })
                })
                .collect();
            ui::json(&serde_json::json!({
                "healthy": exit == Exit::Ok,
                "exit": exit as u8,
                "database": db.location(),
                "token_form": format!("{:?}", db.token_form()).to_lowercase(),
                "accounts": accounts,
                "enabled": enabled,
                "tokens": tokens,
                "pending": pending,
                "fixed": fixed as u64 + unhexed + u64::from(write_check),
                "key_check": check_word(state, present),
                "findings": list,
                "more_findings": more,
            }));
        } else {
            if !findings.is_empty() {
                let mut table =
                    ui::table(&["severity", "problem", "where", "id", "user", "detail"]);
                for f in &findings {
                    table.add_row(vec![
                        if f.severity == Severity::Key {
                            "KEY"
                        } else {
                            "state"
                        }
                        .to_string(),
                        f.code.to_string(),
                        f.place.to_string(),
                        f.id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
                        ui::escape(&f.user).into_owned(),
                        f.message.clone(),
                    ]);
                }
                ui::out(&format!("{table}\n"));
                if more > 0 {
                    ui::out(&format!(
                        "... and {more} more findings (use --json for the first {LISTED})\n"
                    ));
                }
            }
            if fixed > 0 {
                ui::out(&format!("removed {fixed} expired pending enrollments\n"));
            }
            if unhexed > 0 {
                ui::out(&format!(
                    "turned {} back into tokens\n",
                    ui::count(unhexed, "hex-text token")
                ));
            }
            if write_check {
                ui::out("wrote the key check value under this master key\n");
            }
            ui::out(&format!("{}\n", check_line(state, present)));
            ui::out(&format!(
                "{}: {} ({accounts} accounts, {enabled} with 2FA enabled, {tokens} stored tokens, {pending} pending; secrets written as {:?})\n",
                ui::escape(&db.location()),
                match exit {
                    Exit::Ok => "healthy".to_string(),
                    _ => format!(
                        "{} key problem(s), {} state problem(s)",
                        counts[Severity::Key as usize],
                        counts[Severity::State as usize]
                    ),
                },
                db.token_form()
            ));
            if exit != Exit::Ok {
                note!(cfg, "see the table above; each line says what to do");
            }
        }
        if exit == Exit::Ok {
            Ok(())
        } else {
            Err(Error::Silent(exit))
        }
    }
}
