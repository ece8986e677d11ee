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
            if !p.is_file() {
                return Err(Error::usage(format!(
                    "env file not found: {}; check --env-file",
                    p.display()
                )));
            }
            p
        }
        None => {
            let p = PathBuf::from(".env");
            if !p.is_file() {
                return Ok(());
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

    /// The OS user to record in the audit log: the one behind sudo, else the
    /// login's (`USER`, `LOGNAME`), else the account name of the process's
    /// uid (cron and systemd units may set none of them).
    pub fn os_user(&self) -> String {
        ["SUDO_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .or_else(account_of_uid)
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The name of the process's uid in the user database (`getpwuid_r`), or
/// `uid N` when it has none (a uid given to a container, say).
#[cfg(unix)]
fn account_of_uid() -> Option<String> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: passwd is plain data (pointers and integers); getpwuid_r
        // fills it with pointers into `buf`, which outlives their use below.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return Some(format!("uid {uid}"));
        }
        // SAFETY: a NUL-terminated string inside `buf`, set by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }.to_string_lossy();
        return Some(if name.is_empty() {
            format!("uid {uid}")
        } else {
            name.into_owned()
        });
    }
}

#[cfg(not(unix))]
fn account_of_uid() -> Option<String> {
    None
}

pub fn parse_key(text: &str, source: &str) -> Result<MasterKey> {
    MasterKey::parse(text)
        .map_err(|p| Error::key(format!("the master key from {source} is malformed: {p}")))
}

/// Reads a key file; warns when group or others can read it.
pub fn read_key_file(path: &Path, flag: &str) -> Result<MasterKey> {
    let shown = path.display();
    let bytes = match std::fs::read(path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::key(format!(
                "key file not found: {shown}; check {flag}"
            )));
        }
        Err(e) => return Err(Error::key(format!("cannot read the key file {shown}: {e}"))),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "mex2fa: warning: the key file {shown} is readable by group or others; run chmod 600 {shown}"
            );
        }
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::key(format!(
            "the key file {shown} is not text; a Fernet key is 44 base64 characters"
        ))
    })?;
    parse_key(text, &format!("{shown}"))
}
