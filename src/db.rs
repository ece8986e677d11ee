//! The MeXanimatoR database: schema mapping, reads, and every write in one
//! transaction. All SQL of mex2fa lives here; the rest of the program talks to
//! it through the types below, never through rusqlite's.
//!
//! The app's table is only ever read, or updated in its enabled and secret
//! columns. mex2fa's own state lives in tables of its own (`mex2fa_pending`,
//! `mex2fa_audit`), created on the first write that needs them.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::blob::Blob;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{
    Connection, ErrorCode, MAIN_DB, OpenFlags, OptionalExtension, TransactionBehavior, params,
};

use crate::error::{Error, Result};

mod journal;
mod write_behind;
use write_behind::WriteBehind;

const PENDING_TABLE: &str = "mex2fa_pending";
const AUDIT_TABLE: &str = "mex2fa_audit";
const SET_PENDING_SQL: &str = "UPDATE mex2fa_pending SET secret_token = ?1 WHERE account_id = ?2";

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

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which table and columns hold the accounts (contract §1, §6).
#[derive(Debug, Clone)]
pub struct Schema {
    pub table: Ident,
    pub id: Ident,
    pub user: Ident,
    pub enabled: Ident,
    pub secret: Ident,
}

/// One mapped column and how the operator remaps it, for error messages.
pub struct Mapping {
    pub setting: &'static str,
    pub flag: &'static str,
    pub var: &'static str,
}

pub const TABLE: Mapping = Mapping {
    setting: "table",
    flag: "--table",
    var: "MEX2FA_TABLE",
};
pub const COLUMNS: [Mapping; 4] = [
    Mapping {
        setting: "id column",
        flag: "--id-column",
        var: "MEX2FA_ID_COLUMN",
    },
    Mapping {
        setting: "user column",
        flag: "--user-column",
        var: "MEX2FA_USER_COLUMN",
    },
    Mapping {
        setting: "enabled column",
        flag: "--enabled-column",
        var: "MEX2FA_ENABLED_COLUMN",
    },
    Mapping {
        setting: "secret column",
        flag: "--secret-column",
        var: "MEX2FA_SECRET_COLUMN",
    },
];

impl Schema {
    fn columns(&self) -> [&Ident; 4] {
        [&self.id, &self.user, &self.enabled, &self.secret]
    }
}

/// An account's primary key as stored: the app uses integers, others use text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountId {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountId::Int(n) => write!(f, "{n}"),
            AccountId::Text(s) => f.write_str(s),
        }
    }
}

impl AccountId {
    fn from_value(v: ValueRef<'_>) -> Result<AccountId> {
        match v {
            ValueRef::Integer(n) => Ok(AccountId::Int(n)),
            ValueRef::Text(t) => Ok(AccountId::Text(String::from_utf8_lossy(t).into_owned())),
            other => Err(Error::db(format!(
                "an account id is of type {:?}; mex2fa handles integer or text ids (check --id-column)",
                other.data_type()
            ))),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            AccountId::Int(n) => Value::Integer(*n),
            AccountId::Text(s) => Value::Text(s.clone()),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AccountId::Int(n) => (*n).into(),
            AccountId::Text(s) => s.clone().into(),
        }
    }
}

/// What the secret column of a row holds. The app writes a BLOB (Python
/// `bytes`); other deployments store TEXT; both are read.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Null,
    Text(String),
    Blob(Vec<u8>),
    /// An integer or real: never a token.
    Number(String),
}

impl Stored {
    fn from_value(v: ValueRef<'_>) -> Stored {
        match v {
            ValueRef::Null => Stored::Null,
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => Stored::Text(s.to_string()),
                Err(_) => Stored::Blob(t.to_vec()),
            },
            ValueRef::Blob(b) => Stored::Blob(b.to_vec()),
            ValueRef::Integer(n) => Stored::Number(n.to_string()),
            ValueRef::Real(r) => Stored::Number(r.to_string()),
        }
    }

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

/// How new tokens are written: the form the secret column declares (contract §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenForm {
    Text,
    Blob,
}

impl TokenForm {
    /// SQLite's affinity rules: INT wins, then CHAR/CLOB/TEXT give TEXT affinity.
    fn from_declared(decl: &str) -> TokenForm {
        let d = decl.to_ascii_uppercase();
        if !d.contains("INT") && (d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT")) {
            TokenForm::Text
        } else {
            TokenForm::Blob
        }
    }

    fn value(self, token: &str) -> Value {
        match self {
            TokenForm::Text => Value::Text(token.to_string()),
            TokenForm::Blob => Value::Blob(token.as_bytes().to_vec()),
        }
    }
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
    /// The username; empty for a pending row whose account is gone.
    pub user: String,
    /// Account rows: the enabled flag. Pending rows: whether the account exists.
    pub enabled: bool,
    pub value: Stored,
    /// Pending rows only: when the enrollment expires.
    pub expires_at: Option<i64>,
    /// Lean account reads only: where the token can be overwritten in place.
    pub slot: Option<Slot>,
}

/// Where SQLite keeps a stored token that can be overwritten byte for byte
/// (see [`TokenWriter::replace`]), and what lay there when it was read: the
/// row, the value's length and its last bytes (a token ends in its MAC).
/// Given only where the table allows it and the value has the column's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    rowid: i64,
    len: u32,
    tail: [u8; TAIL],
}

/// How many of a value's last bytes a [`Slot`] remembers.
const TAIL: usize = 16;

