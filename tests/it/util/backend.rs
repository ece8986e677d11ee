//! The same tests on every backend: [`Backend`] names one, [`Db`] is a fresh
//! database of it (a SQLite file, or a database created for the test on the
//! throwaway PostgreSQL or MariaDB server `scripts/test` starts), with the
//! app's table in a chosen [`Shape`] and the accounts alice, bob and carol.
//!
//! The servers are required, never optional: without `MEX2FA_TEST_PG_URL`
//! or `MEX2FA_TEST_MYSQL_URL` their cases fail, saying to run `scripts/test`.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicU32, Ordering};

use assert_cmd::Command;
use tempfile::TempDir;

use super::{KEY, python};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mariadb,
}

/// Every backend, for a table of cases run on each.
pub const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mariadb];

/// Runs `case` on every backend in turn; a failure names the backend (and
/// `what`, when not empty) before the case's own message.
pub fn each_backend(what: &str, case: impl Fn(Backend)) {
    for backend in BACKENDS {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(backend)));
        if let Err(e) = run {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("on {backend:?}{what}: {msg}");
        }
    }
}

/// Runs a prepared command to its end.
pub fn run(c: &mut Command) -> std::process::Output {
    c.output().expect("run mex2fa")
}

/// How the app's table is declared.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The secret column holds bytes (`BLOB`, `bytea`) or text.
    pub text_secret: bool,
    /// The enabled column is a boolean rather than an integer.
    pub bool_flag: bool,
    /// Ids are text rather than integers.
    pub text_id: bool,
    /// The table lives in a schema of its own (PostgreSQL), named with `--table`.
    pub schema: Option<&'static str>,
}

impl Shape {
    /// The app's own table: integer ids and flag, the secret as bytes.
    pub const APP: Shape = Shape {
        text_secret: false,
        bool_flag: false,
        text_id: false,
        schema: None,
    };

    pub fn form(&self) -> &'static str {
        if self.text_secret { "text" } else { "blob" }
    }

    pub fn flag(&self) -> &'static str {
        if self.bool_flag { "bool" } else { "int" }
    }
}

/// The throwaway PostgreSQL server: user, password, host, port, CA.
struct Server {
    user: String,
    password: String,
    host: String,
    port: u16,
    ca: String,
}

fn server() -> Server {
    let url = std::env::var("MEX2FA_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("MEX2FA_TEST_PG_URL is not set: run scripts/test (it starts a throwaway PostgreSQL)")
    });
    let ca = std::env::var("MEX2FA_TEST_PG_CA")
        .unwrap_or_else(|_| panic!("MEX2FA_TEST_PG_CA is not set: run scripts/test"));
    let config: postgres::Config = url.parse().expect("MEX2FA_TEST_PG_URL");
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("MEX2FA_TEST_PG_URL names {other:?}, not a TCP host"),
    };
    Server {
        user: config.get_user().expect("user").to_string(),
        password: String::from_utf8(config.get_password().expect("password").to_vec())
            .expect("utf8"),
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        ca,
    }
}

/// The throwaway MariaDB server: user, password, host, port, CA.
fn my_server() -> Server {
    let url = std::env::var("MEX2FA_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!("MEX2FA_TEST_MYSQL_URL is not set: run scripts/test (it starts a throwaway MariaDB)")
    });
    let ca = std::env::var("MEX2FA_TEST_MYSQL_CA")
        .unwrap_or_else(|_| panic!("MEX2FA_TEST_MYSQL_CA is not set: run scripts/test"));
    let opts = mysql::Opts::from_url(&url).expect("MEX2FA_TEST_MYSQL_URL");
    Server {
        user: opts.get_user().expect("user").to_string(),
        password: opts.get_pass().expect("password").to_string(),
        host: opts.get_ip_or_hostname().to_string(),
        port: opts.get_tcp_port(),
        ca,
    }
}

fn my_admin(dbname: Option<&str>) -> mysql::Conn {
    let s = my_server();
    let opts = mysql::OptsBuilder::new()
        .user(Some(s.user))
        .pass(Some(s.password))
        .ip_or_hostname(Some(s.host))
        .tcp_port(s.port)
        .prefer_socket(false)
        .db_name(dbname);
    mysql::Conn::new(opts)
        .unwrap_or_else(|e| panic!("cannot reach the test MariaDB ({e}): run scripts/test"))
}

