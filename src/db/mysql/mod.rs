//! The MariaDB/MySQL backend: the app's database on a server, reached with
//! the `mysql` driver (pure Rust, TLS through rustls), every write in one
//! InnoDB transaction.
//!
//! Tokens are read as the app's driver (PyMySQL) writes them: bytes in a
//! `BLOB`/`VARBINARY` column for Python `bytes`, or text in a
//! `TEXT`/`VARCHAR`/`CHAR` column. The enabled flag may be an integer of any
//! width (`BOOLEAN` is `TINYINT(1)`) or a `BIT`; ids an integer of any width,
//! signed or not, or text. Names are matched regardless of case, as SQLite
//! matches them, and quoted with backticks as the catalog spells them.
//!
//! A username is compared under its column's collation, as the app's own
//! `WHERE username = %s` compares it: with `utf8mb4_general_ci`, `ALICE`
//! finds `alice`. When a name finds more than one account, nothing is
//! changed and the accounts are listed.
//!
//! A change is all or nothing only on a transactional engine: a table that
//! cannot roll back (MyISAM, Aria, MEMORY…) is refused before anything is
//! written. mex2fa's own tables are created before the data transaction,
//! since MariaDB and MySQL commit any open transaction on DDL.

mod connect;
mod location;

pub use location::{Location, SslMode};

use std::collections::HashMap;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, IsolationLevel, Params, Row, TxOpts, Value};

use super::{
    AUDIT_TABLE, Account, AccountId, AuditEntry, AuditRow, KEY_CHECK, KeyCheck, META_TABLE, Mode,
    Options, PENDING_TABLE, Pending, Place, Schema, Setting, Slot, StatusRow, Stored, TokenForm,
    TokenRow, exactly_one, no_such_user, odd_number, truthy_number,
};
use crate::error::{Error, Result};

/// Tokens sent in one statement of a bulk rewrite (four parameters each; a
/// prepared statement takes at most 65,535).
const BATCH: usize = 4096;

/// The session's scratch table for bulk rewrites: temporary, so it is the
/// session's own, shadows nothing of the app's, and needs no commit.
const BATCH_TABLE: &str = "mex2fa_batch";

/// How many accounts a name that matches several lists.
const LISTED: usize = 5;

/// How ids are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    Int,
    Text,
}

/// The mapping resolved against the catalog: names as spelled there, quoted.
struct Mapped {
    /// The database the accounts table is in, as spelled.
    database: String,
    /// The accounts table's name, as spelled.
    table_name: String,
    /// The accounts table, database-qualified.
    table: String,
    /// mex2fa's own tables, in the accounts table's database.
    pending: String,
    audit: String,
    meta: String,
    id: String,
    user: String,
    enabled: String,
    secret: String,
    id_kind: IdKind,
    /// The column type of ids in mex2fa's tables: the accounts id's.
    id_ddl: String,
    /// The column type of usernames in the audit table: text compared as
    /// the accounts table compares them.
    user_ddl: String,
    /// The user column's collation, for messages.
    user_collation: String,
    form: TokenForm,
    /// Whether mex2fa's pending and audit tables exist yet.
    own_tables: bool,
    /// Whether its meta table exists yet.
    meta_table: bool,
    /// Whether the audit table has its `reason` column (one made by an
    /// older mex2fa has not, until the next write adds it).
    audit_reason: bool,
}

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// An open, schema-checked MariaDB or MySQL database.
pub struct Db {
    conn: Conn,
    location: String,
    user: String,
    m: Mapped,
    busy: Duration,
}

/// Opens a session, checks the mapping and, for writing, the engine and the
/// privileges.
pub fn open(
    location: &Location,
    schema: Schema,
    options: Options,
) -> Result<Box<dyn super::Store>> {
    let busy = options.busy;
    let mut conn = connect::connect(location, busy)?;
    let shown = location.shown();
    let err = |e: mysql::Error| my_error(&shown, busy, e);
    if options.mode == Mode::ReadOnly {
        // A read-only session cannot change anything, whatever a bug might try.
        conn.query_drop("SET SESSION TRANSACTION READ ONLY")
            .map_err(err)?;
    }
    let m = probe(&mut conn, &schema, &shown, busy)?;
    let user = location.user.clone().unwrap_or_default();
    if options.mode == Mode::ReadWrite {
        check_engines(&mut conn, &m, &shown, busy)?;
        // The privilege is checked before any row is read, so a statement
        // that matches nothing tells: it writes nothing, and is refused
        // (1142, 1143) without UPDATE on the table or on the two columns.
        let probe = format!(
            "UPDATE {t} SET {en} = {en}, {sec} = {sec} WHERE 1 = 0",
            t = m.table,
            en = m.enabled,
            sec = m.secret
        );
        if let Err(e) = conn.query_drop(&probe) {
            return Err(match &e {
                mysql::Error::MySqlError(d) if matches!(d.code, 1142 | 1143) => Error::db(format!(
                    "user '{user}' may not update table '{}' in {shown}; GRANT SELECT, UPDATE ON {}.{} TO '{user}' (as an administrator)",
                    schema.table,
                    quote(&m.database),
                    quote(&m.table_name)
                )),
                _ => with_holders(err(e), &mut conn, &m),
            });
        }
    }
    Ok(Box::new(Db {
        conn,
        location: shown,
        user,
        m,
        busy,
    }))
}

/// One column as the catalog describes it.
struct Column {
    name: String,
    /// `DATA_TYPE`: the bare type, lowercase (`int`, `varchar`, `blob`).
    data_type: String,
    /// `COLUMN_TYPE`: with its width and attributes (`int(10) unsigned`).
    column_type: String,
    charset: Option<String>,
    collation: Option<String>,
}

const INT_TYPES: [&str; 6] = [
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
];
const TEXT_TYPES: [&str; 6] = [
    "char",
    "varchar",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
];
const BLOB_TYPES: [&str; 5] = ["varbinary", "tinyblob", "blob", "mediumblob", "longblob"];

/// A catalog name fit to be put into DDL as it is: a type such as
/// `bigint(20) unsigned`, a character set or a collation.
fn plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _(),".contains(c))
}

