//! The PostgreSQL backend: the app's database on a server, reached with the
//! `postgres` driver (TLS through rustls), every write in one transaction.
//!
//! Tokens are read as the app's driver (psycopg) writes them: `bytea` for
//! Python `bytes`, or text in a text column. The enabled flag may be an
//! integer of any width or a boolean; ids an integer of any width, or text.
//! Names are matched as SQLite matches them, regardless of case, and quoted
//! as the catalog spells them.

mod connect;
mod location;

pub use location::{Location, SslMode};

use std::collections::HashMap;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row};

use super::{
    AUDIT_TABLE, Account, AccountId, AuditEntry, AuditRow, KEY_CHECK, KeyCheck, META_TABLE, Mode,
    Options, PENDING_TABLE, Pending, Place, Schema, Setting, Slot, StatusRow, Stored, TokenForm,
    TokenRow, exactly_one, no_such_user, odd_number, several_users, truthy_number,
};
use crate::error::{Error, Result};

/// Tokens sent in one statement of a bulk rewrite.
const BATCH: usize = 8192;

/// How ids are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    Int,
    Text,
}

impl IdKind {
    /// The SQL type ids are read as and bound as.
    fn sql(self) -> &'static str {
        match self {
            IdKind::Int => "int8",
            IdKind::Text => "text",
        }
    }
}