impl Slot {
    /// The length of [`to_bytes`](Self::to_bytes).
    pub const BYTES: usize = 12 + TAIL;

    fn of(rowid: i64, value: &[u8]) -> Option<Slot> {
        let len = u32::try_from(value.len()).ok()?;
        let mut tail = [0u8; TAIL];
        let end = &value[value.len().saturating_sub(TAIL)..];
        tail[..end.len()].copy_from_slice(end);
        Some(Slot { rowid, len, tail })
    }

    /// The slot as bytes, for scratch storage between passes.
    pub fn to_bytes(self) -> [u8; Slot::BYTES] {
        let mut b = [0u8; Slot::BYTES];
        b[..8].copy_from_slice(&self.rowid.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b[12..].copy_from_slice(&self.tail);
        b
    }

    /// A slot back from [`to_bytes`](Self::to_bytes). A damaged one does no
    /// harm: nothing is overwritten that does not end as the slot says.
    pub fn from_bytes(b: &[u8; Slot::BYTES]) -> Slot {
        Slot {
            rowid: i64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            len: u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")),
            tail: b[12..].try_into().expect("tail"),
        }
    }

    /// The remembered last bytes of the value.
    fn tail(&self) -> &[u8] {
        &self.tail[..(self.len as usize).min(TAIL)]
    }
}

/// How the tokens of the accounts table can be overwritten in place with
/// SQLite's incremental blob I/O, which rewrites a value's bytes where they
/// lie instead of rebuilding the whole row as an `UPDATE` does: a rotation
/// writes 200k tokens in ~0.3 s instead of ~0.5 s. Only where the result is
/// exactly what the `UPDATE` would leave: a rowid table, no trigger (it
/// would not fire), no CHECK constraint or generated column (not
/// re-evaluated), no index on or over the secret column.
#[derive(Debug, Clone, Copy)]
struct InPlace {
    /// A name of the rowid that no declared column shadows.
    rowid: &'static str,
    /// TEXT values are stored as UTF-8, so text tokens are overwritable too.
    text: bool,
}

impl InPlace {
    /// Finds out whether (and how) `schema`'s tokens can be overwritten in place.
    fn plan(conn: &Connection, s: &Schema) -> rusqlite::Result<Option<InPlace>> {
        let table = s.table.as_str();
        let columns: Vec<(String, i64)> = conn
            .prepare("SELECT name, hidden FROM pragma_table_xinfo(?1)")?
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        // hidden 2 and 3: generated columns, which a blob write would leave stale.
        if columns
            .iter()
            .any(|(_, hidden)| *hidden == 2 || *hidden == 3)
        {
            return Ok(None);
        }
        let Some(rowid) = ["_rowid_", "rowid", "oid"]
            .into_iter()
            .find(|a| !columns.iter().any(|(n, _)| n.eq_ignore_ascii_case(a)))
        else {
            return Ok(None);
        };
        let secret = s.secret.as_str().to_ascii_uppercase();
        let mut objects = conn.prepare(
            "SELECT type, upper(coalesce(sql, '')) FROM sqlite_schema
             WHERE tbl_name = ?1 COLLATE NOCASE AND type IN ('table', 'index', 'trigger')",
        )?;
        let mut rows = objects.query([table])?;
        let mut a_table = false;
        while let Some(r) = rows.next()? {
            let (kind, sql): (String, String) = (r.get(0)?, r.get(1)?);
            let allowed = match kind.as_str() {
                // Not a virtual table, nor a view (which has no row of this type).
                "table" => {
                    a_table = true;
                    sql.starts_with("CREATE TABLE") && !sql.contains("CHECK")
                }
                "index" => !sql.contains(&secret),
                _ => false,
            };
            if !allowed {
                return Ok(None);
            }
        }
        if !a_table {
            return Ok(None);
        }
        // Indexes made by UNIQUE or PRIMARY KEY constraints have no SQL of their own.
        let indexed: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_index_list(?1) l, pragma_index_info(l.name) i
             WHERE i.name = ?2 COLLATE NOCASE",
            [table, s.secret.as_str()],
            |r| r.get(0),
        )?;
        // A WITHOUT ROWID table has no rowid to name.
        if indexed
            || conn
                .prepare(&format!("SELECT {rowid} FROM {} LIMIT 0", q(&s.table)))
                .is_err()
        {
            return Ok(None);
        }
        let encoding: String = conn.query_row("PRAGMA encoding", [], |r| r.get(0))?;
        Ok(Some(InPlace {
            rowid,
            text: encoding.eq_ignore_ascii_case("UTF-8"),
        }))
    }

    /// The slot of a row whose stored value is in `form`.
    fn slot(self, form: TokenForm, value: ValueRef<'_>, rowid: ValueRef<'_>) -> Option<Slot> {
        let bytes = match (form, value) {
            (TokenForm::Blob, ValueRef::Blob(b)) => b,
            (TokenForm::Text, ValueRef::Text(t)) if self.text => t,
            _ => return None,
        };
        match rowid {
            ValueRef::Integer(n) => Slot::of(n, bytes),
            _ => None,
        }
    }
}

/// Reads token rows page by page in id order (keyset pagination), so a
/// million accounts stream in constant memory and no cursor stays open while
/// the same connection writes.
pub struct Pages<'c> {
    conn: &'c Connection,
    schema: &'c Schema,
    place: Place,
    only_tokens: bool,
    /// Only ids and tokens: no username, no flag (a rotation needs no more).
    lean: bool,
    /// Lean account reads: slots for in-place writes, where the table allows them.
    in_place: Option<InPlace>,
    form: TokenForm,
    size: usize,
    after: Option<AccountId>,
    done: bool,
    path: &'c Path,
    busy: Duration,
}