/// Finds the table and columns the mapping names; works out their types.
fn probe(conn: &mut Conn, schema: &Schema, shown: &str, busy: Duration) -> Result<Mapped> {
    let err = |e: mysql::Error| my_error(shown, busy, e);
    // The database named, else the session's; an exact spelling first, then
    // one regardless of case.
    let wanted_db = schema.table.schema.as_ref().map(|s| s.as_str().to_string());
    let tables = rows(
        conn,
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
         WHERE LOWER(TABLE_SCHEMA) = LOWER(COALESCE(?, DATABASE())) AND LOWER(TABLE_NAME) = LOWER(?)
         ORDER BY CAST(TABLE_NAME AS BINARY) = CAST(? AS BINARY) DESC,
                  CAST(TABLE_SCHEMA AS BINARY) = CAST(COALESCE(?, DATABASE()) AS BINARY) DESC",
        vec![
            wanted_db.clone().into(),
            schema.table.name.as_str().into(),
            schema.table.name.as_str().into(),
            wanted_db.into(),
        ],
    )
    .map_err(err)?;
    let Some(t) = tables.first() else {
        return Err(Error::setting(
            Setting::Table,
            format!("table '{}' not found in {shown}", schema.table),
        ));
    };
    let (database, table_name, kind) = (text(&t[0]), text(&t[1]), text(&t[2]));
    if kind == "VIEW" || kind == "SEQUENCE" {
        return Err(Error::setting(
            Setting::Table,
            format!(
                "'{}' in {shown} is a {}, not the accounts table",
                schema.table,
                kind.to_ascii_lowercase()
            ),
        ));
    }
    let columns: Vec<Column> = rows(
        conn,
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
         ORDER BY ORDINAL_POSITION",
        vec![database.as_str().into(), table_name.as_str().into()],
    )
    .map_err(err)?
    .into_iter()
    .map(|r| Column {
        name: text(&r[0]),
        data_type: text(&r[1]).to_ascii_lowercase(),
        column_type: text(&r[2]).to_ascii_lowercase(),
        charset: text_opt(&r[3]),
        collation: text_opt(&r[4]),
    })
    .collect();
    let mut found: HashMap<Setting, &Column> = HashMap::new();
    for (ident, setting) in schema.columns() {
        // An exact match first, then one regardless of case.
        let hit = columns
            .iter()
            .find(|c| c.name == ident.as_str())
            .or_else(|| {
                columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(ident.as_str()))
            });
        match hit {
            Some(c) => {
                found.insert(setting, c);
            }
            None => {
                return Err(Error::setting(
                    setting,
                    format!(
                        "column '{ident}' ({}) not found in table '{}'",
                        setting.noun(),
                        schema.table
                    ),
                ));
            }
        }
    }
    let col = |s: Setting| *found.get(&s).expect("every mapped column was found");
    let unsupported = |s: Setting, wanted: &str| {
        let c = col(s);
        Error::setting(
            s,
            format!(
                "the {} '{}' is of type {}; mex2fa handles {wanted}",
                s.noun(),
                c.name,
                c.column_type
            ),
        )
    };
    let id = col(Setting::IdColumn);
    let charset_of = |c: &Column| match (&c.charset, &c.collation) {
        (Some(cs), Some(coll)) if plain(cs) && plain(coll) => {
            format!(" CHARACTER SET {cs} COLLATE {coll}")
        }
        _ => String::new(),
    };
    let (id_kind, id_ddl) = if INT_TYPES.contains(&id.data_type.as_str()) {
        if !plain(&id.column_type) {
            return Err(unsupported(Setting::IdColumn, "integer or text ids"));
        }
        (IdKind::Int, id.column_type.clone())
    } else if TEXT_TYPES.contains(&id.data_type.as_str()) {
        // A key of mex2fa's tables: a bounded string, compared as the id is.
        let ty = if matches!(id.data_type.as_str(), "char" | "varchar") && plain(&id.column_type) {
            id.column_type.clone()
        } else {
            "varchar(255)".to_string()
        };
        (IdKind::Text, format!("{ty}{}", charset_of(id)))
    } else {
        return Err(unsupported(Setting::IdColumn, "integer or text ids"));
    };
    let en = col(Setting::EnabledColumn);
    if !(INT_TYPES.contains(&en.data_type.as_str()) || en.data_type == "bit") {
        return Err(unsupported(
            Setting::EnabledColumn,
            "an integer or BOOLEAN flag",
        ));
    }
    let sec = col(Setting::SecretColumn);
    let form = if BLOB_TYPES.contains(&sec.data_type.as_str()) {
        TokenForm::Blob
    } else if TEXT_TYPES.contains(&sec.data_type.as_str()) {
        TokenForm::Text
    } else if sec.data_type == "binary" {
        return Err(unsupported(
            Setting::SecretColumn,
            "BLOB, VARBINARY or text: BINARY pads a token with zero bytes, which neither mex2fa nor the app can decrypt",
        ));
    } else {
        return Err(unsupported(
            Setting::SecretColumn,
            "BLOB, VARBINARY or text (TEXT, VARCHAR, CHAR)",
        ));
    };
    let user = col(Setting::UserColumn);
    let user_ddl = format!("text{}", charset_of(user));
    let own: Vec<(String, bool)> = rows(
        conn,
        "SELECT t.TABLE_NAME, EXISTS (SELECT 1 FROM information_schema.COLUMNS c
                 WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
                   AND c.COLUMN_NAME = 'reason')
         FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME IN (?, ?, ?)",
        vec![
            database.as_str().into(),
            PENDING_TABLE.into(),
            AUDIT_TABLE.into(),
            META_TABLE.into(),
        ],
    )
    .map_err(err)?
    .iter()
    .map(|r| (text(&r[0]).to_ascii_lowercase(), int(&r[1]) == Some(1)))
    .collect();
    let has = |name: &str| own.iter().any(|(n, _)| n == name);
    let db = quote(&database);
    Ok(Mapped {
        table: format!("{db}.{}", quote(&table_name)),
        pending: format!("{db}.{}", quote(PENDING_TABLE)),
        audit: format!("{db}.{}", quote(AUDIT_TABLE)),
        meta: format!("{db}.{}", quote(META_TABLE)),
        id: quote(&id.name),
        user: quote(&user.name),
        enabled: quote(&en.name),
        secret: quote(&sec.name),
        id_kind,
        id_ddl,
        user_ddl,
        user_collation: user.collation.clone().unwrap_or_else(|| "binary".into()),
        form,
        own_tables: has(PENDING_TABLE) && has(AUDIT_TABLE),
        meta_table: has(META_TABLE),
        audit_reason: own.iter().any(|(n, r)| n == AUDIT_TABLE && *r),
        database,
        table_name,
    })
}

/// Refuses a table whose engine cannot roll back: a failure half-way would
/// leave some rows changed, which mex2fa promises never to do.
fn check_engines(conn: &mut Conn, m: &Mapped, shown: &str, busy: Duration) -> Result<()> {
    let found = rows(
        conn,
        "SELECT t.TABLE_NAME, COALESCE(t.ENGINE, ''), COALESCE(e.TRANSACTIONS, 'NO')
         FROM information_schema.TABLES t
         LEFT JOIN information_schema.ENGINES e ON LOWER(e.ENGINE) = LOWER(t.ENGINE)
         WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME IN (?, ?, ?, ?)",
        vec![
            m.database.as_str().into(),
            m.table_name.as_str().into(),
            PENDING_TABLE.into(),
            AUDIT_TABLE.into(),
            META_TABLE.into(),
        ],
    )
    .map_err(|e| my_error(shown, busy, e))?;
    for r in &found {
        let (name, engine, transactions) = (text(&r[0]), text(&r[1]), text(&r[2]));
        if !transactions.eq_ignore_ascii_case("YES") {
            return Err(Error::db(format!(
                "table '{name}' in {shown} uses the {engine} engine, which cannot roll back a change; mex2fa writes all or nothing and will not write there: convert it (after a backup) with ALTER TABLE {}.{} ENGINE=InnoDB",
                quote(&m.database),
                quote(&name)
            )));
        }
    }
    Ok(())
}

