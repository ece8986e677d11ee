//! The checked configuration: flags, environment and `.env` resolved into
//! validated values, before any command runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::cli::Global;
use crate::crypto::MasterKey;
use crate::db::{self, Ident, Mode, Options, Schema, Setting, Store, TableName, Target};
use crate::error::{Error, Result};

/// The variable the app and mex2fa read the master key from.
pub const KEY_VAR: &str = "TWOFA_MASTER_KEY";

/// The variable naming a file that holds the master key (the `*_FILE`
/// convention of container secrets).
pub const KEY_FILE_VAR: &str = "TWOFA_MASTER_KEY_FILE";

/// How long `--master-key-command` may run.
const KEY_COMMAND_SECONDS: u64 = 10;

/// The variable a database password may come from.
pub const PASSWORD_VAR: &str = "MEX2FA_DB_PASSWORD";

/// The variable that makes `--reason` mandatory on every changing command.
pub const REQUIRE_REASON_VAR: &str = "MEX2FA_REQUIRE_REASON";

pub struct Config {
    /// Where the database is, with its password if one was given.
    pub target: Option<Target>,
    pub schema: Schema,
    pub issuer: String,
    pub busy: Duration,
    pub json: bool,
    pub quiet: bool,
    /// Whether a changing command needs `--reason` (`MEX2FA_REQUIRE_REASON`).
    pub require_reason: bool,
    key_file: Option<PathBuf>,
    key_command: Option<String>,
    key_env: Option<Zeroizing<String>>,
    key_env_file: Option<PathBuf>,
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

/// A yes/no variable: `1`, `true`, `yes` or `on` (any case) is on; `0`,
/// `false`, `no`, `off` or unset is off; anything else is refused, so that
/// a typo never quietly turns a safeguard off.
fn env_bool(var: &str) -> Result<bool> {
    let Some(value) = std::env::var_os(var) else {
        return Ok(false);
    };
    let text = value.to_str().map(|v| v.trim().to_ascii_lowercase());
    match text.as_deref() {
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("" | "0" | "false" | "no" | "off") => Ok(false),
        _ => Err(Error::usage(format!(
            "{var}='{}' is not a yes/no value; use 1 or 0",
            crate::ui::escape(&value.to_string_lossy())
        ))),
    }
}

fn ident(value: &str, flag: &str, var: &str) -> Result<Ident> {
    Ident::parse(value).ok_or_else(|| {
        Error::usage(format!(
            "'{}' (from {flag} or {var}) is not a valid SQL identifier: use letters, digits and _, not starting with a digit",
            crate::ui::escape(value)
        ))
    })
}

/// Says which flag or variable fixes a database problem that names a setting.
pub fn explain(e: Error) -> Error {
    let Error::Setting(setting, message) = e else {
        return e;
    };
    let fix = match setting {
        Setting::Location => "check --db or MEX2FA_DB".to_string(),
        Setting::Password => format!(
            "check the password ({PASSWORD_VAR}, --db-password-file, or the URL in MEX2FA_DB)"
        ),
        Setting::Table => "set MEX2FA_TABLE or pass --table to name the accounts table".into(),
        Setting::Busy => {
            "retry when the app is idle, or wait longer with --busy-timeout (MEX2FA_BUSY_TIMEOUT)"
                .into()
        }
        column => {
            let flag = match column {
                Setting::IdColumn => "id-column",
                Setting::UserColumn => "user-column",
                Setting::EnabledColumn => "enabled-column",
                _ => "secret-column",
            };
            format!(
                "set MEX2FA_{} or pass --{flag}",
                flag.replace('-', "_").to_ascii_uppercase()
            )
        }
    };
    Error::Database(format!("{message}; {fix}"))
}

/// Reads a password file: its first line, without the line break; bounded,
/// since a password is short and the path could name a device.
fn read_password_file(path: &Path) -> Result<Zeroizing<String>> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        Error::usage(format!(
            "cannot read the password file {shown}: {e}; check --db-password-file"
        ))
    })?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(4097).read_to_end(&mut bytes).map_err(|e| {
        Error::usage(format!(
            "cannot read the password file {shown}: {e}; check --db-password-file"
        ))
    })?;
    if bytes.len() > 4096 {
        return Err(Error::usage(format!(
            "the password file {shown} is larger than 4 KiB; it should hold only the password"
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::usage(format!("the password file {shown} is not UTF-8 text")))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Error::usage(format!(
            "the password file {shown} is empty; put the database password on its first line"
        )));
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Where the database is: `--db` / `MEX2FA_DB`, and a password from the
/// URL, `--db-password-file` or `MEX2FA_DB_PASSWORD`.
fn target(g: &Global, db_on_command_line: bool) -> Result<Option<Target>> {
    let Some(db) = &g.db else {
        return Ok(None);
    };
    let mut target = match db.to_str() {
        Some(text) => Target::parse(text).map_err(|e| match e {
            Error::Usage(m) => Error::usage(format!("{m} (from --db or MEX2FA_DB)")),
            other => other,
        })?,
        None => Target::Sqlite(db.clone()),
    };
    let server = !matches!(target, Target::Sqlite(_));
    if target.has_inline_password() {
        if db_on_command_line {
            return Err(Error::usage(
                "a password inside --db's URL would show in ps and in shell history; put the URL in MEX2FA_DB (or .env), or the password in MEX2FA_DB_PASSWORD or --db-password-file",
            ));
        }
        return Ok(Some(target));
    }
    if let Some(path) = &g.db_password_file {
        if !server {
            return Err(Error::usage(
                "--db-password-file is for a database server; a SQLite file has no password",
            ));
        }
        target.set_password(read_password_file(path)?);
    } else if server && let Some(p) = std::env::var(PASSWORD_VAR).ok().filter(|p| !p.is_empty()) {
        target.set_password(Zeroizing::new(p));
    }
    Ok(Some(target))
}

impl Config {
    /// `db_on_command_line`: whether `--db` was given as a flag (where a
    /// password would be visible to every user of the machine).
    pub fn new(g: &Global, db_on_command_line: bool) -> Result<Config> {
        let [id, user, enabled, secret] = [
            ("--id-column", "MEX2FA_ID_COLUMN"),
            ("--user-column", "MEX2FA_USER_COLUMN"),
            ("--enabled-column", "MEX2FA_ENABLED_COLUMN"),
            ("--secret-column", "MEX2FA_SECRET_COLUMN"),
        ];
        let table = TableName::parse(&g.table).ok_or_else(|| {
            Error::usage(format!(
                "'{}' (from --table or MEX2FA_TABLE) is not a valid table name: use letters, digits and _, not starting with a digit, optionally as schema.table",
                crate::ui::escape(&g.table)
            ))
        })?;
        let schema = Schema {
            table,
            id: ident(&g.id_column, id.0, id.1)?,
            user: ident(&g.user_column, user.0, user.1)?,
            enabled: ident(&g.enabled_column, enabled.0, enabled.1)?,
            secret: ident(&g.secret_column, secret.0, secret.1)?,
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
        let key_env_file = std::env::var_os(KEY_FILE_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        if key_env.is_some() && key_env_file.is_some() {
            return Err(Error::usage(format!(
                "both {KEY_VAR} and {KEY_FILE_VAR} are set; unset one of them"
            )));
        }
        Ok(Config {
            target: target(g, db_on_command_line)?,
            schema,
            issuer: g.issuer.clone(),
            busy: Duration::from_millis(g.busy_timeout),
            json: g.json,
            quiet: g.quiet,
            require_reason: env_bool(REQUIRE_REASON_VAR)?,
            key_file: g.master_key_file.clone(),
            key_command: g.master_key_command.clone(),
            key_env,
            key_env_file,
        })
    }

    fn open(&self, mode: Mode) -> Result<Box<dyn Store>> {
        let target = self.target.as_ref().ok_or_else(|| {
            Error::db(
                "no database given: set MEX2FA_DB or pass --db (the app's SQLite file, or a postgres:// or mysql:// URL)",
            )
        })?;
        db::open(
            target,
            self.schema.clone(),
            Options {
                mode,
                busy: self.busy,
            },
        )
    }

    /// Opens the database for reading only: such commands cannot change it.
    pub fn open_read(&self) -> Result<Box<dyn Store>> {
        self.open(Mode::ReadOnly)
    }

    pub fn open_write(&self) -> Result<Box<dyn Store>> {
        self.open(Mode::ReadWrite)
    }

    /// The master key: --master-key-file, else TWOFA_MASTER_KEY (environment or
    /// .env), else a hidden prompt on a terminal.
    /// The master key, from the first of (the README's "Configuration"):
    /// --master-key-file (`-`: standard input), --master-key-command,
    /// TWOFA_MASTER_KEY, TWOFA_MASTER_KEY_FILE, a hidden prompt on a terminal.
    pub fn master_key(&self) -> Result<MasterKey> {
        if let Some(path) = &self.key_file {
            if path.as_os_str() == "-" {
                return read_key_stdin();
            }
            return read_key_file(path, "--master-key-file");
        }
        if let Some(command) = &self.key_command {
            return run_key_command(command);
        }
        if let Some(text) = &self.key_env {
            return parse_key(text, KEY_VAR);
        }
        if let Some(path) = &self.key_env_file {
            return read_key_file(path, KEY_FILE_VAR);
        }
        if crate::ui::stdin_is_tty() {
            let text = crate::ui::prompt_hidden("master key (input hidden): ")?;
            return parse_key(&text, "the prompt");
        }
        Err(Error::key(format!(
            "no master key: set {KEY_VAR} or pass --master-key-file PATH (or set {KEY_FILE_VAR}, or pass --master-key-command CMD)"
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

/// The most a key file may hold: a key is 44 characters; a comment-free
/// file with a line ending, or even generous whitespace, fits many times over.
const KEY_FILE_LIMIT: u64 = 4 << 10;

/// The longest key text read from standard input or a command: a key is 44
/// characters; a few more allow for whitespace.
const KEY_TEXT_MAX: u64 = 4096;

/// Reads the key from standard input (`--master-key-file -`): to a bound,
/// hidden at a prompt when standard input is a terminal.
fn read_key_stdin() -> Result<MasterKey> {
    use std::io::Read;
    if crate::ui::stdin_is_tty() {
        let text = crate::ui::prompt_hidden("master key (input hidden): ")?;
        return parse_key(&text, "standard input");
    }
    let mut bytes = Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(KEY_TEXT_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::key(format!(
                "cannot read the master key from standard input: {e}"
            ))
        })?;
    key_from_bytes(&bytes, "standard input (--master-key-file -)")
}

/// A key read as bytes: text, no longer than a key's text can be.
fn key_from_bytes(bytes: &[u8], source: &str) -> Result<MasterKey> {
    if bytes.len() as u64 > KEY_TEXT_MAX {
        return Err(Error::key(format!(
            "{source} gave more than {KEY_TEXT_MAX} bytes; a Fernet key is 44 base64 characters"
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::key(format!(
            "{source} gave no text; a Fernet key is 44 base64 characters"
        ))
    })?;
    if text.trim().is_empty() {
        return Err(Error::key(format!("{source} gave no key (empty)")));
    }
    parse_key(text, source)
}

/// Runs `--master-key-command` with `sh -c` and takes the key from its
/// standard output. A failure, no output, or a run past the time allowed is
/// exit 4, with the first line the command wrote to standard error.
fn run_key_command(command: &str) -> Result<MasterKey> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let shown = crate::ui::escape(command).into_owned();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::key(format!("cannot run --master-key-command ({shown}): {e}")))?;
    let (mut out, mut err) = (
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let reading = std::thread::spawn(move || {
        let mut bytes = Zeroizing::new(Vec::new());
        let _ = (&mut out).take(KEY_TEXT_MAX + 1).read_to_end(&mut bytes);
        bytes
    });
    let erring = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = (&mut err).take(64 << 10).read_to_end(&mut text);
        String::from_utf8_lossy(&text)
            .lines()
            .find(|l| !l.trim().is_empty())
            .map(|l| crate::ui::escape(l.trim()).into_owned())
            .unwrap_or_default()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(KEY_COMMAND_SECONDS);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::key(format!(
                    "--master-key-command ({shown}) ran past {KEY_COMMAND_SECONDS} s and was stopped; no key"
                )));
            }
            Err(e) => {
                return Err(Error::key(format!(
                    "--master-key-command ({shown}) could not be waited for: {e}"
                )));
            }
        }
    };
    let said = erring.join().unwrap_or_default();
    let bytes = reading.join().unwrap_or_default();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    if !status.success() {
        return Err(Error::key(format!(
            "--master-key-command ({shown}) failed ({status}){said}"
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::key(format!(
            "--master-key-command ({shown}) printed no key{said}"
        )));
    }
    key_from_bytes(&bytes, "--master-key-command")
}

/// Reads a key file; warns when group or others can read it. Only a regular
/// file of at most [`KEY_FILE_LIMIT`] bytes is read: a device (`/dev/zero`)
/// or a pipe could feed an endless key, or none.
pub fn read_key_file(path: &Path, flag: &str) -> Result<MasterKey> {
    read_key_file_as(path, flag, "master key")
}

/// [`read_key_file`] for a key of another kind (`noun`: "bundle key"), as
/// a malformed one is named.
pub fn read_key_file_as(path: &Path, flag: &str, noun: &str) -> Result<MasterKey> {
    use std::io::Read;

    let shown = path.display();
    let mut file = match crate::files::open_for_reading(path) {
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
    MasterKey::parse(text)
        .map_err(|p| Error::key(format!("the {noun} from {shown} is malformed: {p}")))
}
