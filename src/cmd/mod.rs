//! One file per command, each implementing [`Run`] for its clap type.

mod completions;
mod confirm;
mod demo;
mod disable;
mod doctor;
mod enroll;
mod keygen;
mod log;
mod restore;
mod rotate_key;
mod status;
mod verify;

use rayon::prelude::*;

use crate::cli::Command;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::db::{Pages, TokenRow};
use crate::error::{Error, Exit, Result};
use crate::totp::{Code, Secret};
use crate::ui;

pub trait Run {
    fn run(&self, cfg: &Config) -> Result<()>;
}

impl Run for Command {
    fn run(&self, cfg: &Config) -> Result<()> {
        match self {
            Command::Enroll(c) => c.run(cfg),
            Command::Confirm(c) => c.run(cfg),
            Command::Verify(c) => c.run(cfg),
            Command::Disable(c) => c.run(cfg),
            Command::RotateKey(c) => c.run(cfg),
            Command::Restore(c) => c.run(cfg),
            Command::Status(c) => c.run(cfg),
            Command::Doctor(c) => c.run(cfg),
            Command::Keygen(c) => c.run(cfg),
            Command::Completions(c) => c.run(cfg),
            Command::Demo(c) => c.run(cfg),
            Command::Log(c) => c.run(cfg),
        }
    }
}

/// Streams every page of `pages` through `compute` (on all cores) and hands
/// each page with its results to `consume` (on this thread), overlapping the
/// two: page k+1 is computed while page k is consumed and k+2 is read.
pub fn stream<T: Send>(
    mut pages: Pages<'_>,
    compute: impl Fn(&TokenRow) -> T + Sync,
    mut consume: impl FnMut(Vec<TokenRow>, Vec<T>) -> Result<()>,
) -> Result<()> {
    let compute = &compute;
    let mut next = pages.next_page()?;
    let mut ready: Option<(Vec<TokenRow>, Vec<T>)> = None;
    while next.is_some() || ready.is_some() {
        let rows = next.take();
        let (computed, consumed, read) = std::thread::scope(|s| {
            let worker = rows
                .as_ref()
                .map(|r| s.spawn(move || r.par_iter().map(compute).collect::<Vec<T>>()));
            let consumed = ready.take().map_or(Ok(()), |(r, out)| consume(r, out));
            let read = match (&consumed, &rows) {
                (Ok(()), Some(_)) => pages.next_page(),
                _ => Ok(None),
            };
            let computed = worker.map(|w| w.join().expect("a crypto worker panicked"));
            (computed, consumed, read)
        });
        consumed?;
        next = read?;
        if let (Some(r), Some(out)) = (rows, computed) {
            ready = Some((r, out));
        }
    }
    Ok(())
}

/// Parses a `--code` value given on the command line (exit 2 when malformed).
fn parse_code(code: &str) -> Result<Code> {
    Code::parse(code).map_err(Error::Usage)
}

/// The code from `--code`, else a hidden prompt on a terminal, else one line of stdin.
fn obtain_code(given: Option<&str>, prompt: &str) -> Result<Code> {
    if let Some(c) = given {
        return parse_code(c);
    }
    if ui::stdin_is_tty() {
        return parse_code(&ui::prompt_hidden(prompt)?);
    }
    match ui::read_stdin_line()? {
        Some(line) => parse_code(&line),
        None => Err(Error::usage(
            "no code given: pass --code CODE, type it at the prompt, or pipe it on stdin",
        )),
    }
}

/// Decrypts a token read from the database into a TOTP secret.
fn open_secret(key: &MasterKey, token: Option<&str>, what: &str) -> Result<Secret> {
    let token = token.ok_or_else(|| {
        Error::key(format!(
            "{what} is not a Fernet token (it is empty, NULL or a number); run mex2fa doctor, then disable and re-enroll the user"
        ))
    })?;
    let plain = key.decrypt(token).ok_or_else(|| {
        Error::key(format!(
            "{what} does not decrypt with this master key; check that TWOFA_MASTER_KEY is the app's key (mex2fa doctor checks every token)"
        ))
    })?;
    Secret::from_plaintext(&plain).map_err(|p| {
        Error::key(format!(
            "{what} decrypts, but {p}; disable and re-enroll the user"
        ))
    })
}

/// Human wording for a code that matched a nearby step instead of now.
fn drift_hint(drift: Option<i64>) -> String {
    match drift {
        Some(d) if d < 0 => format!(
            "this code was valid {} s ago — the phone's clock is slow, or the code was stale",
            -d * 30
        ),
        Some(d) => format!(
            "this code will be valid in {} s — the phone's clock is fast",
            d * 30
        ),
        None => {
            "it matches no step within 5 minutes either way: wrong account, wrong secret, or a typo"
                .into()
        }
    }
}

/// Reports a rejected code (stderr, and the JSON document) and yields exit 1.
fn rejected(cfg: &Config, user: &str, drift: Option<i64>, extra: serde_json::Value) -> Error {
    if cfg.json {
        let mut doc = serde_json::json!({
            "user": user,
            "accepted": false,
            "drift_steps": drift,
        });
        if let (Some(o), serde_json::Value::Object(e)) = (doc.as_object_mut(), extra) {
            o.extend(e);
        }
        ui::json(&doc);
    }
    eprintln!(
        "mex2fa: code not accepted for '{}': {}",
        ui::escape(user),
        drift_hint(drift)
    );
    Error::Silent(Exit::Rejected)
}
