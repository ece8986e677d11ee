//! `import PATH`: the secrets of an export file given to the users of this
//! database, matched by name, in one transaction with an audit row a user
//! (the README's "Move 2FA to another database"). Every record is parsed
//! and checked, and every user found, before anything is written.
//!
//! A user who already has 2FA enabled is a conflict (`--on-conflict`). A
//! pending enrollment in the way is not: it never took effect, and the
//! import replaces it (an enabled record removes it, as `confirm` does; a
//! pending record takes its place, as `enroll` does).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use super::{Run, keycheck, parse_ttl, reason};
use crate::cli::{Import, ImportFormat, OnConflict};
use crate::config::{Config, read_key_file_as};
use crate::db::{Account, AccountId, AuditEntry};
use crate::error::{Error, Exit, Result};
use crate::transfer::{self, Form, Record, State};
use crate::{clock, note, ui};

/// What the import does with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Enabled 2FA for a user who had none.
    Enable,
    /// The file's secret in place of the user's enabled one.
    Replace,
    /// A pending enrollment.
    Enroll,
    /// Left alone: the user has 2FA enabled (`--on-conflict skip`).
    Skip,
    /// Would stop the import (`--on-conflict fail`).
    Conflict,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Enable => "enable",
            Action::Replace => "replace",
            Action::Enroll => "enroll",
            Action::Skip => "skip",
            Action::Conflict => "conflict",
        }
    }
}

/// One record and what happens to it.
struct Step {
    record: Record,
    account: Account,
    action: Action,
}

/// Reads the whole file: a regular file of at most
/// [`MAX_INPUT`](transfer::MAX_INPUT) bytes of UTF-8 text (exit 2 when it is
/// not; exit 5 when the disk fails).
fn read_input(path: &Path) -> Result<Zeroizing<String>> {
    let shown = path.display();
    let mut file = crate::files::open_for_reading(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::usage(format!("{shown} not found; check the path")),
        kind if crate::files::is_path_problem(kind) => {
            Error::usage(format!("cannot read {shown}: {e}"))
        }
        _ => Error::io(format!("cannot read {shown}: {e}")),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot read {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(Error::usage(format!(
            "{shown} is not a regular file (a directory, a device or a pipe); pass an export file"
        )));
    }
    let limit = transfer::MAX_INPUT;
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len().min(limit) as usize + 1));
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::usage(format!(
            "{shown} is larger than {} MiB; it is not an export file",
            limit >> 20
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::usage(format!("{shown} is not text (UTF-8); pass an export file")))?;
    Ok(Zeroizing::new(text.to_string()))
}

/// `e` with where it happened in front, keeping its exit code.
fn at(place: &str, e: Error) -> Error {
    let say = |s: String| format!("{place}: {s}; nothing was written");
    match e {
        Error::Usage(s) => Error::Usage(say(s)),
        Error::State(s) => Error::State(say(s)),
        Error::Key(s) => Error::Key(say(s)),
        Error::Database(s) => Error::Database(say(s)),
        other => other,
    }
}

impl From<ImportFormat> for Form {
    fn from(f: ImportFormat) -> Form {
        match f {
            ImportFormat::Bundle => Form::Bundle,
            ImportFormat::Otpauth => Form::Otpauth,
            ImportFormat::Csv => Form::Csv,
            ImportFormat::Json => Form::Json,
        }
    }
}

