//! One file per command, each implementing [`Run`] for its clap type.

pub(crate) mod completions;
mod confirm;
mod demo;
mod disable;
mod doctor;
mod enroll;
mod export;
mod import;
pub(crate) mod keycheck;
mod keygen;
mod log;
mod restore;
mod rotate_key;
mod status;
mod verify;

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;

use crate::cli::{Command, Reason};
use crate::config::{Config, REQUIRE_REASON_VAR};
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
            Command::Export(c) => c.run(cfg),
            Command::Import(c) => c.run(cfg),
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

/// Streams every page of `pages` through `compute` (on all cores) and then
/// `consume`, as a pipeline of three threads: while this one reads page k+2
/// from the database, page k+1 is computed and page k consumed. Pages are consumed
/// in order; the first error (from any stage) stops the others.
pub fn stream<T: Send>(
    mut pages: Box<dyn Pages + '_>,
    compute: impl Fn(&TokenRow) -> T + Sync,
    mut consume: impl FnMut(Vec<TokenRow>, Vec<T>) -> Result<()> + Send,
) -> Result<()> {
    let compute = &compute;
    std::thread::scope(|s| {
        let (to_compute, computing) = sync_channel::<Vec<TokenRow>>(2);
        let (to_consume, consuming) = sync_channel::<(Vec<TokenRow>, Vec<T>)>(2);
        s.spawn(move || compute_pages(computing, compute, to_consume));
        // A failed consumer hangs up, which stops the computer, which stops the reader.
        let consumer = s.spawn(move || consuming.into_iter().try_for_each(|(r, o)| consume(r, o)));
        let read = loop {
            match pages.next_page() {
                Ok(Some(rows)) => {
                    if to_compute.send(rows).is_err() {
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        drop(to_compute);
        let consumed = consumer.join().expect("a consumer thread panicked");
        consumed.and(read)
    })
}

/// The middle stage of [`stream`] and [`stream_here`]: each page computed
/// on all cores and handed on, in order, until either neighbour hangs up.
fn compute_pages<T: Send>(
    pages: Receiver<Vec<TokenRow>>,
    compute: &(impl Fn(&TokenRow) -> T + Sync),
    out: SyncSender<(Vec<TokenRow>, Vec<T>)>,
) {
    for rows in pages {
        let computed = rows.par_iter().map(compute).collect();
        if out.send((rows, computed)).is_err() {
            return;
        }
    }
}

/// [`stream`] for a consumer that must run on this thread, because it
/// writes through the connection the pages are read from: while page k+1 is
/// computed (on all cores), this thread reads page k+2, then consumes page
/// k. Pages are consumed in order; the first error stops everything.
pub fn stream_here<T: Send>(
    mut pages: Box<dyn Pages + '_>,
    compute: impl Fn(&TokenRow) -> T + Sync,
    mut consume: impl FnMut(Vec<TokenRow>, Vec<T>) -> Result<()>,
) -> Result<()> {
    /// Pages read but not yet consumed.
    const AHEAD: usize = 2;
    let compute = &compute;
    std::thread::scope(|s| {
        let (to_compute, computing) = sync_channel::<Vec<TokenRow>>(AHEAD);
        let (to_consume, consuming) = sync_channel::<(Vec<TokenRow>, Vec<T>)>(AHEAD);
        s.spawn(move || compute_pages(computing, compute, to_consume));
        // Returning drops both channel ends, which stops the computing thread.
        let mut reading = Some(to_compute);
        let mut ahead = 0;
        loop {
            while ahead < AHEAD
                && let Some(send) = &reading
            {
                match pages.next_page()? {
                    Some(rows) => {
                        send.send(rows)
                            .expect("the computing thread waits for pages");
                        ahead += 1;
                    }
                    None => reading = None,
                }
            }
            if ahead == 0 {
                return Ok(());
            }
            let (rows, out) = consuming.recv().expect("a computing thread panicked");
            ahead -= 1;
            consume(rows, out)?;
        }
    })
}

/// The longest `--reason`, in characters: a sentence or two, not a document.
pub const REASON_MAX: usize = 500;

/// The checked `--reason` of a changing command: refused (exit 2) when empty
/// or blank, longer than [`REASON_MAX`] characters, or missing while
/// `MEX2FA_REQUIRE_REASON` is on. Called before anything is asked or written.
pub(crate) fn reason(cfg: &Config, given: &Reason) -> Result<Option<String>> {
    match given.reason.as_deref() {
        None if cfg.require_reason => Err(Error::usage(format!(
            "this command needs --reason TEXT ({REQUIRE_REASON_VAR} is on); say why in a few words"
        ))),
        None => Ok(None),
        Some(r) if r.trim().is_empty() => Err(Error::usage(
            "--reason is empty; say why in a few words, or leave the flag out",
        )),
        Some(r) if r.chars().count() > REASON_MAX => Err(Error::usage(format!(
            "--reason is {} characters long; at most {REASON_MAX} are kept in the audit log",
            r.chars().count()
        ))),
        Some(r) => Ok(Some(r.to_string())),
    }
}

/// The seconds of a `--ttl` value (exit 2 when malformed). A TTL past the
/// end of i64 time would wrap into an already-expired enrollment.
fn parse_ttl(ttl: &str) -> Result<u64> {
    crate::clock::parse_duration(ttl)
        .filter(|&t| t > 0)
        .filter(|&t| {
            i64::try_from(t)
                .is_ok_and(|t| (crate::clock::now() as i64).checked_add(t).is_some())
        })
        .ok_or_else(|| {
            Error::usage(format!(
                "--ttl '{}' is not a usable duration; use seconds or a number with s, m, h or d (e.g. 15m)",
                ui::escape(ttl)
            ))
        })
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
    // An empty value is no token either: no key would open it, so blaming
    // the key (below) would send the operator the wrong way.
    let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
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
        // `extra` may hold the secret of an enrollment (enroll --show-secret --code).
        ui::json_secret(doc);
    }
    ui::message(&format!(
        "mex2fa: code not accepted for '{}': {}",
        ui::escape(user),
        drift_hint(drift)
    ));
    Error::Silent(Exit::Rejected)
}
