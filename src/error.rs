//! The one error type of mex2fa and its mapping to the documented exit codes.
//!
//! Every message is lowercase, names the concrete thing that is wrong and, where
//! there is one, the fix. No message ever carries a secret or a key.

use std::process::ExitCode;

/// The exit codes of the README's table. Scripts depend on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    Rejected = 1,
    Usage = 2,
    State = 3,
    Key = 4,
    Database = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed input: flags, codes, identifiers, files given on the command line.
    #[error("{0}")]
    Usage(String),
    /// No such user, or the user is in the wrong state for the command.
    #[error("{0}")]
    State(String),
    /// Master key missing, malformed or wrong; a token that does not decrypt.
    #[error("{0}")]
    Key(String),
    /// Database file missing, schema mismatch, locked past the timeout, I/O
    /// (a disk full or failing under a file mex2fa writes or reads).
    #[error("{0}")]
    Database(String),
    /// A database problem that a setting fixes; the command line adds which
    /// flag or variable that is.
    #[error("{1}")]
    Setting(crate::db::Setting, String),
    /// The reply has already been written (e.g. `doctor` findings); only the exit code is left.
    #[error("")]
    Silent(Exit),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::State(_) => Exit::State,
            Error::Key(_) => Exit::Key,
            Error::Database(_) | Error::Setting(..) => Exit::Database,
            Error::Silent(code) => *code,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
    pub fn state(msg: impl Into<String>) -> Self {
        Error::State(msg.into())
    }
    pub fn key(msg: impl Into<String>) -> Self {
        Error::Key(msg.into())
    }
    pub fn db(msg: impl Into<String>) -> Self {
        Error::Database(msg.into())
    }
    pub fn setting(setting: crate::db::Setting, msg: impl Into<String>) -> Self {
        Error::Setting(setting, msg.into())
    }
    /// A read or write that failed for the system's reasons (no space left,
    /// an I/O error): exit 5, as the README's table says, never "usage".
    pub fn io(msg: impl Into<String>) -> Self {
        Error::Database(msg.into())
    }

    /// The short machine-readable kind used in `--json` error documents.
    pub fn kind(&self) -> &'static str {
        match self.exit() {
            Exit::Ok => "ok",
            Exit::Rejected => "rejected",
            Exit::Usage => "usage",
            Exit::State => "state",
            Exit::Key => "key",
            Exit::Database => "database",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