impl Run for Import {
    fn run(&self, cfg: &Config) -> Result<()> {
        let ttl = parse_ttl(&self.ttl)?;
        let shown = self.path.display().to_string();
        let text = read_input(&self.path)?;
        if text.trim().is_empty() {
            return Err(Error::usage(format!(
                "{shown} is empty; pass a file that mex2fa export (or another tool) wrote"
            )));
        }
        let form = match self.format {
            Some(f) => Form::from(f),
            None => Form::detect(&text).ok_or_else(|| {
                Error::usage(format!(
                    "cannot tell what {shown} holds: not a bundle, otpauth:// URIs, the CSV ({}) or a JSON array; pass --format",
                    transfer::CSV_HEADER
                ))
            })?,
        };
        match (form, &self.bundle_key_file) {
            (Form::Bundle, None) => {
                return Err(Error::usage(format!(
                    "{shown} is a sealed bundle: pass --bundle-key-file PATH, the key it was exported with"
                )));
            }
            (Form::Bundle, Some(_)) | (_, None) => {}
            (other, Some(_)) => {
                return Err(Error::usage(format!(
                    "--bundle-key-file opens a bundle, and {shown} holds {} (not sealed); drop --bundle-key-file",
                    other.name()
                )));
            }
        }
        let (records, issuers) = match form {
            Form::Bundle => {
                let key = read_key_file_as(
                    self.bundle_key_file.as_deref().expect("checked"),
                    "--bundle-key-file",
                    "bundle key",
                )?;
                let b = transfer::open(&text, &key, &shown)?;
                (b.records, vec![b.issuer])
            }
            Form::Otpauth => transfer::from_otpauth(&text, &shown)?,
            Form::Csv => (transfer::from_csv(&text, &shown)?, Vec::new()),
            Form::Json => (transfer::from_json(&text, &shown)?, Vec::new()),
        };
        drop(text);
        if records.is_empty() {
            return Err(Error::usage(format!(
                "{shown} holds no users; nothing was written"
            )));
        }
        let mut first_at: HashMap<(&str, State), &Record> = HashMap::new();
        for r in &records {
            if let Some(first) = first_at.insert((r.user.as_str(), r.state), r) {
                return Err(Error::usage(format!(
                    "{}: '{}' ({}) is there twice, also at {}; nothing was written",
                    r.place,
                    ui::escape(&r.user),
                    r.state.as_str(),
                    first
                        .place
                        .strip_prefix(&format!("{shown}: "))
                        .unwrap_or(&first.place)
                )));
            }
        }
        for issuer in issuers.iter().filter(|i| **i != cfg.issuer) {
            note!(
                cfg,
                "mex2fa: note: {shown} was exported under the issuer '{}' and this database uses '{}': authenticator entries keep their label and work all the same",
                ui::escape(issuer),
                ui::escape(&cfg.issuer)
            );
        }

        // A dry run changes nothing: it records no reason and needs none.
        let why = if self.dry_run {
            None
        } else {
            reason(cfg, &self.reason)?
        };
        let mut db = cfg.open_write()?;
        let key = cfg.master_key()?;
        // Secrets imported under a key the app does not use would lock
        // every imported user out: a key the check value refuses stops here.
        let write_check = keycheck::guard(cfg, db.as_mut(), &key)?;
        let steps = self.plan(db.as_mut(), records)?;
        let conflicts: Vec<&Step> = steps
            .iter()
            .filter(|s| s.action == Action::Conflict)
            .collect();
        let conflict_error = (!conflicts.is_empty()).then(|| {
            let mut names: Vec<String> = Vec::new();
            let mut named = HashSet::new();
            for s in &conflicts {
                if named.insert(&s.account.id) {
                    names.push(format!("'{}'", ui::escape(&s.account.user)));
                }
            }
            Error::state(format!(
                "{} already {} 2FA enabled; nothing was written: pass --on-conflict skip to leave {} as {}, or --on-conflict replace to give {} the file's secret",
                names.join(", "),
                if names.len() == 1 { "has" } else { "have" },
                if names.len() == 1 { "that user" } else { "those users" },
                if names.len() == 1 { "it is" } else { "they are" },
                if names.len() == 1 { "it" } else { "them" },
            ))
        });
        let now = clock::now() as i64;
        let expires_at = now.saturating_add(ttl as i64);
        if self.dry_run {
            self.report(cfg, &steps, &shown, form, expires_at);
            return match conflict_error {
                Some(e) => {
                    ui::message(&format!("mex2fa: {e}"));
                    Err(Error::Silent(Exit::State))
                }
                None => Ok(()),
            };
        }
        if let Some(e) = conflict_error {
            return Err(e);
        }

        // Encrypted before the transaction, so that it holds its locks only
        // for the writes.
        let tokens: Vec<Zeroizing<String>> = steps
            .iter()
            .map(|s| Zeroizing::new(key.encrypt(s.record.secret.as_str().as_bytes())))
            .collect();
        let os_user = cfg.os_user();
        db.write(|tx| {
            let mut seen: HashSet<&AccountId> = HashSet::new();
            let with_pending: HashSet<&AccountId> = steps
                .iter()
                .filter(|o| o.record.state == State::Pending)
                .map(|o| &o.account.id)
                .collect();
            for (step, token) in steps.iter().zip(&tokens) {
                if step.action == Action::Skip {
                    continue;
                }
                let account = tx.account(&step.account.user)?;
                // Read again inside the transaction: what was planned must
                // still hold (the second record of a user sees the first's write).
                let first = seen.insert(&step.account.id);
                if account.id != step.account.id
                    || (first && account.enabled != step.account.enabled)
                {
                    return Err(Error::state(format!(
                        "'{}' changed while mex2fa was importing; nothing was written, run the command again",
                        ui::escape(&account.user)
                    )));
                }
                // A pending enrollment the file does not replace is removed
                // with an enabled record, as confirm removes it.
                let file_has_pending = with_pending.contains(&step.account.id);
                let detail = match step.action {
                    Action::Enable | Action::Replace => {
                        tx.enable(&account.id, token)?;
                        let dropped = !file_has_pending && tx.delete_pending(&account.id)?;
                        format!(
                            "{} from {shown} ({}){}",
                            if step.action == Action::Replace {
                                "secret replaced (--on-conflict replace)"
                            } else {
                                "2FA enabled"
                            },
                            form.name(),
                            if dropped {
                                "; removed a pending enrollment"
                            } else {
                                ""
                            }
                        )
                    }
                    Action::Enroll => {
                        let replaced = tx.pending(&account.id)?.is_some();
                        tx.put_pending(&account.id, token, now, expires_at)?;
                        format!(
                            "pending until {} from {shown} ({}){}",
                            clock::format_utc(expires_at),
                            form.name(),
                            if replaced {
                                "; replaced an earlier pending enrollment"
                            } else {
                                ""
                            }
                        )
                    }
                    Action::Skip | Action::Conflict => unreachable!("not written"),
                };
                tx.audit(AuditEntry {
                    os_user: &os_user,
                    action: "import",
                    account: Some(&account),
                    detail,
                    reason: why.as_deref(),
                })?;
            }
            if write_check {
                keycheck::write(tx, &key)?;
            }
            Ok(())
        })?;
        self.report(cfg, &steps, &shown, form, expires_at);
        Ok(())
    }
}