/// The mapping resolved against the catalog: names as spelled there, quoted.
struct Mapped {
    /// The accounts table, schema-qualified.
    table: String,
    /// mex2fa's own tables, in the accounts table's schema.
    pending: String,
    audit: String,
    meta: String,
    /// The accounts table's oid, for lock reports.
    oid: u32,
    id: String,
    user: String,
    enabled: String,
    secret: String,
    id_kind: IdKind,
    form: TokenForm,
    /// The literals for enabled = 1 and 0 in the flag's type.
    on: &'static str,
    off: &'static str,
    /// Whether mex2fa's pending and audit tables exist yet.
    own_tables: bool,
    /// Whether its meta table exists yet.
    meta_table: bool,
    /// Whether the audit table has its `reason` column (one made by an
    /// older mex2fa has not, until the next write adds it).
    audit_reason: bool,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An open, schema-checked PostgreSQL database.
pub struct Db {
    client: Client,
    location: String,
    user: String,
    m: Mapped,
    busy: Duration,
}

/// Opens a session, checks the mapping and, for writing, the privileges.
pub fn open(
    location: &Location,
    schema: Schema,
    options: Options,
) -> Result<Box<dyn super::Store>> {
    let mut client = connect::connect(location)?;
    let shown = location.shown();
    let busy = options.busy;
    let err = |e: postgres::Error| pg_error(&shown, busy, e);
    // A read-only session cannot change anything, whatever a bug might try.
    let read_only = if options.mode == Mode::ReadOnly {
        "on"
    } else {
        "off"
    };
    client
        .batch_execute(&format!(
            "SET lock_timeout = {}; SET default_transaction_read_only = {read_only}; SET client_min_messages = warning",
            busy.as_millis().max(1)
        ))
        .map_err(err)?;
    let m = probe(&mut client, &schema, &shown, busy)?;
    let user = location.user.clone().unwrap_or_default();
    if options.mode == Mode::ReadWrite {
        let may: bool = client
            // Each asked for alone: given several, the function says whether any is held.
            .query_one(
                "SELECT has_table_privilege($1::oid, 'SELECT') AND has_table_privilege($1::oid, 'UPDATE')",
                &[&m.oid],
            )
            .map_err(err)?
            .get(0);
        if !may {
            return Err(Error::db(format!(
                "user '{user}' may not update table '{}' in {shown}; GRANT SELECT, UPDATE ON {} TO {} (as its owner)",
                schema.table,
                schema.table,
                quote(&user)
            )));
        }
    }
    Ok(Box::new(Db {
        client,
        location: shown,
        user,
        m,
        busy,
    }))
}

/// Finds the table and columns the mapping names; works out their types.
fn probe(client: &mut Client, schema: &Schema, shown: &str, busy: Duration) -> Result<Mapped> {
    let err = |e: postgres::Error| pg_error(shown, busy, e);
    // The schema named, else the first on the search path that has the table.
    let tables = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
                    array_position(current_schemas(false), n.nspname) AS rank
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE lower(c.relname) = lower($1) AND c.relkind IN ('r', 'p', 'v', 'f')
               AND CASE WHEN $2::text IS NULL
                        THEN n.nspname = ANY(current_schemas(false))
                        ELSE lower(n.nspname) = lower($2) END
             ORDER BY rank NULLS LAST, (c.relname = $1) DESC, (n.nspname = $2) DESC",
            &[
                &schema.table.name.as_str(),
                &schema.table.schema.as_ref().map(|s| s.as_str()),
            ],
        )
        .map_err(err)?;
    let Some(t) = tables.first() else {
        return Err(Error::setting(
            Setting::Table,
            format!("table '{}' not found in {shown}", schema.table),
        ));
    };
    let (oid, nsp, rel, kind): (u32, String, String, String) =
        (t.get(0), t.get(1), t.get(2), t.get(3));
    if kind == "v" {
        return Err(Error::setting(
            Setting::Table,
            format!(
                "'{}' in {shown} is a view, not the accounts table",
                schema.table
            ),
        ));
    }
    let columns = client
        .query(
            "SELECT attname::text, format_type(atttypid, NULL) FROM pg_attribute
             WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
            &[&oid],
        )
        .map_err(err)?;
    let mut found: HashMap<Setting, (String, String)> = HashMap::new();
    for (ident, setting) in schema.columns() {
        // An exact match first, then one regardless of case.
        let hit = columns
            .iter()
            .find(|r| r.get::<_, String>(0) == ident.as_str())
            .or_else(|| {
                columns
                    .iter()
                    .find(|r| r.get::<_, String>(0).eq_ignore_ascii_case(ident.as_str()))
            });
        match hit {
            Some(r) => {
                found.insert(setting, (r.get(0), r.get(1)));
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
    let col = |s: Setting| found.get(&s).expect("every mapped column was found");
    let unsupported = |s: Setting, ty: &str, wanted: &str| {
        Error::setting(
            s,
            format!(
                "the {} '{}' is of type {ty}; mex2fa handles {wanted}",
                s.noun(),
                col(s).0
            ),
        )
    };
    let text_type =
        |ty: &str| ty == "text" || ty.starts_with("character") || ty == "citext" || ty == "name";
    let int_type = |ty: &str| matches!(ty, "smallint" | "integer" | "bigint");
    let (_, id_ty) = col(Setting::IdColumn);
    let id_kind = if int_type(id_ty) {
        IdKind::Int
    } else if text_type(id_ty) {
        IdKind::Text
    } else {
        return Err(unsupported(Setting::IdColumn, id_ty, "integer or text ids"));
    };
    let (_, en_ty) = col(Setting::EnabledColumn);
    let (on, off) = if en_ty == "boolean" {
        ("true", "false")
    } else if int_type(en_ty) {
        ("1", "0")
    } else {
        return Err(unsupported(
            Setting::EnabledColumn,
            en_ty,
            "an integer or boolean flag",
        ));
    };
    let (_, sec_ty) = col(Setting::SecretColumn);
    let form = if sec_ty == "bytea" {
        TokenForm::Blob
    } else if text_type(sec_ty) {
        TokenForm::Text
    } else {
        return Err(unsupported(Setting::SecretColumn, sec_ty, "bytea or text"));
    };
    let own: Vec<(String, bool)> = client
        .query(
            "SELECT c.relname::text, EXISTS (SELECT 1 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attname = 'reason' AND NOT a.attisdropped)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname IN ($2, $3, $4)",
            &[&nsp, &PENDING_TABLE, &AUDIT_TABLE, &META_TABLE],
        )
        .map_err(err)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let has = |name: &str| own.iter().any(|(n, _)| n == name);
    let ns = quote(&nsp);
    Ok(Mapped {
        table: format!("{ns}.{}", quote(&rel)),
        pending: format!("{ns}.{PENDING_TABLE}"),
        audit: format!("{ns}.{AUDIT_TABLE}"),
        meta: format!("{ns}.{META_TABLE}"),
        oid,
        id: quote(&col(Setting::IdColumn).0),
        user: quote(&col(Setting::UserColumn).0),
        enabled: quote(&col(Setting::EnabledColumn).0),
        secret: quote(&col(Setting::SecretColumn).0),
        id_kind,
        form,
        on,
        off,
        own_tables: has(PENDING_TABLE) && has(AUDIT_TABLE),
        meta_table: has(META_TABLE),
        audit_reason: own.iter().any(|(n, r)| n == AUDIT_TABLE && *r),
    })
}

/// Turns a server error into a message an operator can act on.
fn pg_error(shown: &str, busy: Duration, e: postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        if e.is_closed() {
            return Error::db(format!("the connection to {shown} was closed"));
        }
        return Error::db(format!(
            "lost the connection to {shown}: {}",
            crate::ui::escape(&e.to_string())
        ));
    };
    let message = crate::ui::escape(db.message()).into_owned();
    match db.code().code() {
        "55P03" | "57014" => Error::setting(
            Setting::Busy,
            format!(
                "waited more than {} ms for a lock on {shown} that another session holds",
                busy.as_millis()
            ),
        ),
        "40P01" | "40001" => Error::db(format!(
            "the server stopped this transaction to resolve a conflict with another session ({message}); nothing was changed, run the command again"
        )),
        "42501" => Error::db(format!(
            "the database user lacks a privilege in {shown}: {message}; nothing was changed"
        )),
        "53100" => Error::db(format!(
            "the server's disk is full ({message}); nothing was changed"
        )),
        code => Error::db(format!("database error on {shown}: {message} ({code})")),
    }
}

/// How the rows of `place` are read: the select list, the source and the
/// cursor column.
fn select(m: &Mapped, place: Place, lean: bool) -> (String, &'static str) {
    let id_t = m.id_kind.sql();
    match place {
        Place::Account => {
            let (user, en) = if lean {
                ("NULL::text".to_string(), "NULL::text".to_string())
            } else {
                (format!("{}::text", m.user), format!("{}::text", m.enabled))
            };
            (
                format!(
                    "SELECT {id}::{id_t}, {user}, {en}, {sec}, NULL::int8 FROM {t} a",
                    id = m.id,
                    sec = m.secret,
                    t = m.table
                ),
                "a",
            )
        }
        Place::Pending if lean => (
            format!(
                "SELECT p.account_id::{id_t}, NULL::text, NULL::text, p.secret_token, p.expires_at FROM {} p",
                m.pending
            ),
            "p",
        ),
        Place::Pending => (
            format!(
                "SELECT p.account_id::{id_t}, a.{user}::text, (a.{id} IS NOT NULL)::text, p.secret_token, p.expires_at
                 FROM {pending} p LEFT JOIN {t} a ON a.{id} = p.account_id",
                user = m.user,
                id = m.id,
                pending = m.pending,
                t = m.table
            ),
            "p",
        ),
    }
}

fn id_of(row: &Row, i: usize, kind: IdKind) -> Result<AccountId> {
    let id = match kind {
        IdKind::Int => row.try_get::<_, i64>(i).map(AccountId::Int),
        IdKind::Text => row.try_get::<_, String>(i).map(AccountId::Text),
    };
    id.map_err(|_| Error::setting(Setting::IdColumn, "an account id is NULL"))
}

fn stored_of(row: &Row, i: usize, form: TokenForm) -> Stored {
    match form {
        TokenForm::Blob => match row.get::<_, Option<Vec<u8>>>(i) {
            None => Stored::Null,
            Some(b) => Stored::Blob(b),
        },
        TokenForm::Text => match row.get::<_, Option<String>>(i) {
            None => Stored::Null,
            Some(s) => Stored::Text(s),
        },
    }
}

fn flag_of(row: &Row, i: usize) -> bool {
    row.get::<_, Option<String>>(i)
        .is_some_and(|s| truthy_number(&s))
}

/// An id bound as a parameter of the id's SQL type.
fn id_param(id: &AccountId) -> Box<dyn ToSql + Sync + Send> {
    match id {
        AccountId::Int(n) => Box::new(*n),
        AccountId::Text(s) => Box::new(s.clone()),
    }
}

/// A token bound in the column's form.
fn token_param(form: TokenForm, token: &str) -> Box<dyn ToSql + Sync + Send> {
    match form {
        TokenForm::Blob => Box::new(token.as_bytes().to_vec()),
        TokenForm::Text => Box::new(token.to_string()),
    }
}

fn token_sql(form: TokenForm) -> &'static str {
    match form {
        TokenForm::Blob => "bytea",
        TokenForm::Text => "text",
    }
}

/// How a read of token rows is made.
#[derive(Clone, Copy)]
enum Read {
    /// Every column, in id order: what is shown.
    Listing,
    /// Ids and tokens only, in the table's order: what a transaction checks.
    Checking,
    /// Ids and tokens only, locked until the commit: the rows a rotation
    /// reads are the rows it rewrites.
    Rewriting,
}

/// Reads token rows page by page from one query whose rows stream from the
/// server as they are taken (no per-page round trip; memory stays bounded
/// by the socket's buffers). Full reads come in id order; a rotation's lean
/// reads in the table's own order, a sequential scan.
struct Pages<'c> {
    rows: Option<postgres::RowIter<'c>>,
    m: &'c Mapped,
    place: Place,
    form: TokenForm,
    size: usize,
    shown: &'c str,
    busy: Duration,
}

