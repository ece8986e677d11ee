//! Every command-line type of mex2fa. The doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::ArgValueCandidates;

use crate::cmd::completions::{Offer, users};

/// Manage TOTP two-factor authentication in the MeXanimatoR database.
///
/// mex2fa does from a terminal what the app does through its settings page
/// (enroll, confirm, disable), plus what only an operator needs: verify a code,
/// rotate the master key, check the health of every stored secret.
///
/// Configuration, highest first: flag > environment > .env file > default.
/// The master key is read from TWOFA_MASTER_KEY or --master-key-file, never
/// from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "mex2fa",
    version,
    max_term_width = 100,
    propagate_version = true,
    after_help = "\
Examples:
  mex2fa demo                 every command on a throwaway database and key
  mex2fa status               who has 2FA (after export MEX2FA_DB=PATH)
  mex2fa help enroll          one command's options and examples"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, under their own headings in each command's
/// help, after the command's own options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Database")]
pub struct Global {
    /// The app's database: a SQLite file (never created by mex2fa), or a
    /// postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME
    /// URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or
    /// --db-password-file, never on the command line)
    #[arg(long, global = true, env = "MEX2FA_DB", value_name = "PATH|URL")]
    pub db: Option<PathBuf>,

    /// Read the database password from this file's first line (else MEX2FA_DB_PASSWORD)
    #[arg(long, global = true, value_name = "PATH")]
    pub db_password_file: Option<PathBuf>,

    /// Read the Fernet master key from this file instead of TWOFA_MASTER_KEY
    /// ("-": standard input)
    #[arg(long, global = true, value_name = "PATH", help_heading = "Master key")]
    pub master_key_file: Option<PathBuf>,

    /// Take the master key from what this command prints (run with sh -c, 10 s
    /// at most), e.g. a secret store's client
    #[arg(
        long,
        global = true,
        value_name = "CMD",
        help_heading = "Master key",
        conflicts_with = "master_key_file"
    )]
    pub master_key_command: Option<String>,

    /// Load settings from this file instead of ./.env (process environment wins)
    #[arg(long, global = true, value_name = "PATH", help_heading = "Settings")]
    pub env_file: Option<PathBuf>,

    /// Table that holds the accounts
    #[arg(
        long,
        global = true,
        env = "MEX2FA_TABLE",
        default_value = "account",
        value_name = "NAME"
    )]
    pub table: String,

    /// Column with the account id
    #[arg(
        long,
        global = true,
        env = "MEX2FA_ID_COLUMN",
        default_value = "accountid",
        value_name = "NAME"
    )]
    pub id_column: String,

    /// Column with the username
    #[arg(
        long,
        global = true,
        env = "MEX2FA_USER_COLUMN",
        default_value = "username",
        value_name = "NAME"
    )]
    pub user_column: String,

    /// Column with the 2FA enabled flag (INTEGER 0/1)
    #[arg(
        long,
        global = true,
        env = "MEX2FA_ENABLED_COLUMN",
        default_value = "twofa_enabled",
        value_name = "NAME"
    )]
    pub enabled_column: String,

    /// Column with the Fernet-encrypted secret (BLOB or TEXT)
    #[arg(
        long,
        global = true,
        env = "MEX2FA_SECRET_COLUMN",
        default_value = "twofa_secret",
        value_name = "NAME"
    )]
    pub secret_column: String,

    /// Issuer shown in authenticator apps (the otpauth URI's issuer)
    #[arg(
        long,
        global = true,
        env = "MEX2FA_ISSUER",
        default_value = "MeXanimatoR",
        value_name = "NAME",
        help_heading = "Output"
    )]
    pub issuer: String,

    /// How long to wait for the app's write lock, in milliseconds
    #[arg(
        long,
        global = true,
        env = "MEX2FA_BUSY_TIMEOUT",
        default_value_t = 5000,
        value_name = "MS"
    )]
    pub busy_timeout: u64,

    /// Print one JSON document on stdout and nothing else there
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,

    /// Print only results and errors, no progress or hints
    #[arg(short, long, global = true, help_heading = "Output")]
    pub quiet: bool,
}

/// `--reason TEXT`, defined once for every command that changes the
/// database (flattened into each), recorded in its audit row.
#[derive(Debug, Args, Clone, Default)]
pub struct Reason {
    /// Why, in a few words: recorded in the audit log with the change
    /// (required when MEX2FA_REQUIRE_REASON=1)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Enroll(Enroll),
    Confirm(Confirm),
    Verify(Verify),
    Disable(Disable),
    Export(Export),
    Import(Import),
    RotateKey(RotateKey),
    Restore(Restore),
    Status(Status),
    Doctor(Doctor),
    Keygen(Keygen),
    Completions(Completions),
    Demo(Demo),
    Log(Log),
}