impl Import {
    /// Finds every record's account (all must exist) and decides what
    /// happens to it.
    fn plan(&self, db: &mut dyn crate::db::Store, records: Vec<Record>) -> Result<Vec<Step>> {
        let mut steps: Vec<Step> = Vec::with_capacity(records.len());
        // Which record of the file each account already has, by state.
        let mut taken: HashMap<(AccountId, State), usize> = HashMap::new();
        for record in records {
            let account = db.account(&record.user).map_err(|e| at(&record.place, e))?;
            // Two names of the file may be one account (a case-insensitive
            // collation: ALICE and alice).
            if let Some(&i) = taken.get(&(account.id.clone(), record.state)) {
                let o = &steps[i];
                return Err(Error::state(format!(
                    "{}: '{}' and '{}' ({}) are the same account here (id {}); nothing was written",
                    record.place,
                    ui::escape(&record.user),
                    ui::escape(&o.record.user),
                    o.record.place,
                    account.id
                )));
            }
            let action = match (record.state, account.enabled, self.on_conflict) {
                (_, true, OnConflict::Fail) => Action::Conflict,
                (_, true, OnConflict::Skip) => Action::Skip,
                (State::Enabled, true, OnConflict::Replace) => Action::Replace,
                (State::Enabled, false, _) => Action::Enable,
                (State::Pending, _, _) => Action::Enroll,
            };
            taken.insert((account.id.clone(), record.state), steps.len());
            steps.push(Step {
                record,
                account,
                action,
            });
        }
        // Enabled records first, so a pending one for the same user follows.
        steps.sort_by_key(|s| s.record.state == State::Pending);
        Ok(steps)
    }

    fn report(&self, cfg: &Config, steps: &[Step], shown: &str, form: Form, expires_at: i64) {
        let until = clock::format_utc(expires_at);
        if cfg.json {
            let users: Vec<serde_json::Value> = steps
                .iter()
                .map(|s| {
                    let mut v = serde_json::json!({
                        "user": s.account.user,
                        "state": s.record.state.as_str(),
                        "action": s.action.name(),
                    });
                    if s.action == Action::Enroll {
                        v["expires_at"] = until.as_str().into();
                    }
                    v
                })
                .collect();
            let done = |a: &[Action]| steps.iter().filter(|s| a.contains(&s.action)).count();
            ui::json(&serde_json::json!({
                "dry_run": self.dry_run,
                "path": shown,
                "format": form.name(),
                "users": users,
                "imported": done(&[Action::Enable, Action::Replace, Action::Enroll]),
                "skipped": done(&[Action::Skip]),
                "conflicts": done(&[Action::Conflict]),
            }));
            return;
        }
        if cfg.quiet && !self.dry_run {
            return;
        }
        let mut out = String::new();
        for s in steps {
            let u = ui::escape(&s.account.user);
            let line = match (self.dry_run, s.action) {
                (true, Action::Enable) => format!("would enable 2FA for '{u}'"),
                (false, Action::Enable) => format!("2FA enabled for '{u}'"),
                (true, Action::Replace) => format!("would replace the secret of '{u}'"),
                (false, Action::Replace) => format!("secret replaced for '{u}'"),
                (true, Action::Enroll) => {
                    format!("would start an enrollment of '{u}', pending until {until}")
                }
                (false, Action::Enroll) => {
                    format!("enrollment of '{u}' pending until {until}")
                }
                (true, Action::Skip) => format!("would skip '{u}': 2FA already enabled"),
                (false, Action::Skip) => format!("skipped '{u}': 2FA already enabled"),
                (_, Action::Conflict) => format!("conflict: '{u}' already has 2FA enabled"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        ui::out(&out);
        if self.dry_run {
            note!(cfg, "dry run: nothing was written");
        }
    }
}