/// Turns a server error into a message an operator can act on.
fn my_error(shown: &str, busy: Duration, e: mysql::Error) -> Error {
    let mysql::Error::MySqlError(db) = &e else {
        return Error::db(format!(
            "lost the connection to {shown}: {}; nothing was changed",
            crate::ui::escape(&e.to_string())
        ));
    };
    let message = crate::ui::escape(&db.message).into_owned();
    match db.code {
        // ER_LOCK_WAIT_TIMEOUT: a row lock (InnoDB) or a table's metadata lock.
        1205 => Error::setting(
            Setting::Busy,
            format!(
                "waited more than {} ms for a lock on {shown} that another session holds",
                busy.as_millis()
            ),
        ),
        // ER_LOCK_DEADLOCK: the server rolled the whole transaction back.
        1213 => Error::db(
            "the server stopped this transaction to resolve a deadlock with another session; nothing was changed, run the command again",
        ),
        // ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR,
        // ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR
        1142 | 1143 | 1227 | 1044 => Error::db(format!(
            "the database user lacks a privilege in {shown}: {message}; nothing was changed"
        )),
        // ER_OPTION_PREVENTS_STATEMENT (--read-only, --super-read-only)
        1290 | 1836 => Error::db(format!(
            "the server refuses writes ({message}); nothing was changed: run mex2fa against the primary server"
        )),
        // ER_DATA_TOO_LONG: strict mode refuses what would be cut short.
        1406 => Error::db(format!(
            "a token does not fit its column in {shown} ({message}); nothing was changed: widen the column (a token is about 140 bytes: VARBINARY(255), BLOB or TEXT)"
        )),
        // ER_RECORD_FILE_FULL, ER_DISK_FULL
        1114 | 1021 => Error::db(format!(
            "the server's disk or table is full ({message}); nothing was changed"
        )),
        // ER_STATEMENT_TIMEOUT (MariaDB), ER_QUERY_TIMEOUT (MySQL)
        1969 | 3024 => Error::db(format!(
            "the server stopped a statement at its time limit ({message}); nothing was changed: raise max_statement_time / max_execution_time for this user"
        )),
        code => Error::db(format!("database error on {shown}: {message} ({code})")),
    }
}

/// Runs a query and returns its rows as values.
fn rows<Q: Queryable>(q: &mut Q, sql: &str, params: Vec<Value>) -> mysql::Result<Vec<Vec<Value>>> {
    let rows: Vec<Row> = q.exec(sql, to_params(params))?;
    Ok(rows.into_iter().map(Row::unwrap).collect())
}

/// Runs a statement; how many rows it matched (the session counts found
/// rows, not changed ones).
fn execute<Q: Queryable>(q: &mut Q, sql: &str, params: Vec<Value>) -> mysql::Result<u64> {
    let result = q.exec_iter(sql, to_params(params))?;
    Ok(result.affected_rows())
}

fn to_params(params: Vec<Value>) -> Params {
    if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params)
    }
}

/// A value as text: NULL is empty.
fn text(v: &Value) -> String {
    text_opt(v).unwrap_or_default()
}

fn text_opt(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(n) => Some(n.to_string()),
        Value::UInt(n) => Some(n.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(f) => Some(f.to_string()),
        other => Some(other.as_sql(true)),
    }
}

/// An integer value, if it is one and fits.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::UInt(n) => i64::try_from(*n).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn id_of(v: &Value, kind: IdKind) -> Result<AccountId> {
    if *v == Value::NULL {
        return Err(Error::setting(Setting::IdColumn, "an account id is NULL"));
    }
    match kind {
        // An UNSIGNED BIGINT may hold more than an i64; such a row is named.
        IdKind::Int => int(v).map(AccountId::Int).ok_or_else(|| {
            Error::db(format!(
                "account id {} is larger than mex2fa can handle (at most {})",
                crate::ui::escape(&text(v)),
                i64::MAX
            ))
        }),
        IdKind::Text => Ok(AccountId::Text(text(v))),
    }
}

fn id_value(id: &AccountId) -> Value {
    match id {
        AccountId::Int(n) => Value::Int(*n),
        AccountId::Text(s) => Value::Bytes(s.as_bytes().to_vec()),
    }
}

fn stored_of(v: &Value, form: TokenForm) -> Stored {
    match v {
        Value::NULL => Stored::Null,
        Value::Bytes(b) => match form {
            TokenForm::Blob => Stored::Blob(b.clone()),
            TokenForm::Text => Stored::Text(String::from_utf8_lossy(b).into_owned()),
        },
        other => Stored::Number(text(other)),
    }
}

/// The enabled flag as read (`CAST(… AS SIGNED)`): NULL is off.
fn flag_of(v: &Value) -> bool {
    match v {
        Value::NULL => false,
        Value::Int(n) => *n != 0,
        Value::UInt(n) => *n != 0,
        other => truthy_number(&text(other)),
    }
}

/// A flag other than 0, 1 or NULL, as it reads in a message.
fn odd_flag(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        other => odd_number(&text(other)),
    }
}

/// How the rows of `place` are read: the select list and source, and the
/// cursor column. Every select yields id, user, enabled, token, expiry.
fn select(m: &Mapped, place: Place, lean: bool) -> (String, String) {
    match place {
        Place::Account => {
            let (user, en) = if lean {
                ("NULL".to_string(), "NULL".to_string())
            } else {
                (
                    format!("a.{}", m.user),
                    format!("CAST(a.{} AS SIGNED)", m.enabled),
                )
            };
            (
                format!(
                    "SELECT a.{id}, {user}, {en}, a.{sec}, NULL FROM {t} a",
                    id = m.id,
                    sec = m.secret,
                    t = m.table
                ),
                format!("a.{}", m.id),
            )
        }
        Place::Pending if lean => (
            format!(
                "SELECT p.account_id, NULL, NULL, p.secret_token, p.expires_at FROM {} p",
                m.pending
            ),
            "p.account_id".to_string(),
        ),
        Place::Pending => (
            format!(
                "SELECT p.account_id, a.{user}, a.{id} IS NOT NULL, p.secret_token, p.expires_at
                 FROM {pending} p LEFT JOIN {t} a ON a.{id} = p.account_id",
                user = m.user,
                id = m.id,
                pending = m.pending,
                t = m.table
            ),
            "p.account_id".to_string(),
        ),
    }
}