impl<'c> Pages<'c> {
    /// `read`: what to read and how (see [`Read`]).
    fn open<C: GenericClient>(
        client: &'c mut C,
        m: &'c Mapped,
        place: Place,
        only_tokens: bool,
        read: Read,
        size: usize,
        (shown, busy): (&'c str, Duration),
    ) -> Result<Pages<'c>> {
        let (lean, ordered, lock) = match read {
            Read::Listing => (false, true, false),
            Read::Checking => (true, false, false),
            Read::Rewriting => (true, false, true),
        };
        let (select, alias) = select(m, place, lean);
        let only = if only_tokens && place == Place::Account {
            format!(" WHERE {alias}.{} IS NOT NULL", m.secret)
        } else {
            String::new()
        };
        let order = if !ordered {
            String::new()
        } else {
            match place {
                Place::Account => format!(" ORDER BY {alias}.{}", m.id),
                Place::Pending => format!(" ORDER BY {alias}.account_id"),
            }
        };
        let lock = if lock {
            format!(" FOR UPDATE OF {alias}")
        } else {
            String::new()
        };
        let sql = format!("{select}{only}{order}{lock}");
        let rows = client
            .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())
            .map_err(|e| pg_error(shown, busy, e))?;
        Ok(Pages {
            rows: Some(rows),
            m,
            place,
            form: if place == Place::Account {
                m.form
            } else {
                TokenForm::Text
            },
            size,
            shown,
            busy,
        })
    }

    /// Pages of nothing: the table is not there.
    fn none(m: &'c Mapped, shown: &'c str, busy: Duration) -> Pages<'c> {
        Pages {
            rows: None,
            m,
            place: Place::Pending,
            form: TokenForm::Text,
            size: 0,
            shown,
            busy,
        }
    }
}

