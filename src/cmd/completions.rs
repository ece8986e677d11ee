//! `completions SHELL`: the script that registers mex2fa's completions with a
//! shell, as committed in `completions/`, and the answers mex2fa gives when
//! that script calls back into it.
//!
//! The script does not list mex2fa's commands and flags itself: at each TAB
//! the shell runs `MEX2FA_COMPLETE=SHELL mex2fa -- WORDS...` and mex2fa
//! answers from its own command definition (clap_complete's dynamic
//! completion), so the script never goes stale, and user names come from the
//! configured database.

use std::ffi::OsString;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use clap_complete::{CompleteEnv, CompletionCandidate, Shell};

use super::Run;
use crate::cli::{Cli, Completions, Global};
use crate::config::{self, Config};
use crate::error::Result;
use crate::{clock, ui};

/// The variable that turns a run of mex2fa into a completion request. Not
/// clap_complete's default `COMPLETE`: a `COMPLETE` exported for another
/// program must not turn `mex2fa disable --all --yes` into a silent no-op.
pub const VAR: &str = "MEX2FA_COMPLETE";

/// The name the scripts register for and call back: `mex2fa` on `PATH`.
const BIN: &str = "mex2fa";

/// zsh autoloads a completion file found on `$fpath` through its `#compdef`
/// line and runs the file as the function: the registration then only
/// defines the completer, so the first TAB would offer nothing. Run as that
/// function, the file also completes (the idiom zsh's own completion files use).
const ZSH_AUTOLOADED: &str = "if [ \"$funcstack[1]\" = \"_mex2fa\" ]; then
    _clap_dynamic_completer_mex2fa \"$@\"
fi
";

/// The script for `shell`, exactly as committed in `completions/`.
pub fn script(shell: Shell) -> String {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(&shell.to_string())
        .expect("clap_complete registers every shell it generates for");
    let mut buf = Vec::new();
    completer
        .write_registration(VAR, BIN, BIN, BIN, &mut buf)
        .expect("the script is written to memory");
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if shell == Shell::Zsh {
        text.push_str(ZSH_AUTOLOADED);
    }
    text
}

/// Answers a completion request (`MEX2FA_COMPLETE` set) and exits; returns
/// at once on any ordinary run. Runs first: nothing may reach stdout before.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .bin(BIN)
        .completer(BIN)
        .complete();
}

/// Which accounts a user-name argument offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Every account (`status`, `log`).
    Any,
    /// 2FA enabled: those a code can be checked for (`verify`).
    Enabled,
    /// An enrollment pending and not expired (`confirm`).
    Pending,
    /// 2FA not enabled, or any account with `--force` (`enroll`).
    Enrollable,
    /// 2FA enabled or pending: something to turn off (`disable`).
    Disableable,
}

/// The user names to offer, read from the database the command line being
/// completed would use. Quietly none when nothing is configured or anything
/// fails: a TAB must never print an error into the line being edited.
pub fn users(offer: Offer) -> Vec<CompletionCandidate> {
    user_names(offer)
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

fn user_names(offer: Offer) -> Option<Vec<String>> {
    // The shell calls `mex2fa -- mex2fa WORDS...`: the words after the first
    // `--` are the line being completed, its settings (--db, --env-file,
    // --table...) included.
    let words: Vec<OsString> = std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect();
    config::load_env_file(&words).ok()?;
    config::drop_empty_settings();
    let matches = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(&words)
        .ok()?;
    let force = matches
        .subcommand_matches("enroll")
        .is_some_and(|m| m.get_flag("force"));
    let mut cfg = Config::new(&Global::from_arg_matches(&matches).ok()?, false).ok()?;
    // Someone is waiting at the prompt: never sit out a writer's lock for long.
    cfg.busy = cfg.busy.min(Duration::from_millis(300));
    let rows = cfg.open_read().ok()?.status(None).ok()?;
    let now = clock::now() as i64;
    let names = rows
        .into_iter()
        .filter(|r| {
            let pending = r.pending_expires_at.is_some_and(|t| t > now);
            match offer {
                Offer::Any => true,
                Offer::Enabled => r.enabled,
                Offer::Pending => pending,
                Offer::Enrollable => force || !r.enabled,
                // An expired enrollment is still removed by disable.
                Offer::Disableable => r.enabled || r.pending_expires_at.is_some(),
            }
        })
        .map(|r| r.user)
        .filter(|u| insertable(u))
        .collect();
    Some(names)
}

/// A name every shell can insert as it is: letters, digits and `@ . _ - + = : , %`,
/// not starting with `-` (it would read as a flag). The scripts insert
/// candidates unquoted, so a space, a quote or a `$` would change the command
/// line, and a control character would reach the terminal raw; such names
/// are still typed by hand.
fn insertable(user: &str) -> bool {
    !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_alphanumeric() || "@._-+=:,%".contains(c))
}

impl Run for Completions {
    fn run(&self, cfg: &Config) -> Result<()> {
        let text = script(self.shell);
        if cfg.json {
            ui::json(&serde_json::json!({ "shell": self.shell.to_string(), "script": text }));
        } else {
            ui::out(&text);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_a_shell_can_insert_unchanged_are_offered() {
        for ok in ["alice", "alice@example.com", "first.last+2fa", "zoë"] {
            assert!(insertable(ok), "{ok:?}");
        }
        for bad in [
            "",
            "-rf",
            "bob smith",
            "o'brien",
            "$(reboot)",
            "mal\u{1b}[31mory",
            "x\ny",
            "\u{9b}31m",
        ] {
            assert!(!insertable(bad), "{bad:?}");
        }
    }
}