fn my_text(v: &mysql::Value) -> String {
    match v {
        mysql::Value::NULL => String::new(),
        mysql::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    }
}

fn admin(dbname: &str) -> postgres::Client {
    let s = server();
    postgres::Config::new()
        .user(&s.user)
        .password(&s.password)
        .host(&s.host)
        .port(s.port)
        .dbname(dbname)
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL ({e}): run scripts/test"))
}

/// A fresh database of one backend, dropped with the value.
pub struct Db {
    pub backend: Backend,
    pub shape: Shape,
    pub dir: TempDir,
    /// SQLite: the file. PostgreSQL: the database's name.
    name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Db {
    pub fn new(backend: Backend, shape: Shape) -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let name = match backend {
            Backend::Sqlite => dir.path().join("app.db").display().to_string(),
            Backend::Postgres | Backend::Mariadb => format!(
                "mex2fa_t{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
        };
        match backend {
            Backend::Sqlite => {}
            Backend::Postgres => admin("postgres")
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database"),
            Backend::Mariadb => {
                use mysql::prelude::Queryable;
                my_admin(None)
                    .query_drop(format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                    ))
                    .expect("create database")
            }
        }
        let db = Db {
            backend,
            shape,
            dir,
            name,
        };
        db.sql(&db.ddl());
        for user in ["alice", "bob", "carol"] {
            db.add_user(user);
        }
        db
    }

    /// The database's name on its server (for SQLite, the file's path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table as `--table` names it.
    pub fn table(&self) -> String {
        match (self.backend, self.shape.schema) {
            // SQLite's schemas are attached databases: the file's own is "main".
            (Backend::Sqlite, Some(_)) => "main.account".into(),
            // MariaDB's schemas are its databases.
            (Backend::Mariadb, Some(_)) => format!("{}.account", self.name),
            (_, Some(s)) => format!("{s}.account"),
            (_, None) => "account".into(),
        }
    }

    /// Where mex2fa keeps its own tables: beside the accounts table.
    fn own_table(&self, name: &str) -> String {
        match (self.backend, self.shape.schema) {
            (Backend::Postgres, Some(s)) => format!("{s}.{name}"),
            _ => name.to_string(),
        }
    }