/// Start 2FA for a user: a new pending secret and its QR code
///
/// Nothing changes in the account until the enrollment is confirmed with a code
/// from the authenticator app (here with --code or at the prompt, or later with
/// `mex2fa confirm`). Pending enrollments expire.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa enroll alice                  the QR code, then the first code from her app
  mex2fa enroll alice --png alice.png  also the QR code as an image to send her
  mex2fa enroll bob --force            bob's new phone (the old one works until confirmed)")]
pub struct Enroll {
    /// Username of the account
    #[arg(add = ArgValueCandidates::new(|| users(Offer::Enrollable)))]
    pub user: String,

    /// Re-enroll a user who has 2FA enabled (the old secret works until the new one is confirmed)
    #[arg(long)]
    pub force: bool,

    /// With --force, do not ask on a terminal before starting the re-enrollment
    #[arg(short, long)]
    pub yes: bool,

    /// Also print the otpauth URI and the secret
    #[arg(long)]
    pub show_secret: bool,

    /// Do not draw the QR code in the terminal
    #[arg(long)]
    pub no_qr: bool,

    /// Draw the QR code for a light-background terminal
    #[arg(long)]
    pub invert: bool,

    /// Also write the QR code as a PNG image (created 0600; never overwritten)
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,

    /// Also write the QR code as an SVG image (created 0600; never overwritten)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// Confirm at once with this code from the authenticator app
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,

    /// How long the enrollment stays pending (e.g. 900, 15m, 1h)
    #[arg(
        long,
        env = "MEX2FA_PENDING_TTL",
        default_value = "15m",
        value_name = "DURATION"
    )]
    pub ttl: String,

    #[command(flatten)]
    pub reason: Reason,
}

/// Turn a pending enrollment into enabled 2FA, given a code from the app
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa confirm alice                 asks for the code (typed hidden)
  mex2fa confirm alice --code 123456
  echo 123456 | mex2fa confirm alice   a script passes the code on stdin")]
pub struct Confirm {
    /// Username of the account
    #[arg(add = ArgValueCandidates::new(|| users(Offer::Pending)))]
    pub user: String,

    /// The 6-digit code (else asked on the terminal, or read from stdin)
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,

    #[command(flatten)]
    pub reason: Reason,
}

/// Check a code as the app's login does: exit 0 accepted, 1 not accepted
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa verify alice                  asks for the code (typed hidden)
  mex2fa verify alice --code 123456 --json
  mex2fa verify alice --window 1       also 30 s either side: is her phone's clock off?")]
pub struct Verify {
    /// Username of the account
    #[arg(add = ArgValueCandidates::new(|| users(Offer::Enabled)))]
    pub user: String,

    /// The 6-digit code (else asked on the terminal, or read from stdin)
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,

    /// Also accept this many 30-second steps before and after now (the app accepts 0)
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=10))]
    pub window: u16,
}

/// Turn 2FA off for users (the lost-phone reset): enabled = 0, secret removed
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa disable bob                   asks first
  mex2fa disable bob carol --yes       both or neither, without a question
  mex2fa disable --all --yes --json")]
pub struct Disable {
    /// Usernames; all must exist or nothing changes
    #[arg(
        required_unless_present = "all",
        conflicts_with = "all",
        add = ArgValueCandidates::new(|| users(Offer::Disableable))
    )]
    pub users: Vec<String>,

    /// Every account that has 2FA enabled, a stored secret, or a pending enrollment
    #[arg(long)]
    pub all: bool,

    /// Do not ask for confirmation (required when there is no terminal)
    #[arg(short, long)]
    pub yes: bool,

    #[command(flatten)]
    pub reason: Reason,
}

/// The form of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One Fernet token under --bundle-key-file: no readable secret inside
    Bundle,
    /// One otpauth:// URI a line, as pyotp writes them (needs --plaintext)
    Otpauth,
    /// user,state,secret with a header line (needs --plaintext)
    Csv,
    /// An array of {"user", "state", "secret", "otpauth_uri"} (needs --plaintext)
    Json,
    /// One QR image a user in the new directory --out (needs --plaintext)
    Png,
}

/// The form of a file to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    Bundle,
    Otpauth,
    Csv,
    Json,
}