impl super::Pages for Pages<'_> {
    fn next_page(&mut self) -> Result<Option<Vec<TokenRow>>> {
        use postgres::fallible_iterator::FallibleIterator;
        let Some(rows) = self.rows.as_mut() else {
            return Ok(None);
        };
        let mut page = Vec::with_capacity(self.size);
        while page.len() < self.size {
            let Some(r) = rows
                .next()
                .map_err(|e| pg_error(self.shown, self.busy, e))?
            else {
                self.rows = None;
                break;
            };
            page.push(TokenRow {
                place: self.place,
                id: id_of(&r, 0, self.m.id_kind)?,
                user: r.get::<_, Option<String>>(1).unwrap_or_default(),
                enabled: flag_of(&r, 2),
                odd_flag: if self.place == Place::Account {
                    r.get::<_, Option<String>>(2)
                        .as_deref()
                        .and_then(odd_number)
                } else {
                    None
                },
                value: stored_of(&r, 3, self.form),
                expires_at: r.get(4),
                slot: None,
            });
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

fn account_of(r: &Row, m: &Mapped) -> Result<Account> {
    Ok(Account {
        id: id_of(r, 0, m.id_kind)?,
        user: r.get::<_, Option<String>>(1).unwrap_or_default(),
        enabled: flag_of(r, 2),
        secret: stored_of(r, 3, m.form),
    })
}

/// The account named `user`: exactly one, else exit 3.
fn lookup(
    c: &mut impl GenericClient,
    m: &Mapped,
    user: &str,
    shown: &str,
    busy: Duration,
) -> Result<Account> {
    let sql = format!(
        "SELECT {id}::{id_t}, {u}::text, {en}::text, {sec} FROM {t} WHERE {u} = $1::text LIMIT 2",
        id = m.id,
        id_t = m.id_kind.sql(),
        u = m.user,
        en = m.enabled,
        sec = m.secret,
        t = m.table
    );
    let rows = c
        .query(&sql, &[&user])
        .map_err(|e| pg_error(shown, busy, e))?;
    match rows.as_slice() {
        [] => Err(no_such_user(user)),
        [one] => account_of(one, m),
        _ => Err(several_users(user)),
    }
}

fn find_key_check(
    c: &mut impl GenericClient,
    m: &Mapped,
) -> Result<Option<KeyCheck>, postgres::Error> {
    let sql = format!("SELECT value, updated_at FROM {} WHERE name = $1", m.meta);
    Ok(c.query_opt(&sql, &[&KEY_CHECK])?.map(|r| KeyCheck {
        token: r.get(0),
        written_at: r.get(1),
    }))
}

fn find_pending(
    c: &mut impl GenericClient,
    m: &Mapped,
    id: &AccountId,
) -> Result<Option<Pending>, postgres::Error> {
    let sql = format!(
        "SELECT secret_token, expires_at FROM {} WHERE account_id = $1::{}",
        m.pending,
        m.id_kind.sql()
    );
    let id = id_param(id);
    Ok(c.query_opt(&sql, &[id.as_ref() as &(dyn ToSql + Sync)])?
        .map(|r| Pending {
            token: r.get(0),
            expires_at: r.get(1),
        }))
}

impl Db {
    fn err(&self, e: postgres::Error) -> Error {
        pg_error(&self.location, self.busy, e)
    }

    /// Creates mex2fa's tables if they are missing, each in a transaction of
    /// its own before the data transaction, with the id type of the accounts
    /// table.
    fn create_own_tables(&mut self) -> Result<()> {
        if self.m.own_tables && self.m.meta_table && self.m.audit_reason {
            return Ok(());
        }
        let id_t = match self.m.id_kind {
            IdKind::Int => "bigint",
            IdKind::Text => "text",
        };
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {pending} (
                 account_id {id_t} PRIMARY KEY,
                 secret_token text NOT NULL,
                 created_at bigint NOT NULL,
                 expires_at bigint NOT NULL
             );
             CREATE TABLE IF NOT EXISTS {audit} (
                 seq bigserial PRIMARY KEY,
                 at text NOT NULL,
                 at_unix bigint NOT NULL,
                 os_user text NOT NULL,
                 action text NOT NULL,
                 account_id {id_t},
                 username text,
                 detail text NOT NULL,
                 reason text
             );
             {add_reason}
             CREATE TABLE IF NOT EXISTS {meta} (
                 name text PRIMARY KEY,
                 value text NOT NULL,
                 updated_at bigint NOT NULL
             );",
            pending = self.m.pending,
            audit = self.m.audit,
            meta = self.m.meta,
            // Only where it is missing: ALTER TABLE needs the table's owner,
            // whatever IF NOT EXISTS finds.
            add_reason = if self.m.audit_reason {
                String::new()
            } else {
                format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS reason text;",
                    self.m.audit
                )
            }
        );
        self.client.batch_execute(&sql).map_err(|e| {
            let e = pg_error(&self.location, self.busy, e);
            Error::db(format!(
                "cannot create mex2fa's tables ({PENDING_TABLE}, {AUDIT_TABLE}, {META_TABLE}) beside the accounts table: {e}; let user '{}' create tables in that schema, or create them as the table's owner",
                self.user
            ))
        })?;
        self.m.own_tables = true;
        self.m.meta_table = true;
        self.m.audit_reason = true;
        Ok(())
    }

    /// Who holds locks that make writers wait on the accounts or pending
    /// table, for the message of a lock timeout.
    fn lock_holders(&mut self) -> String {
        let sql = "SELECT DISTINCT a.pid, coalesce(a.usename::text, ''), coalesce(a.application_name, ''),
                          coalesce(a.state, ''), coalesce(host(a.client_addr), 'local')
                   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                   WHERE l.granted AND a.pid <> pg_backend_pid() AND l.locktype = 'relation'
                     AND l.mode <> 'AccessShareLock'
                     AND (l.relation = $1 OR l.relation = to_regclass($2))
                   ORDER BY a.pid LIMIT 5";
        let Ok(rows) = self.client.query(sql, &[&self.m.oid, &self.m.pending]) else {
            return String::new();
        };
        let holders: Vec<String> = rows
            .iter()
            .map(|r| {
                let (pid, user, app, state, from): (i32, String, String, String, String) =
                    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
                crate::ui::escape(&format!(
                    "pid {pid} (user '{user}'{}, from {from}, {state})",
                    if app.is_empty() {
                        String::new()
                    } else {
                        format!(", application '{app}'")
                    }
                ))
                .into_owned()
            })
            .collect();
        if holders.is_empty() {
            String::new()
        } else {
            format!(" (held by {})", holders.join(", "))
        }
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
        lookup(&mut self.client, &self.m, user, &self.location, self.busy)
    }

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>> {
        if !self.m.own_tables {
            return Ok(None);
        }
        find_pending(&mut self.client, &self.m, id).map_err(|e| self.err(e))
    }

    fn status(&mut self, user: Option<&str>) -> Result<Vec<StatusRow>> {
        let m = &self.m;
        let pending: HashMap<AccountId, i64> = if m.own_tables {
            let sql = format!(
                "SELECT account_id::{}, expires_at FROM {}",
                m.id_kind.sql(),
                m.pending
            );
            let rows = self
                .client
                .query(&sql, &[])
                .map_err(|e| pg_error(&self.location, self.busy, e))?;
            let mut map = HashMap::new();
            for r in &rows {
                map.insert(id_of(r, 0, m.id_kind)?, r.get(1));
            }
            map
        } else {
            HashMap::new()
        };
        let sql = format!(
            "SELECT {id}::{id_t}, {u}::text, {en}::text FROM {t} WHERE ($1::text IS NULL OR {u} = $1::text) ORDER BY {id}",
            id = m.id,
            id_t = m.id_kind.sql(),
            u = m.user,
            en = m.enabled,
            t = m.table
        );
        let rows = self
            .client
            .query(&sql, &[&user])
            .map_err(|e| pg_error(&self.location, self.busy, e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = id_of(r, 0, m.id_kind)?;
            out.push(StatusRow {
                pending_expires_at: pending.get(&id).copied(),
                id,
                user: r.get::<_, Option<String>>(1).unwrap_or_default(),
                enabled: flag_of(r, 2),
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
            "SELECT {id}::{id_t}, {u}::text, {en}::text, {sec} FROM {t}
             WHERE ({en} IS NOT NULL AND {en}::text NOT IN ('0', 'false')) OR {sec} IS NOT NULL{pending}
             ORDER BY {id}",
            id = m.id,
            id_t = m.id_kind.sql(),
            u = m.user,
            en = m.enabled,
            sec = m.secret,
            t = m.table
        );
        let rows = self
            .client
            .query(&sql, &[])
            .map_err(|e| pg_error(&self.location, self.busy, e))?;
        rows.iter().map(|r| account_of(r, m)).collect()
    }

    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn super::Pages + '_>> {
        if place == Place::Pending && !self.m.own_tables {
            return Ok(Box::new(Pages::none(&self.m, &self.location, self.busy)));
        }
        Ok(Box::new(Pages::open(
            &mut self.client,
            &self.m,
            place,
            only_tokens,
            Read::Listing,
            size,
            (&self.location, self.busy),
        )?))
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
        let sql = format!(
            "SELECT at, os_user, action, account_id::{}, username, detail, {} FROM {}
             WHERE ($1::text IS NULL OR username = $1) AND ($2::int8 IS NULL OR at_unix >= $2)
             ORDER BY seq DESC LIMIT $3",
            m.id_kind.sql(),
            if m.audit_reason {
                "reason"
            } else {
                "NULL::text"
            },
            m.audit
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(&sql, &[&user, &since, &limit])
            .map_err(|e| pg_error(&self.location, self.busy, e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = match m.id_kind {
                IdKind::Int => r.get::<_, Option<i64>>(3).map(AccountId::Int),
                IdKind::Text => r.get::<_, Option<String>>(3).map(AccountId::Text),
            };
            out.push(AuditRow {
                at: r.get(0),
                os_user: r.get(1),
                action: r.get(2),
                account_id: id,
                user: r.get(4),
                detail: r.get(5),
                reason: r.get(6),
            });
        }
        Ok(out)
    }

    fn key_check(&mut self) -> Result<Option<KeyCheck>> {
        if !self.m.meta_table {
            return Ok(None);
        }
        find_key_check(&mut self.client, &self.m).map_err(|e| self.err(e))
    }

    fn transact(&mut self, work: &mut dyn FnMut(&mut dyn super::Tx) -> Result<()>) -> Result<()> {
        self.create_own_tables()?;
        let (shown, busy) = (self.location.clone(), self.busy);
        let result = (|| {
            let tx = self
                .client
                .transaction()
                .map_err(|e| pg_error(&shown, busy, e))?;
            let mut wrapped = Tx {
                tx,
                m: &self.m,
                shown: &shown,
                busy,
            };
            work(&mut wrapped)?;
            wrapped.tx.commit().map_err(|e| pg_error(&shown, busy, e))
        })();
        match result {
            Err(Error::Setting(Setting::Busy, msg)) => {
                let holders = self.lock_holders();
                Err(Error::Setting(
                    Setting::Busy,
                    format!("{msg}{holders}; nothing was changed"),
                ))
            }
            other => other,
        }
    }
}

/// The inside of a PostgreSQL write transaction.
struct Tx<'c> {
    tx: postgres::Transaction<'c>,
    m: &'c Mapped,
    shown: &'c str,
    busy: Duration,
}

impl Tx<'_> {
    fn err(&self, e: postgres::Error) -> Error {
        pg_error(self.shown, self.busy, e)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.tx
            .execute(sql, params)
            .map_err(|e| pg_error(self.shown, self.busy, e))
    }

    fn set_sql(&self, place: Place, guard: &str) -> String {
        let m = self.m;
        match place {
            Place::Account => format!(
                "UPDATE {t} SET {sec} = $1::{form} WHERE {id} = $2::{id_t} AND {sec} IS NOT NULL{guard}",
                t = m.table,
                sec = m.secret,
                form = token_sql(m.form),
                id = m.id,
                id_t = m.id_kind.sql()
            ),
            Place::Pending => format!(
                "UPDATE {} SET secret_token = $1::text WHERE account_id = $2::{}{guard}",
                m.pending,
                m.id_kind.sql()
            ),
        }
    }

    fn form_of(&self, place: Place) -> TokenForm {
        match place {
            Place::Account => self.m.form,
            Place::Pending => TokenForm::Text,
        }
    }
}

impl super::Tx for Tx<'_> {
    fn account(&mut self, user: &str) -> Result<Account> {
        lookup(&mut self.tx, self.m, user, self.shown, self.busy)
    }

    fn pending(&mut self, id: &AccountId) -> Result<Option<Pending>> {
        find_pending(&mut self.tx, self.m, id).map_err(|e| self.err(e))
    }

    fn put_pending(
        &mut self,
        id: &AccountId,
        token: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (account_id, secret_token, created_at, expires_at)
             VALUES ($1::{}, $2, $3, $4)
             ON CONFLICT (account_id) DO UPDATE SET secret_token = EXCLUDED.secret_token,
                 created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
            self.m.pending,
            self.m.id_kind.sql()
        );
        let id = id_param(id);
        self.execute(
            &sql,
            &[
                id.as_ref() as &(dyn ToSql + Sync),
                &token,
                &created_at,
                &expires_at,
            ],
        )
        .map(drop)
    }

    fn delete_pending(&mut self, id: &AccountId) -> Result<bool> {
        let sql = format!(
            "DELETE FROM {} WHERE account_id = $1::{}",
            self.m.pending,
            self.m.id_kind.sql()
        );
        let id = id_param(id);
        Ok(self.execute(&sql, &[id.as_ref() as &(dyn ToSql + Sync)])? > 0)
    }

    fn enable(&mut self, id: &AccountId, token: &str) -> Result<()> {
        let m = self.m;
        let sql = format!(
            "UPDATE {t} SET {en} = {on}, {sec} = $1::{form} WHERE {idc} = $2::{id_t}",
            t = m.table,
            en = m.enabled,
            on = m.on,
            sec = m.secret,
            form = token_sql(m.form),
            idc = m.id,
            id_t = m.id_kind.sql()
        );
        let (token, idp) = (token_param(m.form, token), id_param(id));
        let n = self.execute(
            &sql,
            &[
                token.as_ref() as &(dyn ToSql + Sync),
                idp.as_ref() as &(dyn ToSql + Sync),
            ],
        )?;
        exactly_one(n, id)
    }

    fn disable(&mut self, id: &AccountId) -> Result<()> {
        let m = self.m;
        let sql = format!(
            "UPDATE {t} SET {en} = {off}, {sec} = NULL WHERE {idc} = $1::{id_t}",
            t = m.table,
            en = m.enabled,
            off = m.off,
            sec = m.secret,
            idc = m.id,
            id_t = m.id_kind.sql()
        );
        let idp = id_param(id);
        let n = self.execute(&sql, &[idp.as_ref() as &(dyn ToSql + Sync)])?;
        exactly_one(n, id)
    }

    fn pages(
        &mut self,
        place: Place,
        only_tokens: bool,
        size: usize,
    ) -> Result<Box<dyn super::Pages + '_>> {
        Ok(Box::new(Pages::open(
            &mut self.tx,
            self.m,
            place,
            only_tokens,
            Read::Checking,
            size,
            (self.shown, self.busy),
        )?))
    }

    fn token_pages(&mut self, place: Place, size: usize) -> Result<Box<dyn super::Pages + '_>> {
        Ok(Box::new(Pages::open(
            &mut self.tx,
            self.m,
            place,
            true,
            Read::Rewriting,
            size,
            (self.shown, self.busy),
        )?))
    }

    fn user_of(&mut self, place: Place, id: &AccountId) -> Result<String> {
        let m = self.m;
        let sql = match place {
            Place::Account => format!(
                "SELECT {}::text FROM {} WHERE {} = $1::{}",
                m.user,
                m.table,
                m.id,
                m.id_kind.sql()
            ),
            Place::Pending => format!(
                "SELECT a.{user}::text FROM {p} p JOIN {t} a ON a.{id} = p.account_id
                 WHERE p.account_id = $1::{id_t}",
                user = m.user,
                p = m.pending,
                t = m.table,
                id = m.id,
                id_t = m.id_kind.sql()
            ),
        };
        let idp = id_param(id);
        let row = self
            .tx
            .query_opt(&sql, &[idp.as_ref() as &(dyn ToSql + Sync)])
            .map_err(|e| pg_error(self.shown, self.busy, e))?;
        Ok(row
            .and_then(|r| r.get::<_, Option<String>>(0))
            .unwrap_or_default())
    }

    fn count_tokens(&mut self) -> Result<(u64, u64)> {
        let m = self.m;
        let sql = format!(
            "SELECT (SELECT count(*) FROM {} WHERE {} IS NOT NULL), (SELECT count(*) FROM {})",
            m.table, m.secret, m.pending
        );
        let row = self
            .tx
            .query_one(&sql, &[])
            .map_err(|e| pg_error(self.shown, self.busy, e))?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    fn bulk_rewrite(&mut self) -> Result<()> {
        Ok(())
    }

    fn token_writer(&mut self) -> Result<Box<dyn super::TokenWriter + '_>> {
        let m = self.m;
        let id_t = m.id_kind.sql();
        // Dropped at the commit (or the rollback); unlogged, as temporary tables are.
        self.tx
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS pg_temp.{STAGE};
                 CREATE TEMPORARY TABLE {STAGE} (place int2 NOT NULL, id {id_t} NOT NULL, token bytea NOT NULL)
                 ON COMMIT DROP"
            ))
            .map_err(|e| pg_error(self.shown, self.busy, e))?;
        let stage = self
            .tx
            .prepare(&format!(
                "INSERT INTO {STAGE} SELECT * FROM unnest($1::int2[], $2::{id_t}[], $3::bytea[])"
            ))
            .map_err(|e| pg_error(self.shown, self.busy, e))?;
        let as_form = |form: TokenForm| match form {
            TokenForm::Blob => "n.token",
            TokenForm::Text => "convert_from(n.token, 'UTF8')",
        };
        let apply = [
            format!(
                "UPDATE {t} AS a SET {sec} = {new} FROM {STAGE} n
                 WHERE n.place = 0 AND a.{id} = n.id AND a.{sec} IS NOT NULL",
                t = m.table,
                sec = m.secret,
                new = as_form(m.form),
                id = m.id
            ),
            format!(
                "UPDATE {p} AS a SET secret_token = {new} FROM {STAGE} n
                 WHERE n.place = 1 AND a.account_id = n.id",
                p = m.pending,
                new = as_form(TokenForm::Text)
            ),
        ];
        Ok(Box::new(TokenWriter {
            tx: &mut self.tx,
            stage,
            apply,
            held: Batch::default(),
            shown: self.shown,
            busy: self.busy,
        }))
    }

    fn set_token(&mut self, place: Place, id: &AccountId, token: &str) -> Result<bool> {
        let sql = self.set_sql(place, "");
        let (token, idp) = (token_param(self.form_of(place), token), id_param(id));
        Ok(self.execute(
            &sql,
            &[
                token.as_ref() as &(dyn ToSql + Sync),
                idp.as_ref() as &(dyn ToSql + Sync),
            ],
        )? == 1)
    }

    fn swap_token(
        &mut self,
        place: Place,
        id: &AccountId,
        expected: &str,
        token: &str,
    ) -> Result<bool> {
        // Compared as bytes, whichever form the row holds the expected token in.
        let column = match place {
            Place::Account => self.m.secret.as_str(),
            Place::Pending => "secret_token",
        };
        let bytes = match self.form_of(place) {
            TokenForm::Blob => column.to_string(),
            TokenForm::Text => format!("convert_to({column}, 'UTF8')"),
        };
        let sql = self.set_sql(place, &format!(" AND {bytes} = $3::bytea"));
        let (token, idp) = (token_param(self.form_of(place), token), id_param(id));
        let expected = expected.as_bytes().to_vec();
        Ok(self.execute(
            &sql,
            &[
                token.as_ref() as &(dyn ToSql + Sync),
                idp.as_ref() as &(dyn ToSql + Sync),
                &expected,
            ],
        )? == 1)
    }

    fn delete_expired_pending(&mut self, now: i64) -> Result<usize> {
        let sql = format!("DELETE FROM {} WHERE expires_at <= $1", self.m.pending);
        Ok(self.execute(&sql, &[&now])? as usize)
    }

    fn audit(&mut self, entry: AuditEntry<'_>) -> Result<()> {
        let now = crate::clock::now() as i64;
        let sql = format!(
            "INSERT INTO {} (at, at_unix, os_user, action, account_id, username, detail, reason)
             VALUES ($1, $2, $3, $4, $5::text::{}, $6, $7, $8)",
            self.m.audit,
            self.m.id_kind.sql()
        );
        // Bound as text either way, so that "no account" is one NULL of one type.
        let (id, user) = match entry.account {
            Some(a) => (Some(a.id.to_string()), Some(a.user.as_str())),
            None => (None, None),
        };
        let id_ref: &(dyn ToSql + Sync) = &id;
        self.execute(
            &sql,
            &[
                &crate::clock::format_utc(now),
                &now,
                &entry.os_user,
                &entry.action,
                id_ref,
                &user,
                &entry.detail,
                &entry.reason,
            ],
        )
        .map(drop)
    }

    fn key_check(&mut self) -> Result<Option<KeyCheck>> {
        find_key_check(&mut self.tx, self.m).map_err(|e| self.err(e))
    }

    fn set_key_check(&mut self, token: &str, written_at: i64) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (name, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            self.m.meta
        );
        self.execute(&sql, &[&KEY_CHECK, &token, &written_at])
            .map(drop)
    }
}

