//! The SQLite backend: the app's database file, opened (never created) with
//! SQLite's own VFS, every write in one `BEGIN IMMEDIATE` transaction.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::blob::Blob;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{
    AUDIT_TABLE, Account, AccountId, AuditEntry, AuditRow, Ident, KEY_CHECK, KeyCheck, META_TABLE,
    Mode, Options, PENDING_TABLE, Pending, Place, Schema, Setting, Slot, StatusRow, Stored,
    TableName, TokenForm, TokenRow, exactly_one, no_such_user, several_users,
};
use crate::error::{Error, Result};

/// An open, schema-checked SQLite database.
pub struct Db {
    conn: Connection,
    schema: Schema,
    form: TokenForm,
    path: PathBuf,
    busy: Duration,
}

fn id_from(v: ValueRef<'_>) -> Result<AccountId> {
    match v {
        ValueRef::Integer(n) => Ok(AccountId::Int(n)),
        ValueRef::Text(t) => Ok(AccountId::Text(String::from_utf8_lossy(t).into_owned())),
        other => Err(Error::setting(
            Setting::IdColumn,
            format!(
                "an account id is of type {:?}; mex2fa handles integer or text ids",
                other.data_type()
            ),
        )),
    }
}

fn id_value(id: &AccountId) -> Value {
    match id {
        AccountId::Int(n) => Value::Integer(*n),
        AccountId::Text(s) => Value::Text(s.clone()),
    }
}

