//! Shared end-to-end test harness: a temp dir with a real SQLite database, a
//! cleared environment, and the real binary (`CARGO_BIN_EXE_mex2fa`).
//! Python (pyotp + cryptography) plays the MeXanimatoR app.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use rusqlite::Connection;
use tempfile::TempDir;

/// A fixed, valid Fernet key (the Fernet spec's test key).
pub const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
/// A second valid key, for rotation and wrong-key tests.
pub const KEY2: &str = "V3Rz0yPq0lmU2x9ZbJ2iK1mWqKJ9b0sXj3p0Kx2qkFQ=";

/// The app's reference schema (contract §1); the secret column is a BLOB as
/// Python's sqlite3 writes `bytes`.
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

pub struct TestEnv {
    pub dir: TempDir,
    pub db: PathBuf,
    pub key_file: PathBuf,
}

impl TestEnv {
    /// Reference schema (BLOB secret) with users alice, bob, carol.
    pub fn new() -> TestEnv {
        TestEnv::with_schema(SCHEMA_BLOB)
    }

    pub fn with_schema(schema: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("app.db");
        let conn = Connection::open(&db).expect("create db");
        conn.execute_batch(schema).expect("schema");
        for (u, e) in [
            ("alice", "alice@example.com"),
            ("bob", "bob@example.com"),
            ("carol", "carol@example.com"),
        ] {
            conn.execute(
                "INSERT INTO account (username, email, password) VALUES (?1, ?2, 'pw')",
                [u, e],
            )
            .expect("insert");
        }
        drop(conn);
        let key_file = dir.path().join("master.key");
        write_mode(&key_file, &format!("{KEY}\n"), 0o600);
        TestEnv { dir, db, key_file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with a cleared environment, run in the temp dir, pointed at
    /// the database, with the master key in TWOFA_MASTER_KEY.
    pub fn cmd(&self) -> Command {
        let mut c = self.bare();
        c.env("MEX2FA_DB", &self.db).env("TWOFA_MASTER_KEY", KEY);
        c
    }

    /// The binary with a cleared environment and nothing configured.
    pub fn bare(&self) -> Command {
        let mut c = Command::new(bin());
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("USER", "tester")
            .current_dir(self.dir.path())
            .write_stdin("");
        c
    }

    pub fn conn(&self) -> Connection {
        Connection::open(&self.db).expect("open db")
    }

    /// The whole database file, to prove a failed command changed nothing.
    pub fn snapshot(&self) -> Vec<u8> {
        std::fs::read(&self.db).expect("read db")
    }

    /// (enabled, secret as stored: None, Some(Blob) or Some(Text)).
    pub fn row(&self, user: &str) -> (i64, rusqlite::types::Value) {
        self.conn()
            .query_row(
                "SELECT twofa_enabled, twofa_secret FROM account WHERE username = ?1",
                [user],
                |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?)),
            )
            .expect("row")
    }

    /// Enrolls `user` with --json --show-secret and returns the secret.
    pub fn enroll(&self, user: &str) -> String {
        let out = self
            .cmd()
            .args(["enroll", user, "--json", "--show-secret"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&out).expect("enroll json");
        v["secret"].as_str().expect("secret").to_string()
    }

    /// Enrolls and confirms `user` through the binary; returns the secret.
    pub fn enable(&self, user: &str) -> String {
        let secret = self.enroll(user);
        self.cmd()
            .args(["confirm", user, "--code", &totp_now(&secret)])
            .assert()
            .success();
        secret
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mex2fa"))
}

pub fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// RFC 6238 SHA1/6/30 computed independently of the binary (HMAC-SHA1 by hand
/// would be a second implementation; Python's pyotp is the reference when
/// present, and this fallback uses the same math as the RFC's Java code).
pub fn totp_at(secret_b32: &str, t: u64) -> String {
    let key = base32_decode(secret_b32);
    let counter = (t / 30).to_be_bytes();
    let mac = hmac_sha1(&key, &counter);
    let off = (mac[19] & 0x0f) as usize;
    let bin = (u32::from(mac[off]) & 0x7f) << 24
        | u32::from(mac[off + 1]) << 16
        | u32::from(mac[off + 2]) << 8
        | u32::from(mac[off + 3]);
    format!("{:06}", bin % 1_000_000)
}

pub fn totp_now(secret_b32: &str) -> String {
    totp_at(secret_b32, now())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = A
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("base32") as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bitlen = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bitlen.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(chunk[i * 4..i * 4 + 4].try_into().unwrap());
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = if key.len() > 64 {
        sha1(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let ipad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let inner = sha1(&ipad);
    let opad: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    sha1(&opad)
}

/// The Python that plays the app: `MEX2FA_TEST_PYTHON` (set by scripts/test),
/// else `python3` if it has pyotp and cryptography. Under CI=true a missing
/// Python is a failure, not a skip.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("MEX2FA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = StdCommand::new(&candidate)
        .args(["-c", "import pyotp, cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but no Python with pyotp and cryptography ({}); run scripts/test",
            candidate.display()
        );
    }
    eprintln!("skipping: no Python with pyotp and cryptography; run scripts/test");
    None
}

/// Runs `tests/py/app.py ARGS` (the app's side) and returns its stdout, trimmed.
pub fn py(python: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/app.py");
    let out = StdCommand::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim_end_matches('\n')
        .to_string()
}