/// Reads token rows page by page in id order (keyset pagination).
struct Pages<'c, Q: Queryable> {
    q: &'c mut Q,
    m: &'c Mapped,
    place: Place,
    form: TokenForm,
    first: String,
    next: String,
    size: usize,
    after: Option<AccountId>,
    done: bool,
    shown: &'c str,
    busy: Duration,
}

impl<'c, Q: Queryable> Pages<'c, Q> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        q: &'c mut Q,
        m: &'c Mapped,
        place: Place,
        only_tokens: bool,
        lean: bool,
        lock: bool,
        size: usize,
        (shown, busy): (&'c str, Duration),
    ) -> Pages<'c, Q> {
        let (select, cursor) = select(m, place, lean);
        let only = if only_tokens && place == Place::Account {
            format!("a.{} IS NOT NULL", m.secret)
        } else {
            "1 = 1".to_string()
        };
        // The rows a rotation reads are the rows it rewrites: locked from
        // the read to the commit, so the app's writes to them wait. InnoDB
        // locks every row the scan passes (and the gaps between them, at
        // REPEATABLE READ), so an account that gets a token while the
        // rotation runs waits too, instead of keeping the old key.
        let lock = if lock { " FOR UPDATE" } else { "" };
        let first = format!("{select} WHERE {only} ORDER BY {cursor} LIMIT ?{lock}");
        let next =
            format!("{select} WHERE {only} AND {cursor} > ? ORDER BY {cursor} LIMIT ?{lock}");
        Pages {
            q,
            m,
            place,
            form: if place == Place::Account {
                m.form
            } else {
                TokenForm::Text
            },
            first,
            next,
            size: size.max(1),
            after: None,
            done: false,
            shown,
            busy,
        }
    }
}