fn stored_from(v: ValueRef<'_>) -> Stored {
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

/// SQLite's affinity rules: INT wins, then CHAR/CLOB/TEXT give TEXT affinity.
fn form_of_declared(decl: &str) -> TokenForm {
    let d = decl.to_ascii_uppercase();
    if !d.contains("INT") && (d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT")) {
        TokenForm::Text
    } else {
        TokenForm::Blob
    }
}

fn token_value(form: TokenForm, token: &str) -> Value {
    match form {
        TokenForm::Text => Value::Text(token.to_string()),
        TokenForm::Blob => Value::Blob(token.as_bytes().to_vec()),
    }
}

fn text_of(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

/// The flag as the app reads it: Python's truthiness of what `sqlite3`
/// returns (an int, a float, a str or bytes; NULL, from a row older than
/// the 2FA columns, is None). So the text 'false' or '0' reads as on.
fn truthy(v: ValueRef<'_>) -> bool {
    match v {
        ValueRef::Null => false,
        ValueRef::Integer(n) => n != 0,
        ValueRef::Real(r) => r != 0.0,
        ValueRef::Text(t) | ValueRef::Blob(t) => !t.is_empty(),
    }
}

/// A flag other than 0, 1 or NULL, as it reads in a message.
fn odd_flag(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null | ValueRef::Integer(0 | 1) => None,
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(r) => Some(r.to_string()),
        ValueRef::Text(t) => Some(format!("the text '{}'", String::from_utf8_lossy(t))),
        ValueRef::Blob(b) => Some(format!("a blob of {} bytes", b.len())),
    }
}

fn q(ident: &Ident) -> String {
    format!("\"{}\"", ident.as_str())
}

fn qt(table: &TableName) -> String {
    match &table.schema {
        Some(s) => format!("{}.{}", q(s), q(&table.name)),
        None => q(&table.name),
    }
}

/// Turns a rusqlite error into a message an operator can act on.
fn sql_error(path: &Path, busy: Duration, e: rusqlite::Error) -> Error {
    let shown = path.display();
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return Error::setting(
                    Setting::Busy,
                    format!(
                        "the database {shown} stayed locked by another connection (a writer, or a reader holding back the commit) for more than {} ms",
                        busy.as_millis()
                    ),
                );
            }
            ErrorCode::NotADatabase => {
                return Error::setting(
                    Setting::Location,
                    format!("{shown} is not a SQLite database"),
                );
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

/// Where SQLite keeps a stored token that can be overwritten byte for byte
/// (see [`Overwriter`]), and what lay there when it was read: the row, the
/// value's length and its last bytes (a token ends in its MAC). Given only
/// where the table allows it and the value has the column's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spot {
    rowid: i64,
    len: u32,
    tail: [u8; TAIL],
}

/// How many of a value's last bytes a slot remembers.
const TAIL: usize = 16;

impl Spot {
    fn of(rowid: i64, value: &[u8]) -> Option<Spot> {
        let len = u32::try_from(value.len()).ok()?;
        let mut tail = [0u8; TAIL];
        let end = &value[value.len().saturating_sub(TAIL)..];
        tail[..end.len()].copy_from_slice(end);
        Some(Spot { rowid, len, tail })
    }

    fn to_slot(self) -> Slot {
        let mut b = [0u8; Slot::BYTES];
        b[..8].copy_from_slice(&self.rowid.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b[12..].copy_from_slice(&self.tail);
        Slot::from_bytes(b)
    }

    fn from_slot(slot: Slot) -> Spot {
        let b = slot.to_bytes();
        Spot {
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
/// lie instead of rebuilding the whole row as an `UPDATE` does. Only where
/// the result is exactly what the `UPDATE` would leave: a rowid table in the
/// main database, no trigger (it would not fire), no CHECK constraint or
/// generated column (not re-evaluated), no index on or over the secret column.
/// Nor where mex2fa's own tables have a trigger: then a write there could
/// change a token after it was written and read back.
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
        if s.table.schema.is_some() {
            return Ok(None);
        }
        let table = s.table.name.as_str();
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
        let own_triggers: bool = conn.query_row(
            &format!(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'trigger'
                 AND tbl_name IN ('{PENDING_TABLE}', '{AUDIT_TABLE}') COLLATE NOCASE"
            ),
            [],
            |r| r.get(0),
        )?;
        if own_triggers {
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
                .prepare(&format!("SELECT {rowid} FROM {} LIMIT 0", qt(&s.table)))
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
            ValueRef::Integer(n) => Spot::of(n, bytes).map(Spot::to_slot),
            _ => None,
        }
    }
}

/// Reads token rows page by page in id order (keyset pagination), so a
/// million accounts stream in constant memory and no cursor stays open while
/// the same connection writes.
struct Pages<'c> {
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

impl<'c> Pages<'c> {
    fn new(
        conn: &'c Connection,
        schema: &'c Schema,
        form: TokenForm,
        place: Place,
        only_tokens: bool,
        size: usize,
        (path, busy): (&'c Path, Duration),
    ) -> Pages<'c> {
        Pages {
            conn,
            schema,
            place,
            only_tokens,
            lean: false,
            in_place: None,
            form,
            size,
            after: None,
            done: false,
            path,
            busy,
        }
    }

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
                t = qt(&s.table),
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
                t = qt(&s.table),
                cur = cursor("p.account_id")
            ),
        }
    }
}

