//! The MeXanimatoR database, behind one seam: the domain types below and the
//! object-safe [`Store`] / [`Tx`] pair. [`open`] picks the backend from the
//! [`Target`]; every backend lives in a folder of its own (`sqlite/`,
//! `postgres/`, `mysql/`) and nothing outside `db` sees its types or its SQL.
//!
//! The app's table is only ever read, or updated in its enabled and secret
//! columns. mex2fa's own state lives in tables of its own (`mex2fa_pending`,
//! `mex2fa_audit`, `mex2fa_meta`), created on the first write that needs
//! them; an audit table made by an earlier mex2fa gains its `reason` column
//! the same way.
//!
//! `db` says what is wrong ("table 'x' not found"); which flag or variable
//! fixes it is for the command line to say, from the [`Setting`] an error
//! names.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

pub mod mysql;
pub mod postgres;
pub mod sqlite;
mod url;

/// Where the database is: a SQLite file, a PostgreSQL server, or a MariaDB
/// or MySQL server.
pub enum Target {
    Sqlite(PathBuf),
    Postgres(postgres::Location),
    Mysql(mysql::Location),
}

impl Target {
    /// Reads `--db`'s value: a `postgres://` or `postgresql://` URL, a
    /// `mysql://` or `mariadb://` URL, else a SQLite file path. A password
    /// inside a URL is kept apart, zeroized.
    pub fn parse(text: &str) -> Result<Target> {
        let lower = text.get(..14).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return postgres::Location::parse(text).map(Target::Postgres);
        }
        if lower.starts_with("mysql://") || lower.starts_with("mariadb://") {
            return mysql::Location::parse(text).map(Target::Mysql);
        }
        if let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(Error::usage(format!(
                "'{}://' is not a database mex2fa knows; use a SQLite file path, a postgres:// or a mysql:// URL",
                crate::ui::escape(scheme)
            )));
        }
        Ok(Target::Sqlite(PathBuf::from(text)))
    }

    /// Whether the location itself carries a password (a URL's `user:password@`).
    pub fn has_inline_password(&self) -> bool {
        self.password().is_some_and(|p| p.is_inline())
    }

    /// Gives the connection a password from elsewhere (a file or a variable);
    /// one in the URL wins.
    pub fn set_password(&mut self, password: zeroize::Zeroizing<String>) {
        if let Some(p) = self.password_mut() {
            p.set(password);
        }
    }

    fn password(&self) -> Option<&url::Password> {
        match self {
            Target::Sqlite(_) => None,
            Target::Postgres(l) => Some(&l.password),
            Target::Mysql(l) => Some(&l.password),
        }
    }

    fn password_mut(&mut self) -> Option<&mut url::Password> {
        match self {
            Target::Sqlite(_) => None,
            Target::Postgres(l) => Some(&mut l.password),
            Target::Mysql(l) => Some(&mut l.password),
        }
    }
}

/// How a database is opened.
pub struct Options {
    pub mode: Mode,
    /// How long to wait for a lock another session holds.
    pub busy: Duration,
}

/// Opens an existing database (never creates one) and checks the mapping.
pub fn open(target: &Target, schema: Schema, options: Options) -> Result<Box<dyn Store>> {
    match target {
        Target::Sqlite(path) => Ok(Box::new(sqlite::Db::open(path, schema, options)?)),
        Target::Postgres(location) => postgres::open(location, schema, options),
        Target::Mysql(location) => mysql::open(location, schema, options),
    }
}

/// A setting an error is about, so that the command line can name the flag
/// or variable that changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    /// Where the database is.
    Location,
    /// The database password.
    Password,
    Table,
    IdColumn,
    UserColumn,
    EnabledColumn,
    SecretColumn,
    /// The wait for locks.
    Busy,
}

impl Setting {
    /// What the setting is, in a message.
    pub fn noun(self) -> &'static str {
        match self {
            Setting::Location => "database location",
            Setting::Password => "database password",
            Setting::Table => "table",
            Setting::IdColumn => "id column",
            Setting::UserColumn => "user column",
            Setting::EnabledColumn => "enabled column",
            Setting::SecretColumn => "secret column",
            Setting::Busy => "lock timeout",
        }
    }
}