impl<Q: Queryable> super::Pages for Pages<'_, Q> {
    fn next_page(&mut self) -> Result<Option<Vec<TokenRow>>> {
        if self.done {
            return Ok(None);
        }
        let size = Value::UInt(self.size as u64);
        let found = match &self.after {
            None => rows(self.q, &self.first, vec![size]),
            Some(after) => rows(self.q, &self.next, vec![id_value(after), size]),
        }
        .map_err(|e| my_error(self.shown, self.busy, e))?;
        if found.len() < self.size {
            self.done = true;
        }
        let mut page = Vec::with_capacity(found.len());
        for r in &found {
            page.push(TokenRow {
                place: self.place,
                id: id_of(&r[0], self.m.id_kind)?,
                user: text(&r[1]),
                enabled: flag_of(&r[2]),
                odd_flag: if self.place == Place::Account {
                    odd_flag(&r[2])
                } else {
                    None
                },
                value: stored_of(&r[3], self.form),
                expires_at: int(&r[4]),
                slot: None,
            });
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

fn account_of(r: &[Value], m: &Mapped) -> Result<Account> {
    Ok(Account {
        id: id_of(&r[0], m.id_kind)?,
        user: text(&r[1]),
        enabled: flag_of(&r[2]),
        secret: stored_of(&r[3], m.form),
    })
}

/// The account named `user` under the user column's collation: exactly
/// one, else exit 3 (with the accounts listed when several match).
fn lookup<Q: Queryable>(
    q: &mut Q,
    m: &Mapped,
    user: &str,
    shown: &str,
    busy: Duration,
) -> Result<Account> {
    let sql = format!(
        "SELECT {id}, {u}, CAST({en} AS SIGNED), {sec} FROM {t} WHERE {u} = ? ORDER BY {id} LIMIT {}",
        LISTED + 1,
        id = m.id,
        u = m.user,
        en = m.enabled,
        sec = m.secret,
        t = m.table
    );
    let found = rows(q, &sql, vec![user.into()]).map_err(|e| my_error(shown, busy, e))?;
    match found.as_slice() {
        [] => Err(no_such_user(user)),
        [one] => account_of(one, m),
        several => {
            let mut listed: Vec<String> = several
                .iter()
                .take(LISTED)
                .map(|r| {
                    format!(
                        "'{}' (id {})",
                        crate::ui::escape(&text(&r[1])),
                        crate::ui::escape(&text(&r[0]))
                    )
                })
                .collect();
            if several.len() > LISTED {
                listed.push("…".into());
            }
            Err(Error::state(format!(
                "several accounts match '{}' under the user column's collation ({}): {}; nothing was changed: mex2fa changes one account at a time, and the app cannot tell these apart either: rename the duplicates so the name is unique",
                crate::ui::escape(user),
                m.user_collation,
                listed.join(", ")
            )))
        }
    }
}

fn find_key_check<Q: Queryable>(q: &mut Q, m: &Mapped) -> mysql::Result<Option<KeyCheck>> {
    let sql = format!("SELECT value, updated_at FROM {} WHERE name = ?", m.meta);
    Ok(rows(q, &sql, vec![KEY_CHECK.into()])?
        .first()
        .map(|r| KeyCheck {
            token: text(&r[0]),
            written_at: int(&r[1]).unwrap_or(0),
        }))
}

fn find_pending<Q: Queryable>(
    q: &mut Q,
    m: &Mapped,
    id: &AccountId,
) -> mysql::Result<Option<Pending>> {
    let sql = format!(
        "SELECT secret_token, expires_at FROM {} WHERE account_id = ?",
        m.pending
    );
    Ok(rows(q, &sql, vec![id_value(id)])?.first().map(|r| Pending {
        token: text(&r[0]),
        expires_at: int(&r[1]).unwrap_or(0),
    }))
}

impl Db {
    fn err(&self, e: mysql::Error) -> Error {
        my_error(&self.location, self.busy, e)
    }

    /// Creates mex2fa's tables if they are missing, before the data
    /// transaction (DDL commits implicitly), on InnoDB with the id type of
    /// the accounts table.
    fn create_own_tables(&mut self) -> Result<()> {
        if self.m.own_tables && self.m.meta_table && self.m.audit_reason {
            return Ok(());
        }
        let m = &self.m;
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS {pending} (
                     account_id {id_t} NOT NULL PRIMARY KEY,
                     secret_token text NOT NULL,
                     created_at bigint NOT NULL,
                     expires_at bigint NOT NULL
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                pending = m.pending,
                id_t = m.id_ddl
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {audit} (
                     seq bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
                     at varchar(32) NOT NULL,
                     at_unix bigint NOT NULL,
                     os_user text NOT NULL,
                     action varchar(64) NOT NULL,
                     account_id {id_t} NULL,
                     username {user_t} NULL,
                     detail text NOT NULL,
                     reason text NULL
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                audit = m.audit,
                id_t = m.id_ddl,
                user_t = m.user_ddl
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {meta} (
                     name varchar(64) NOT NULL PRIMARY KEY,
                     value text NOT NULL,
                     updated_at bigint NOT NULL
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                meta = m.meta
            ),
        ];
        for sql in &statements {
            self.conn.query_drop(sql).map_err(|e| {
                let e = my_error(&self.location, self.busy, e);
                Error::db(format!(
                    "cannot create mex2fa's tables ({PENDING_TABLE}, {AUDIT_TABLE}, {META_TABLE}) beside the accounts table: {e}; GRANT CREATE ON {}.* TO '{}', or create them as an administrator",
                    quote(&self.m.database),
                    self.user
                ))
            })?;
        }
        // An audit table made by an older mex2fa gains the column; MySQL
        // has no ADD COLUMN IF NOT EXISTS, and another mex2fa may add it
        // first (1060, a duplicate column: done all the same).
        if !self.m.audit_reason {
            let sql = format!("ALTER TABLE {} ADD COLUMN reason text NULL", self.m.audit);
            match self.conn.query_drop(&sql) {
                Ok(()) => {}
                Err(mysql::Error::MySqlError(d)) if d.code == 1060 => {}
                Err(e) => {
                    let e = my_error(&self.location, self.busy, e);
                    return Err(Error::db(format!(
                        "cannot add the column reason to {AUDIT_TABLE}: {e}; GRANT ALTER ON {}.* TO '{}', or add it as an administrator",
                        quote(&self.m.database),
                        self.user
                    )));
                }
            }
        }
        self.m.own_tables = true;
        self.m.meta_table = true;
        self.m.audit_reason = true;
        Ok(())
    }
}

/// Who holds the locks that made a statement wait, for the message of a
/// lock timeout; empty when the server does not say. Row locks are InnoDB's
/// open transactions (`information_schema.INNODB_TRX`, which needs the
/// PROCESS privilege); table locks (`LOCK TABLES`, a running `ALTER`) are
/// in MySQL's `performance_schema.metadata_locks` or, where its plugin is
/// loaded, MariaDB's `information_schema.METADATA_LOCK_INFO`.
fn lock_holders(conn: &mut Conn, m: &Mapped) -> String {
    let transactions = "SELECT t.trx_mysql_thread_id, COALESCE(p.USER, ''), COALESCE(p.HOST, ''),
               COALESCE(p.COMMAND, ''), COALESCE(p.TIME, 0),
               CONCAT('in a transaction open ', TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), ' s')
        FROM information_schema.INNODB_TRX t
        LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
        WHERE t.trx_mysql_thread_id <> CONNECTION_ID()
          AND (t.trx_rows_locked > 0 OR t.trx_tables_locked > 0)
        ORDER BY t.trx_started LIMIT 5";
    let mysql_tables = "SELECT DISTINCT t.PROCESSLIST_ID, COALESCE(t.PROCESSLIST_USER, ''),
               COALESCE(t.PROCESSLIST_HOST, ''), COALESCE(t.PROCESSLIST_COMMAND, ''),
               COALESCE(t.PROCESSLIST_TIME, 0), CONCAT('holding a ', l.LOCK_TYPE, ' lock on the table')
        FROM performance_schema.metadata_locks l
        JOIN performance_schema.threads t ON t.THREAD_ID = l.OWNER_THREAD_ID
        WHERE l.OBJECT_TYPE = 'TABLE' AND l.LOCK_STATUS = 'GRANTED' AND l.OBJECT_SCHEMA = ?
          AND l.OBJECT_NAME IN (?, ?, ?) AND t.PROCESSLIST_ID <> CONNECTION_ID() LIMIT 5";
    let mariadb_tables = "SELECT DISTINCT m.THREAD_ID, COALESCE(p.USER, ''), COALESCE(p.HOST, ''),
               COALESCE(p.COMMAND, ''), COALESCE(p.TIME, 0),
               CONCAT('holding a ', m.LOCK_MODE, ' on the table')
        FROM information_schema.METADATA_LOCK_INFO m
        LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
        WHERE m.TABLE_SCHEMA = ? AND m.TABLE_NAME IN (?, ?, ?) AND m.THREAD_ID <> CONNECTION_ID()
        LIMIT 5";
    let tables = || -> Vec<Value> {
        vec![
            m.database.as_str().into(),
            m.table_name.as_str().into(),
            PENDING_TABLE.into(),
            AUDIT_TABLE.into(),
        ]
    };
    let found = [
        (transactions, Vec::new()),
        (mysql_tables, tables()),
        (mariadb_tables, tables()),
    ]
    .into_iter()
    .find_map(|(sql, params)| rows(conn, sql, params).ok().filter(|r| !r.is_empty()))
    .unwrap_or_default();
    let holders: Vec<String> = found
        .iter()
        .map(|r| {
            let [id, user, host, command, idle, what] = [0, 1, 2, 3, 4, 5].map(|i| text(&r[i]));
            let what = if command.eq_ignore_ascii_case("sleep") {
                format!("idle {idle} s, {what}")
            } else {
                what
            };
            crate::ui::escape(&if user.is_empty() {
                format!("connection {id} ({what})")
            } else {
                format!("connection {id} (user '{user}' from {host}, {what})")
            })
            .into_owned()
        })
        .collect();
    if holders.is_empty() {
        String::new()
    } else {
        format!(" (held by {})", holders.join(", "))
    }
}

/// A lock timeout's message with who holds the lock, if the server says.
fn with_holders(e: Error, conn: &mut Conn, m: &Mapped) -> Error {
    match e {
        Error::Setting(Setting::Busy, msg) => Error::Setting(
            Setting::Busy,
            format!("{msg}{}; nothing was changed", lock_holders(conn, m)),
        ),
        other => other,
    }
}

impl super::Store for Db {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn token_form(&self) -> TokenForm {
        self.m.form
    }

    fn account(&mut self, user: &str) -> Result<Account> {
        lookup(&mut self.conn, &self.m, user, &self.location, self.busy)
    }

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>> {
        if !self.m.own_tables {
            return Ok(None);
        }
        find_pending(&mut self.conn, &self.m, id).map_err(|e| self.err(e))
    }

    fn status(&mut self, user: Option<&str>) -> Result<Vec<StatusRow>> {
        let m = &self.m;
        let pending: HashMap<AccountId, i64> = if m.own_tables {
            let sql = format!("SELECT account_id, expires_at FROM {}", m.pending);
            let found = rows(&mut self.conn, &sql, Vec::new())
                .map_err(|e| my_error(&self.location, self.busy, e))?;
            let mut map = HashMap::new();
            for r in &found {
                map.insert(id_of(&r[0], m.id_kind)?, int(&r[1]).unwrap_or(0));
            }
            map
        } else {
            HashMap::new()
        };
        let (filter, params) = match user {
            Some(u) => (format!(" WHERE {} = ?", m.user), vec![u.into()]),
            None => (String::new(), Vec::new()),
        };
        let sql = format!(
            "SELECT {id}, {u}, CAST({en} AS SIGNED) FROM {t}{filter} ORDER BY {id}",
            id = m.id,
            u = m.user,
            en = m.enabled,
            t = m.table
        );
        let found = rows(&mut self.conn, &sql, params)
            .map_err(|e| my_error(&self.location, self.busy, e))?;
        let mut out = Vec::with_capacity(found.len());
        for r in &found {
            let id = id_of(&r[0], m.id_kind)?;
            out.push(StatusRow {
                pending_expires_at: pending.get(&id).copied(),
                id,
                user: text(&r[1]),
                enabled: flag_of(&r[2]),
            });
        }
        if let (Some(u), true) = (user, out.is_empty()) {
            return Err(no_such_user(u));
        }
        Ok(out)
    }

    fn accounts_with_2fa(&mut self) -> Result<Vec<Account>> {
        let m = &self.m;
        let pending = if m.own_tables {
            format!(" OR {} IN (SELECT account_id FROM {})", m.id, m.pending)
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {id}, {u}, CAST({en} AS SIGNED), {sec} FROM {t}
             WHERE ({en} IS NOT NULL AND CAST({en} AS SIGNED) <> 0) OR {sec} IS NOT NULL{pending}
             ORDER BY {id}",
            id = m.id,
            u = m.user,
            en = m.enabled,
            sec = m.secret,
            t = m.table
        );
        let found = rows(&mut self.conn, &sql, Vec::new())
            .map_err(|e| my_error(&self.location, self.busy, e))?;
        found.iter().map(|r| account_of(r, m)).collect()
    }

    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn super::Pages + '_>> {
        let absent = place == Place::Pending && !self.m.own_tables;
        let mut pages = Pages::new(
            &mut self.conn,
            &self.m,
            place,
            only_tokens,
            false,
            false,
            size,
            (&self.location, self.busy),
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
        if !self.m.own_tables {
            return Ok(Vec::new());
        }
        let m = &self.m;
        let mut filters = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if let Some(u) = user {
            filters.push("username = ?");
            params.push(u.into());
        }
        if let Some(s) = since {
            filters.push("at_unix >= ?");
            params.push(s.into());
        }
        params.push(Value::UInt(limit as u64));
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        };
        let sql = format!(
            "SELECT at, os_user, action, account_id, username, detail, {} FROM {}{filter}
             ORDER BY seq DESC LIMIT ?",
            if m.audit_reason { "reason" } else { "NULL" },
            m.audit
        );
        let found = rows(&mut self.conn, &sql, params)
            .map_err(|e| my_error(&self.location, self.busy, e))?;
        let mut out = Vec::with_capacity(found.len());
        for r in &found {
            let account_id = match &r[3] {
                Value::NULL => None,
                v => Some(id_of(v, m.id_kind)?),
            };
            out.push(AuditRow {
                at: text(&r[0]),
                os_user: text(&r[1]),
                action: text(&r[2]),
                account_id,
                user: text_opt(&r[4]),
                detail: text(&r[5]),
                reason: text_opt(&r[6]),
            });
        }
        Ok(out)
    }

    fn key_check(&mut self) -> Result<Option<KeyCheck>> {
        if !self.m.meta_table {
            return Ok(None);
        }
        find_key_check(&mut self.conn, &self.m).map_err(|e| self.err(e))
    }

    fn transact(&mut self, work: &mut dyn FnMut(&mut dyn super::Tx) -> Result<()>) -> Result<()> {
        self.create_own_tables()?;
        let (shown, busy) = (self.location.clone(), self.busy);
        let result = (|| {
            // REPEATABLE READ whatever the server's default: its locking
            // reads lock every row they pass (see `Pages::new`).
            let opts = TxOpts::default().set_isolation_level(Some(IsolationLevel::RepeatableRead));
            let tx = self
                .conn
                .start_transaction(opts)
                .map_err(|e| my_error(&shown, busy, e))?;
            let mut wrapped = Tx {
                tx,
                m: &self.m,
                shown: &shown,
                busy,
            };
            work(&mut wrapped)?;
            // Dropping the transaction on an error above rolls it back.
            wrapped.tx.commit().map_err(|e| my_error(&shown, busy, e))
        })();
        result.map_err(|e| with_holders(e, &mut self.conn, &self.m))
    }
}

/// The inside of a MariaDB/MySQL write transaction.
struct Tx<'c> {
    tx: mysql::Transaction<'c>,
    m: &'c Mapped,
    shown: &'c str,
    busy: Duration,
}