impl Pages<'_> {
    fn sql(&self) -> String {
        let s = self.schema;
        let cursor = |col: &str| {
            if self.after.is_some() {
                format!("{col} > ?2")
            } else {
                "?2 IS NULL".to_string()
            }
        };
        let (user, en) = if self.lean {
            ("NULL".to_string(), "NULL".to_string())
        } else {
            (q(&s.user), q(&s.enabled))
        };
        match self.place {
            Place::Account => format!(
                "SELECT {id}, {user}, {en}, {sec}, NULL, {rowid} FROM {t}
                 WHERE {cur}{tok} ORDER BY {id} LIMIT ?1",
                id = q(&s.id),
                rowid = self.in_place.map_or("NULL", |p| p.rowid),
                sec = q(&s.secret),
                t = q(&s.table),
                cur = cursor(&q(&s.id)),
                tok = if self.only_tokens {
                    format!(" AND {} IS NOT NULL", q(&s.secret))
                } else {
                    String::new()
                }
            ),
            Place::Pending if self.lean => format!(
                "SELECT p.account_id, NULL, NULL, p.secret_token, p.expires_at, NULL
                 FROM {PENDING_TABLE} p WHERE {cur} ORDER BY p.account_id LIMIT ?1",
                cur = cursor("p.account_id")
            ),
            Place::Pending => format!(
                "SELECT p.account_id, a.{user}, a.{id} IS NOT NULL, p.secret_token, p.expires_at, NULL
                 FROM {PENDING_TABLE} p LEFT JOIN {t} a ON a.{id} = p.account_id
                 WHERE {cur} ORDER BY p.account_id LIMIT ?1",
                id = q(&s.id),
                user = q(&s.user),
                t = q(&s.table),
                cur = cursor("p.account_id")
            ),
        }
    }

    /// The next page, or `None` at the end.
    pub fn next_page(&mut self) -> Result<Option<Vec<TokenRow>>> {
        if self.done {
            return Ok(None);
        }
        let err = |e| sql_error(self.path, self.busy, e);
        let sql = self.sql();
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(self.size).unwrap_or(i64::MAX);
        let after = self.after.as_ref().map_or(Value::Null, AccountId::to_value);
        let mut rows = stmt.query(params![limit, after]).map_err(err)?;
        let mut page = Vec::with_capacity(self.size);
        while let Some(r) = rows.next().map_err(err)? {
            let value = r.get_ref(3).map_err(err)?;
            page.push(TokenRow {
                place: self.place,
                id: AccountId::from_value(r.get_ref(0).map_err(err)?)?,
                user: text_of(r.get_ref(1).map_err(err)?),
                enabled: truthy(r.get_ref(2).map_err(err)?),
                value: Stored::from_value(value),
                expires_at: r.get(4).map_err(err)?,
                slot: match self.in_place {
                    Some(p) => p.slot(self.form, value, r.get_ref(5).map_err(err)?),
                    None => None,
                },
            });
        }
        if page.len() < self.size {
            self.done = true;
        }
        match page.last() {
            Some(last) => {
                self.after = Some(last.id.clone());
                Ok(Some(page))
            }
            None => Ok(None),
        }
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    ReadWrite,
}

/// An open, schema-checked database.
pub struct Db {
    conn: Connection,
    schema: Schema,
    form: TokenForm,
    path: PathBuf,
    busy: Duration,
}

/// Turns a rusqlite error into a message an operator can act on.
fn sql_error(path: &Path, busy: Duration, e: rusqlite::Error) -> Error {
    let shown = path.display();
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return Error::db(format!(
                    "the database {shown} stayed locked by another writer for more than {} ms; retry when the app is idle",
                    busy.as_millis()
                ));
            }
            ErrorCode::NotADatabase => {
                return Error::db(format!(
                    "{shown} is not a SQLite database; check --db or MEX2FA_DB"
                ));
            }
            ErrorCode::ReadOnly => {
                return Error::db(format!(
                    "the database {shown} is read-only; mex2fa needs write access to the file and its directory"
                ));
            }
            ErrorCode::CannotOpen => {
                return Error::db(format!(
                    "cannot open the database {shown}; check the path and its permissions"
                ));
            }
            ErrorCode::DiskFull => {
                return Error::db(format!(
                    "the disk holding {shown} is full; nothing was changed"
                ));
            }
            _ => {}
        }
    }
    Error::db(format!("database error on {shown}: {e}"))
}

fn q(ident: &Ident) -> String {
    format!("\"{}\"", ident.as_str())
}