/// A validated SQL identifier (`[A-Za-z_][A-Za-z0-9_]*`): it cannot be bound
/// as a parameter, so only such names are ever put into SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    pub fn parse(name: &str) -> Option<Ident> {
        let mut chars = name.chars();
        let first = chars.next()?;
        let ok = (first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        ok.then(|| Ident(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The accounts table: a name, in a schema (PostgreSQL) or database (MariaDB)
/// when one is given as `schema.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<Ident>,
    pub name: Ident,
}

impl TableName {
    /// `name` or `schema.name`, each part a valid identifier.
    pub fn parse(text: &str) -> Option<TableName> {
        match text.split_once('.') {
            None => Some(TableName {
                schema: None,
                name: Ident::parse(text)?,
            }),
            Some((schema, name)) => Some(TableName {
                schema: Some(Ident::parse(schema)?),
                name: Ident::parse(name)?,
            }),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// Which table and columns hold the accounts (see the README's configuration).
#[derive(Debug, Clone)]
pub struct Schema {
    pub table: TableName,
    pub id: Ident,
    pub user: Ident,
    pub enabled: Ident,
    pub secret: Ident,
}

impl Schema {
    /// The mapped columns, each with the setting that names it.
    pub fn columns(&self) -> [(&Ident, Setting); 4] {
        [
            (&self.id, Setting::IdColumn),
            (&self.user, Setting::UserColumn),
            (&self.enabled, Setting::EnabledColumn),
            (&self.secret, Setting::SecretColumn),
        ]
    }
}

/// An account's primary key as stored: the app uses integers, others use text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountId {
    Int(i64),
    Text(String),
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountId::Int(n) => write!(f, "{n}"),
            AccountId::Text(s) => f.write_str(s),
        }
    }
}

impl AccountId {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AccountId::Int(n) => (*n).into(),
            AccountId::Text(s) => s.clone().into(),
        }
    }
}

/// What the secret column of a row holds. The app writes bytes (a BLOB,
/// `bytea`); other deployments store text; both are read.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Null,
    Text(String),
    Blob(Vec<u8>),
    /// An integer or real: never a token.
    Number(String),
}

impl Stored {
    /// The token text, if the value can be one (ASCII text or bytes).
    pub fn token(&self) -> Option<&str> {
        match self {
            Stored::Text(s) => Some(s.as_str()),
            Stored::Blob(b) => std::str::from_utf8(b).ok(),
            Stored::Null | Stored::Number(_) => None,
        }
    }

    /// An empty (or all-blank) string or blob: a value, but not a token.
    pub fn is_blank(&self) -> bool {
        match self {
            Stored::Text(s) => s.trim().is_empty(),
            Stored::Blob(b) => b.iter().all(u8::is_ascii_whitespace),
            Stored::Null | Stored::Number(_) => false,
        }
    }

    /// Text that spells a token's bytes in hex (`\x6741…`): what psycopg
    /// leaves when an app puts Python `bytes` into a text column.
    pub fn hex_token(&self) -> Option<String> {
        let text = match self {
            Stored::Text(s) => s.as_str(),
            Stored::Blob(b) => std::str::from_utf8(b).ok()?,
            _ => return None,
        };
        let hex = text.trim().strip_prefix("\\x")?;
        if hex.is_empty() || hex.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        String::from_utf8(bytes?)
            .ok()
            .filter(|t| t.starts_with("gAAAAA"))
    }

    /// How the value reads in a message.
    pub fn describe(&self) -> &'static str {
        match self {
            Stored::Null => "NULL",
            Stored::Text(s) if s.trim().is_empty() => "an empty string",
            Stored::Text(_) => "text",
            Stored::Blob(b) if b.iter().all(u8::is_ascii_whitespace) => "an empty blob",
            Stored::Blob(_) => "a blob",
            Stored::Number(_) => "a number",
        }
    }
}

/// How new tokens are written: the form the secret column declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenForm {
    Text,
    Blob,
}

/// One row of the app's table, as mex2fa sees it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub user: String,
    pub enabled: bool,
    pub secret: Stored,
}