    fn ddl(&self) -> String {
        let s = self.shape;
        let (id, flag, secret) = match self.backend {
            Backend::Sqlite => (
                if s.text_id {
                    "accountid TEXT PRIMARY KEY"
                } else {
                    "accountid INTEGER PRIMARY KEY AUTOINCREMENT"
                },
                if s.bool_flag {
                    "BOOLEAN DEFAULT 0"
                } else {
                    "INTEGER DEFAULT 0"
                },
                if s.text_secret { "TEXT" } else { "BLOB" },
            ),
            Backend::Postgres => (
                if s.text_id {
                    "accountid text PRIMARY KEY"
                } else {
                    "accountid serial PRIMARY KEY"
                },
                if s.bool_flag {
                    "boolean DEFAULT false"
                } else {
                    "integer DEFAULT 0"
                },
                if s.text_secret { "text" } else { "bytea" },
            ),
            Backend::Mariadb => (
                if s.text_id {
                    "accountid VARCHAR(64) PRIMARY KEY"
                } else {
                    "accountid INT AUTO_INCREMENT PRIMARY KEY"
                },
                if s.bool_flag {
                    "BOOLEAN DEFAULT 0"
                } else {
                    "INT DEFAULT 0"
                },
                if s.text_secret { "TEXT" } else { "BLOB" },
            ),
        };
        let schema = match (self.backend, s.schema) {
            (Backend::Postgres, Some(name)) => format!("CREATE SCHEMA {name};"),
            _ => String::new(),
        };
        let (user, engine) = match self.backend {
            Backend::Mariadb => ("VARCHAR(255)", " ENGINE=InnoDB"),
            _ => ("TEXT", ""),
        };
        format!(
            "{schema}CREATE TABLE {} ({id}, username {user} UNIQUE NOT NULL, email TEXT, password TEXT,
             twofa_enabled {flag}, twofa_secret {secret}){engine};",
            self.table()
        )
    }

    /// Adds an account (text ids are `u-NAME`).
    pub fn add_user(&self, user: &str) {
        let u = user.replace('\'', "''");
        if self.shape.text_id {
            self.sql(&format!(
                "INSERT INTO {} (accountid, username) VALUES ('u-{u}', '{u}')",
                self.table()
            ));
        } else {
            self.sql(&format!(
                "INSERT INTO {} (username) VALUES ('{u}')",
                self.table()
            ));
        }
    }

    /// Runs SQL statements as the test's administrator.
    pub fn sql(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => rusqlite::Connection::open(&self.name)
                .expect("open")
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Backend::Postgres => admin(&self.name)
                .batch_execute(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Backend::Mariadb => {
                use mysql::prelude::Queryable;
                my_admin(Some(&self.name))
                    .query_drop(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        }
    }

    /// One value of a query, as text ("" for NULL).
    pub fn value(&self, sql: &str) -> String {
        match self.backend {
            Backend::Sqlite => rusqlite::Connection::open(&self.name)
                .expect("open")
                .query_row(sql, [], |r| {
                    Ok(match r.get_ref(0)? {
                        rusqlite::types::ValueRef::Null => String::new(),
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        rusqlite::types::ValueRef::Real(f) => f.to_string(),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Backend::Postgres => admin(&self.name)
                .query_one(&format!("SELECT ({sql})::text"), &[])
                .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Backend::Mariadb => {
                use mysql::prelude::Queryable;
                let v: Option<mysql::Value> = my_admin(Some(&self.name))
                    .query_first(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                v.map(|v| my_text(&v)).unwrap_or_default()
            }
        }
    }

    /// Every account: (username, enabled, the stored secret as text).
    pub fn accounts(&self) -> Vec<(String, bool, Option<String>)> {
        let t = self.table();
        let rows: Vec<(String, String, Option<Vec<u8>>)> = match self.backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(&self.name).expect("open");
                let mut st = c
                    .prepare(&format!(
                        "SELECT username, CAST(twofa_enabled AS TEXT), CAST(twofa_secret AS BLOB) FROM {t} ORDER BY username"
                    ))
                    .expect("prepare");
                st.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        r.get(2)?,
                    ))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
            }
            Backend::Postgres => {
                let bytes = if self.shape.text_secret {
                    "convert_to(twofa_secret, 'UTF8')"
                } else {
                    "twofa_secret"
                };
                admin(&self.name)
                    .query(
                        &format!(
                            "SELECT username, coalesce(twofa_enabled::text, ''), {bytes} FROM {t} ORDER BY username"
                        ),
                        &[],
                    )
                    .expect("query")
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect()
            }
            Backend::Mariadb => {
                use mysql::prelude::Queryable;
                let rows: Vec<(String, Option<String>, Option<Vec<u8>>)> = my_admin(Some(&self.name))
                    .query(format!(
                        "SELECT username, CAST(twofa_enabled AS CHAR), CAST(twofa_secret AS BINARY) FROM {t} ORDER BY username"
                    ))
                    .expect("query");
                rows.into_iter()
                    .map(|(u, en, sec)| (u, en.unwrap_or_default(), sec))
                    .collect()
            }
        };
        rows.into_iter()
            .map(|(u, en, sec)| {
                (
                    u,
                    matches!(en.as_str(), "1" | "true"),
                    sec.map(|b| String::from_utf8(b).expect("token text")),
                )
            })
            .collect()
    }

    /// Everything in the app's table and mex2fa's, as text: equal before and
    /// after a refused command.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for table in [
            self.table(),
            self.own_table("mex2fa_pending"),
            self.own_table("mex2fa_audit"),
        ] {
            match self.backend {
                Backend::Sqlite => {
                    let c = rusqlite::Connection::open(&self.name).expect("open");
                    let Ok(mut st) = c.prepare(&format!("SELECT * FROM {table} ORDER BY 1")) else {
                        continue;
                    };
                    let n = st.column_count();
                    let rows = st
                        .query_map([], |r| {
                            (0..n)
                                .map(|i| {
                                    r.get::<_, rusqlite::types::Value>(i)
                                        .map(|v| format!("{v:?}"))
                                })
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .expect("query");
                    for r in rows {
                        out.push_str(&format!("{table}: {}\n", r.expect("row").join(", ")));
                    }
                }
                Backend::Mariadb => {
                    use mysql::prelude::Queryable;
                    let mut c = my_admin(Some(&self.name));
                    let Ok(rows) =
                        c.query::<mysql::Row, _>(format!("SELECT * FROM {table} ORDER BY 1"))
                    else {
                        continue;
                    };
                    for r in rows {
                        let values: Vec<String> = r.unwrap().iter().map(my_text).collect();
                        out.push_str(&format!("{table}: {}\n", values.join(", ")));
                    }
                }
                Backend::Postgres => {
                    let mut c = admin(&self.name);
                    let exists: bool = c
                        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                        .expect("regclass")
                        .get(0);
                    if !exists {
                        continue;
                    }
                    for r in c
                        .query(
                            &format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"),
                            &[],
                        )
                        .expect("dump")
                    {
                        out.push_str(&format!("{table}: {}\n", r.get::<_, String>(0)));
                    }
                }
            }
        }
        out
    }

    /// `MEX2FA_DB` for the binary: the file, or a URL without the password
    /// (that goes in `MEX2FA_DB_PASSWORD`), verifying the server's
    /// certificate against the run's CA.
    pub fn location(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.name.clone(),
            Backend::Postgres => {
                let s = server();
                format!(
                    "postgres://{}@{}:{}/{}?sslmode=verify-full&sslrootcert={}",
                    s.user, s.host, s.port, self.name, s.ca
                )
            }
            Backend::Mariadb => {
                let s = my_server();
                format!(
                    "mysql://{}@{}:{}/{}?ssl-mode=verify-full&ssl-ca={}",
                    s.user, s.host, s.port, self.name, s.ca
                )
            }
        }
    }

    /// The database as the app's Python driver opens it (with the password).
    pub fn app_location(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.name.clone(),
            Backend::Postgres => {
                let s = server();
                // The app finds its table on its search path.
                let path = match self.shape.schema {
                    Some(schema) => format!("?options=-csearch_path%3D{schema}"),
                    None => String::new(),
                };
                format!(
                    "postgres://{}:{}@{}:{}/{}{path}",
                    s.user, s.password, s.host, s.port, self.name
                )
            }
            Backend::Mariadb => {
                let s = my_server();
                format!(
                    "mysql://{}:{}@{}:{}/{}",
                    s.user, s.password, s.host, s.port, self.name
                )
            }
        }
    }

    /// The password the binary is given for a server (none for SQLite).
    pub fn password(&self) -> Option<String> {
        match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(server().password),
            Backend::Mariadb => Some(my_server().password),
        }
    }

    /// The binary with a cleared environment, pointed at this database.
    pub fn cmd(&self) -> Command {
        let mut c = self.bare();
        c.env("MEX2FA_DB", self.location())
            .env("MEX2FA_TABLE", self.table())
            .env("TWOFA_MASTER_KEY", KEY);
        if let Some(p) = self.password() {
            c.env("MEX2FA_DB_PASSWORD", p);
        }
        c
    }

    /// The binary with a cleared environment and nothing configured.
    pub fn bare(&self) -> Command {
        super::bare_in(self.dir.path())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a key file (mode 0600) beside the database; its path as text.
    pub fn key_file(&self, name: &str, key: &str) -> String {
        super::write_key_in(self.dir.path(), name, key)
            .display()
            .to_string()
    }

    /// Runs `tests/py/app_db.py ARGS`: (exit code, stdout, stderr).
    pub fn app(&self, args: &[&str]) -> (i32, String, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/app_db.py");
        let out = StdCommand::new(python())
            .arg(script)
            .args(args)
            .output()
            .expect("run python");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The app's Confirm: `user` gets `secret`, encrypted under `key`.
    pub fn app_store(&self, key: &str, user: &str, secret: &str) {
        let loc = self.app_location();
        let (code, _, err) = self.app(&[
            "store",
            &loc,
            key,
            user,
            secret,
            self.shape.form(),
            self.shape.flag(),
        ]);
        assert_eq!(code, 0, "the app's store failed: {err}");
    }

    /// The app's login with the current code (retried across a step boundary).
    pub fn app_login(&self, key: &str, user: &str, secret: &str) -> Result<(), String> {
        let loc = self.app_location();
        let mut last = String::new();
        for _ in 0..3 {
            let code = super::totp_now(secret);
            match self.app(&["login", &loc, key, user, &code]) {
                (0, _, _) => return Ok(()),
                (1, _, err) if err.trim().is_empty() => last = "code rejected".into(),
                (c, _, err) => return Err(format!("app login exit {c}: {err}")),
            }
        }
        Err(last)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        match self.backend {
            Backend::Sqlite => {}
            Backend::Postgres => {
                let _ = admin("postgres").batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
            Backend::Mariadb => {
                use mysql::prelude::Queryable;
                let _ = my_admin(None).query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
            }
        }
    }
}