impl Tx<'_> {
    fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64> {
        execute(&mut self.tx, sql, params).map_err(|e| my_error(self.shown, self.busy, e))
    }

    /// The statement that replaces one stored token where one is stored.
    fn set_sql(&self, place: Place, guard: &str) -> String {
        let m = self.m;
        match place {
            Place::Account => format!(
                "UPDATE {t} SET {sec} = ? WHERE {id} = ? AND {sec} IS NOT NULL{guard}",
                t = m.table,
                sec = m.secret,
                id = m.id
            ),
            Place::Pending => format!(
                "UPDATE {} SET secret_token = ? WHERE account_id = ?{guard}",
                m.pending
            ),
        }
    }
}

impl super::Tx for Tx<'_> {
    fn account(&mut self, user: &str) -> Result<Account> {
        lookup(&mut self.tx, self.m, user, self.shown, self.busy)
    }

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>> {
        find_pending(&mut self.tx, self.m, id).map_err(|e| my_error(self.shown, self.busy, e))
    }

    fn put_pending(
        &mut self,
        id: &AccountId,
        token: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<()> {
        // VALUES() rather than MySQL 8's row alias: MariaDB reads only this form.
        let sql = format!(
            "INSERT INTO {} (account_id, secret_token, created_at, expires_at) VALUES (?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE secret_token = VALUES(secret_token),
                 created_at = VALUES(created_at), expires_at = VALUES(expires_at)",
            self.m.pending
        );
        self.execute(
            &sql,
            vec![
                id_value(id),
                token.into(),
                created_at.into(),
                expires_at.into(),
            ],
        )
        .map(drop)
    }

    fn delete_pending(&mut self, id: &AccountId) -> Result<bool> {
        let sql = format!("DELETE FROM {} WHERE account_id = ?", self.m.pending);
        Ok(self.execute(&sql, vec![id_value(id)])? > 0)
    }

    fn enable(&mut self, id: &AccountId, token: &str) -> Result<()> {
        let m = self.m;
        let sql = format!(
            "UPDATE {t} SET {en} = 1, {sec} = ? WHERE {idc} = ?",
            t = m.table,
            en = m.enabled,
            sec = m.secret,
            idc = m.id
        );
        let n = self.execute(&sql, vec![token.as_bytes().into(), id_value(id)])?;
        exactly_one(n, id)
    }

    fn disable(&mut self, id: &AccountId) -> Result<()> {
        let m = self.m;
        let sql = format!(
            "UPDATE {t} SET {en} = 0, {sec} = NULL WHERE {idc} = ?",
            t = m.table,
            en = m.enabled,
            sec = m.secret,
            idc = m.id
        );
        let n = self.execute(&sql, vec![id_value(id)])?;
        exactly_one(n, id)
    }

    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn super::Pages + '_>> {
        Ok(Box::new(Pages::new(
            &mut self.tx,
            self.m,
            place,
            only_tokens,
            false,
            false,
            size,
            (self.shown, self.busy),
        )))
    }

    fn token_pages(&mut self, place: Place, size: usize) -> Result<Box<dyn super::Pages + '_>> {
        Ok(Box::new(Pages::new(
            &mut self.tx,
            self.m,
            place,
            true,
            true,
            true,
            size,
            (self.shown, self.busy),
        )))
    }

    fn user_of(&mut self, place: Place, id: &AccountId) -> Result<String> {
        let m = self.m;
        let sql = match place {
            Place::Account => format!("SELECT {} FROM {} WHERE {} = ?", m.user, m.table, m.id),
            Place::Pending => format!(
                "SELECT a.{user} FROM {p} p JOIN {t} a ON a.{id} = p.account_id
                 WHERE p.account_id = ?",
                user = m.user,
                p = m.pending,
                t = m.table,
                id = m.id
            ),
        };
        let found = rows(&mut self.tx, &sql, vec![id_value(id)])
            .map_err(|e| my_error(self.shown, self.busy, e))?;
        Ok(found.first().map(|r| text(&r[0])).unwrap_or_default())
    }

    fn count_tokens(&mut self) -> Result<(u64, u64)> {
        let m = self.m;
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM {} WHERE {} IS NOT NULL), (SELECT COUNT(*) FROM {})",
            m.table, m.secret, m.pending
        );
        let found =
            rows(&mut self.tx, &sql, Vec::new()).map_err(|e| my_error(self.shown, self.busy, e))?;
        let count = |i: usize| {
            found
                .first()
                .and_then(|r| int(&r[i]))
                .map_or(0, |n| n.max(0) as u64)
        };
        Ok((count(0), count(1)))
    }

    fn bulk_rewrite(&mut self) -> Result<()> {
        Ok(())
    }

    fn token_writer(&mut self) -> Result<Box<dyn super::TokenWriter + '_>> {
        let mut writer = TokenWriter {
            tx: &mut self.tx,
            m: self.m,
            held: [Vec::new(), Vec::new()],
            batches: 0,
            written: 0,
            shown: self.shown,
            busy: self.busy,
        };
        writer.reset()?;
        Ok(Box::new(writer))
    }

    fn set_token(&mut self, place: Place, id: &AccountId, token: &str) -> Result<bool> {
        let sql = self.set_sql(place, "");
        Ok(self.execute(&sql, vec![token.as_bytes().into(), id_value(id)])? == 1)
    }

    fn swap_token(
        &mut self,
        place: Place,
        id: &AccountId,
        expected: &str,
        token: &str,
    ) -> Result<bool> {
        // Compared as bytes, whichever form and collation the column has.
        let column = match place {
            Place::Account => self.m.secret.as_str(),
            Place::Pending => "secret_token",
        };
        let sql = self.set_sql(place, &format!(" AND CAST({column} AS BINARY) = ?"));
        Ok(self.execute(
            &sql,
            vec![
                token.as_bytes().into(),
                id_value(id),
                expected.as_bytes().into(),
            ],
        )? == 1)
    }

    fn delete_expired_pending(&mut self, now: i64) -> Result<usize> {
        let sql = format!("DELETE FROM {} WHERE expires_at <= ?", self.m.pending);
        Ok(self.execute(&sql, vec![now.into()])? as usize)
    }

    fn audit(&mut self, entry: AuditEntry<'_>) -> Result<()> {
        let now = crate::clock::now() as i64;
        let sql = format!(
            "INSERT INTO {} (at, at_unix, os_user, action, account_id, username, detail, reason)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            self.m.audit
        );
        let (id, user) = match entry.account {
            Some(a) => (id_value(&a.id), Value::from(a.user.as_str())),
            None => (Value::NULL, Value::NULL),
        };
        self.execute(
            &sql,
            vec![
                crate::clock::format_utc(now).into(),
                now.into(),
                entry.os_user.into(),
                entry.action.into(),
                id,
                user,
                entry.detail.as_str().into(),
                entry.reason.map_or(Value::NULL, Value::from),
            ],
        )
        .map(drop)
    }

    fn key_check(&mut self) -> Result<Option<KeyCheck>> {
        find_key_check(&mut self.tx, self.m).map_err(|e| my_error(self.shown, self.busy, e))
    }

    fn set_key_check(&mut self, token: &str, written_at: i64) -> Result<()> {
        let sql = format!(
            "REPLACE INTO {} (name, value, updated_at) VALUES (?, ?, ?)",
            self.m.meta
        );
        self.execute(
            &sql,
            vec![KEY_CHECK.into(), token.into(), written_at.into()],
        )
        .map(drop)
    }
}