impl super::Pages for Pages<'_> {
    fn next_page(&mut self) -> Result<Option<Vec<TokenRow>>> {
        if self.done {
            return Ok(None);
        }
        let err = |e| sql_error(self.path, self.busy, e);
        let sql = self.sql();
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(self.size).unwrap_or(i64::MAX);
        let after = self.after.as_ref().map_or(Value::Null, id_value);
        let mut rows = stmt.query(params![limit, after]).map_err(err)?;
        let mut page = Vec::with_capacity(self.size);
        while let Some(r) = rows.next().map_err(err)? {
            let value = r.get_ref(3).map_err(err)?;
            page.push(TokenRow {
                place: self.place,
                id: id_from(r.get_ref(0).map_err(err)?)?,
                user: text_of(r.get_ref(1).map_err(err)?),
                enabled: truthy(r.get_ref(2).map_err(err)?),
                odd_flag: if self.lean || self.place == Place::Pending {
                    None
                } else {
                    odd_flag(r.get_ref(2).map_err(err)?)
                },
                value: stored_from(value),
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

impl Db {
    /// Opens an existing database (never creates one) and checks the mapping.
    pub fn open(path: &Path, schema: Schema, options: Options) -> Result<Db> {
        let Options { mode, busy } = options;
        let shown = path.display();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::setting(
                    Setting::Location,
                    format!("database file not found: {shown} (mex2fa never creates one)"),
                ));
            }
            Err(e) => return Err(Error::db(format!("cannot read the database {shown}: {e}"))),
            Ok(m) if m.is_dir() => {
                return Err(Error::setting(
                    Setting::Location,
                    format!("{shown} is a directory, not the SQLite file"),
                ));
            }
            // A FIFO would block the open forever; a device is no database.
            Ok(m) if !m.is_file() => {
                return Err(Error::setting(
                    Setting::Location,
                    format!(
                        "{shown} is not a regular file (a pipe, socket or device), not the SQLite file"
                    ),
                ));
            }
            Ok(_) => {}
        }
        let flags = match mode {
            Mode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
            Mode::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, busy, e))?;
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
        let table = &self.schema.table;
        let columns: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT name, type FROM pragma_table_info(?1, ?2)")
                .map_err(|e| self.err(e))?;
            let db_name = table.schema.as_ref().map_or("main", Ident::as_str);
            stmt.query_map([table.name.as_str(), db_name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?
        };
        if columns.is_empty() {
            return Err(Error::setting(
                Setting::Table,
                format!("table '{table}' not found in {}", self.path.display()),
            ));
        }
        let mut secret_type = String::new();
        for (ident, setting) in self.schema.columns() {
            match columns
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(ident.as_str()))
            {
                Some((_, decl)) => {
                    if setting == Setting::SecretColumn {
                        secret_type = decl.clone();
                    }
                }
                None => {
                    return Err(Error::setting(
                        setting,
                        format!(
                            "column '{ident}' ({}) not found in table '{table}'",
                            setting.noun()
                        ),
                    ));
                }
            }
        }
        Ok(form_of_declared(&secret_type))
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
}

/// Whether the audit table has its `reason` column (an audit table made
/// by an older mex2fa has not, until the next write adds it).
fn has_reason(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        &format!(
            "SELECT count(*) > 0 FROM pragma_table_info('{AUDIT_TABLE}') WHERE name = 'reason' COLLATE NOCASE"
        ),
        [],
        |r| r.get(0),
    )
}

fn find_key_check(conn: &Connection) -> rusqlite::Result<Option<KeyCheck>> {
    conn.query_row(
        &format!("SELECT value, updated_at FROM {META_TABLE} WHERE name = ?1"),
        [KEY_CHECK],
        |r| {
            Ok(KeyCheck {
                token: text_of(r.get_ref(0)?),
                written_at: r.get(1)?,
            })
        },
    )
    .optional()
}

impl super::Store for Db {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn token_form(&self) -> TokenForm {
        self.form
    }

    fn account(&mut self, user: &str) -> Result<Account> {
        find_account(&self.conn, &self.schema, user).map_err(|e| e.into_error(self))
    }

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>> {
        if !self.table_exists(PENDING_TABLE)? {
            return Ok(None);
        }
        find_pending(&self.conn, id).map_err(|e| self.err(e))
    }

    fn status(&mut self, user: Option<&str>) -> Result<Vec<StatusRow>> {
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
                let id = id_from(r.get_ref(0).map_err(|e| self.err(e))?)?;
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
            qt(&s.table)
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
            let id = id_from(r.get_ref(0).map_err(|e| self.err(e))?)?;
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

    fn accounts_with_2fa(&mut self) -> Result<Vec<Account>> {
        let s = &self.schema;
        let pending = if self.table_exists(PENDING_TABLE)? {
            format!("{} IN (SELECT account_id FROM {PENDING_TABLE})", q(&s.id))
        } else {
            "0".to_string()
        };
        // Whether a flag is on is decided as the app decides it (see `truthy`).
        let sql = format!(
            "SELECT {id}, {user}, {en}, {sec}, {pending} FROM {t}
             WHERE {en} IS NOT NULL OR {sec} IS NOT NULL OR {pending}
             ORDER BY {id}",
            id = q(&s.id),
            user = q(&s.user),
            en = q(&s.enabled),
            sec = q(&s.secret),
            t = qt(&s.table)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let account = account_from_row(r).map_err(|e| e.into_error(self))?;
            let pending: bool = r.get(4).map_err(|e| self.err(e))?;
            if account.enabled || account.secret != Stored::Null || pending {
                out.push(account);
            }
        }
        Ok(out)
    }

    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn super::Pages + '_>> {
        let absent = place == Place::Pending && !self.table_exists(PENDING_TABLE)?;
        let mut pages = Pages::new(
            &self.conn,
            &self.schema,
            self.form,
            place,
            only_tokens,
            size,
            (&self.path, self.busy),
        );
        pages.done = absent;
        Ok(Box::new(pages))
    }