impl Db {
    /// Opens an existing database (never creates one) and checks the mapping.
    pub fn open(path: &Path, schema: Schema, mode: Mode, busy: Duration) -> Result<Db> {
        let shown = path.display();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::db(format!(
                    "database file not found: {shown}; check --db or MEX2FA_DB (mex2fa never creates one)"
                )));
            }
            Err(e) => return Err(Error::db(format!("cannot read the database {shown}: {e}"))),
            Ok(m) if m.is_dir() => {
                return Err(Error::db(format!(
                    "{shown} is a directory; --db or MEX2FA_DB must name the SQLite file"
                )));
            }
            // A FIFO would block the open forever; a device is no database.
            Ok(m) if !m.is_file() => {
                return Err(Error::db(format!(
                    "{shown} is not a regular file (a pipe, socket or device); --db or MEX2FA_DB must name the SQLite file"
                )));
            }
            Ok(_) => {}
        }
        let flags = match mode {
            Mode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
            Mode::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // Writes go through the shim that writes the rollback journal in large pieces.
        let conn = if mode == Mode::ReadWrite && journal::register() {
            Connection::open_with_flags_and_vfs(path, flags, journal::NAME)
        } else {
            Connection::open_with_flags(path, flags)
        }
        .map_err(|e| sql_error(path, busy, e))?;
        conn.busy_timeout(busy)
            .map_err(|e| sql_error(path, busy, e))?;
        let mut db = Db {
            conn,
            schema,
            form: TokenForm::Blob,
            path: path.to_path_buf(),
            busy,
        };
        db.form = db.check_schema()?;
        Ok(db)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        sql_error(&self.path, self.busy, e)
    }

    /// Checks that the mapped table and columns exist; returns the token form.
    fn check_schema(&self) -> Result<TokenForm> {
        let columns: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT name, type FROM pragma_table_info(?1)")
                .map_err(|e| self.err(e))?;
            stmt.query_map([self.schema.table.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| self.err(e))?
        };
        if columns.is_empty() {
            return Err(Error::db(format!(
                "table '{}' not found in {}; set {} or pass {} to name the accounts table",
                self.schema.table,
                self.path.display(),
                TABLE.var,
                TABLE.flag
            )));
        }
        let mut secret_type = String::new();
        for (ident, mapping) in self.schema.columns().into_iter().zip(COLUMNS.iter()) {
            match columns
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(ident.as_str()))
            {
                Some((_, decl)) => {
                    if std::ptr::eq(ident, &self.schema.secret) {
                        secret_type = decl.clone();
                    }
                }
                None => {
                    return Err(Error::db(format!(
                        "column '{ident}' ({}) not found in table '{}'; set {} or pass {}",
                        mapping.setting, self.schema.table, mapping.var, mapping.flag
                    )));
                }
            }
        }
        Ok(TokenForm::from_declared(&secret_type))
    }

    pub fn token_form(&self) -> TokenForm {
        self.form
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn table_exists(&self, name: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }

    /// The account named `user`; exit 3 when there is none (or several).
    pub fn account(&self, user: &str) -> Result<Account> {
        find_account(&self.conn, &self.schema, user).map_err(|e| e.into_error(self))
    }

    pub fn pending(&self, id: &AccountId) -> Result<Option<Pending>> {
        if !self.table_exists(PENDING_TABLE)? {
            return Ok(None);
        }
        find_pending(&self.conn, id).map_err(|e| self.err(e))
    }

    /// Every account (or the one named), with its pending enrollment if any.
    pub fn status(&self, user: Option<&str>) -> Result<Vec<StatusRow>> {
        let pending: HashMap<AccountId, i64> = if self.table_exists(PENDING_TABLE)? {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT account_id, expires_at FROM {PENDING_TABLE}"
                ))
                .map_err(|e| self.err(e))?;
            let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
            let mut map = HashMap::new();
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let id = AccountId::from_value(r.get_ref(0).map_err(|e| self.err(e))?)?;
                map.insert(id, r.get(1).map_err(|e| self.err(e))?);
            }
            map
        } else {
            HashMap::new()
        };
        let s = &self.schema;
        let mut sql = format!(
            "SELECT {}, {}, {} FROM {}",
            q(&s.id),
            q(&s.user),
            q(&s.enabled),
            q(&s.table)
        );
        if user.is_some() {
            sql.push_str(&format!(" WHERE {} = ?1", q(&s.user)));
        }
        sql.push_str(&format!(" ORDER BY {}", q(&s.id)));
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = match user {
            Some(u) => stmt.query([u]),
            None => stmt.query([]),
        }
        .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let id = AccountId::from_value(r.get_ref(0).map_err(|e| self.err(e))?)?;
            out.push(StatusRow {
                pending_expires_at: pending.get(&id).copied(),
                id,
                user: text_of(r.get_ref(1).map_err(|e| self.err(e))?),
                enabled: truthy(r.get_ref(2).map_err(|e| self.err(e))?),
            });
        }
        if let (Some(u), true) = (user, out.is_empty()) {
            return Err(no_such_user(u));
        }
        Ok(out)
    }

    /// Accounts with anything of 2FA on them: enabled, a stored secret, or pending.
    pub fn accounts_with_2fa(&self) -> Result<Vec<Account>> {
        let s = &self.schema;
        let pending = if self.table_exists(PENDING_TABLE)? {
            format!(
                " OR {} IN (SELECT account_id FROM {PENDING_TABLE})",
                q(&s.id)
            )
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {id}, {user}, {en}, {sec} FROM {t}
             WHERE ({en} IS NOT NULL AND {en} != 0) OR {sec} IS NOT NULL{pending}
             ORDER BY {id}",
            id = q(&s.id),
            user = q(&s.user),
            en = q(&s.enabled),
            sec = q(&s.secret),
            t = q(&s.table)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(account_from_row(r).map_err(|e| e.into_error(self))?);
        }
        Ok(out)
    }

    /// Token rows of `place` in pages of `size`; `only_tokens` skips NULL secrets.
    pub fn pages(&self, place: Place, only_tokens: bool, size: usize) -> Result<Pages<'_>> {
        let absent = place == Place::Pending && !self.table_exists(PENDING_TABLE)?;
        Ok(Pages {
            conn: &self.conn,
            schema: &self.schema,
            place,
            only_tokens,
            lean: false,
            in_place: None,
            form: self.form,
            size,
            after: None,
            done: absent,
            path: &self.path,
            busy: self.busy,
        })
    }

    /// Audit rows, newest first.
    pub fn audit_log(
        &self,
        user: Option<&str>,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        if !self.table_exists(AUDIT_TABLE)? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT at, os_user, action, account_id, username, detail FROM {AUDIT_TABLE}
                 WHERE (?1 IS NULL OR username = ?1) AND (?2 IS NULL OR at_unix >= ?2)
                 ORDER BY seq DESC LIMIT ?3"
            ))
            .map_err(|e| self.err(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query(params![user, since, limit])
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let id = r.get_ref(3).map_err(|e| self.err(e))?;
            out.push(AuditRow {
                at: r.get(0).map_err(|e| self.err(e))?,
                os_user: r.get(1).map_err(|e| self.err(e))?,
                action: r.get(2).map_err(|e| self.err(e))?,
                account_id: match id {
                    ValueRef::Null => None,
                    v => Some(AccountId::from_value(v)?),
                },
                user: r.get(4).map_err(|e| self.err(e))?,
                detail: r.get(5).map_err(|e| self.err(e))?,
            });
        }
        Ok(out)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: all of it is committed, or none.
    pub fn write<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let (path, busy) = (self.path.clone(), self.busy);
        let err = |e| sql_error(&path, busy, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {PENDING_TABLE} (
                 account_id PRIMARY KEY,
                 secret_token TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 expires_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 at TEXT NOT NULL,
                 at_unix INTEGER NOT NULL,
                 os_user TEXT NOT NULL,
                 action TEXT NOT NULL,
                 account_id,
                 username TEXT,
                 detail TEXT NOT NULL
             );"
        ))
        .map_err(err)?;
        let s = &self.schema;
        let wrapped = Tx {
            tx,
            set_secret_sql: format!(
                "UPDATE {t} SET {sec} = ?1 WHERE {id} = ?2 AND {sec} IS NOT NULL",
                t = q(&s.table),
                sec = q(&s.secret),
                id = q(&s.id)
            ),
            schema: &self.schema,
            form: self.form,
            in_place: OnceCell::new(),
            behind: RefCell::new(None),
            path: &path,
            busy,
        };
        let value = f(&wrapped)?;
        wrapped.tx.commit().map_err(err)?;
        Ok(value)
    }
}

