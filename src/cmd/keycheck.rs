//! The key check value (see the README's "The key check value"): a Fernet
//! token of a fixed marker under the master key mex2fa last wrote tokens
//! with, kept in `mex2fa_meta`. It names a wrong key at once, even where no
//! account has 2FA yet, and never locks out an operator whose key opens the
//! stored tokens: for such a key the check value is *stale* (the app's key
//! was changed with other tools), and the command rewrites it.

use crate::clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::db::{Place, Store, Tx};
use crate::error::{Error, Result};
use crate::ui;

/// What the check value holds: a fixed marker, so that a token that merely
/// decrypts (one of the app's secrets copied there, say) is no proof.
const MARKER: &[u8] = b"mex2fa key check v1";

/// Token rows read per page while looking for one that proves a key.
const PAGE: usize = 512;

/// How the check value stands against the keys given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// None written yet (a database no mex2fa has written a token to since
    /// the check value was introduced).
    Missing,
    /// Under the key at this index of those given.
    Matches(usize),
    /// Under none of the keys, but a stored token is: the key is right and
    /// the check value out of date.
    Stale,
    /// Under none of the keys, and no stored token proves one of them.
    Wrong,
}

impl State {
    /// The word `doctor` reports (`key_check` in its JSON).
    pub fn word(self) -> &'static str {
        match self {
            State::Missing => "missing",
            State::Matches(_) => "matches",
            State::Stale => "stale",
            State::Wrong => "wrong",
        }
    }
}

/// What the stored tokens say about some keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// No token is stored.
    NoTokens,
    /// At least one stored token decrypts under one of the keys.
    Opens,
    /// Tokens are stored and none decrypts under any of the keys.
    NoneOpen,
}

/// A new check value under `key`.
pub fn token(key: &MasterKey) -> String {
    key.encrypt(MARKER)
}

/// Writes a new check value under `key`, inside the command's transaction.
pub fn write(tx: &mut dyn Tx, key: &MasterKey) -> Result<()> {
    tx.set_key_check(&token(key), clock::now() as i64)
}

/// Which of `keys` the check token `check` is under, if any.
fn opened_by(check: &str, keys: &[&MasterKey]) -> Option<usize> {
    keys.iter()
        .position(|k| k.decrypt(check).is_some_and(|p| p.as_slice() == MARKER))
}

/// Reads stored tokens (accounts, then pending) until one decrypts under
/// one of `keys`: with the right key that is the first one read.
pub fn prove(db: &mut dyn Store, keys: &[&MasterKey]) -> Result<Proof> {
    let mut seen = false;
    for place in [Place::Account, Place::Pending] {
        let mut pages = db.pages(place, true, PAGE)?;
        while let Some(rows) = pages.next_page()? {
            for row in rows {
                let Some(t) = row.value.token().filter(|_| !row.value.is_blank()) else {
                    continue;
                };
                seen = true;
                if keys.iter().any(|k| k.decrypt(t).is_some()) {
                    return Ok(Proof::Opens);
                }
            }
        }
    }
    Ok(if seen {
        Proof::NoneOpen
    } else {
        Proof::NoTokens
    })
}

/// How `check` stands against `keys`; `proof` is asked only when the check
/// value is under none of them.
pub fn judge(
    check: Option<&str>,
    keys: &[&MasterKey],
    proof: impl FnOnce() -> Result<Proof>,
) -> Result<State> {
    let Some(check) = check else {
        return Ok(State::Missing);
    };
    if let Some(i) = opened_by(check, keys) {
        return Ok(State::Matches(i));
    }
    Ok(match proof()? {
        Proof::Opens => State::Stale,
        Proof::NoTokens | Proof::NoneOpen => State::Wrong,
    })
}