    fn audit_log(
        &mut self,
        user: Option<&str>,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        if !self.table_exists(AUDIT_TABLE)? {
            return Ok(Vec::new());
        }
        let reason = if has_reason(&self.conn).map_err(|e| self.err(e))? {
            "reason"
        } else {
            "NULL"
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT at, os_user, action, account_id, username, detail, {reason} FROM {AUDIT_TABLE}
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
                    v => Some(id_from(v)?),
                },
                user: r.get(4).map_err(|e| self.err(e))?,
                detail: r.get(5).map_err(|e| self.err(e))?,
                reason: match r.get_ref(6).map_err(|e| self.err(e))? {
                    ValueRef::Null => None,
                    v => Some(text_of(v)),
                },
            });
        }
        Ok(out)
    }

    fn key_check(&mut self) -> Result<Option<KeyCheck>> {
        if !self.table_exists(META_TABLE)? {
            return Ok(None);
        }
        find_key_check(&self.conn).map_err(|e| self.err(e))
    }

    fn transact(&mut self, work: &mut dyn FnMut(&mut dyn super::Tx) -> Result<()>) -> Result<()> {
        let (path, busy) = (self.path.as_path(), self.busy);
        let err = |e| sql_error(path, busy, e);
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
                 detail TEXT NOT NULL,
                 reason TEXT
             );
             CREATE TABLE IF NOT EXISTS {META_TABLE} (
                 name TEXT PRIMARY KEY,
                 value TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             );"
        ))
        .map_err(err)?;
        // An audit table made by an older mex2fa: the column is added in
        // this same transaction (SQLite's DDL rolls back with it).
        if !has_reason(&tx).map_err(err)? {
            tx.execute_batch(&format!("ALTER TABLE {AUDIT_TABLE} ADD COLUMN reason TEXT"))
                .map_err(err)?;
        }
        let mut wrapped = Tx {
            tx,
            schema: &self.schema,
            form: self.form,
            in_place: OnceCell::new(),
            path,
            busy,
        };
        work(&mut wrapped)?;
        wrapped.tx.commit().map_err(err)
    }
}

/// The inside of a SQLite write transaction.
struct Tx<'c> {
    tx: rusqlite::Transaction<'c>,
    schema: &'c Schema,
    form: TokenForm,
    /// Worked out on first use: only a rotation needs it.
    in_place: OnceCell<Option<InPlace>>,
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

    /// A rotation's reads: ids and tokens, with slots where the table
    /// allows in-place writes.
    fn lean_pages(&self, place: Place, size: usize) -> Result<Pages<'_>> {
        let in_place = match place {
            Place::Account => self.in_place()?,
            Place::Pending => None,
        };
        let mut pages = Pages::new(
            &self.tx,
            self.schema,
            self.form,
            place,
            true,
            size,
            (self.path, self.busy),
        );
        pages.lean = true;
        pages.in_place = in_place;
        Ok(pages)
    }

    fn writer(&self) -> Result<TokenWriter<'_>> {
        let account = self
            .tx
            .prepare_cached(&self.set_sql(Place::Account))
            .map_err(|e| self.err(e))?;
        let pending = self
            .tx
            .prepare_cached(&self.set_sql(Place::Pending))
            .map_err(|e| self.err(e))?;
        let overwriter = match self.in_place()? {
            Some(_) => Overwriter::new(&self.tx, self.schema),
            None => None,
        };
        Ok(TokenWriter {
            stmts: [account, pending],
            form: self.form,
            all_in_place: overwriter.is_some(),
            overwriter,
            written: 0,
            path: self.path,
            busy: self.busy,
        })
    }

    fn set_sql(&self, place: Place) -> String {
        let s = self.schema;
        match place {
            Place::Account => format!(
                "UPDATE {t} SET {sec} = ?1 WHERE {id} = ?2 AND {sec} IS NOT NULL",
                t = qt(&s.table),
                sec = q(&s.secret),
                id = q(&s.id)
            ),
            Place::Pending => {
                format!("UPDATE {PENDING_TABLE} SET secret_token = ?1 WHERE account_id = ?2")
            }
        }
    }

    fn form_of(&self, place: Place) -> TokenForm {
        match place {
            Place::Account => self.form,
            Place::Pending => TokenForm::Text,
        }
    }
}