/// Replaces stored tokens, in the column's form, touching nothing else of
/// the row. Only a row that holds a token is changed.
pub struct TokenWriter<'t> {
    stmt: rusqlite::CachedStatement<'t>,
    form: TokenForm,
    /// In-place overwrites, where the table allows them.
    overwriter: Option<Overwriter<'t>>,
    path: &'t Path,
    busy: Duration,
}

impl TokenWriter<'_> {
    /// Writes `token` for `id`; false if no row with a token matched.
    pub fn set(&mut self, id: &AccountId, token: &str) -> Result<bool> {
        let bound = match self.form {
            TokenForm::Text => self.stmt.raw_bind_parameter(1, token),
            TokenForm::Blob => self.stmt.raw_bind_parameter(1, token.as_bytes()),
        }
        .and_then(|()| match id {
            AccountId::Int(n) => self.stmt.raw_bind_parameter(2, n),
            AccountId::Text(t) => self.stmt.raw_bind_parameter(2, t.as_str()),
        });
        let n = bound
            .and_then(|()| self.stmt.raw_execute())
            .map_err(|e| sql_error(self.path, self.busy, e))?;
        Ok(n == 1)
    }

    /// Replaces the token of `id`, read at `slot`, by `new`: byte for byte
    /// where it lies when it is still what `slot` says and `new` is as long,
    /// else as [`set`](Self::set) does. The row ends up the same either way.
    pub fn replace(&mut self, id: &AccountId, slot: Option<Slot>, new: &str) -> Result<bool> {
        if let (Some(slot), Some(o)) = (slot, self.overwriter.as_mut())
            && slot.len as usize == new.len()
            && o.overwrite(slot, new.as_bytes())
                .map_err(|e| sql_error(self.path, self.busy, e))?
        {
            return Ok(true);
        }
        self.set(id, new)
    }
}

/// One incremental-blob handle on the secret column, moved from row to row.
struct Overwriter<'t> {
    conn: &'t Connection,
    table: CString,
    column: CString,
    blob: Option<Blob<'t>>,
    /// Cleared when SQLite refuses a handle on the column: no second try.
    usable: bool,
}