/// The refusal of a key the check value does not match and nothing else
/// proves (exit 4), before anything is written.
pub fn wrong_key(what: &str) -> Error {
    Error::key(format!(
        "this is not the key this database was last used with: {what} does not decrypt mex2fa's key check value (in mex2fa_meta), and no stored secret proves it right; nothing was changed: use the app's TWOFA_MASTER_KEY (if the app's key was replaced on purpose, run mex2fa doctor --fix --accept-key with the new one)"
    ))
}

/// Says on stderr that the check value is stale and will be rewritten.
fn stale_warning(what: &str) {
    ui::message(&format!(
        "mex2fa: warning: mex2fa's key check value is not under {what}, but the stored secrets are (the app's key was changed with other tools?); it is rewritten with this change"
    ));
}

/// Before a command writes tokens under `key`: refuses a key the check
/// value shows to be wrong (exit 4), and says whether the command must
/// (re)write the check value in its transaction: when it is stale, or
/// missing and no stored token contradicts the key.
pub fn guard(cfg: &Config, db: &mut dyn Store, key: &MasterKey) -> Result<bool> {
    let check = db.key_check()?;
    let state = judge(check.as_ref().map(|c| c.token.as_str()), &[key], || {
        prove(db, &[key])
    })?;
    match state {
        State::Matches(_) => Ok(false),
        State::Stale => {
            stale_warning("this master key");
            Ok(true)
        }
        State::Wrong => Err(wrong_key("the master key given")),
        State::Missing => match prove(db, &[key])? {
            Proof::NoneOpen => {
                crate::note!(
                    cfg,
                    "mex2fa: no key check value is written yet, and none of the stored secrets decrypts under this master key; none is written now (mex2fa doctor checks every secret)"
                );
                Ok(false)
            }
            Proof::Opens | Proof::NoTokens => Ok(true),
        },
    }
}

/// Before a command that only reads secrets with `key`: refuses a key the
/// check value shows to be wrong (exit 4) at once, rather than naming every
/// secret that then fails to decrypt. Writes nothing and warns of nothing.
pub fn refuse_wrong(db: &mut dyn Store, key: &MasterKey) -> Result<()> {
    let check = db.key_check()?;
    match judge(check.as_ref().map(|c| c.token.as_str()), &[key], || {
        prove(db, &[key])
    })? {
        State::Wrong => Err(wrong_key("the master key given")),
        State::Missing | State::Matches(_) | State::Stale => Ok(()),
    }
}

/// Before a rotation: the check value must be under one of the old keys or
/// the new one, unless a stored token proves one of them (then it is
/// stale). The rotation rewrites it under the new key.
pub fn guard_rotation(db: &mut dyn Store, new: &MasterKey, old: &[MasterKey]) -> Result<()> {
    let mut keys: Vec<&MasterKey> = old.iter().collect();
    keys.push(new);
    let check = db.key_check()?;
    let state = judge(check.as_ref().map(|c| c.token.as_str()), &keys, || {
        prove(db, &keys)
    })?;
    match state {
        State::Wrong => Err(wrong_key("none of the old keys, nor the new one,")),
        State::Stale => {
            stale_warning("the old keys or the new one");
            Ok(())
        }
        State::Missing | State::Matches(_) => Ok(()),
    }
}

/// Names a wrong key when a stored secret does not decrypt under it, for
/// `verify`: the check value is read only then, so the accepted path
/// costs nothing more. `e` is the error to give when the check value
/// cannot tell more.
pub fn explain_undecryptable(db: &mut dyn Store, key: &MasterKey, what: &str, e: Error) -> Error {
    let Ok(Some(check)) = db.key_check() else {
        return e;
    };
    if opened_by(&check.token, &[key]).is_some() {
        let Error::Key(message) = e else { return e };
        return Error::key(format!(
            "{message} (the master key is the one this database was last used with, by mex2fa's key check value: this secret was written under another key)"
        ));
    }
    Error::key(format!(
        "this is not the key this database was last used with: {what} does not decrypt under this master key, nor does mex2fa's key check value (in mex2fa_meta); use the app's TWOFA_MASTER_KEY"
    ))
}