impl super::Tx for Tx<'_> {
    fn account(&mut self, user: &str) -> Result<Account> {
        find_account(&self.tx, self.schema, user).map_err(|e| match e {
            Lookup::Sql(e) => self.err(e),
            Lookup::Other(e) => e,
        })
    }

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>> {
        find_pending(&self.tx, id).map_err(|e| self.err(e))
    }

    fn put_pending(
        &mut self,
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
            .and_then(|mut s| s.execute(params![id_value(id), token, created_at, expires_at]))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn delete_pending(&mut self, id: &AccountId) -> Result<bool> {
        self.tx
            .prepare_cached(&format!(
                "DELETE FROM {PENDING_TABLE} WHERE account_id = ?1"
            ))
            .and_then(|mut s| s.execute([id_value(id)]))
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    fn enable(&mut self, id: &AccountId, token: &str) -> Result<()> {
        let s = self.schema;
        let n = self
            .tx
            .prepare_cached(&format!(
                "UPDATE {} SET {} = 1, {} = ?1 WHERE {} = ?2",
                qt(&s.table),
                q(&s.enabled),
                q(&s.secret),
                q(&s.id)
            ))
            .and_then(|mut st| st.execute(params![token_value(self.form, token), id_value(id)]))
            .map_err(|e| self.err(e))?;
        exactly_one(n as u64, id)
    }

    fn disable(&mut self, id: &AccountId) -> Result<()> {
        let s = self.schema;
        let n = self
            .tx
            .prepare_cached(&format!(
                "UPDATE {} SET {} = 0, {} = NULL WHERE {} = ?1",
                qt(&s.table),
                q(&s.enabled),
                q(&s.secret),
                q(&s.id)
            ))
            .and_then(|mut st| st.execute([id_value(id)]))
            .map_err(|e| self.err(e))?;
        exactly_one(n as u64, id)
    }

    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn super::Pages + '_>> {
        // What a check of the stored tokens needs: ids and tokens.
        let mut pages = Pages::new(
            &self.tx,
            self.schema,
            self.form,
            place,
            only_tokens,
            size,
            (self.path, self.busy),
        );
        pages.lean = true;
        Ok(Box::new(pages))
    }

    fn token_pages(&mut self, place: Place, size: usize) -> Result<Box<dyn super::Pages + '_>> {
        Ok(Box::new(self.lean_pages(place, size)?))
    }

    fn user_of(&mut self, place: Place, id: &AccountId) -> Result<String> {
        let s = self.schema;
        let sql = match place {
            Place::Account => format!(
                "SELECT {} FROM {} WHERE {} = ?1",
                q(&s.user),
                qt(&s.table),
                q(&s.id)
            ),
            Place::Pending => format!(
                "SELECT a.{user} FROM {PENDING_TABLE} p JOIN {t} a ON a.{id} = p.account_id
                 WHERE p.account_id = ?1",
                user = q(&s.user),
                t = qt(&s.table),
                id = q(&s.id)
            ),
        };
        self.tx
            .query_row(&sql, [id_value(id)], |r| Ok(text_of(r.get_ref(0)?)))
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| self.err(e))
    }

    fn count_tokens(&mut self) -> Result<(u64, u64)> {
        let s = self.schema;
        let accounts: i64 = self
            .tx
            .query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {} IS NOT NULL",
                    qt(&s.table),
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

    /// A rewrite of every row spills dirty pages (and syncs the journal) each
    /// time the page cache fills: 2 MiB (the default) syncs ~50 times on 200k
    /// accounts, 8 MiB 14 times. A per-connection setting, nothing persistent.
    fn bulk_rewrite(&mut self) -> Result<()> {
        self.tx
            .execute_batch("PRAGMA cache_size = -8192")
            .map_err(|e| self.err(e))
    }

    fn token_writer(&mut self) -> Result<Box<dyn super::TokenWriter + '_>> {
        Ok(Box::new(self.writer()?))
    }

    fn rewrite(
        &mut self,
        place: Place,
        size: usize,
    ) -> Result<Option<(Box<dyn super::Pages + '_>, Box<dyn super::TokenWriter + '_>)>> {
        // Pages leave no cursor open between two reads (see `Pages`), so the
        // writer may use the connection in between.
        Ok(Some((
            Box::new(self.lean_pages(place, size)?),
            Box::new(self.writer()?),
        )))
    }

    fn set_token(&mut self, place: Place, id: &AccountId, token: &str) -> Result<bool> {
        let sql = self.set_sql(place);
        let n = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.execute(params![
                    token_value(self.form_of(place), token),
                    id_value(id)
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    fn swap_token(
        &mut self,
        place: Place,
        id: &AccountId,
        expected: &str,
        token: &str,
    ) -> Result<bool> {
        let s = self.schema;
        // Compared as bytes, whichever form the row holds the expected token in.
        let sql = match place {
            Place::Account => format!(
                "UPDATE {t} SET {sec} = ?1 WHERE {id} = ?2 AND CAST({sec} AS BLOB) = CAST(?3 AS BLOB)",
                t = qt(&s.table),
                sec = q(&s.secret),
                id = q(&s.id)
            ),
            Place::Pending => format!(
                "UPDATE {PENDING_TABLE} SET secret_token = ?1 WHERE account_id = ?2
                 AND CAST(secret_token AS BLOB) = CAST(?3 AS BLOB)"
            ),
        };
        let n = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.execute(params![
                    token_value(self.form_of(place), token),
                    id_value(id),
                    expected
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    fn delete_expired_pending(&mut self, now: i64) -> Result<usize> {
        self.tx
            .execute(
                &format!("DELETE FROM {PENDING_TABLE} WHERE expires_at <= ?1"),
                [now],
            )
            .map_err(|e| self.err(e))
    }

    fn audit(&mut self, entry: AuditEntry<'_>) -> Result<()> {
        let now = crate::clock::now() as i64;
        let (id, user) = match entry.account {
            Some(a) => (id_value(&a.id), Some(a.user.as_str())),
            None => (Value::Null, None),
        };
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO {AUDIT_TABLE} (at, at_unix, os_user, action, account_id, username, detail, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    crate::clock::format_utc(now),
                    now,
                    entry.os_user,
                    entry.action,
                    id,
                    user,
                    entry.detail,
                    entry.reason
                ])
            })
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn key_check(&mut self) -> Result<Option<KeyCheck>> {
        find_key_check(&self.tx).map_err(|e| self.err(e))
    }

    fn set_key_check(&mut self, token: &str, written_at: i64) -> Result<()> {
        self.tx
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO {META_TABLE} (name, value, updated_at) VALUES (?1, ?2, ?3)"
                ),
                params![KEY_CHECK, token, written_at],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

/// Replaces stored tokens row by row: in place where the row's slot still
/// holds what was read, else with an `UPDATE`.
struct TokenWriter<'t> {
    /// The `UPDATE`s of the accounts table and of the pending table.
    stmts: [rusqlite::CachedStatement<'t>; 2],
    form: TokenForm,
    /// In-place overwrites, where the table allows them.
    overwriter: Option<Overwriter<'t>>,
    /// Whether every account row so far was overwritten in place (and so
    /// read back as written).
    all_in_place: bool,
    written: u64,
    path: &'t Path,
    busy: Duration,
}

impl TokenWriter<'_> {
    fn update(&mut self, place: Place, id: &AccountId, token: &str) -> rusqlite::Result<usize> {
        let (stmt, form) = match place {
            Place::Account => (&mut self.stmts[0], self.form),
            Place::Pending => (&mut self.stmts[1], TokenForm::Text),
        };
        match form {
            TokenForm::Text => stmt.raw_bind_parameter(1, token)?,
            TokenForm::Blob => stmt.raw_bind_parameter(1, token.as_bytes())?,
        }
        match id {
            AccountId::Int(n) => stmt.raw_bind_parameter(2, n)?,
            AccountId::Text(t) => stmt.raw_bind_parameter(2, t.as_str())?,
        }
        stmt.raw_execute()
    }
}

impl super::TokenWriter for TokenWriter<'_> {
    fn put(&mut self, place: Place, id: &AccountId, slot: Option<Slot>, token: &str) -> Result<()> {
        let (path, busy) = (self.path, self.busy);
        let err = |e| sql_error(path, busy, e);
        if let (Place::Account, Some(slot), Some(o)) = (place, slot, self.overwriter.as_mut()) {
            let slot = Spot::from_slot(slot);
            if slot.len as usize == token.len() {
                match o.overwrite(slot, token.as_bytes()).map_err(err)? {
                    Overwrite::Written => {
                        self.written += 1;
                        return Ok(());
                    }
                    Overwrite::ReadBackDiffers => {
                        return Err(Error::db(format!(
                            "the token of account id {id} read back after writing is not what was written; nothing was changed"
                        )));
                    }
                    Overwrite::NotThere => {}
                }
            }
        }
        if place == Place::Account {
            self.all_in_place = false;
        }
        let n = self.update(place, id, token).map_err(err)?;
        self.written += n as u64;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<super::Written> {
        Ok(super::Written {
            rows: self.written,
            read_back: if self.all_in_place {
                vec![Place::Account]
            } else {
                Vec::new()
            },
        })
    }
}

/// What an in-place overwrite came to.
enum Overwrite {
    /// Written, and read back as written.
    Written,
    /// Read back as something else: SQLite did not store what it was given.
    ReadBackDiffers,
    /// The value there is not the one read (or has another length): nothing written.
    NotThere,
}

/// One incremental-blob handle on the secret column, moved from row to row.
struct Overwriter<'t> {
    conn: &'t Connection,
    table: CString,
    column: CString,
    blob: Option<Blob<'t>>,
    /// Cleared when SQLite refuses a handle on the column: no second try.
    usable: bool,
    /// What a write is read back into.
    back: Vec<u8>,
}

impl<'t> Overwriter<'t> {
    fn new(conn: &'t Connection, s: &Schema) -> Option<Overwriter<'t>> {
        Some(Overwriter {
            conn,
            table: CString::new(s.table.name.as_str()).ok()?,
            column: CString::new(s.secret.as_str()).ok()?,
            blob: None,
            usable: true,
            back: Vec::new(),
        })
    }

    /// Overwrites the value at `slot` with `new` (as long) and reads it
    /// back; nothing is written when the value there is not what `slot` says.
    fn overwrite(&mut self, slot: Spot, new: &[u8]) -> rusqlite::Result<Overwrite> {
        if !self.usable {
            return Ok(Overwrite::NotThere);
        }
        let moved = match self.blob.take() {
            Some(mut b) => b.reopen(slot.rowid).map(|()| b),
            None => self
                .conn
                .blob_open(
                    rusqlite::MAIN_DB,
                    self.table.as_c_str(),
                    self.column.as_c_str(),
                    slot.rowid,
                    false,
                )
                .inspect_err(|_| self.usable = false),
        };
        // A handle that cannot be opened or moved is dropped: the row is updated instead.
        let Ok(mut blob) = moved else {
            return Ok(Overwrite::NotThere);
        };
        let tail = slot.tail();
        if blob.len() != slot.len as usize || blob.len() != new.len() {
            return Ok(Overwrite::NotThere);
        }
        let mut seen = [0u8; TAIL];
        blob.read_at_exact(&mut seen[..tail.len()], blob.len() - tail.len())?;
        if seen[..tail.len()] != *tail {
            return Ok(Overwrite::NotThere);
        }
        blob.write_at(new, 0)?;
        self.back.resize(new.len(), 0);
        blob.read_at_exact(&mut self.back, 0)?;
        let same = self.back == new;
        self.blob = Some(blob);
        Ok(if same {
            Overwrite::Written
        } else {
            Overwrite::ReadBackDiffers
        })
    }
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
        id: id_from(r.get_ref(0)?).map_err(Lookup::Other)?,
        user: text_of(r.get_ref(1)?),
        enabled: truthy(r.get_ref(2)?),
        secret: stored_from(r.get_ref(3)?),
    })
}

fn find_account(conn: &Connection, s: &Schema, user: &str) -> Result<Account, Lookup> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, {}, {}, {} FROM {} WHERE {} = ?1 LIMIT 2",
        q(&s.id),
        q(&s.user),
        q(&s.enabled),
        q(&s.secret),
        qt(&s.table),
        q(&s.user)
    ))?;
    let mut rows = stmt.query([user])?;
    let first = match rows.next()? {
        Some(r) => account_from_row(r)?,
        None => return Err(Lookup::Other(no_such_user(user))),
    };
    if rows.next()?.is_some() {
        return Err(Lookup::Other(several_users(user)));
    }
    Ok(first)
}

