//! The database of a [`TestEnv`]: where the harness creates it (a schema
//! and the accounts alice, bob and carol), fills it (accounts, stored
//! secrets) and reads it back (a row's columns, the stored tokens, a value
//! from SQL). A test that needs more opens it with [`TestEnv::conn`].

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::Value;

use super::{TestEnv, fernet_encrypt, secret_for};

/// The app's table with the default names of the README's "Configuration";
/// the secret column is a BLOB, as Python's sqlite3 writes `bytes`.
pub const SCHEMA_BLOB: &str = "CREATE TABLE account (
    accountid INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT UNIQUE NOT NULL,
    email TEXT,
    password TEXT,
    twofa_enabled INTEGER DEFAULT 0,
    twofa_secret BLOB
);";

/// The same with a TEXT secret column (other deployments).
pub const SCHEMA_TEXT: &str = "CREATE TABLE account (
    accountid INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT UNIQUE NOT NULL,
    email TEXT,
    password TEXT,
    twofa_enabled INTEGER DEFAULT 0,
    twofa_secret TEXT
);";

/// mex2fa's pending table exactly as it creates it on SQLite, to seed pending
/// rows in bulk without going through `enroll`.
pub const PENDING_DDL: &str = "CREATE TABLE IF NOT EXISTS mex2fa_pending (
    account_id PRIMARY KEY,
    secret_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);";

/// One stored token as SQLite holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// "account" or "pending".
    pub place: &'static str,
    pub id: i64,
    /// The token's bytes as text (tokens are ASCII).
    pub token: String,
    /// `typeof()` of the stored value: "blob" or "text".
    pub sql_type: String,
}

impl TestEnv {
    /// Creates the database with `schema` and the accounts alice, bob, carol.
    pub(super) fn create_db(&self, schema: &str) {
        let conn = Connection::open(&self.db).expect("create db");
        conn.execute_batch(schema).expect("schema");
        drop(conn);
        for user in ["alice", "bob", "carol"] {
            self.add_user(user);
        }
    }

    /// Puts back a database saved with [`TestEnv::snapshot`].
    pub(super) fn restore_snapshot(&self, bytes: &[u8]) {
        std::fs::write(&self.db, bytes).expect("write db");
    }

    /// A connection to the database, for what no method here offers.
    pub fn conn(&self) -> Connection {
        Connection::open(&self.db).expect("open db")
    }

    /// The whole database file, to prove a failed command changed nothing.
    pub fn snapshot(&self) -> Vec<u8> {
        std::fs::read(&self.db).expect("read db")
    }