impl<'t> Overwriter<'t> {
    fn new(conn: &'t Connection, s: &Schema) -> Option<Overwriter<'t>> {
        Some(Overwriter {
            conn,
            table: CString::new(s.table.as_str()).ok()?,
            column: CString::new(s.secret.as_str()).ok()?,
            blob: None,
            usable: true,
        })
    }

    /// Overwrites the value at `slot` with `new` (as long); false, with
    /// nothing written, when the value there is not what `slot` says.
    fn overwrite(&mut self, slot: Slot, new: &[u8]) -> rusqlite::Result<bool> {
        if !self.usable {
            return Ok(false);
        }
        let moved = match self.blob.take() {
            Some(mut b) => b.reopen(slot.rowid).map(|()| b),
            None => self
                .conn
                .blob_open(
                    MAIN_DB,
                    self.table.as_c_str(),
                    self.column.as_c_str(),
                    slot.rowid,
                    false,
                )
                .inspect_err(|_| self.usable = false),
        };
        // A handle that cannot be opened or moved is dropped: the row is updated instead.
        let Ok(mut blob) = moved else {
            return Ok(false);
        };
        let tail = slot.tail();
        if blob.len() != slot.len as usize || blob.len() != new.len() {
            return Ok(false);
        }
        let mut seen = [0u8; TAIL];
        blob.read_at_exact(&mut seen[..tail.len()], blob.len() - tail.len())?;
        if seen[..tail.len()] != *tail {
            return Ok(false);
        }
        blob.write_at(new, 0)?;
        self.blob = Some(blob);
        Ok(true)
    }
}

/// The inside of a write transaction.
pub struct Tx<'c> {
    tx: rusqlite::Transaction<'c>,
    /// Built once: `set_token` runs for every row of a rotation.
    set_secret_sql: String,
    schema: &'c Schema,
    form: TokenForm,
    /// Worked out on first use: only a rotation needs it.
    in_place: OnceCell<Option<InPlace>>,
    /// Started by [`write_behind`](Self::write_behind), stopped after the commit.
    behind: RefCell<Option<WriteBehind>>,
    path: &'c Path,
    busy: Duration,
}

impl Tx<'_> {
    fn err(&self, e: rusqlite::Error) -> Error {
        sql_error(self.path, self.busy, e)
    }

    fn in_place(&self) -> Result<Option<InPlace>> {
        if let Some(plan) = self.in_place.get() {
            return Ok(*plan);
        }
        let plan = InPlace::plan(&self.tx, self.schema).map_err(|e| self.err(e))?;
        Ok(*self.in_place.get_or_init(|| plan))
    }

    pub fn account(&self, user: &str) -> Result<Account> {
        find_account(&self.tx, self.schema, user).map_err(|e| match e {
            Lookup::Sql(e) => self.err(e),
            Lookup::Other(e) => e,
        })
    }

    pub fn pending(&self, id: &AccountId) -> Result<Option<Pending>> {
        find_pending(&self.tx, id).map_err(|e| self.err(e))
    }

    /// Stores (or replaces) the pending enrollment of an account.
    pub fn put_pending(
        &self,
        id: &AccountId,
        token: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.tx
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO {PENDING_TABLE} (account_id, secret_token, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)"
            ))
            .and_then(|mut s| s.execute(params![id.to_value(), token, created_at, expires_at]))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Removes an account's pending enrollment; true if there was one.
    pub fn delete_pending(&self, id: &AccountId) -> Result<bool> {
        self.tx
            .prepare_cached(&format!(
                "DELETE FROM {PENDING_TABLE} WHERE account_id = ?1"
            ))
            .and_then(|mut s| s.execute([id.to_value()]))
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// enabled = 1 and the token written in the column's form; exactly one row.
    pub fn enable(&self, id: &AccountId, token: &str) -> Result<()> {
        let s = self.schema;
        let n = self
            .tx
            .prepare_cached(&format!(
                "UPDATE {} SET {} = 1, {} = ?1 WHERE {} = ?2",
                q(&s.table),
                q(&s.enabled),
                q(&s.secret),
                q(&s.id)
            ))
            .and_then(|mut st| st.execute(params![self.form.value(token), id.to_value()]))
            .map_err(|e| self.err(e))?;
        exactly_one(n, id)
    }

    /// enabled = 0 and the secret NULL, as the app's Disable does; exactly one row.
    pub fn disable(&self, id: &AccountId) -> Result<()> {
        let s = self.schema;
        let n = self
            .tx
            .prepare_cached(&format!(
                "UPDATE {} SET {} = 0, {} = NULL WHERE {} = ?1",
                q(&s.table),
                q(&s.enabled),
                q(&s.secret),
                q(&s.id)
            ))
            .and_then(|mut st| st.execute([id.to_value()]))
            .map_err(|e| self.err(e))?;
        exactly_one(n, id)
    }

    /// Token rows of `place`, read inside this transaction (see [`Db::pages`]).
    pub fn pages(&self, place: Place, only_tokens: bool, size: usize) -> Pages<'_> {
        Pages {
            conn: &self.tx,
            schema: self.schema,
            place,
            only_tokens,
            lean: false,
            in_place: None,
            form: self.form,
            size,
            after: None,
            done: false,
            path: self.path,
            busy: self.busy,
        }
    }

    /// For a transaction about to write much: from now until after the
    /// commit, what it writes goes to the disk as it goes (see
    /// [`write_behind`]), so the syncs of cache spills and the commit find
    /// little left to write.
    pub fn write_behind(&self) {
        self.behind
            .borrow_mut()
            .get_or_insert_with(|| WriteBehind::start(self.path));
    }

    /// Lets this connection keep up to `mib` MiB of pages in memory (a
    /// per-connection setting, nothing persistent): a rewrite of every row
    /// then spills to the file, and syncs, far less often. Only for writing:
    /// a scan reads faster through the default cache.
    pub fn set_cache_mib(&self, mib: u32) -> Result<()> {
        self.tx
            .execute_batch(&format!("PRAGMA cache_size = -{}", mib * 1024))
            .map_err(|e| self.err(e))
    }

    /// Like [`pages`](Self::pages) with only tokens, but each row carries only
    /// its id and token (`user` empty, `enabled` false) and, for accounts, the
    /// slot to overwrite it in place: the lean read of a rotation.
    pub fn token_pages(&self, place: Place, size: usize) -> Result<Pages<'_>> {
        let in_place = match place {
            Place::Account => self.in_place()?,
            Place::Pending => None,
        };
        Ok(Pages {
            lean: true,
            in_place,
            ..self.pages(place, true, size)
        })
    }

    /// The username of the account behind a token row (empty if there is none).
    pub fn user_of(&self, place: Place, id: &AccountId) -> Result<String> {
        let s = self.schema;
        let sql = match place {
            Place::Account => format!(
                "SELECT {} FROM {} WHERE {} = ?1",
                q(&s.user),
                q(&s.table),
                q(&s.id)
            ),
            Place::Pending => format!(
                "SELECT a.{user} FROM {PENDING_TABLE} p JOIN {t} a ON a.{id} = p.account_id
                 WHERE p.account_id = ?1",
                user = q(&s.user),
                t = q(&s.table),
                id = q(&s.id)
            ),
        };
        self.tx
            .query_row(&sql, [id.to_value()], |r| Ok(text_of(r.get_ref(0)?)))
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| self.err(e))
    }

    /// How many stored tokens there are: (account secrets, pending rows).
    pub fn count_tokens(&self) -> Result<(u64, u64)> {
        let s = self.schema;
        let accounts: i64 = self
            .tx
            .query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {} IS NOT NULL",
                    q(&s.table),
                    q(&s.secret)
                ),
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let pending: i64 = self
            .tx
            .query_row(&format!("SELECT count(*) FROM {PENDING_TABLE}"), [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        Ok((accounts as u64, pending as u64))
    }

    /// A writer of tokens into `place`, its statement prepared once for a
    /// whole page: `set_token` runs for every row of a rotation.
    pub fn token_writer(&self, place: Place) -> Result<TokenWriter<'_>> {
        self.writer(place, true)
    }

    fn writer(&self, place: Place, in_place: bool) -> Result<TokenWriter<'_>> {
        let sql = match place {
            Place::Account => self.set_secret_sql.as_str(),
            Place::Pending => SET_PENDING_SQL,
        };
        let stmt = self.tx.prepare_cached(sql).map_err(|e| self.err(e))?;
        let overwriter = match place {
            Place::Account if in_place && self.in_place()?.is_some() => {
                Overwriter::new(&self.tx, self.schema)
            }
            _ => None,
        };
        Ok(TokenWriter {
            stmt,
            form: if place == Place::Account {
                self.form
            } else {
                TokenForm::Text
            },
            overwriter,
            path: self.path,
            busy: self.busy,
        })
    }

    /// Replaces one stored token (see [`TokenWriter::set`]).
    pub fn set_token(&self, place: Place, id: &AccountId, token: &str) -> Result<bool> {
        self.writer(place, false)?.set(id, token)
    }

    /// Removes pending enrollments that expired at or before `now`; how many.
    pub fn delete_expired_pending(&self, now: i64) -> Result<usize> {
        self.tx
            .execute(
                &format!("DELETE FROM {PENDING_TABLE} WHERE expires_at <= ?1"),
                [now],
            )
            .map_err(|e| self.err(e))
    }

    /// Appends to the audit table, inside this transaction.
    pub fn audit(&self, entry: AuditEntry<'_>) -> Result<()> {
        let now = crate::clock::now() as i64;
        let (id, user) = match entry.account {
            Some(a) => (a.id.to_value(), Some(a.user.as_str())),
            None => (Value::Null, None),
        };
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO {AUDIT_TABLE} (at, at_unix, os_user, action, account_id, username, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    crate::clock::format_utc(now),
                    now,
                    entry.os_user,
                    entry.action,
                    id,
                    user,
                    entry.detail
                ])
            })
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