/// Sends tokens in bulk: a batch of ids and tokens goes into the session's
/// scratch table in one multi-row INSERT, then one UPDATE joined to it
/// rewrites them; not a round trip per row.
///
/// Batches are numbered rather than deleted: rows deleted inside a
/// transaction stay behind, marked, until the commit, and every later batch
/// would wade through them. The table is made anew every [`BATCHES_KEPT`]
/// batches, which bounds it (making it anew also costs each statement on it
/// a new prepare, so not every batch).
struct TokenWriter<'t, 'c> {
    tx: &'t mut mysql::Transaction<'c>,
    m: &'t Mapped,
    /// Ids and tokens held back, per place.
    held: [Vec<(AccountId, String)>; 2],
    /// Batches sent so far.
    batches: u64,
    written: u64,
    shown: &'t str,
    busy: Duration,
}

/// Batches the scratch table holds before it is made anew.
const BATCHES_KEPT: u64 = 16;

impl TokenWriter<'_, '_> {
    fn err(&self, e: mysql::Error) -> Error {
        my_error(self.shown, self.busy, e)
    }

    /// Makes the scratch table anew, empty. A temporary table is the
    /// session's own, shadows nothing of the app's, and neither its creation
    /// nor its removal commits the transaction (unlike other DDL).
    fn reset(&mut self) -> Result<()> {
        // For text ids, the batch's range is asked of the server (under the
        // id's collation): an index makes that a look-up.
        let by_batch = match self.m.id_kind {
            IdKind::Int => "",
            IdKind::Text => ", KEY (batch, id)",
        };
        let sql = format!(
            "DROP TEMPORARY TABLE IF EXISTS {BATCH_TABLE};
             CREATE TEMPORARY TABLE {BATCH_TABLE} (
                 place tinyint NOT NULL,
                 id {} NOT NULL,
                 batch bigint NOT NULL,
                 token longblob NOT NULL,
                 PRIMARY KEY (place, id){by_batch}
             ) ENGINE=InnoDB",
            self.m.id_ddl
        );
        self.tx.query_drop(sql).map_err(|e| self.err(e))
    }