/// An enrollment waiting for its first code.
#[derive(Debug, Clone)]
pub struct Pending {
    pub token: String,
    pub expires_at: i64,
}

/// Where a stored token lives: the app's secret column, or mex2fa's pending table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Account,
    Pending,
}

impl Place {
    pub fn name(self) -> &'static str {
        match self {
            Place::Account => "account",
            Place::Pending => "pending",
        }
    }
}

/// A row that holds (or should hold) a token, for rotation, restore and doctor.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub place: Place,
    pub id: AccountId,
    /// The username; empty for a pending row whose account is gone, and in
    /// a rotation's lean reads.
    pub user: String,
    /// Account rows: the enabled flag, read as the app reads it (Python
    /// truthiness of what its driver returns). Pending rows: whether the
    /// account exists.
    pub enabled: bool,
    /// Account rows read in full: the flag as stored, when it is not 0, 1,
    /// NULL or a boolean (the app reads it by truthiness all the same).
    pub odd_flag: Option<String>,
    pub value: Stored,
    /// Pending rows only: when the enrollment expires.
    pub expires_at: Option<i64>,
    /// A rotation's lean reads only: where the backend may overwrite the
    /// token in place, if it can.
    pub slot: Option<Slot>,
}

/// Where a backend can overwrite a stored token faster than by updating its
/// row, as the backend made it; opaque to everyone else, who only keep it
/// (as bytes, between passes) and hand it back with the new token. A damaged
/// one does no harm: a backend checks a slot before it trusts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot([u8; Slot::BYTES]);

impl Slot {
    /// The length of a slot's bytes.
    pub const BYTES: usize = 28;

    pub fn to_bytes(self) -> [u8; Slot::BYTES] {
        self.0
    }

    pub fn from_bytes(b: [u8; Slot::BYTES]) -> Slot {
        Slot(b)
    }
}

/// One line of `status`.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub id: AccountId,
    pub user: String,
    pub enabled: bool,
    pub pending_expires_at: Option<i64>,
}

/// A state change to record in the audit table. Never holds a secret.
pub struct AuditEntry<'a> {
    pub os_user: &'a str,
    pub action: &'a str,
    pub account: Option<&'a Account>,
    pub detail: String,
    /// Why, in the operator's words (`--reason`).
    pub reason: Option<&'a str>,
}

/// One row of the audit table.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub at: String,
    pub os_user: String,
    pub action: String,
    pub account_id: Option<AccountId>,
    pub user: Option<String>,
    pub detail: String,
    /// The operator's `--reason`; none in rows written without one, or by
    /// a mex2fa older than the column.
    pub reason: Option<String>,
}

/// The key check value: a Fernet token of a fixed marker under the master
/// key mex2fa last wrote tokens with, kept in `mex2fa_meta`.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub token: String,
    /// When it was written (Unix seconds).
    pub written_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    ReadWrite,
}

/// Token rows, a page at a time, in id order; memory stays constant however
/// many rows there are.
pub trait Pages {
    /// The next page, or `None` at the end.
    fn next_page(&mut self) -> Result<Option<Vec<TokenRow>>>;
}

/// An open, schema-checked database.
pub trait Store {
    /// Where the database is, for messages (never with a password).
    fn location(&self) -> String;

    /// The form new tokens are written in.
    fn token_form(&self) -> TokenForm;

    /// The account named `user`; exit 3 when there is none (or several).
    fn account(&mut self, user: &str) -> Result<Account>;

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>>;

    /// Every account (or the one named), with its pending enrollment if any.
    fn status(&mut self, user: Option<&str>) -> Result<Vec<StatusRow>>;

    /// Accounts with anything of 2FA on them: enabled, a stored secret, or pending.
    fn accounts_with_2fa(&mut self) -> Result<Vec<Account>>;

    /// Token rows of `place` in pages of `size`; `only_tokens` skips NULL secrets.
    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn Pages + '_>>;