fn exactly_one(n: usize, id: &AccountId) -> Result<()> {
    if n == 1 {
        Ok(())
    } else {
        Err(Error::state(format!(
            "account id {id} changed while mex2fa was working on it ({n} rows matched); nothing was written, run the command again"
        )))
    }
}

fn no_such_user(user: &str) -> Error {
    Error::state(format!(
        "no account named '{}'; check the spelling (mex2fa status lists accounts)",
        crate::ui::escape(user)
    ))
}

/// A lookup fails either in SQLite or because of what it found.
enum Lookup {
    Sql(rusqlite::Error),
    Other(Error),
}

impl From<rusqlite::Error> for Lookup {
    fn from(e: rusqlite::Error) -> Self {
        Lookup::Sql(e)
    }
}

impl Lookup {
    fn into_error(self, db: &Db) -> Error {
        match self {
            Lookup::Sql(e) => db.err(e),
            Lookup::Other(e) => e,
        }
    }
}

fn account_from_row(r: &rusqlite::Row<'_>) -> Result<Account, Lookup> {
    Ok(Account {
        id: AccountId::from_value(r.get_ref(0)?).map_err(Lookup::Other)?,
        user: text_of(r.get_ref(1)?),
        enabled: truthy(r.get_ref(2)?),
        secret: Stored::from_value(r.get_ref(3)?),
    })
}