/// Tokens held back for one statement.
#[derive(Default)]
struct Batch {
    places: Vec<i16>,
    ints: Vec<i64>,
    texts: Vec<String>,
    tokens: Vec<Vec<u8>>,
}

/// The temporary table a bulk rewrite stages its tokens in.
const STAGE: &str = "mex2fa_rewrite";

/// Sends tokens in bulk: batches of ids and tokens into a temporary table
/// (a statement per batch, not a round trip per row), then one joined
/// `UPDATE` per table, which rewrites the rows in a single pass as a plain
/// `UPDATE` of the column would.
struct TokenWriter<'t, 'c> {
    tx: &'t mut postgres::Transaction<'c>,
    /// Inserts a batch into the stage.
    stage: postgres::Statement,
    /// The accounts table's `UPDATE` and the pending table's.
    apply: [String; 2],
    held: Batch,
    shown: &'t str,
    busy: Duration,
}

impl TokenWriter<'_, '_> {
    fn flush(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.held);
        if batch.tokens.is_empty() {
            return Ok(());
        }
        let ids: &(dyn ToSql + Sync) = if batch.texts.is_empty() {
            &batch.ints
        } else {
            &batch.texts
        };
        self.tx
            .execute(&self.stage, &[&batch.places, ids, &batch.tokens])
            .map_err(|e| pg_error(self.shown, self.busy, e))?;
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
        let batch = &mut self.held;
        batch.places.push(i16::from(place == Place::Pending));
        match id {
            AccountId::Int(n) => batch.ints.push(*n),
            AccountId::Text(s) => batch.texts.push(s.clone()),
        }
        batch.tokens.push(token.as_bytes().to_vec());
        if batch.tokens.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<super::Written> {
        self.flush()?;
        let mut written = 0;
        for sql in &self.apply {
            written += self
                .tx
                .execute(sql.as_str(), &[])
                .map_err(|e| pg_error(self.shown, self.busy, e))?;
        }
        Ok(super::Written {
            rows: written,
            read_back: Vec::new(),
        })
    }
}
