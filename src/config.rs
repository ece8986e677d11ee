//! The checked configuration: flags, environment and `.env` resolved into
//! validated values, before any command runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::cli::Global;
use crate::crypto::MasterKey;
use crate::db::{self, Db, Ident, Mode, Schema};
use crate::error::{Error, Result};

/// The variable the app and mex2fa read the master key from.
pub const KEY_VAR: &str = "TWOFA_MASTER_KEY";

pub struct Config {
    pub db: Option<PathBuf>,
    pub schema: Schema,
    pub issuer: String,
    pub busy: Duration,
    pub json: bool,
    pub quiet: bool,
    key_file: Option<PathBuf>,
    key_env: Option<Zeroizing<String>>,
}

/// Loads `--env-file PATH`, or `./.env` when present, without overriding the
/// process environment. Runs before argument parsing so that clap's `env`
/// fallbacks see the file's values.
pub fn load_env_file(args: &[std::ffi::OsString]) -> Result<()> {
    let mut explicit: Option<PathBuf> = None;
    let mut iter = args.iter().skip(1);
    while let Some(a) = iter.next() {
        let Some(s) = a.to_str() else { continue };
        if s == "--" {
            break;
        }
        if s == "--env-file" {
            match iter.next() {
                Some(p) => explicit = Some(PathBuf::from(p)),
                None => return Ok(()), // clap reports the missing value
            }
        } else if let Some(p) = s.strip_prefix("--env-file=") {
            explicit = Some(PathBuf::from(p));
        }
    }
    let path = match explicit {
        Some(p) => {
            let shown = p.display();
            match std::fs::metadata(&p) {
                Ok(meta) if meta.is_file() => env_file_warning(&p, &meta),
                Ok(meta) if meta.is_dir() => {
                    return Err(Error::usage(format!(
                        "the env file {shown} is a directory; pass the .env file itself to --env-file"
                    )));
                }
                Ok(_) => {
                    return Err(Error::usage(format!(
                        "the env file {shown} is not a regular file (a device or a pipe); pass a .env file to --env-file"
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::usage(format!(
                        "env file not found: {shown}; check --env-file"
                    )));
                }
                Err(e) => {
                    return Err(Error::usage(format!(
                        "cannot read the env file {shown}: {e}; check --env-file"
                    )));
                }
            }
            p
        }
        None => {
            let p = PathBuf::from(".env");
            match std::fs::metadata(&p) {
                Ok(meta) if meta.is_file() => env_file_warning(&p, &meta),
                _ => return Ok(()),
            }
            p
        }
    };
    dotenvy::from_path(&path).map_err(|e| {
        Error::usage(format!(
            "cannot load {}: {}; fix the line or pass another --env-file",
            path.display(),
            env_file_problem(&path, &e)
        ))
    })
}

/// Warns when an env file could have been written by someone else: it
/// chooses the database and may hold the master key. As for key files,
/// a warning: the file is still read. A file owned by another user (root
/// aside) or writable by others always draws it; one writable by its group
/// only when running as root, where a group's member would gain root's
/// database and key (for other users a group-writable file is the common
/// umask 002).
fn env_file_warning(path: &Path, meta: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let shown = path.display();
        let problem = if meta.uid() != me && meta.uid() != 0 {
            Some((
                format!("is owned by another user (uid {})", meta.uid()),
                format!("chown {} {shown}", if me == 0 { "root" } else { "$USER" }),
            ))
        } else if meta.mode() & 0o002 != 0 || (me == 0 && meta.mode() & 0o020 != 0) {
            Some((
                "is writable by group or others".to_string(),
                format!("chmod go-w {shown}"),
            ))
        } else {
            None
        };
        if let Some((why, fix)) = problem {
            crate::ui::message(&format!(
                "mex2fa: warning: the env file {shown} {why}; whoever can change it chooses the database and the key mex2fa uses: check it, then run {fix}"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
}

/// An empty `MEX2FA_*` variable (`MEX2FA_DB=` placeholder lines are common in
/// `.env` files) means "not set"; clap would instead refuse it as a missing
/// value. The issuer is the exception: empty is a real choice there (pyotp
/// then leaves the issuer out of the URI).
pub fn drop_empty_settings() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(k, v)| {
            k.to_str()
                .is_some_and(|k| k.starts_with("MEX2FA_") && k != "MEX2FA_ISSUER")
                && v.is_empty()
        })
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::remove_var(k) };
    }
}

/// What is wrong with an env file, without its content: dotenvy's own message
/// quotes the offending line, which may be the master key's.
fn env_file_problem(path: &Path, e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, _) => {
            let start = line.lines().next().unwrap_or("").trim_end();
            let number = std::fs::read_to_string(path).ok().and_then(|text| {
                text.lines()
                    .position(|l| !start.is_empty() && l.trim_end() == start)
            });
            match number {
                Some(n) => format!(
                    "line {} is not NAME=VALUE (unbalanced quotes?); its content is not shown, it may hold a secret",
                    n + 1
                ),
                None => "a line is not NAME=VALUE (unbalanced quotes?); its content is not shown, it may hold a secret".into(),
            }
        }
        other => one_line(&other.to_string()),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ident(value: &str, flag: &str, var: &str) -> Result<Ident> {
    Ident::parse(value).ok_or_else(|| {
        Error::usage(format!(
            "'{}' (from {flag} or {var}) is not a valid SQL identifier: use letters, digits and _, not starting with a digit",
            crate::ui::escape(value)
        ))
    })
}

impl Config {
    pub fn new(g: &Global) -> Result<Config> {
        let [id, user, enabled, secret] = &db::COLUMNS;
        let schema = Schema {
            table: ident(&g.table, db::TABLE.flag, db::TABLE.var)?,
            id: ident(&g.id_column, id.flag, id.var)?,
            user: ident(&g.user_column, user.flag, user.var)?,
            enabled: ident(&g.enabled_column, enabled.flag, enabled.var)?,
            secret: ident(&g.secret_column, secret.flag, secret.var)?,
        };
        // SQLite takes the timeout as a C int of milliseconds (rusqlite panics past it).
        if g.busy_timeout > i32::MAX as u64 {
            return Err(Error::usage(format!(
                "--busy-timeout (or MEX2FA_BUSY_TIMEOUT) {} ms is too long; the most SQLite can wait is {} ms",
                g.busy_timeout,
                i32::MAX
            )));
        }
        let key_env = std::env::var(KEY_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(Zeroizing::new);
        Ok(Config {
            db: g.db.clone(),
            schema,
            issuer: g.issuer.clone(),
            busy: Duration::from_millis(g.busy_timeout),
            json: g.json,
            quiet: g.quiet,
            key_file: g.master_key_file.clone(),
            key_env,
        })
    }

    fn db_path(&self) -> Result<&Path> {
        self.db.as_deref().ok_or_else(|| {
            Error::db("no database given: set MEX2FA_DB or pass --db PATH (the app's SQLite file)")
        })
    }

    /// Opens the database for reading only: such commands cannot change it.
    pub fn open_read(&self) -> Result<Db> {
        Db::open(
            self.db_path()?,
            self.schema.clone(),
            Mode::ReadOnly,
            self.busy,
        )
    }

    pub fn open_write(&self) -> Result<Db> {
        Db::open(
            self.db_path()?,
            self.schema.clone(),
            Mode::ReadWrite,
            self.busy,
        )
    }

    /// The master key: --master-key-file, else TWOFA_MASTER_KEY (environment or
    /// .env), else a hidden prompt on a terminal.
    pub fn master_key(&self) -> Result<MasterKey> {
        if let Some(path) = &self.key_file {
            return read_key_file(path, "--master-key-file");
        }
        if let Some(text) = &self.key_env {
            return parse_key(text, KEY_VAR);
        }
        if crate::ui::stdin_is_tty() {
            let text = crate::ui::prompt_hidden("master key (input hidden): ")?;
            return parse_key(&text, "the prompt");
        }
        Err(Error::key(format!(
            "no master key: set {KEY_VAR} or pass --master-key-file PATH"
        )))
    }

    /// The OS user to record in the audit log.
    pub fn os_user(&self) -> String {
        ["SUDO_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "unknown".into())
    }
}

pub fn parse_key(text: &str, source: &str) -> Result<MasterKey> {
    MasterKey::parse(text)
        .map_err(|p| Error::key(format!("the master key from {source} is malformed: {p}")))
}

/// The most a key file may hold: a key is 44 characters; a comment-free
/// file with a line ending, or even generous whitespace, fits many times over.
const KEY_FILE_LIMIT: u64 = 4 << 10;

/// Reads a key file; warns when group or others can read it. Only a regular
/// file of at most [`KEY_FILE_LIMIT`] bytes is read: a device (`/dev/zero`)
/// or a pipe could feed an endless key, or none.
pub fn read_key_file(path: &Path, flag: &str) -> Result<MasterKey> {
    use std::io::Read;

    let shown = path.display();
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        // A FIFO would block the open until a writer came: opened without
        // waiting, it is refused below like any other special file.
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let mut file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::key(format!(
                "key file not found: {shown}; check {flag}"
            )));
        }
        Err(e) => return Err(Error::key(format!("cannot read the key file {shown}: {e}"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::key(format!("cannot read the key file {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(Error::key(format!(
            "the key file {shown} is not a regular file (a device, a pipe or a folder); put the key in a file (chmod 600) and pass its path to {flag}"
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            crate::ui::message(&format!(
                "mex2fa: warning: the key file {shown} is readable by group or others; run chmod 600 {shown}"
            ));
        }
    }
    // Sized up front: a growing buffer would leave copies of the key behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(KEY_FILE_LIMIT as usize + 1));
    (&mut file)
        .take(KEY_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::key(format!("cannot read the key file {shown}: {e}")))?;
    if bytes.len() as u64 > KEY_FILE_LIMIT {
        return Err(Error::key(format!(
            "the key file {shown} is larger than 4 KiB; a Fernet key is 44 base64 characters: check {flag}"
        )));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::key(format!(
            "the key file {shown} is not text; a Fernet key is 44 base64 characters"
        ))
    })?;
    parse_key(text, &format!("{shown}"))
}