fn find_account(conn: &Connection, s: &Schema, user: &str) -> Result<Account, Lookup> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, {}, {}, {} FROM {} WHERE {} = ?1 LIMIT 2",
        q(&s.id),
        q(&s.user),
        q(&s.enabled),
        q(&s.secret),
        q(&s.table),
        q(&s.user)
    ))?;
    let mut rows = stmt.query([user])?;
    let first = match rows.next()? {
        Some(r) => account_from_row(r)?,
        None => return Err(Lookup::Other(no_such_user(user))),
    };
    if rows.next()?.is_some() {
        return Err(Lookup::Other(Error::state(format!(
            "several accounts are named '{}'; mex2fa needs the user column to be unique",
            crate::ui::escape(user)
        ))));
    }
    Ok(first)
}

fn find_pending(conn: &Connection, id: &AccountId) -> rusqlite::Result<Option<Pending>> {
    conn.prepare_cached(&format!(
        "SELECT secret_token, expires_at FROM {PENDING_TABLE} WHERE account_id = ?1"
    ))?
    .query_row([id.to_value()], |r| {
        Ok(Pending {
            token: r.get(0)?,
            expires_at: r.get(1)?,
        })
    })
    .optional()
}

fn text_of(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

/// The app writes 0/1; NULL (a row from before the 2FA columns) means off.
fn truthy(v: ValueRef<'_>) -> bool {
    match v {
        ValueRef::Null => false,
        ValueRef::Integer(n) => n != 0,
        ValueRef::Real(r) => r != 0.0,
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let s = String::from_utf8_lossy(t);
            !(s.is_empty() || s == "0" || s.eq_ignore_ascii_case("false"))
        }
    }
}

/// Creates a database with the app's reference schema (for `demo` and tests).
pub fn create_reference(path: &Path, accounts: &[(&str, &str)]) -> Result<()> {
    let busy = Duration::from_secs(5);
    let err = |e| sql_error(path, busy, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .map_err(err)?;
    conn.execute_batch(
        "CREATE TABLE account (
             accountid INTEGER PRIMARY KEY AUTOINCREMENT,
             username TEXT UNIQUE NOT NULL,
             email TEXT,
             password TEXT,
             twofa_enabled INTEGER DEFAULT 0,
             twofa_secret BLOB
         );",
    )
    .map_err(err)?;
    for (user, email) in accounts {
        conn.execute(
            "INSERT INTO account (username, email, password) VALUES (?1, ?2, 'x')",
            [user, email],
        )
        .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["account", "_x", "A1_b"] {
            assert!(Ident::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "1a", "a b", "a\"", "x; DROP TABLE account", "naïve"] {
            assert!(Ident::parse(bad).is_none(), "{bad}");
        }
    }

    fn app_schema() -> Schema {
        let id = |s: &str| Ident::parse(s).unwrap();
        Schema {
            table: id("account"),
            id: id("accountid"),
            user: id("username"),
            enabled: id("twofa_enabled"),
            secret: id("twofa_secret"),
        }
    }

    #[test]
    fn slots_survive_scratch_storage() {
        let slot = Slot::of(-7, b"gAAAAAB-some-token-ending-in-its-mac").unwrap();
        assert_eq!(Slot::from_bytes(&slot.to_bytes()), slot);
        assert_eq!(slot.tail(), b"ending-in-its-mac"[1..].as_ref());
        let short = Slot::of(3, b"abc").unwrap();
        assert_eq!(Slot::from_bytes(&short.to_bytes()).tail(), b"abc");
    }

    /// A slot whose value changed since it was read is not overwritten: the
    /// token goes to its account by id, and the row at the slot keeps what it has.
    #[test]
    fn a_slot_that_no_longer_holds_what_it_did_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        create_reference(&path, &[("alice", "a@x"), ("bob", "b@x")]).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "UPDATE account SET twofa_secret = CAST(printf('%.140c', char(64 + accountid)) AS BLOB)",
        )
        .unwrap();
        drop(conn);
        let mut db =
            Db::open(&path, app_schema(), Mode::ReadWrite, Duration::from_secs(1)).unwrap();
        let (new, changed) = ("N".repeat(140), "C".repeat(140));
        db.write(|tx| {
            let rows = tx.token_pages(Place::Account, 10)?.next_page()?.unwrap();
            let (alice, bob) = (&rows[0], &rows[1]);
            assert!(alice.slot.is_some() && bob.slot.is_some());
            let mut w = tx.token_writer(Place::Account)?;
            assert!(w.replace(&bob.id, bob.slot, &changed)?);
            // Alice's token, given the slot read for Bob (whose value has changed).
            assert!(w.replace(&alice.id, bob.slot, &new)?);
            Ok(())
        })
        .unwrap();
        let conn = Connection::open(&path).unwrap();
        let secret = |user: &str| -> Vec<u8> {
            conn.query_row(
                "SELECT twofa_secret FROM account WHERE username = ?1",
                [user],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(secret("alice"), new.as_bytes());
        assert_eq!(secret("bob"), changed.as_bytes());
    }

    #[test]
    fn token_form_follows_affinity() {
        assert_eq!(TokenForm::from_declared("TEXT"), TokenForm::Text);
        assert_eq!(TokenForm::from_declared("varchar(255)"), TokenForm::Text);
        assert_eq!(TokenForm::from_declared("CLOB"), TokenForm::Text);
        assert_eq!(TokenForm::from_declared("BLOB"), TokenForm::Blob);
        assert_eq!(TokenForm::from_declared(""), TokenForm::Blob);
        assert_eq!(TokenForm::from_declared("INTEXT"), TokenForm::Blob);
    }
}