fn find_pending(conn: &Connection, id: &AccountId) -> rusqlite::Result<Option<Pending>> {
    conn.prepare_cached(&format!(
        "SELECT secret_token, expires_at FROM {PENDING_TABLE} WHERE account_id = ?1"
    ))?
    .query_row([id_value(id)], |r| {
        Ok(Pending {
            token: r.get(0)?,
            expires_at: r.get(1)?,
        })
    })
    .optional()
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
    use super::super::Store;
    use super::*;

    fn app_schema() -> Schema {
        let id = |s: &str| Ident::parse(s).unwrap();
        Schema {
            table: TableName::parse("account").unwrap(),
            id: id("accountid"),
            user: id("username"),
            enabled: id("twofa_enabled"),
            secret: id("twofa_secret"),
        }
    }

    #[test]
    fn slots_survive_scratch_storage() {
        let place = Spot::of(-7, b"gAAAAAB-some-token-ending-in-its-mac").unwrap();
        assert_eq!(Spot::from_slot(place.to_slot()), place);
        assert_eq!(place.tail(), b"ending-in-its-mac"[1..].as_ref());
        let short = Spot::of(3, b"abc").unwrap();
        assert_eq!(Spot::from_slot(short.to_slot()).tail(), b"abc");
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
        let options = Options {
            mode: Mode::ReadWrite,
            busy: Duration::from_secs(1),
        };
        let mut db: Box<dyn Store> = Box::new(Db::open(&path, app_schema(), options).unwrap());
        let (new, changed) = ("N".repeat(140), "C".repeat(140));
        db.write(|tx| {
            let rows = tx.token_pages(Place::Account, 10)?.next_page()?.unwrap();
            let (alice, bob) = (rows[0].clone(), rows[1].clone());
            assert!(alice.slot.is_some() && bob.slot.is_some());
            let mut w = tx.token_writer()?;
            w.put(Place::Account, &bob.id, bob.slot, &changed)?;
            // Alice's token, given the slot read for Bob (whose value has changed).
            w.put(Place::Account, &alice.id, bob.slot, &new)?;
            let written = w.finish()?;
            assert_eq!(written.rows, 2);
            // Alice's went through an UPDATE: not read back.
            assert!(written.read_back.is_empty());
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
        assert_eq!(form_of_declared("TEXT"), TokenForm::Text);
        assert_eq!(form_of_declared("varchar(255)"), TokenForm::Text);
        assert_eq!(form_of_declared("CLOB"), TokenForm::Text);
        assert_eq!(form_of_declared("BLOB"), TokenForm::Blob);
        assert_eq!(form_of_declared(""), TokenForm::Blob);
        assert_eq!(form_of_declared("INTEXT"), TokenForm::Blob);
    }
}