/// What `import` does for a user who already has 2FA enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnConflict {
    /// Write nothing at all, naming every such user
    Fail,
    /// Leave such users as they are; import the others
    Skip,
    /// Replace their secret with the file's
    Replace,
}

/// Write users' 2FA secrets to a new file, to move them to another database
///
/// By default every user with 2FA enabled goes into a sealed bundle: one
/// Fernet token under a key of its own (--bundle-key-file, made with
/// `mex2fa keygen --out`), so a copy in transit holds no readable secret.
/// Readable forms (otpauth, csv, json, png) need --plaintext. The file is
/// created 0600 (a directory 0700 for png) and never overwrites anything. A
/// secret that does not decrypt is named and skipped; the command then exits
/// 4 and leaves no file behind, unless --skip-undecryptable.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa export --out users.bundle --bundle-key-file bundle.key   (mex2fa keygen --out bundle.key)
  mex2fa export alice bob --pending --out two.bundle --bundle-key-file bundle.key
  mex2fa export --format png --plaintext --out qr/   one QR image a user, to re-enroll phones")]
pub struct Export {
    /// Only these users (default: every user with 2FA enabled)
    #[arg(add = ArgValueCandidates::new(|| users(Offer::Disableable)))]
    pub users: Vec<String>,

    /// The new file (a new directory for --format png)
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,

    /// The form of the file
    #[arg(long, value_enum, default_value = "bundle", value_name = "FORMAT")]
    pub format: ExportFormat,

    /// The Fernet key that seals the bundle (make one with `mex2fa keygen --out`)
    #[arg(long, value_name = "PATH")]
    pub bundle_key_file: Option<PathBuf>,

    /// Allow a readable format: the file holds every secret in the clear
    #[arg(long)]
    pub plaintext: bool,

    /// Also export enrollments still pending (not expired)
    #[arg(long)]
    pub pending: bool,

    /// Write the other users when a secret does not decrypt (still exit 4)
    #[arg(long)]
    pub skip_undecryptable: bool,
}

/// Give users the 2FA secrets of an export file, in one transaction
///
/// Reads a bundle (with --bundle-key-file), otpauth URIs (one a line), the
/// CSV or the JSON that `export` writes; the form is recognized unless
/// --format names it. Users are matched by name and must all exist. Enabled
/// records become enabled 2FA, pending ones pending enrollments (expiring
/// after --ttl). A user who already has 2FA enabled is a conflict: by default
/// nothing is written. A pending enrollment in the way is replaced.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa import users.bundle --bundle-key-file bundle.key --dry-run
  mex2fa import users.bundle --bundle-key-file bundle.key
  mex2fa import authenticator.txt --on-conflict skip   otpauth:// URIs, one a line")]
pub struct Import {
    /// The export file
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// The form of the file (default: recognized from its content)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ImportFormat>,

    /// The Fernet key the bundle was sealed with
    #[arg(long, value_name = "PATH")]
    pub bundle_key_file: Option<PathBuf>,

    /// What to do for a user who already has 2FA enabled
    #[arg(long, value_enum, default_value = "fail", value_name = "POLICY")]
    pub on_conflict: OnConflict,

    /// Print what would change, change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// How long an imported pending enrollment stays pending (e.g. 900, 15m, 1h)
    #[arg(
        long,
        env = "MEX2FA_PENDING_TTL",
        default_value = "15m",
        value_name = "DURATION"
    )]
    pub ttl: String,

    #[command(flatten)]
    pub reason: Reason,
}

/// Re-encrypt every stored secret under a new master key, all or nothing
///
/// Old keys are the current master key plus each --old-key-file: a token
/// decrypts with whichever works (MultiFernet); tokens already under the new key
/// are left alone. Every token is decrypted before anything is written; one
/// undecryptable token stops the rotation with nothing changed. Afterwards, set
/// the app's TWOFA_MASTER_KEY to the new key and restart it.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa rotate-key --new-key-file new.key --dry-run
  mex2fa rotate-key --new-key-file new.key --backup before-rotation.bak
  mex2fa rotate-key --new-key-file new.key --old-key-file old.key   and stragglers under old.key")]
pub struct RotateKey {
    /// File holding the new Fernet key (see `mex2fa keygen --out`)
    #[arg(long, value_name = "PATH")]
    pub new_key_file: PathBuf,

    /// A further old key to decrypt with (repeatable), e.g. for stragglers
    #[arg(long, value_name = "PATH")]
    pub old_key_file: Vec<PathBuf>,