    /// Audit rows, newest first.
    fn audit_log(
        &mut self,
        user: Option<&str>,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRow>>;

    /// The key check value, if one was written (none before the first
    /// write of a token, or in a database of an older mex2fa).
    fn key_check(&mut self) -> Result<Option<KeyCheck>>;

    /// Runs `work` in one transaction: all of it is committed, or none.
    /// See [`write`](trait.Store.html#method.write) for the typed form.
    fn transact(&mut self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;
}

impl dyn Store + '_ {
    /// Runs `f` in one transaction: all of it is committed, or none.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.transact(&mut |tx| {
            let f = f.take().expect("a transaction runs its work once");
            out = Some(f(tx)?);
            Ok(())
        })?;
        Ok(out.expect("the work ran"))
    }
}

/// The inside of a write transaction.
pub trait Tx {
    fn account(&mut self, user: &str) -> Result<Account>;

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>>;

    /// Stores (or replaces) the pending enrollment of an account.
    fn put_pending(
        &mut self,
        id: &AccountId,
        token: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<()>;

    /// Removes an account's pending enrollment; true if there was one.
    fn delete_pending(&mut self, id: &AccountId) -> Result<bool>;

    /// enabled = 1 and the token written in the column's form; exactly one row.
    fn enable(&mut self, id: &AccountId, token: &str) -> Result<()>;

    /// enabled = 0 and the secret NULL, as the app's Disable does; exactly one row.
    fn disable(&mut self, id: &AccountId) -> Result<()>;

    /// Token rows of `place`, read inside this transaction.
    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn Pages + '_>>;

    /// The lean read of a rotation: only rows with a token, each carrying only
    /// its id and token (`user` empty, `enabled` false) and, where the backend
    /// has one, its [`Slot`]. The rows read are locked against other writers
    /// until the commit, so no token changes under the rotation.
    fn token_pages(&mut self, place: Place, size: usize) -> Result<Box<dyn Pages + '_>>;

    /// The username of the account behind a token row (empty if there is none).
    fn user_of(&mut self, place: Place, id: &AccountId) -> Result<String>;

    /// How many stored tokens there are: (account secrets, pending rows).
    fn count_tokens(&mut self) -> Result<(u64, u64)>;

    /// A hint that this transaction is about to rewrite many rows; a backend
    /// may tune itself for it, or ignore it.
    fn bulk_rewrite(&mut self) -> Result<()>;

    /// A writer of many tokens, in the column's form (pending: text).
    fn token_writer(&mut self) -> Result<Box<dyn TokenWriter + '_>>;

    /// Both halves of a rewrite of `place` in one pass: its
    /// [`token_pages`](Tx::token_pages) and a [`TokenWriter`] that may write
    /// between two pages. `None` where a read must end before the
    /// connection can write (a server streams it from one query: the
    /// default); the caller then reads everything first.
    #[allow(clippy::type_complexity)]
    fn rewrite(
        &mut self,
        _place: Place,
        _size: usize,
    ) -> Result<Option<(Box<dyn Pages + '_>, Box<dyn TokenWriter + '_>)>> {
        Ok(None)
    }

    /// Replaces one stored token where one is stored; false if no row with a
    /// token matched.
    fn set_token(&mut self, place: Place, id: &AccountId, token: &str) -> Result<bool>;

    /// Replaces one stored token only where the row still holds exactly
    /// `expected`; false (nothing written) otherwise.
    fn swap_token(
        &mut self,
        place: Place,
        id: &AccountId,
        expected: &str,
        token: &str,
    ) -> Result<bool>;

    /// Removes pending enrollments that expired at or before `now`; how many.
    fn delete_expired_pending(&mut self, now: i64) -> Result<usize>;

    /// Appends to the audit table, inside this transaction.
    fn audit(&mut self, entry: AuditEntry<'_>) -> Result<()>;

    /// The key check value, read inside this transaction.
    fn key_check(&mut self) -> Result<Option<KeyCheck>>;

    /// Writes (or replaces) the key check value.
    fn set_key_check(&mut self, token: &str, written_at: i64) -> Result<()>;
}

/// Replaces stored tokens, touching nothing else of a row; only a row that
/// holds a token is changed. A backend may hold writes back to send them in
/// bulk: what it wrote is only known at [`finish`](TokenWriter::finish).
pub trait TokenWriter {
    /// Replaces the token of `id` in `place` by `token`; `slot` is where the
    /// old one was read, if the backend said.
    fn put(&mut self, place: Place, id: &AccountId, slot: Option<Slot>, token: &str) -> Result<()>;

    /// Writes what is held back; what was written in all.
    fn finish(self: Box<Self>) -> Result<Written>;
}

/// What a [`TokenWriter`] wrote.
#[derive(Debug)]
pub struct Written {
    /// Rows changed.
    pub rows: u64,
    /// The places where the backend read every write back as sent, in a
    /// transaction where nothing else can change a token (no trigger on the
    /// tables it writes): a check of what is stored need not read them again.
    pub read_back: Vec<Place>,
}

/// Rows affected by a one-row change: exactly one, or the row changed under us.
pub(crate) fn exactly_one(n: u64, id: &AccountId) -> Result<()> {
    if n == 1 {
        Ok(())
    } else {
        Err(Error::state(format!(
            "account id {id} changed while mex2fa was working on it ({n} rows matched); nothing was written, run the command again"
        )))
    }
}

pub(crate) fn no_such_user(user: &str) -> Error {
    Error::state(format!(
        "no account named '{}'; check the spelling (mex2fa status lists accounts)",
        crate::ui::escape(user)
    ))
}

pub(crate) fn several_users(user: &str) -> Error {
    Error::state(format!(
        "several accounts are named '{}'; mex2fa needs the user column to be unique",
        crate::ui::escape(user)
    ))
}

/// A server's integer or boolean flag, as text (`1`, `0`, `true`,
/// `false`, `2`): read as the app reads the number or `bool` its driver
/// hands it, by Python truthiness.
pub(crate) fn truthy_number(s: &str) -> bool {
    !(s == "0" || s == "false")
}

/// A flag that is not 0, 1 or a boolean, as it reads in a message.
pub(crate) fn odd_number(s: &str) -> Option<String> {
    (!matches!(s, "0" | "1" | "true" | "false")).then(|| s.to_string())
}

/// Every cause in an error's chain, as text.
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out
}

/// The name of mex2fa's pending table.
pub(crate) const PENDING_TABLE: &str = "mex2fa_pending";
/// The name of mex2fa's audit table.
pub(crate) const AUDIT_TABLE: &str = "mex2fa_audit";
/// The name of mex2fa's table of its own settings (the key check value).
pub(crate) const META_TABLE: &str = "mex2fa_meta";
/// The row of [`META_TABLE`] that holds the key check value.
pub(crate) const KEY_CHECK: &str = "key_check";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["account", "_x", "A1_b"] {
            assert!(Ident::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "a b",
            "a\"",
            "x; DROP TABLE account",
            "naïve",
            "a.b",
        ] {
            assert!(Ident::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn table_names() {
        let t = TableName::parse("app.account").unwrap();
        assert_eq!(t.schema.unwrap().as_str(), "app");
        assert_eq!(t.name.as_str(), "account");
        assert!(TableName::parse("account").unwrap().schema.is_none());
        for bad in ["a.b.c", ".a", "a.", "a b.c", "a.\"b\""] {
            assert!(TableName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hex_tokens_are_recognised() {
        let token = "gAAAAABpYWJj";
        let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            Stored::Text(format!("\\x{hex}")).hex_token().as_deref(),
            Some(token)
        );
        assert_eq!(Stored::Text(token.into()).hex_token(), None);
        assert_eq!(Stored::Text("\\x6".into()).hex_token(), None);
        assert_eq!(Stored::Text("\\x4142".into()).hex_token(), None);
    }

    #[test]
    fn locations() {
        assert!(matches!(
            Target::parse("/srv/app.db"),
            Ok(Target::Sqlite(_))
        ));
        assert!(matches!(Target::parse("app.db"), Ok(Target::Sqlite(_))));
        assert!(matches!(
            Target::parse("postgres://u@h/d"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            Target::parse("PostgreSQL://u@h/d"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            Target::parse("mysql://u@h/d"),
            Ok(Target::Mysql(_))
        ));
        assert!(matches!(
            Target::parse("MariaDB://u@h/d"),
            Ok(Target::Mysql(_))
        ));
        assert!(matches!(Target::parse("mysql://h/d"), Err(Error::Usage(_))));
        assert!(Target::parse("mongodb://h/d").is_err());
    }
}