    fn flush(&mut self, which: usize) -> Result<()> {
        let batch = std::mem::take(&mut self.held[which]);
        if batch.is_empty() {
            return Ok(());
        }
        if self.batches > 0 && self.batches.is_multiple_of(BATCHES_KEPT) {
            self.reset()?;
        }
        self.batches += 1;
        let number = Value::UInt(self.batches);
        let place = Value::UInt(which as u64);
        // The batch's first and last id; for text, as the server orders them.
        let range = match self.m.id_kind {
            IdKind::Int => {
                let ids = batch.iter().filter_map(|(id, _)| match id {
                    AccountId::Int(n) => Some(*n),
                    AccountId::Text(_) => None,
                });
                let (low, high) = ids.fold((i64::MAX, i64::MIN), |(l, h), n| (l.min(n), h.max(n)));
                Some(vec![Value::Int(low), Value::Int(high)])
            }
            IdKind::Text => None,
        };
        // The same id twice: the last token wins, as a second put means.
        let insert = format!(
            "INSERT INTO {BATCH_TABLE} (place, id, batch, token) VALUES {}
             ON DUPLICATE KEY UPDATE batch = VALUES(batch), token = VALUES(token)",
            vec!["(?, ?, ?, ?)"; batch.len()].join(", ")
        );
        let mut params = Vec::with_capacity(batch.len() * 4);
        for (id, token) in batch {
            params.push(place.clone());
            params.push(id_value(&id));
            params.push(number.clone());
            params.push(Value::Bytes(token.into_bytes()));
        }
        execute(self.tx, &insert, params).map_err(|e| self.err(e))?;
        let range = match range {
            Some(r) => r,
            None => rows(
                self.tx,
                &format!("SELECT MIN(id), MAX(id) FROM {BATCH_TABLE} WHERE batch = ?"),
                vec![number.clone()],
            )
            .map_err(|e| self.err(e))?
            .pop()
            .unwrap_or_default(),
        };
        // The table rewritten is read first, over the batch's range of ids,
        // so that each row is updated as it is found; joined the other way
        // round, MariaDB collects the rows to update and goes over them
        // again (ten times slower).
        let m = self.m;
        let update = match which {
            0 => format!(
                "UPDATE {t} a STRAIGHT_JOIN {BATCH_TABLE} b
                     ON b.place = 0 AND b.id = a.{id} AND b.batch = ?
                 SET a.{sec} = b.token
                 WHERE a.{sec} IS NOT NULL AND a.{id} BETWEEN ? AND ?",
                t = m.table,
                id = m.id,
                sec = m.secret
            ),
            _ => format!(
                "UPDATE {p} a STRAIGHT_JOIN {BATCH_TABLE} b
                     ON b.place = 1 AND b.id = a.account_id AND b.batch = ?
                 SET a.secret_token = b.token
                 WHERE a.account_id BETWEEN ? AND ?",
                p = m.pending
            ),
        };
        let mut params = vec![number];
        params.extend(range);
        let n = execute(self.tx, &update, params).map_err(|e| self.err(e))?;
        self.written += n;
        Ok(())
    }
}

impl super::TokenWriter for TokenWriter<'_, '_> {
    fn put(
        &mut self,
        place: Place,
        id: &AccountId,
        _slot: Option<Slot>,
        token: &str,
    ) -> Result<()> {
        let which = usize::from(place == Place::Pending);
        self.held[which].push((id.clone(), token.to_string()));
        if self.held[which].len() >= BATCH {
            self.flush(which)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<super::Written> {
        self.flush(0)?;
        self.flush(1)?;
        self.tx
            .query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {BATCH_TABLE}"))
            .map_err(|e| self.err(e))?;
        Ok(super::Written {
            rows: self.written,
            read_back: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_with_backticks() {
        assert_eq!(quote("account"), "`account`");
        assert_eq!(quote("a`b"), "`a``b`");
    }

    #[test]
    fn only_plain_catalog_text_goes_into_ddl() {
        for ok in [
            "bigint(20) unsigned",
            "int",
            "varchar(64)",
            "utf8mb4_general_ci",
        ] {
            assert!(plain(ok), "{ok}");
        }
        for bad in ["", "int; drop table x", "varchar(64) comment 'x'", "a`b"] {
            assert!(!plain(bad), "{bad}");
        }
    }

    #[test]
    fn values_read_as_the_columns_mean_them() {
        assert_eq!(
            id_of(&Value::Int(7), IdKind::Int).unwrap(),
            AccountId::Int(7)
        );
        assert_eq!(
            id_of(&Value::UInt(7), IdKind::Int).unwrap(),
            AccountId::Int(7)
        );
        let big = id_of(&Value::UInt(u64::MAX), IdKind::Int)
            .err()
            .unwrap()
            .to_string();
        assert!(big.contains("18446744073709551615"), "{big}");
        assert!(id_of(&Value::NULL, IdKind::Int).is_err());
        assert_eq!(
            id_of(&Value::Bytes(b"u-1".to_vec()), IdKind::Text).unwrap(),
            AccountId::Text("u-1".into())
        );
        assert!(flag_of(&Value::Int(1)));
        assert!(flag_of(&Value::Int(-1)));
        assert!(!flag_of(&Value::Int(0)));
        assert!(!flag_of(&Value::NULL));
        assert!(flag_of(&Value::Bytes(b"1".to_vec())));
        assert!(!flag_of(&Value::Bytes(b"0".to_vec())));
        assert_eq!(
            stored_of(&Value::Bytes(b"gAAAA".to_vec()), TokenForm::Blob),
            Stored::Blob(b"gAAAA".to_vec())
        );
        assert_eq!(
            stored_of(&Value::Bytes(b"gAAAA".to_vec()), TokenForm::Text),
            Stored::Text("gAAAA".into())
        );
        assert_eq!(stored_of(&Value::NULL, TokenForm::Text), Stored::Null);
        assert!(matches!(
            stored_of(&Value::Int(3), TokenForm::Text),
            Stored::Number(_)
        ));
    }

    #[test]
    fn lock_timeouts_and_deadlocks_are_named() {
        let server = |code: u16| {
            mysql::Error::MySqlError(mysql::MySqlError {
                state: "HY000".into(),
                message: "x".into(),
                code,
            })
        };
        let busy = Duration::from_millis(1500);
        let e = my_error("db", busy, server(1205));
        assert!(matches!(e, Error::Setting(Setting::Busy, _)), "{e}");
        assert!(e.to_string().contains("1500 ms"));
        let e = my_error("db", busy, server(1213)).to_string();
        assert!(
            e.contains("deadlock") && e.contains("nothing was changed"),
            "{e}"
        );
        let e = my_error("db", busy, server(1142)).to_string();
        assert!(e.contains("privilege"), "{e}");
    }
}