    /// Decrypt and count everything, write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Save every old token to this file first (created 0600; never overwritten)
    #[arg(long, value_name = "PATH")]
    pub backup: Option<PathBuf>,

    /// Do not ask for confirmation (required when there is no terminal)
    #[arg(short, long)]
    pub yes: bool,

    #[command(flatten)]
    pub reason: Reason,
}

/// Put back the tokens saved by `rotate-key --backup`, in one transaction
///
/// The master key given (TWOFA_MASTER_KEY or --master-key-file) must be the key
/// the backup's tokens were encrypted with; every token is checked first.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa restore --backup before-rotation.bak   with the key the backup was taken under
  mex2fa restore --backup before-rotation.bak --master-key-file old.key --yes")]
pub struct Restore {
    /// The backup file written by rotate-key
    #[arg(long, value_name = "PATH")]
    pub backup: PathBuf,

    /// A further key the backup's tokens may be under (repeatable): a backup of
    /// a rotation that also used --old-key-file holds tokens under each
    #[arg(long, value_name = "PATH")]
    pub old_key_file: Vec<PathBuf>,

    /// Restore even if the stored tokens then are under more than one key
    /// (the app reads only one: bring them under one with rotate-key)
    #[arg(long)]
    pub allow_mixed: bool,

    /// Do not ask for confirmation (required when there is no terminal)
    #[arg(short, long)]
    pub yes: bool,

    #[command(flatten)]
    pub reason: Reason,
}

/// Check the database, the mapping, the key and every stored token
///
/// Exit 0 healthy, 3 state inconsistencies only, 4 a token that does not
/// decrypt (or no usable key, or a key the key check value refuses), 5 a
/// schema or database problem.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa doctor
  mex2fa doctor --json                 the findings, for a script or a monitoring check
  mex2fa doctor --fix                  also remove expired pending enrollments (asks first)")]
pub struct Doctor {
    /// Remove expired pending enrollments, turn hex-text tokens back into
    /// tokens, and write a missing or stale key check value (after confirmation)
    #[arg(long)]
    pub fix: bool,

    /// Do not ask for confirmation with --fix
    #[arg(short, long)]
    pub yes: bool,

    /// With --fix, write the key check value under the master key given even
    /// though nothing proves it is the right one (the app's key was replaced
    /// on purpose while no secret was stored)
    #[arg(long, requires = "fix")]
    pub accept_key: bool,

    #[command(flatten)]
    pub reason: Reason,
}

/// Show who has 2FA enabled or pending
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa status
  mex2fa status alice
  mex2fa status --json")]
pub struct Status {
    /// Only this user
    #[arg(add = ArgValueCandidates::new(|| users(Offer::Any)))]
    pub user: Option<String>,
}

/// Generate a new Fernet master key
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa keygen --out new.key          into a new file, mode 0600
  mex2fa keygen                        on the screen instead")]
pub struct Keygen {
    /// Write the key to this file (created 0600; never overwritten) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Print the script that makes a shell complete mex2fa's commands, flags and user names
///
/// At each TAB the shell asks mex2fa itself (which must be on PATH), so user
/// names come from the database MEX2FA_DB, --db or ./.env names: verify offers
/// users with 2FA enabled, confirm those with an enrollment pending, enroll
/// those without 2FA, disable those with 2FA enabled or pending.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa completions bash > ~/.local/share/bash-completion/completions/mex2fa
  mex2fa completions zsh > ~/.zfunc/_mex2fa     (a folder on $fpath, before compinit)
  mex2fa completions fish > ~/.config/fish/completions/mex2fa.fish")]
pub struct Completions {
    /// The shell
    pub shell: clap_complete::Shell,
}

/// Show every command on a throwaway database and key (touches nothing else)
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa demo                          leaves its files in a new temporary folder to look at
  mex2fa demo --clean")]
pub struct Demo {
    /// Delete the demo's files at the end instead of leaving them to look at
    #[arg(long)]
    pub clean: bool,
}

/// Show the audit log of state changes made by mex2fa
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mex2fa log
  mex2fa log bob
  mex2fa log --since 2026-11-25 --json")]
pub struct Log {
    /// Only entries about this user
    #[arg(add = ArgValueCandidates::new(|| users(Offer::Any)))]
    pub user: Option<String>,

    /// Only entries at or after this UTC date or time (2026-11-25 or 2026-11-25T08:00:00Z)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,

    /// At most this many entries, newest first
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
}