    /// (enabled, secret as stored: None, Some(Blob) or Some(Text)).
    pub fn row(&self, user: &str) -> (i64, Value) {
        self.conn()
            .query_row(
                "SELECT twofa_enabled, twofa_secret FROM account WHERE username = ?1",
                [user],
                |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?)),
            )
            .expect("row")
    }

    /// One integer from SQL (counts, flags).
    pub fn sql_i64(&self, sql: &str) -> i64 {
        self.conn()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One text value from SQL (`typeof(...)`, names).
    pub fn sql_text(&self, sql: &str) -> String {
        self.conn()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every column of the account row, to prove a command left it alone.
    pub fn full_row(&self, user: &str) -> Vec<Value> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT * FROM account WHERE username = ?1")
            .expect("prepare");
        let n = stmt.column_count();
        stmt.query_row([user], |r| (0..n).map(|i| r.get(i)).collect())
            .expect("row")
    }

    /// Writes a secret column value and enabled = 1 directly, as the app would.
    pub fn store(&self, user: &str, secret: Value) {
        let n = self
            .conn()
            .execute(
                "UPDATE account SET twofa_enabled = 1, twofa_secret = ?1 WHERE username = ?2",
                rusqlite::params![secret, user],
            )
            .expect("update");
        assert_eq!(n, 1, "no account {user}");
    }

    /// Every stored token of `db`: account secrets that are not NULL, then
    /// pending rows (if the table exists), each in id order.
    pub fn tokens_of(db: &Path) -> Vec<StoredToken> {
        let conn = Connection::open(db).expect("open db");
        let mut out = Vec::new();
        let has_pending: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'mex2fa_pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .expect("sqlite_master")
            > 0;
        let mut queries = vec![(
            "account",
            "SELECT accountid, twofa_secret, typeof(twofa_secret) FROM account
             WHERE twofa_secret IS NOT NULL ORDER BY accountid",
        )];
        if has_pending {
            queries.push((
                "pending",
                "SELECT account_id, secret_token, typeof(secret_token) FROM mex2fa_pending
                 ORDER BY account_id",
            ));
        }
        for (place, sql) in queries {
            let mut stmt = conn.prepare(sql).expect("prepare");
            let mut rows = stmt.query([]).expect("query");
            while let Some(r) = rows.next().expect("row") {
                let token = match r.get_ref(1).expect("value") {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        String::from_utf8_lossy(b).into_owned()
                    }
                    other => format!("{other:?}"),
                };
                out.push(StoredToken {
                    place,
                    id: r.get(0).expect("id"),
                    token,
                    sql_type: r.get(2).expect("typeof"),
                });
            }
        }
        out
    }

    /// [`TestEnv::tokens_of`] this environment's database.
    pub fn tokens(&self) -> Vec<StoredToken> {
        TestEnv::tokens_of(&self.db)
    }

    /// Everything but the stored tokens, rendered with `quote()` so that a
    /// change of value or of storage type shows: every account column except
    /// the secret (whose NULL-ness is kept), and the pending rows' other columns.
    pub fn other_columns(&self) -> Vec<String> {
        let conn = self.conn();
        let strings = |sql: &str| -> Vec<String> {
            conn.prepare(sql)
                .expect("prepare")
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows")
        };
        let mut out = strings(
            "SELECT quote(accountid) || '|' || quote(username) || '|' || quote(email) || '|'
                    || quote(password) || '|' || quote(twofa_enabled) || '|'
                    || (twofa_secret IS NULL)
             FROM account ORDER BY accountid",
        );
        let has_pending: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'mex2fa_pending'",
                [],
                |r| r.get(0),
            )
            .expect("sqlite_master");
        if has_pending > 0 {
            out.extend(strings(
                "SELECT 'pending|' || quote(account_id) || '|' || quote(created_at) || '|'
                        || quote(expires_at)
                 FROM mex2fa_pending ORDER BY account_id",
            ));
        }
        out
    }

    /// The account id of `user`.
    pub fn id_of(&self, user: &str) -> i64 {
        self.conn()
            .query_row(
                "SELECT accountid FROM account WHERE username = ?1",
                [user],
                |r| r.get(0),
            )
            .expect("account id")
    }

    /// Adds an account the way the app's sign-up would.
    pub fn add_user(&self, user: &str) {
        self.conn()
            .execute(
                "INSERT INTO account (username, email, password) VALUES (?1, ?1 || '@example.com', 'pw')",
                [user],
            )
            .expect("insert");
    }
}

/// Inserts accounts user0..user{n-1}, each enabled with an app-style BLOB
/// token of `secret_for(i)` under the key `key_of(i)`.
pub fn insert_enrolled(
    tx: &rusqlite::Transaction<'_>,
    n: usize,
    key_of: impl Fn(usize) -> &'static str,
) {
    for i in 0..n {
        tx.execute(
            "INSERT INTO account (username, email, password, twofa_enabled, twofa_secret)
             VALUES (?1, ?1 || '@example.com', 'pw', 1, ?2)",
            rusqlite::params![
                format!("user{i}"),
                fernet_encrypt(key_of(i), &secret_for(i as u64)).into_bytes()
            ],
        )
        .unwrap();
    }
}
